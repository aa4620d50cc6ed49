"""The runtime image builder (`offcoder runtime images`): operator code, never on a request path.

What the request path and the worker need of the images (their names and references) is the
catalogue, `offcoder.runtime.catalogue`, which imports nothing of this package.
"""
