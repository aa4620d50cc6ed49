"""Local stand-ins for the OpenAI Chat Completions and Anthropic Messages APIs, on loopback.

Tests drive the OFFICIAL `openai` (3.54) and `anthropic` (2.12) SDKs against these servers by
pointing each SDK's own base-URL setting at them; nothing in the SDKs is patched, so the wire
format (JSON bodies, auth headers, Server-Sent Events, error mapping) is what production sees.

Pointing the SDKs here (verified with openai 3.54.0 and anthropic 2.12.0):

    with running_openai() as oai:
        client = openai.AsyncOpenAI(
            api_key=oai.api_key,
            base_url=f"{oai.url}/v1",  # the SDK appends "/chat/completions": give it "/v1"
            max_retries=0,  # else fail_next()/hang_next() are retried (and retry-after honoured)
        )

    with running_anthropic() as ant:
        client = anthropic.AsyncAnthropic(
            api_key=ant.api_key,
            base_url=ant.url,  # the host only: the SDK appends "/v1/messages" itself
            max_retries=0,
        )

Pass `api_key=` explicitly: both SDKs otherwise read OPENAI_*/ANTHROPIC_* variables and
anthropic 2.x also credential profiles on disk. Per-request timeouts: `timeout=0.2` on
`create(...)`, or `client.with_options(timeout=0.2)`.

Endpoints: OpenAI `POST /v1/chat/completions`, Anthropic `POST /v1/messages`, and OpenAI's
moderation API `POST /v1/moderations` (`running_moderation`, `OpenAIModerationStandIn`: what it
flags is set per test by phrase); anything else is a 404 in the provider's error shape. Both
record every request in `.requests`
(`RecordedRequest`: method, path, all headers with lower-cased names, parsed JSON body).

Auth, checked as the providers do:
- OpenAI: `Authorization: Bearer <api_key>`; a missing header or another key is a 401
  `{"error": {"message", "type": "invalid_request_error", "param": null, "code"}}` (code
  "invalid_api_key" for a wrong key, null for none).
- Anthropic: the key in `x-api-key` OR as `Authorization: Bearer <key>`, plus an
  `anthropic-version` header (a 400 without it). NOTE: anthropic 2.12 sends the api_key as
  `Authorization: Bearer`, never `x-api-key` (older SDKs sent `x-api-key`), and sends
  `anthropic-version: 2026-10-21`. A wrong key is a 401
  `{"type": "error", "error": {"type": "authentication_error", "message"}, "request_id"}`.

Bodies are validated minimally (model string, non-empty messages list of {role, content};
Anthropic also a positive integer max_tokens and only user/assistant roles); a bad body is a
400 in each provider's shape ("invalid_request_error").

Replies: `.reply` (default "Hello from the stand-in.") is the assistant text; `.chunks`, when
not None, is how a stream splits it (and then "".join(chunks) is also the non-streamed text);
by default the reply is streamed in 4-character pieces. Usage is `.usage` (input, output) if
set, else an estimate: ceil(characters / 4) of the prompt text and of the reply (at least 1).

Streaming (`"stream": true`) answers HTTP/1.1 chunked `text/event-stream`, one HTTP chunk per
event, sleeping `.chunk_delay_s` (default 0.01) before each text piece:
- OpenAI: `data: {chat.completion.chunk}` with `delta: {role, content: ""}` first, one per
  piece with `delta.content`, then `delta: {}` with finish_reason "stop", a usage chunk
  (`choices: []`) if `stream_options.include_usage`, then `data: [DONE]`.
- Anthropic: message_start, content_block_start, ping, content_block_delta (text_delta) per
  piece, content_block_stop, message_delta (stop_reason end_turn, usage.output_tokens),
  message_stop; each as `event: <type>` + `data: {...}`.

Fault injection (each call queues for the NEXT request(s) that arrive, valid or not, before
auth and validation; a request takes at most one queued hang, then one failure, or else one
garbage answer):
- `fail_next(status, count=1, retry_after=None)`: the provider's error shape for that status
  (429: OpenAI code "rate_limit_exceeded", Anthropic "rate_limit_error"; 500 server_error /
  api_error; 529 Anthropic "overloaded_error"; ...), with a `retry-after` header if given.
  The OpenAI 429 says type "rate_limit_exceeded" as the spec for this module asked; real
  OpenAI 429s (from memory, unverified) say type "requests"/"tokens": key on the code.
- `hang_next(seconds)`: the next request waits that long, then goes on (to the next queued
  fault, or a normal answer). The wait ends early when the client goes away (counted in
  `.disconnects`) or the server shuts down, so a hang never holds up a test's exit.
- `garbage_next(content_type="application/json")`: 200 with a body that is not JSON.
- `stream_cut_after(n)`: the next STREAMING request gets its preamble (OpenAI role chunk;
  Anthropic message_start, content_block_start, ping) and n text pieces, then the connection
  is closed mid-body: no terminating event, no final zero-length HTTP chunk.
- `.disconnects`: incremented when the client is found gone while answering (a chunk write
  fails with BrokenPipe/ConnectionReset, or the socket reads EOF: checked before every write
  and during a hang), after which the stand-in stops answering that request. A client that
  cancels a stream is only noticed while pieces remain to be sent: for cancellation tests use
  a long `.reply` and/or a larger `.chunk_delay_s`.

What the SDKs do with the faults (openai 3.54 / anthropic 2.12, max_retries=0), as observed:
- 401 -> AuthenticationError; 400 -> BadRequestError; 429 -> RateLimitError, with
  `exc.response.headers["retry-after"]`; 500 -> InternalServerError; 529 ->
  anthropic.OverloadedError (openai: InternalServerError); a client timeout -> APITimeoutError.
- garbage, default content type application/json: `create()` raises a plain
  `json.JSONDecodeError` (a ValueError), NOT an SDK APIError. As `garbage_next("text/html")`:
  `create()` RETURNS the body as a `str` (no error at all) unless the client was built with
  `_strict_response_validation=True`, then APIResponseValidationError (an APIError).
  On a streaming request either way: the stream yields no events and raises nothing.
- a cut stream: openai raises APIConnectionError ("Connection error.") from the iterator;
  anthropic raises the transport's own `httpx2.RemoteProtocolError` ("incomplete chunked
  read"), not wrapped in an SDK error. (Both SDKs use `httpx2`, not `httpx`.)
- the stand-in stopping while a request hangs: the client gets APIConnectionError at once.

Known differences: ids, fingerprints and token counts are made up; there are no tool calls,
images, logprobs, `n > 1`, stop sequences, max_tokens truncation or rate-limit headers.
"""

