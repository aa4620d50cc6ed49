"""RFC 9457 problem details: the one shape of every error the API returns."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://offcoder.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error the client can act on. `type_` is a short slug under PROBLEM_BASE."""

    def __init__(
        self,
        status: int,
        type_: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type_ = type_
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.type_,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


class NotFound(Problem):
    def __init__(self, what: str = "resource") -> None:
        super().__init__(404, "not-found", f"No such {what}.")


class Conflict(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "conflict", detail)


class Unauthorized(Problem):
    def __init__(self, detail: str = "A valid access token is required.") -> None:
        super().__init__(
            401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="offcoder"'}
        )


class PayloadTooLarge(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(413, "payload-too-large", detail)


class TooManyRequests(Problem):
    """429 with the wait in whole seconds twice: the Retry-After header (RFC 9110) for HTTP
    clients and proxies, and `retry_after` in the body for code that reads only the body."""

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(
            429,
            "rate-limited",
            detail,
            headers={"retry-after": str(retry_after_s)},
            retry_after=retry_after_s,
        )


class InvalidInput(Problem):
    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        extra: dict[str, Any] = {"errors": errors} if errors else {}
        super().__init__(422, "invalid-input", detail, **extra)


class CommitThenRefuse(Problem):
    """Refuse with `problem`, but commit the request's transaction first.

    For refusals whose side effects must outlive them: a spent one-time code stays spent, a
    session ended for refresh-token reuse stays ended, a failed second-factor attempt stays
    counted. The transaction openers in `offcoder.kit.transactions` (and the request
    dependencies built on them) commit when this passes through them and then let it go on;
    the client gets exactly `problem`'s problem+json.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(
            problem.status,
            problem.type_,
            problem.detail,
            title=problem.title,
            headers=problem.headers,
            **problem.extra,
        )
        self.problem = problem


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=dict(problem.headers) if problem.headers else None,
    )


def _safe_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echo where and why, never the submitted value: it may be a secret.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


STATUS_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def install(app: FastAPI) -> None:
    """Make every error of `app` a problem+json document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            InvalidInput(
                "The request does not match the expected shape.", errors=_safe_errors(exc)
            ),
            request,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
        if status == 404 and detail == "Not Found":
            detail = "No such resource."
        problem = Problem(
            status, STATUS_TYPES.get(status, "http-error"), detail, headers=exc.headers
        )
        return problem_response(problem, request)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        import structlog

        structlog.get_logger(__name__).exception("unhandled error", path=request.url.path)
        return problem_response(
            Problem(
                500, "internal-error", "Something went wrong on our side; nothing was changed."
            ),
            request,
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
