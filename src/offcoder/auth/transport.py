"""The HTTP errors a provider call can raise. Authlib's client runs on `httpx2` when that is
installed (the AI SDKs bring it in) and on `httpx` otherwise, so both are caught."""

from __future__ import annotations

import httpx

try:
    import httpx2

    HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - without the AI SDKs
    HTTP_ERRORS = (httpx.HTTPError,)

# A provider call failed, or answered something that is not the JSON it should be.
CALL_ERRORS: tuple[type[Exception], ...] = (*HTTP_ERRORS, ValueError)