from __future__ import annotations

import json
import math
import secrets
import select
import socket
import string
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar, cast

__all__ = [
    "AnthropicStandIn",
    "OpenAIModerationStandIn",
    "OpenAIStandIn",
    "RecordedRequest",
    "running_anthropic",
    "running_moderation",
    "running_openai",
]

DEFAULT_REPLY = "Hello from the stand-in."
_BASE62 = string.ascii_letters + string.digits
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def _token(length: int, alphabet: str = _BASE62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _text_of(content: Any) -> str:
    """The text in a message content: a string, or a list of {type: text, text} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a stand-in received it (path without the query string)."""

    method: str
    path: str
    headers: dict[str, str]  # every header, names lower-cased
    body: Any  # the parsed JSON body; None if it was empty or not JSON


class _Refused(Exception):
    """A request the provider refuses: the status, the provider-shaped body and headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body
        self.headers = headers


@dataclass(frozen=True)
class _Faults:
    """The faults one request consumed when it arrived."""

    hang_s: float | None
    failure: tuple[int, int | None] | None
    garbage: str | None  # the garbage reply's content type


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging or keep-alive connection must not hold up the exit

    def __init__(self, standin: _StandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a pooled keep-alive connection while the server waits on it for the
        # next request is how pools end, not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], _GONE):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as the providers do
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (40 ms on Linux) on a kept-alive connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        cast(_Server, self.server).standin._track(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            cast(_Server, self.server).standin._track(self.connection, opened=False)

    def do_POST(self) -> None:
        cast(_Server, self.server).standin._serve(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output is for the test, not for an access log


class _StandIn(ABC):
    """What both stand-ins share: server thread, lock, record, fault injection, SSE writing."""

    endpoint: ClassVar[str]
    request_id_header: ClassVar[str]

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._failures: deque[tuple[int, int | None]] = deque()
        self._hangs: deque[float] = deque()
        self._garbage: deque[str] = deque()
        self._cuts: deque[int] = deque()
        self._disconnects = 0
        self._connections: set[socket.socket] = set()
        self.reply: str = DEFAULT_REPLY
        self.chunks: list[str] | None = None
        self.chunk_delay_s: float = 0.01
        # After this many text pieces of a stream, wait `stall_s` before each further one (a
        # provider that stalls mid-stream); None: never.
        self.stall_after: int | None = None
        self.stall_s: float = 0.0
        self.usage: tuple[int, int] | None = None  # (input/prompt, output/completion) tokens
        # Sent as a Set-Cookie header on every answer when set (some OpenAI-compatible servers
        # and their load balancers set session or affinity cookies).
        self.set_cookie: str | None = None
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.url}",
            daemon=True,
        )

    # --- the test's side ---------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> int:
        with self._lock:
            return self._disconnects

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `count` requests with `status` in the provider's error shape."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def hang_next(self, seconds: float) -> None:
        """Make the next request wait `seconds` before it is answered."""
        with self._lock:
            self._hangs.append(seconds)

    def garbage_next(self, content_type: str = "application/json") -> None:
        """Answer the next request 200 with a body that is not JSON."""
        with self._lock:
            self._garbage.append(content_type)

    def stream_cut_after(self, n: int) -> None:
        """Close the next streaming request's connection after `n` text pieces."""
        with self._lock:
            self._cuts.append(n)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._closing.set()  # ends hangs and stream delays at once
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections: let the threads go
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    # --- the provider's side -----------------------------------------------------------

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in handler.headers.items()}
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self._requests.append(RecordedRequest(handler.command, path, headers, body))
            faults = _Faults(
                hang_s=self._hangs.popleft() if self._hangs else None,
                failure=self._failures.popleft() if self._failures else None,
                garbage=self._garbage.popleft() if self._garbage else None,
            )
        request_id = self._request_id()
        if faults.hang_s is not None and not self._hang(handler, faults.hang_s):
            return
        try:
            if faults.failure is not None:
                status, retry_after = faults.failure
                extra = {} if retry_after is None else {"retry-after": str(retry_after)}
                raise _Refused(status, self._error_body(status, None, request_id), extra)
            if faults.garbage is not None:
                page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                self._send(handler, 200, page, faults.garbage, request_id)
                return
            if handler.command != "POST" or path != self.endpoint:
                message = f"Invalid URL ({handler.command} {path})"
                raise _Refused(404, self._error_body(404, message, request_id), {})
            self._check_auth(headers, request_id)
            request = self._validate(raw, body, request_id)
        except _Refused as refused:
            data = json.dumps(refused.body).encode()
            self._send(
                handler, refused.status, data, "application/json", request_id, refused.headers
            )
            return
        with self._lock:
            usage = self.usage
            pieces = list(self.chunks) if self.chunks is not None else None
            text = "".join(pieces) if pieces is not None else self.reply
            if pieces is None:
                pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
        if usage is None:
            usage = (_estimate_tokens(self._prompt_text(request)), _estimate_tokens(text))
        if request.get("stream") is True:
            with self._lock:
                cut = self._cuts.popleft() if self._cuts else None
            self._stream(handler, request, pieces, usage, cut, request_id)
        else:
            data = json.dumps(self._message(request, text, usage)).encode()
            self._send(handler, 200, data, "application/json", request_id)

    @abstractmethod
    def _request_id(self) -> str: ...

    @abstractmethod
    def _error_body(self, status: int, message: str | None, request_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def _check_auth(self, headers: dict[str, str], request_id: str) -> None: ...

    @abstractmethod
    def _validate(self, raw: bytes, body: Any, request_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def _prompt_text(self, request: dict[str, Any]) -> str: ...

    @abstractmethod
    def _message(self, request: dict[str, Any], text: str, usage: tuple[int, int]) -> Any: ...

    @abstractmethod
    def _events(
        self, request: dict[str, Any], pieces: list[str], usage: tuple[int, int]
    ) -> Iterator[tuple[bytes, bool]]:
        """The stream's SSE events, each with whether it carries a text piece."""

    def _client_gone(self, handler: _Handler) -> bool:
        """Whether the client closed its end (EOF or reset) without consuming anything."""
        connection = handler.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _lost(self, handler: _Handler) -> None:
        handler.close_connection = True
        with self._lock:
            self._disconnects += 1

    def _hang(self, handler: _Handler, seconds: float) -> bool:
        """Wait `seconds`; False if the client went away (or the server stops) meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._closing.wait(min(left, 0.02)):
                handler.close_connection = True
                return False
            if self._client_gone(handler):
                self._lost(handler)
                return False
        return True

    def _send(
        self,
        handler: _Handler,
        status: int,
        data: bytes,
        content_type: str,
        request_id: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        if self._client_gone(handler):
            self._lost(handler)
            return
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header(self.request_id_header, request_id)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            if self.set_cookie is not None:
                handler.send_header("Set-Cookie", self.set_cookie)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except _GONE:
            self._lost(handler)

    def _stream(
        self,
        handler: _Handler,
        request: dict[str, Any],
        pieces: list[str],
        usage: tuple[int, int],
        cut: int | None,
        request_id: str,
    ) -> None:
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
            handler.send_header("Cache-Control", "no-cache")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.send_header(self.request_id_header, request_id)
            handler.end_headers()
            sent = 0
            for event, is_piece in self._events(request, pieces, usage):
                if is_piece:
                    if cut is not None and sent >= cut:
                        handler.close_connection = True  # mid-body: no terminating chunk
                        handler.connection.shutdown(socket.SHUT_RDWR)
                        return
                    delay = self.chunk_delay_s
                    if self.stall_after is not None and sent >= self.stall_after:
                        delay = self.stall_s
                    if self._closing.wait(delay):
                        handler.close_connection = True
                        return
                    sent += 1
                if self._client_gone(handler):
                    self._lost(handler)
                    return
                handler.wfile.write(b"%X\r\n%s\r\n" % (len(event), event))
            if cut is not None and sent >= cut:  # fewer pieces than the cut: cut at the end
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            handler.wfile.write(b"0\r\n\r\n")
        except _GONE:
            self._lost(handler)


# --- OpenAI ----------------------------------------------------------------------------

_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", None, "Not found."),
    429: (
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 1s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _openai_error(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class OpenAIStandIn(_StandIn):
    """The OpenAI Chat Completions API: `POST /v1/chat/completions`."""

    endpoint = "/v1/chat/completions"
    request_id_header = "x-request-id"

    def _request_id(self) -> str:
        return "req_" + _token(32, "0123456789abcdef")

    def _error_body(self, status: int, message: str | None, request_id: str) -> dict[str, Any]:
        fallback = (
            ("server_error", None, "Error.")
            if status >= 500
            else ("invalid_request_error", None, "Error.")
        )
        type_, code, default = _OPENAI_ERRORS.get(status, fallback)
        return _openai_error(message or default, type_, code)

    def _check_auth(self, headers: dict[str, str], request_id: str) -> None:
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            raise _Refused(
                401,
                _openai_error(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                    "YOUR_KEY).",
                    "invalid_request_error",
                ),
                {},
            )
        key = authorization.removeprefix("Bearer ")
        if key != self.api_key:
            shown = f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 7 else key
            raise _Refused(
                401,
                _openai_error(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
                {},
            )

    def _validate(self, raw: bytes, body: Any, request_id: str) -> dict[str, Any]:
        def bad(message: str, code: str | None = None, param: str | None = None) -> _Refused:
            return _Refused(400, _openai_error(message, "invalid_request_error", code, param), {})

        if not isinstance(body, dict):
            raise bad(
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)"
            )
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise bad("you must provide a model parameter")
        messages = body.get("messages")
        if messages is None:
            raise bad(
                "Missing required parameter: 'messages'.", "missing_required_parameter", "messages"
            )
        if not isinstance(messages, list):
            raise bad(
                f"Invalid type for 'messages': expected an array, but got "
                f"{type(messages).__name__} instead.",
                "invalid_type",
                "messages",
            )
        if not messages:
            raise bad(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but "
                "got an empty array instead.",
                "empty_array",
                "messages",
            )
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in _OPENAI_ROLES:
                role = message.get("role") if isinstance(message, dict) else None
                raise bad(
                    f"Invalid value: '{role}'. Supported values are: "
                    + ", ".join(f"'{r}'" for r in _OPENAI_ROLES)
                    + ".",
                    "invalid_value",
                    f"messages[{i}].role",
                )
            if "content" not in message and message["role"] != "assistant":
                raise bad(
                    f"Missing required parameter: 'messages[{i}].content'.",
                    "missing_required_parameter",
                    f"messages[{i}].content",
                )
        if "stream" in body and not isinstance(body["stream"], bool | None):
            raise bad("Invalid type for 'stream': expected a boolean.", "invalid_type", "stream")
        return body

    def _prompt_text(self, request: dict[str, Any]) -> str:
        return "".join(_text_of(message.get("content")) for message in request["messages"])

    def _base(self, request: dict[str, Any], object_: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-" + _token(29),
            "object": object_,
            "created": int(time.time()),
            "model": request["model"],
            "system_fingerprint": "fp_standin",
        }

    def _usage(self, usage: tuple[int, int]) -> dict[str, int]:
        prompt, completion = usage
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _message(self, request: dict[str, Any], text: str, usage: tuple[int, int]) -> Any:
        return {
            **self._base(request, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(usage),
        }

    def _events(
        self, request: dict[str, Any], pieces: list[str], usage: tuple[int, int]
    ) -> Iterator[tuple[bytes, bool]]:
        base = self._base(request, "chat.completion.chunk")  # one id for the whole stream
        options = request.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            data = {**base, "choices": [choice], **({"usage": None} if with_usage else {})}
            return b"data: %s\n\n" % json.dumps(data).encode()

        yield chunk({"role": "assistant", "content": "", "refusal": None}, None), False
        for piece in pieces:
            yield chunk({"content": piece}, None), True
        yield chunk({}, "stop"), False
        if with_usage:
            data = {**base, "choices": [], "usage": self._usage(usage)}
            yield b"data: %s\n\n" % json.dumps(data).encode(), False
        yield b"data: [DONE]\n\n", False


# --- OpenAI moderation -------------------------------------------------------------------

MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


class OpenAIModerationStandIn(OpenAIStandIn):
    """The OpenAI Moderations API: `POST /v1/moderations` with `input` a string or a list of
    strings, one result per input. What it flags is set by the test: `.flags` maps a phrase
    (matched case-insensitively in an input) to the moderation categories it raises, e.g.
    `{"shopping list of precursors": ("illicit",)}`; an input with none of them is clean.
    `.fail_when`, if set, is a phrase that makes any request holding it a 500 server error (a
    moderation outage that starts in the middle of a stream)."""

    endpoint = "/v1/moderations"

    def __init__(self, api_key: str) -> None:
        super().__init__(api_key)
        self.flags: dict[str, tuple[str, ...]] = {}
        self.fail_when: str | None = None

    def _validate(self, raw: bytes, body: Any, request_id: str) -> dict[str, Any]:
        def bad(message: str) -> _Refused:
            return _Refused(400, _openai_error(message, "invalid_request_error", None, "input"), {})

        if not isinstance(body, dict):
            raise bad("We could not parse the JSON body of your request.")
        given = body.get("input")
        inputs = [given] if isinstance(given, str) else given
        if not isinstance(inputs, list) or not inputs:
            raise bad("Invalid 'input': expected a string or a non-empty array of strings.")
        if not all(isinstance(item, str) for item in inputs):
            raise bad("Invalid 'input': expected strings.")
        if self.fail_when is not None and any(self.fail_when in item for item in inputs):
            raise _Refused(500, self._error_body(500, None, request_id), {})
        return {**body, "inputs": inputs}

    def _prompt_text(self, request: dict[str, Any]) -> str:
        return "".join(request["inputs"])

    def _result(self, text: str) -> dict[str, Any]:
        with self._lock:
            raised = {
                category
                for phrase, categories in self.flags.items()
                if phrase.lower() in text.lower()
                for category in categories
            }
        return {
            "flagged": bool(raised),
            "categories": {c: c in raised for c in MODERATION_CATEGORIES},
            "category_scores": {c: 0.97 if c in raised else 0.0004 for c in MODERATION_CATEGORIES},
            "category_applied_input_types": {
                c: ["text"] if c in raised else [] for c in MODERATION_CATEGORIES
            },
        }

    def _message(self, request: dict[str, Any], text: str, usage: tuple[int, int]) -> Any:
        return {
            "id": "modr-" + _token(24),
            "model": request.get("model") or "omni-moderation-latest",
            "results": [self._result(item) for item in request["inputs"]],
        }


# --- Anthropic -------------------------------------------------------------------------

_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}


class AnthropicStandIn(_StandIn):
    """The Anthropic Messages API: `POST /v1/messages`."""

    endpoint = "/v1/messages"
    request_id_header = "request-id"

    def _request_id(self) -> str:
        return "req_01" + _token(22)

    def _error(self, type_: str, message: str, request_id: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": type_, "message": message},
            "request_id": request_id,
        }

    def _error_body(self, status: int, message: str | None, request_id: str) -> dict[str, Any]:
        fallback = ("api_error", "Error.") if status >= 500 else ("invalid_request_error", "Error.")
        type_, default = _ANTHROPIC_ERRORS.get(status, fallback)
        return self._error(type_, message or default, request_id)

    def _check_auth(self, headers: dict[str, str], request_id: str) -> None:
        key = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if key is None and authorization.startswith("Bearer "):
            key = authorization.removeprefix("Bearer ")
        if key is None:
            error = self._error("authentication_error", "x-api-key header is required", request_id)
            raise _Refused(401, error, {})
        if key != self.api_key:
            raise _Refused(
                401, self._error("authentication_error", "invalid x-api-key", request_id), {}
            )
        if not headers.get("anthropic-version"):
            error = self._error(
                "invalid_request_error", "anthropic-version: header is required", request_id
            )
            raise _Refused(400, error, {})

    def _validate(self, raw: bytes, body: Any, request_id: str) -> dict[str, Any]:
        def bad(message: str) -> _Refused:
            return _Refused(400, self._error("invalid_request_error", message, request_id), {})

        if not isinstance(body, dict):
            raise bad("There was an error parsing the body of your request: invalid JSON")
        for name in ("model", "messages", "max_tokens"):
            if name not in body:
                raise bad(f"{name}: Field required")
        if not isinstance(body["model"], str) or not body["model"]:
            raise bad("model: Input should be a valid string")
        max_tokens = body["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise bad("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise bad("max_tokens: Input should be greater than or equal to 1")
        messages = body["messages"]
        if not isinstance(messages, list):
            raise bad("messages: Input should be a valid list")
        if not messages:
            raise bad("messages: at least one message is required")
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise bad(f"messages.{i}: Input should be a valid dictionary")
            if message.get("role") == "system":
                raise bad(
                    'messages: Unexpected role "system". The Messages API accepts a top-level '
                    '`system` parameter, not "system" as an input message role.'
                )
            if message.get("role") not in ("user", "assistant"):
                raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if "content" not in message:
                raise bad(f"messages.{i}.content: Field required")
            if not isinstance(message["content"], str | list):
                raise bad(f"messages.{i}.content: Input should be a valid list")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise bad("stream: Input should be a valid boolean")
        return body

    def _prompt_text(self, request: dict[str, Any]) -> str:
        system = _text_of(request.get("system"))
        return system + "".join(_text_of(message["content"]) for message in request["messages"])

    def _message(self, request: dict[str, Any], text: str, usage: tuple[int, int]) -> Any:
        return {
            "id": "msg_01" + _token(22),
            "type": "message",
            "role": "assistant",
            "model": request["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }

    def _events(
        self, request: dict[str, Any], pieces: list[str], usage: tuple[int, int]
    ) -> Iterator[tuple[bytes, bool]]:
        def event(type_: str, **data: Any) -> bytes:
            payload = json.dumps({"type": type_, **data})
            return b"event: %s\ndata: %s\n\n" % (type_.encode(), payload.encode())

        start = self._message(request, "", (usage[0], 1))
        start.update(content=[], stop_reason=None)
        yield event("message_start", message=start), False
        yield (
            event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            False,
        )
        yield event("ping"), False
        for piece in pieces:
            delta = {"type": "text_delta", "text": piece}
            yield event("content_block_delta", index=0, delta=delta), True
        yield event("content_block_stop", index=0), False
        yield (
            event(
                "message_delta",
                delta={"stop_reason": "end_turn", "stop_sequence": None},
                usage={"output_tokens": usage[1]},
            ),
            False,
        )
        yield event("message_stop"), False


# --- running them ----------------------------------------------------------------------


_S = TypeVar("_S", bound=_StandIn)


@contextmanager
def _running(standin: _S) -> Iterator[_S]:
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def running_openai(api_key: str = "sk-test-offcoder") -> AbstractContextManager[OpenAIStandIn]:
    """An OpenAI stand-in on 127.0.0.1 for the duration of the block."""
    return _running(OpenAIStandIn(api_key))


def running_moderation(
    api_key: str = "sk-moderation-test",
) -> AbstractContextManager[OpenAIModerationStandIn]:
    """An OpenAI moderation stand-in on 127.0.0.1 for the duration of the block."""
    return _running(OpenAIModerationStandIn(api_key))


def running_anthropic(
    api_key: str = "sk-ant-test-offcoder",
) -> AbstractContextManager[AnthropicStandIn]:
    """An Anthropic stand-in on 127.0.0.1 for the duration of the block."""
    return _running(AnthropicStandIn(api_key))
