"""Local stand-ins for the Stripe and Razorpay REST APIs, on loopback, for the official SDKs.

Tests drive the real `stripe` (v16) and `razorpay` (2.x) SDKs against these servers by pointing
each SDK's own base-URL setting at them; nothing in the SDKs is patched, so what goes over the
wire (encoding, headers, auth, error mapping) is exactly what production sends.

Pointing the SDKs here:

    with running_stripe() as stripe_standin:
        client = stripe.StripeClient(
            "sk_test_offcoder",
            base_addresses={"api": stripe_standin.url},
            max_network_retries=0,  # fail_next() then fails the call instead of being retried
        )
        client.v1.checkout.sessions.create(params={...}, options={"idempotency_key": "k"})

    with running_razorpay() as razorpay_standin:
        client = razorpay.Client(
            auth=("rzp_test_offcoder", razorpay_standin.key_secret),
            base_url=razorpay_standin.url,  # the host only: the SDK appends "/v1/..." itself
        )

(`StripeClient.checkout`, `.refunds`, ... still work in v16 but are deprecated aliases of
`client.v1.*`. The global `stripe.api_base = url` works for the module-level API too.)

What the Stripe stand-in does like Stripe:

- form-encoded bodies with nested keys (`line_items[0][price_data][currency]`), which it parses
  into nested dicts; indexed keys become lists (`line_items`, `items`) except under `metadata`.
  Leaf values stay strings, as the form encoding delivers them. `.requests[i].params` holds
  this parsed form (query string for GET, body for POST).
- `Authorization: Bearer <api_key>`; anything else is a 401 in Stripe's error shape
  `{"error": {"type", "message", "code"?, "param"?}}` (absent fields left out, as Stripe does).
- idempotency: a POST's `Idempotency-Key` is scoped to the API key; the same key with the same
  method, path and params replays the stored response (`Idempotent-Replayed: true`, creating
  nothing); with anything different it is a 400 `idempotency_error`. Only 2xx results are
  stored, so a request refused (4xx) or failed by `fail_next` can be retried with its key.
  Note the SDK puts a random `Idempotency-Key` on EVERY POST it sends without one, so
  `.requests[i].idempotency_key` is never None for a POST.
- the payment intent takes its metadata from `payment_intent_data[metadata]` only; the session's
  own `metadata` stays on the session (Stripe copies nothing across). A subscription takes its
  metadata from `subscription_data[metadata]`. `payment_intent_data` in subscription mode (and
  `subscription_data` in payment mode) is refused, as Stripe does.
- a price sent as an id must exist: register catalogue prices with `add_price()`.

Known differences: `charge.refunds` is always included (Stripe has not included it since API
2022-11-15 unless expanded, so do not rely on it); Stripe also stores (and replays) the result of
a request that failed after it began executing, where this stores successes only; concurrent
requests with the same key are serialised rather than answered 409; ids are random base62.
Events say `api_version` 2024-06-20 whatever `Stripe-Version` the SDK sent.

The Razorpay stand-in speaks JSON bodies, HTTP Basic `key_id:key_secret` auth, Razorpay's error
shape `{"error": {"code", "description", "field", ...}}` (the SDK raises `BadRequestError` for
code BAD_REQUEST_ERROR, also on a 401), and Razorpay's habit of serialising empty `notes` as
`[]` rather than `{}`. Unknown ids answer 400 "The id provided does not exist", as Razorpay
does. Collections list newest first and accept `count`/`skip`; orders filter by `receipt`.
Order and refund bodies with fields Razorpay does not take are refused ("... is/are not required
and should not be sent"). `new_event_id()` values are opaque; treat them as such.

Both record every request in `.requests` and fail the next requests with `.fail_next()`. The
"customer" and "provider" actions (`pay`, `refund_event`, `refund_dashboard`, ...) return the
webhook events the provider would send; tests sign them with `sign_stripe`/`sign_razorpay` and
deliver them themselves.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import string
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

STRIPE_API_VERSION = "2024-06-20"
_BASE62 = string.ascii_letters + string.digits


def _token(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a stand-in received it (path without the query string)."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


@dataclass
class _Reply:
    status: int
    body: Any  # JSON-encoded unless it is already bytes
    headers: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    """A request the provider refuses: carries the provider-shaped error reply."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not hold up the test's exit

    def __init__(self, standin: _StandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        reply = cast(_Server, self.server).standin.respond(
            method, url.path, url.query, self.headers, body
        )
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output is for the test, not for an access log


class _StandIn(ABC):
    """What both stand-ins share: the server thread, the lock, the record and fault injection."""

    def __init__(self) -> None:
        # Re-entrant: the simulated actions and the request handler share helpers.
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._failures: list[tuple[int, str]] = []
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # Seconds each answer waits before it is worked out (outside the lock), so that
        # concurrent requests really overlap at the provider: race tests set it.
        self.latency_s = 0.0

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def _queue_failures(self, status: int, count: int, kind: str) -> None:
        with self._lock:
            self._failures.extend([(status, kind)] * count)

    def respond(self, method: str, path: str, query: str, headers: Message, body: bytes) -> _Reply:
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            try:
                return self._handle(method, path, query, headers, body)
            except _Refused as refused:
                return _Reply(refused.status, refused.body)

    @abstractmethod
    def _handle(
        self, method: str, path: str, query: str, headers: Message, body: bytes
    ) -> _Reply: ...

    def _take_failure(self) -> tuple[int, str] | None:
        return self._failures.pop(0) if self._failures else None

    @contextmanager
    def _serving(self) -> Iterator[None]:
        # A short poll interval: shutdown() waits for the loop's next poll.
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(10)


# ---------------------------------------------------------------------------------------------
# Stripe


_BRACKETED = re.compile(r"\[([^\]]*)\]")


def parse_stripe_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's nested form keys as nested dicts; `x[0]`, `x[1]` as a list except in metadata."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, bracket, rest = key.partition("[")
        parts = [head, *_BRACKETED.findall(bracket + rest)]
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return cast(dict[str, Any], _listify(root, ""))


def _listify(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v, k) for k, v in node.items()}
    # Metadata keys are the caller's own strings, which may happen to be digits.
    if key != "metadata" and items and set(items) == {str(i) for i in range(len(items))}:
        return [items[str(i)] for i in range(len(items))]
    return items


