"""Code that runs inside containers: the standard library only, nothing of ours.

Each module here is one self-contained program; the proxy reads its source as a resource and
hands it to ``python3 -I -S -c`` in the container. Nothing in the package imports these
modules (`tests/runtime/test_import_contracts.py`).
"""
