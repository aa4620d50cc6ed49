"""The `offcoder docker-proxy` process (C2): the only door to the Docker engine, root-equivalent.

Everything this process runs lives here and nothing else does. It imports only
`offcoder.runtime.policy` of ours (the shared contract), the standard library, h11 and
structlog; the code it puts into gateway containers (`runtime/sandbox/`) is read as a
resource, never imported. `tests/runtime/test_import_contracts.py` holds these rules.
"""