def _stripe_refusal(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> _Refused:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return _Refused(status, {"error": error})


def _int_param(value: Any, param: str, *, minimum: int = 0) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise _stripe_refusal(400, f"Invalid integer: {value}", param=param)
    number = int(value)
    if number < minimum:
        raise _stripe_refusal(
            400, f"This value must be greater than or equal to {minimum}.", param=param
        )
    return number


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _stripe_refusal(400, "Invalid object", param=param)
    if len(value) > 50 or any(len(k) > 40 or len(v) > 500 for k, v in value.items()):
        raise _stripe_refusal(400, "Metadata exceeds Stripe's limits.", param=param)
    return {k: v for k, v in value.items() if v != ""}


@dataclass
class _Stored:
    method: str
    path: str
    params: dict[str, Any]
    reply: _Reply


class StripeStandIn(_StandIn):
    """Stripe's checkout sessions, payment intents, refunds and subscriptions, in memory."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.prices: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._session_extra: dict[str, dict[str, Any]] = {}
        self._charge_at_refund: dict[str, dict[str, Any]] = {}
        self._sub_last_sent: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[tuple[str, str], _Stored] = {}

    # -- test controls --------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, error_type: str = "api_error") -> None:
        """Answer the next `count` requests with `status` and a Stripe error; nothing is made."""
        self._queue_failures(status, count, error_type)

    def add_price(
        self,
        unit_amount: int,
        currency: str = "usd",
        interval: str | None = "month",
        price_id: str | None = None,
    ) -> str:
        """A catalogue price (recurring unless `interval` is None), for line items by id."""
        with self._lock:
            price = self._new_price(unit_amount, currency.lower(), interval, price_id)
            return str(price["id"])

    def pay(self, session_id: str) -> dict[str, dict[str, Any]]:
        """The customer pays an open session; returns the events Stripe sends, by type."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session["status"] != "open":
                raise ValueError(f"no open checkout session {session_id}")
            extra = self._session_extra[session_id]
            subscription = session["mode"] == "subscription"
            customer = f"cus_{_token(14)}" if subscription else None
            intent = self._new_paid_intent(
                session["amount_total"],
                session["currency"],
                {} if subscription else extra["pi_metadata"],
                customer,
            )
            session.update(
                status="complete",
                payment_status="paid",
                customer=customer,
                customer_details={"email": session["customer_email"], "name": None},
            )
            sub = self._new_subscription(customer or "", extra) if subscription else None
            if sub is not None:
                session.update(subscription=sub["id"], invoice=sub["latest_invoice"])
            else:
                session["payment_intent"] = intent["id"]  # null in subscription mode, as Stripe
            events = {
                "checkout.session.completed": self._event("checkout.session.completed", session),
                "payment_intent.succeeded": self._event("payment_intent.succeeded", intent),
            }
            if sub is not None:
                events["customer.subscription.created"] = self._event(
                    "customer.subscription.created", sub
                )
            return events

    def refund_event(self, refund_id: str) -> dict[str, Any]:
        """The `charge.refunded` event for a refund, with the charge as it was right after it."""
        with self._lock:
            return self._event("charge.refunded", self._charge_at_refund[refund_id])

    def refund_dashboard(
        self, payment_intent_id: str, amount: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A refund made in the Dashboard (not through our API): the refund and its event."""
        with self._lock:
            try:
                refund = self._refund(payment_intent_id, amount, {}, None)
            except _Refused as refused:
                raise ValueError(refused.body["error"]["message"]) from None
            return copy.deepcopy(refund), self.refund_event(refund["id"])

    def subscription_updated_event(self, sub_id: str) -> dict[str, Any]:
        """`customer.subscription.updated`, with `previous_attributes` since the last event."""
        with self._lock:
            sub = self.subscriptions[sub_id]
            before = self._sub_last_sent[sub_id]
            previous = {k: v for k, v in before.items() if sub.get(k) != v}
            self._sub_last_sent[sub_id] = copy.deepcopy(sub)
            return self._event("customer.subscription.updated", sub, previous)

    # -- the HTTP side --------------------------------------------------------------------------

    def _handle(self, method: str, path: str, query: str, headers: Message, body: bytes) -> _Reply:
        raw = query if method == "GET" else body.decode()
        params = parse_stripe_form(parse_qsl(raw, keep_blank_values=True))
        key = headers.get("Idempotency-Key")
        self._requests.append(RecordedRequest(method, path, params, key))
        request_id = f"req_{_token(14)}"
        if method == "GET" and path.startswith("/pay/"):
            # Where the customer is sent; a browser test lands here, then the test calls pay().
            page = f"<!doctype html><title>Stripe stand-in</title><p>{html.escape(path[5:])}</p>"
            return _Reply(200, page.encode(), {"Content-Type": "text/html"})
        failure = self._take_failure()
        if failure is not None:
            status, kind = failure
            raise _stripe_refusal(status, "Injected failure (stand-in fail_next).", kind=kind)
        self._authenticate(headers.get("Authorization"))
        scope = (self.api_key, key) if method == "POST" and key else None
        if scope is not None and scope in self._idempotent:
            return self._replay(scope, method, path, params)
        result = self._route(method, path, params)
        reply = _Reply(200, result, {"Request-Id": request_id})
        if scope is not None:
            self._idempotent[scope] = _Stored(method, path, params, reply)
        return reply

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("Bearer "):
            raise _stripe_refusal(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth.",
            )
        given = authorization.removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise _stripe_refusal(401, f"Invalid API Key provided: {given[:8]}****{given[-4:]}")

    def _replay(
        self, scope: tuple[str, str], method: str, path: str, params: dict[str, Any]
    ) -> _Reply:
        stored = self._idempotent[scope]
        if (stored.method, stored.path) != (method, path):
            raise _stripe_refusal(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{stored.method} {stored.path}' vs '{method} {path}'). Try "
                f"using a key other than '{scope[1]}' if you meant to execute a different request.",
                kind="idempotency_error",
            )
        if stored.params != params:
            raise _stripe_refusal(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{scope[1]}' if you meant to "
                "execute a different request.",
                kind="idempotency_error",
            )
        original = stored.reply.headers["Request-Id"]
        headers = {**stored.reply.headers, "Idempotent-Replayed": "true"}
        headers["Original-Request"] = original
        return _Reply(stored.reply.status, stored.reply.body, headers)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_session(params)
            case "GET", ["v1", "checkout", "sessions", sid]:
                return self._fetch(self.sessions, sid, "checkout.session")
            case "GET", ["v1", "payment_intents", pid]:
                return self._fetch(self.payment_intents, pid, "payment_intent")
            case "GET", ["v1", "charges", cid]:
                return self._fetch(self.charges, cid, "charge")
            case "POST", ["v1", "refunds"]:
                return copy.deepcopy(self._create_refund(params))
            case "GET", ["v1", "refunds", rid]:
                return self._fetch(self.refunds, rid, "refund")
            case "GET", ["v1", "subscriptions", sid]:
                return self._fetch(self.subscriptions, sid, "subscription")
            case "POST", ["v1", "subscriptions", sid]:
                return self._update_subscription(sid, params)
        raise _stripe_refusal(404, f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _fetch(table: dict[str, dict[str, Any]], object_id: str, kind: str) -> dict[str, Any]:
        if object_id not in table:
            raise _stripe_refusal(
                404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id"
            )
        return copy.deepcopy(table[object_id])

    # -- objects --------------------------------------------------------------------------------

    def _new_price(
        self, unit_amount: int, currency: str, interval: str | None, price_id: str | None = None
    ) -> dict[str, Any]:
        price: dict[str, Any] = {
            "id": price_id or f"price_{_token(24)}",
            "object": "price",
            "active": True,
            "currency": currency,
            "unit_amount": unit_amount,
            "product": f"prod_{_token(14)}",
            "type": "recurring" if interval else "one_time",
            "recurring": {"interval": interval, "interval_count": 1} if interval else None,
            "livemode": False,
        }
        self.prices[price["id"]] = price
        return price

    def _line_price(self, item: Any, i: int) -> dict[str, Any]:
        where = f"line_items[{i}]"
        if not isinstance(item, dict):
            raise _stripe_refusal(400, "Invalid object", param=where)
        if "price" in item:
            if item["price"] not in self.prices:
                raise _stripe_refusal(
                    400,
                    f"No such price: '{item['price']}'",
                    code="resource_missing",
                    param=f"{where}[price]",
                )
            return self.prices[item["price"]]
        data = item.get("price_data")
        if not isinstance(data, dict):
            raise _stripe_refusal(
                400, "You must specify either `price` or `price_data`.", param=where
            )
        currency = data.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-zA-Z]{3}", currency):
            raise _stripe_refusal(400, "Invalid currency", param=f"{where}[price_data][currency]")
        if "unit_amount" not in data:
            raise _stripe_refusal(
                400, "Missing required param.", param=f"{where}[price_data][unit_amount]"
            )
        amount = _int_param(data["unit_amount"], f"{where}[price_data][unit_amount]")
        product = data.get("product_data")
        if "product" not in data and not (isinstance(product, dict) and product.get("name")):
            raise _stripe_refusal(400, "Missing required param.", param=f"{where}[price_data]")
        recurring = data.get("recurring")
        interval = recurring.get("interval") if isinstance(recurring, dict) else None
        if recurring is not None and interval not in ("day", "week", "month", "year"):
            raise _stripe_refusal(
                400, "Invalid interval", param=f"{where}[price_data][recurring][interval]"
            )
        return self._new_price(amount, currency.lower(), interval)

    def _create_session(self, p: dict[str, Any]) -> dict[str, Any]:
        mode = p.get("mode")
        if mode not in ("payment", "subscription"):
            raise _stripe_refusal(400, "Missing or invalid param: mode.", param="mode")
        wrong = "payment_intent_data" if mode == "subscription" else "subscription_data"
        if wrong in p:
            raise _stripe_refusal(400, f"You can not pass `{wrong}` in `{mode}` mode.", param=wrong)
        items = p.get("line_items")
        if not isinstance(items, list) or not items:
            raise _stripe_refusal(400, "Missing required param: line_items.", param="line_items")
        total, currencies, lines = 0, set(), []
        for i, item in enumerate(items):
            price = self._line_price(item, i)
            quantity = _int_param(item.get("quantity"), f"line_items[{i}][quantity]", minimum=1)
            lines.append((price, quantity))
            if (price["type"] == "recurring") != (mode == "subscription"):
                raise _stripe_refusal(
                    400,
                    f"You specified `{mode}` mode but passed a "
                    f"{'one-time' if mode == 'subscription' else 'recurring'} price.",
                    param=f"line_items[{i}]",
                )
            total += price["unit_amount"] * quantity
            currencies.add(price["currency"])
        if len(currencies) > 1:
            raise _stripe_refusal(400, "Checkout does not support multiple currencies.")
        pi_data = p.get("payment_intent_data") or {}
        sub_data = p.get("subscription_data") or {}
        sid = f"cs_test_{_token(58)}"
        created = _now()
        session = {
            "id": sid,
            "object": "checkout.session",
            "mode": mode,
            "url": f"{self.url}/pay/{sid}",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currencies.pop(),
            "status": "open",
            "payment_status": "unpaid",
            "metadata": _metadata(p.get("metadata"), "metadata"),
            "client_reference_id": p.get("client_reference_id"),
            "customer": None,
            "customer_email": p.get("customer_email"),
            "customer_details": None,
            "payment_intent": None,
            "subscription": None,
            "invoice": None,
            "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"),
            "created": created,
            "expires_at": created + 24 * 3600,
            "livemode": False,
        }
        self.sessions[sid] = session
        self._session_extra[sid] = {
            "lines": lines,
            "pi_metadata": _metadata(pi_data.get("metadata"), "payment_intent_data[metadata]"),
            "sub_metadata": _metadata(sub_data.get("metadata"), "subscription_data[metadata]"),
        }
        return copy.deepcopy(session)

    def _new_paid_intent(
        self, amount: int, currency: str, metadata: dict[str, str], customer: str | None
    ) -> dict[str, Any]:
        pid, cid, created = f"pi_{_token(24)}", f"ch_{_token(24)}", _now()
        intent = {
            "id": pid,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "status": "succeeded",
            "customer": customer,
            "latest_charge": cid,
            "metadata": dict(metadata),
            "created": created,
            "livemode": False,
        }
        self.charges[cid] = {
            "id": cid,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "currency": currency,
            "customer": customer,
            "payment_intent": pid,
            "paid": True,
            "captured": True,
            "refunded": False,
            "status": "succeeded",
            "metadata": dict(metadata),  # Stripe copies the intent's metadata to its charge
            "refunds": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/charges/{cid}/refunds",
            },
            "created": created,
            "livemode": False,
        }
        self.payment_intents[pid] = intent
        return intent

    def _new_subscription(self, customer: str, extra: dict[str, Any]) -> dict[str, Any]:
        sub_id, now = f"sub_{_token(24)}", _now()
        period = {"current_period_start": now, "current_period_end": now + 30 * 24 * 3600}
        items = []
        for price, quantity in extra["lines"]:
            items.append(
                {
                    "id": f"si_{_token(14)}",
                    "object": "subscription_item",
                    "price": copy.deepcopy(price),
                    "quantity": quantity,
                    "subscription": sub_id,
                    "metadata": {},
                    "created": now,
                    **period,
                }
            )
        sub = {
            "id": sub_id,
            "object": "subscription",
            "status": "active",
            "customer": customer,
            "currency": items[0]["price"]["currency"],
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "total_count": len(items),
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "metadata": dict(extra["sub_metadata"]),
            "cancel_at_period_end": False,
            "latest_invoice": f"in_{_token(24)}",
            "created": now,
            "livemode": False,
            **period,
        }
        self.subscriptions[sub_id] = sub
        self._sub_last_sent[sub_id] = copy.deepcopy(sub)
        return sub

    def _create_refund(self, p: dict[str, Any]) -> dict[str, Any]:
        if "payment_intent" not in p:
            raise _stripe_refusal(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
            )
        amount = _int_param(p["amount"], "amount", minimum=1) if "amount" in p else None
        reason = p.get("reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise _stripe_refusal(400, f"Invalid reason: {reason}", param="reason")
        return self._refund(
            p["payment_intent"], amount, _metadata(p.get("metadata"), "metadata"), reason
        )

    def _refund(
        self, pid: str, amount: int | None, metadata: dict[str, str], reason: str | None
    ) -> dict[str, Any]:
        intent = self.payment_intents.get(pid)
        if intent is None:
            raise _stripe_refusal(
                400,
                f"No such payment_intent: '{pid}'",
                code="resource_missing",
                param="payment_intent",
            )
        if intent["status"] != "succeeded":
            raise _stripe_refusal(
                400,
                f"This PaymentIntent ({pid}) does not have a successful charge to refund.",
                code="payment_intent_unexpected_state",
                param="payment_intent",
            )
        charge = self.charges[intent["latest_charge"]]
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise _stripe_refusal(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise _stripe_refusal(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                code="amount_too_large",
                param="amount",
            )
        refund = {
            "id": f"re_{_token(24)}",
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": pid,
            "status": "succeeded",
            "reason": reason,
            "metadata": metadata,
            "balance_transaction": f"txn_{_token(24)}",
            "created": _now(),
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))  # newest first, as listed
        charge["refunds"]["total_count"] += 1
        self._charge_at_refund[refund["id"]] = copy.deepcopy(charge)
        return refund

    def _update_subscription(self, sub_id: str, p: dict[str, Any]) -> dict[str, Any]:
        self._fetch(self.subscriptions, sub_id, "subscription")  # refuses an unknown id
        sub = self.subscriptions[sub_id]
        behaviour = p.get("proration_behavior")
        if behaviour not in (None, "create_prorations", "none", "always_invoice"):
            raise _stripe_refusal(
                400, f"Invalid proration_behavior: {behaviour}", param="proration_behavior"
            )
        changes = p.get("items") or []
        if not isinstance(changes, list):
            raise _stripe_refusal(400, "Invalid array", param="items")
        items = copy.deepcopy(sub["items"]["data"])
        for i, change in enumerate(changes):
            if not isinstance(change, dict):
                raise _stripe_refusal(400, "Invalid object", param=f"items[{i}]")
            price = self.prices.get(change.get("price", ""))
            if "price" in change and (price is None or price["type"] != "recurring"):
                raise _stripe_refusal(
                    400,
                    f"No such recurring price: '{change['price']}'",
                    code="resource_missing",
                    param=f"items[{i}][price]",
                )
            if "id" in change:
                item = next((it for it in items if it["id"] == change["id"]), None)
                if item is None:
                    raise _stripe_refusal(
                        400,
                        f"Invalid subscription_item: '{change['id']}'",
                        param=f"items[{i}][id]",
                    )
            elif price is not None:
                item = {**copy.deepcopy(items[0]), "id": f"si_{_token(14)}", "quantity": 1}
                items.append(item)
            else:
                raise _stripe_refusal(400, "Missing required param.", param=f"items[{i}][price]")
            if price is not None:
                item["price"] = copy.deepcopy(price)
            if "quantity" in change:
                item["quantity"] = _int_param(change["quantity"], f"items[{i}][quantity]")
        metadata = p.get("metadata")
        if metadata == "":  # Stripe: an empty metadata clears all keys
            sub["metadata"] = {}
        elif metadata is not None:
            _metadata(metadata, "metadata")  # validate; "" values delete keys below
            merged = {**sub["metadata"], **metadata}
            sub["metadata"] = {k: v for k, v in merged.items() if v != ""}
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
        sub["items"]["data"] = items
        sub["items"]["total_count"] = len(items)
        return copy.deepcopy(sub)

    def _event(
        self,
        kind: str,
        obj: Mapping[str, Any],
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": copy.deepcopy(dict(obj))}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        return {
            "id": f"evt_{_token(24)}",
            "object": "event",
            "type": kind,
            "created": _now(),
            "livemode": False,
            "api_version": STRIPE_API_VERSION,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": data,
        }


def sign_stripe(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `payload` for endpoint secret `secret`."""
    ts = _now() if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


@contextmanager
def running_stripe(api_key: str = "sk_test_offcoder") -> Iterator[StripeStandIn]:
    """A Stripe stand-in on a free loopback port, accepting `api_key`."""
    standin = StripeStandIn(api_key)
    with standin._serving():
        yield standin


# ---------------------------------------------------------------------------------------------
# Razorpay

RAZORPAY_TEST_SECRET = "rzp_test_secret_offcoder"
RAZORPAY_CURRENCIES = frozenset({"INR", "USD", "EUR", "GBP"})
_ORDER_FIELDS = frozenset(
    {"amount", "currency", "receipt", "notes", "partial_payment", "first_payment_min_amount"}
    | {"payment_capture", "method", "customer_id", "offer_id"}
)
_REFUND_FIELDS = frozenset({"amount", "speed", "notes", "receipt"})


def _rzp_refusal(
    description: str, field_name: str | None = None, status: int = 400, code: str | None = None
) -> _Refused:
    if code is None:
        code = "BAD_REQUEST_ERROR" if status < 500 else "SERVER_ERROR"
        code = "GATEWAY_ERROR" if status in (502, 503, 504) else code
    error: dict[str, Any] = {
        "code": code,
        "description": description,
        "source": "NA",
        "step": "NA",
        "reason": "NA",
        "metadata": {},
        "field": field_name,
    }
    return _Refused(status, {"error": error})


def _notes(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise _rzp_refusal("The notes must be an array.", "notes")
    if len(value) > 15:
        raise _rzp_refusal("Number of fields in notes should be less than or equal to 15", "notes")
    if any(len(str(v)) > 256 for v in value.values()):
        raise _rzp_refusal("The notes value may not be greater than 256 characters.", "notes")
    return dict(value)


def _entity(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Razorpay serialises it: empty notes as `[]` (a PHP quirk we keep)."""
    out = copy.deepcopy(obj)
    if out.get("notes") == {}:
        out["notes"] = []
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class RazorpayStandIn(_StandIn):
    """Razorpay's orders, payments and refunds, in memory."""

    def __init__(self, key_id: str, key_secret: str) -> None:
        super().__init__()
        self.key_id = key_id
        self.key_secret = key_secret
        self.account_id = f"acc_{_token(14)}"
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self._payment_at_refund: dict[str, dict[str, Any]] = {}

    # -- test controls --------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` requests with `status` and a Razorpay error; nothing is made."""
        self._queue_failures(status, count, "")

    @staticmethod
    def new_event_id() -> str:
        """A webhook event id; Razorpay sends it in `X-Razorpay-Event-Id`, not in the body."""
        return f"evt_{_token(14)}"

    def pay(self, order_id: str) -> dict[str, dict[str, Any]]:
        """The customer pays the order; returns the webhook payloads Razorpay sends, by event."""
        with self._lock:
            order = self.orders.get(order_id)
            if order is None or order["status"] == "paid":
                raise ValueError(f"no unpaid order {order_id}")
            payment = {
                "id": f"pay_{_token(14)}",
                "entity": "payment",
                "amount": order["amount"],
                "currency": order["currency"],
                "status": "captured",
                "order_id": order_id,
                "invoice_id": None,
                "international": False,
                "method": "upi",
                "amount_refunded": 0,
                "refund_status": None,
                "captured": True,
                "description": None,
                "vpa": "success@razorpay",
                "email": "void@example.com",
                "contact": "+919000090000",
                "notes": copy.deepcopy(order["notes"]),
                "fee": order["amount"] * 2 // 100,
                "tax": order["amount"] * 2 // 100 * 18 // 118,
                "error_code": None,
                "error_description": None,
                "created_at": _now(),
            }
            self.payments[payment["id"]] = payment
            order.update(amount_paid=order["amount"], amount_due=0, status="paid")
            order["attempts"] += 1
            return {
                "payment.captured": self._event("payment.captured", payment=payment),
                "order.paid": self._event("order.paid", payment=payment, order=order),
            }

    def refund_event(self, refund_id: str) -> dict[str, Any]:
        """`refund.processed`, with the payment as it was right after the refund."""
        with self._lock:
            payment = self._payment_at_refund[refund_id]
            return self._event("refund.processed", refund=self.refunds[refund_id], payment=payment)

    def refund_dashboard(
        self, payment_id: str, amount: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A refund made in the Dashboard (not through our API): the refund and its event."""
        with self._lock:
            try:
                refund = self._refund(payment_id, {"amount": amount})
            except _Refused as refused:
                raise ValueError(refused.body["error"]["description"]) from None
            return _entity(refund), self.refund_event(refund["id"])

    # -- the HTTP side --------------------------------------------------------------------------

    def _handle(self, method: str, path: str, query: str, headers: Message, body: bytes) -> _Reply:
        params: dict[str, Any]
        if method == "GET":
            params = dict(parse_qsl(query, keep_blank_values=True))
        else:
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {"_unparsed": body.decode(errors="replace")}
        self._requests.append(RecordedRequest(method, path, params, None))
        failure = self._take_failure()
        if failure is not None:
            raise _rzp_refusal("Injected failure (stand-in fail_next).", status=failure[0])
        if not self._authenticated(headers.get("Authorization")):
            raise _rzp_refusal("Authentication failed", status=401, code="BAD_REQUEST_ERROR")
        if not isinstance(params, dict) or "_unparsed" in params:
            raise _rzp_refusal("The request body is not valid JSON.")
        return _Reply(200, self._route(method, path, params))

    def _authenticated(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        except ValueError:
            return False
        expected = f"{self.key_id}:{self.key_secret}"
        return hmac.compare_digest(given.encode(), expected.encode())

    def _route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["v1", "orders"]:
                return _entity(self._create_order(params))
            case "GET", ["v1", "orders"]:
                found = [
                    o for o in self.orders.values() if params.get("receipt") in (None, o["receipt"])
                ]
                return self._collection(found, params)
            case "GET", ["v1", "orders", oid]:
                return _entity(self._find(self.orders, oid))
            case "GET", ["v1", "orders", oid, "payments"]:
                self._find(self.orders, oid)
                found = [p for p in self.payments.values() if p["order_id"] == oid]
                return self._collection(found, params)
            case "GET", ["v1", "payments", pid]:
                return _entity(self._find(self.payments, pid))
            case "POST", ["v1", "payments", pid, "refund"]:
                return _entity(self._refund(pid, params))
            case "GET", ["v1", "payments", pid, "refunds"]:
                self._find(self.payments, pid)
                found = [r for r in self.refunds.values() if r["payment_id"] == pid]
                return self._collection(found, params)
            case "GET", ["v1", "payments", pid, "refunds", rid]:
                refund = self._find(self.refunds, rid)
                if refund["payment_id"] != pid:
                    raise _rzp_refusal("The id provided does not exist", "id")
                return _entity(refund)
            case "GET", ["v1", "refunds", rid]:
                return _entity(self._find(self.refunds, rid))
        raise _rzp_refusal("The requested URL was not found on the server.", status=404)

    @staticmethod
    def _find(table: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
        if object_id not in table:
            raise _rzp_refusal("The id provided does not exist", "id")
        return table[object_id]

    @staticmethod
    def _collection(objs: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        try:
            count, skip = int(params.get("count", 10)), int(params.get("skip", 0))
        except ValueError:
            raise _rzp_refusal("The count must be an integer.", "count") from None
        if not 1 <= count <= 100:
            raise _rzp_refusal("The count must be between 1 and 100.", "count")
        # Razorpay lists newest first; insertion order is creation order.
        page = list(reversed(objs))[skip : skip + count]
        return {"entity": "collection", "count": len(page), "items": [_entity(o) for o in page]}

    def _create_order(self, p: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(p) - _ORDER_FIELDS)
        if extra:
            raise _rzp_refusal(f"{', '.join(extra)} is/are not required and should not be sent")
        if "amount" not in p:
            raise _rzp_refusal("The amount field is required.", "amount")
        if not _is_int(p["amount"]):
            raise _rzp_refusal("The amount must be an integer.", "amount")
        if p["amount"] < 100:
            raise _rzp_refusal("Order amount less than minimum amount allowed", "amount")
        if p.get("currency") not in RAZORPAY_CURRENCIES:
            raise _rzp_refusal("Currency is not supported", "currency")
        receipt = p.get("receipt")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            raise _rzp_refusal("The receipt may not be greater than 40 characters.", "receipt")
        order = {
            "id": f"order_{_token(14)}",
            "entity": "order",
            "amount": p["amount"],
            "amount_paid": 0,
            "amount_due": p["amount"],
            "currency": p["currency"],
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": _notes(p.get("notes")),
            "created_at": _now(),
        }
        self.orders[order["id"]] = order
        return order

    def _refund(self, pid: str, p: dict[str, Any]) -> dict[str, Any]:
        payment = self._find(self.payments, pid)
        extra = sorted(set(p) - _REFUND_FIELDS)
        if extra:
            raise _rzp_refusal(f"{', '.join(extra)} is/are not required and should not be sent")
        remaining = payment["amount"] - payment["amount_refunded"]
        amount = p.get("amount", remaining)
        if not _is_int(amount) or amount < 100:
            raise _rzp_refusal("The amount must be atleast INR 1.00.", "amount")
        if remaining == 0:
            raise _rzp_refusal("The payment has been fully refunded already")
        if amount > remaining:
            raise _rzp_refusal(
                "The refund amount provided is greater than amount captured", "amount"
            )
        speed = p.get("speed", "normal")
        if speed not in ("normal", "optimum"):
            raise _rzp_refusal("The selected speed is invalid.", "speed")
        refund = {
            "id": f"rfnd_{_token(14)}",
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": pid,
            "notes": _notes(p.get("notes")),
            "receipt": p.get("receipt"),
            "acquirer_data": {"arn": None},
            "created_at": _now(),
            "batch_id": None,
            "status": "processed",
            "speed_processed": "normal",
            "speed_requested": speed,
        }
        self.refunds[refund["id"]] = refund
        payment["amount_refunded"] += amount
        full = payment["amount_refunded"] == payment["amount"]
        payment["refund_status"] = "full" if full else "partial"
        payment["status"] = "refunded" if full else "captured"
        self._payment_at_refund[refund["id"]] = copy.deepcopy(payment)
        return refund

    def _event(self, kind: str, **entities: dict[str, Any]) -> dict[str, Any]:
        return {
            "entity": "event",
            "account_id": self.account_id,
            "event": kind,
            "contains": list(entities),
            "payload": {name: {"entity": _entity(obj)} for name, obj in entities.items()},
            "created_at": _now(),
        }


def sign_razorpay(body: bytes, secret: str) -> str:
    """The `X-Razorpay-Signature` header: hex HMAC-SHA256 of the raw body with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@contextmanager
def running_razorpay(
    key_id: str = "rzp_test_offcoder", key_secret: str = RAZORPAY_TEST_SECRET
) -> Iterator[RazorpayStandIn]:
    """A Razorpay stand-in on a free loopback port, accepting `key_id`:`key_secret`."""
    standin = RazorpayStandIn(key_id, key_secret)
    with standin._serving():
        yield standin
