#!/usr/bin/env python3
"""A faithful local stand-in for the part of Stripe's API cic-control uses (standard library only).

What it implements, as Stripe documents it (docs/billing.md, "The Stripe stand-in", lists what is
verified and what is not):

  POST /v1/billing/meter_events          form-encoded: event_name, payload[stripe_customer_id],
                                         payload[value], identifier, timestamp
  POST /v1/billing/meter_event_adjustments  type=cancel, cancel[identifier] (within 24 h)

  * Authentication: the secret key as a Bearer token or as the Basic user; 401 otherwise.
  * Validation: required parameters, lengths (event_name, identifier <= 100), payload[value] a whole
    number, timestamp within the past 35 days and at most 5 minutes ahead; errors in Stripe's
    shape {"error": {"type", "code", "message", "param"}} with the status Stripe uses.
  * identifier de-duplication within 24 hours: a repeat gets 400 invalid_request_error
    "An event already exists with identifier ..." and Stripe-Should-Retry: false.
  * Idempotency-Key (<= 255 chars): a repeat with the same parameters replays the first answer with
    Idempotent-Replayed: true (also a 400 or 500); different parameters -> 400 idempotency_error;
    a concurrent repeat -> 409; 401 and 429 answers are not saved; keys expire after 24 hours.
  * Request-Id on every answer.

Test-only routes (not Stripe's) under /_fake/:

  GET  /_fake/totals     {"customers": {cus: {event_name: total}}, "events", "requests",
                          "duplicates", "idempotent_replays", "faults_left"}
  GET  /_fake/events     the accepted meter events, oldest first
  POST /_fake/faults     {"mode": "status" | "drop_after_commit" | "drop_before_commit" | "none",
                          "status": 500, "count": N (-1 = until changed), "retry_after": seconds}
                          status: answer with that status (500 api_error, 429 rate_limit, ...)
                          without committing; drop_after_commit: commit the event, then close the
                          connection without answering; drop_before_commit: close without either.
  POST /_fake/clock      {"advance_s": N}: move the fake's clock (dedupe windows, timestamp checks)
  POST /_fake/reset      forget everything

Use it in-process (`StripeFake(api_key).start()` -> .port, .stop()) or run it:
  python3 tests/fakes/stripe_fake.py --port 12111 --api-key sk_test_local [--ready-file F]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DAY_S = 24 * 3600
DEDUPE_WINDOW_S = DAY_S
IDEMPOTENCY_TTL_S = DAY_S
MAX_PAST_S = 35 * DAY_S
MAX_FUTURE_S = 5 * 60


def sign_webhook(secret, body, t=None):
    """A Stripe-Signature header value for `body` (bytes or str): t=<unix>,v1=<hex HMAC-SHA256>."""
    t = int(time.time()) if t is None else int(t)
    if isinstance(body, str):
        body = body.encode()
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class StripeError(Exception):
    def __init__(self, status, type_, message, code=None, param=None, headers=None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {k: v for k, v in
                               {"type": type_, "code": code, "message": message, "param": param}.items()
                               if v is not None}}
        self.headers = headers or {}


def missing(param):
    return StripeError(400, "invalid_request_error", f"Missing required param: {param}.", "parameter_missing", param)


class State:
    def __init__(self, api_key):
        self.api_key = api_key
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.clock_offset = 0
        self.identifiers = {}      # identifier -> (accepted at, event)
        self.events = []           # accepted meter events (cancelled ones stay, marked)
        self.idempotency = {}      # key -> {"fingerprint", "at", "status", "body", "in_flight"}
        self.requests = 0
        self.duplicates = 0
        self.replays = 0
        self.fault = {"mode": "none", "count": 0}

    def now(self):
        return time.time() + self.clock_offset

    def totals(self):
        out = {}
        for e in self.events:
            if e.get("cancelled"):
                continue
            customer = e["payload"].get("stripe_customer_id", "")
            per = out.setdefault(customer, {})
            per[e["event_name"]] = per.get(e["event_name"], 0) + int(e["payload"]["value"])
        return out

    def take_fault(self):
        """The fault for this request (and uses it up), or None."""
        f = self.fault
        if f["mode"] == "none" or f["count"] == 0:
            return None
        if f["count"] > 0:
            f["count"] -= 1
        return dict(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stripe-fake"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: tests read state through /_fake/
        pass

    @property
    def state(self):
        return self.server.state

    # -- plumbing -----------------------------------------------------------------------------
    def _send(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self):
        """Closes the connection without a byte of answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fake/totals":
            with self.state.lock:
                s = self.state
                f = s.fault
                return self._send(200, {"customers": s.totals(), "events": len([e for e in s.events
                                                                                  if not e.get("cancelled")]),
                                        "requests": s.requests, "duplicates": s.duplicates,
                                        "idempotent_replays": s.replays,
                                        "faults_left": f["count"] if f["mode"] != "none" else 0})
        if path == "/_fake/events":
            with self.state.lock:
                return self._send(200, {"data": list(self.state.events)})
        self._unknown("GET", path)

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        raw = self._body()
        if path.startswith("/_fake/"):
            return self._control(path, raw)
        if path in ("/v1/billing/meter_events", "/v1/billing/meter_event_adjustments"):
            return self._api(path, raw)
        self._unknown("POST", path)

    def _unknown(self, method, path):
        self._send(404, {"error": {"type": "invalid_request_error",
                                   "message": f"Unrecognized request URL ({method}: {path})."}})

    # -- test controls ------------------------------------------------------------------------
    def _control(self, path, raw):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(400, {"error": "bad json"})
        with self.state.lock:
            if path == "/_fake/faults":
                mode = body.get("mode", "none")
                if mode not in ("none", "status", "drop_after_commit", "drop_before_commit"):
                    return self._send(400, {"error": f"unknown mode {mode}"})
                self.state.fault = {"mode": mode, "count": int(body.get("count", -1)),
                                    "status": int(body.get("status", 500)),
                                    "retry_after": body.get("retry_after")}
            elif path == "/_fake/clock":
                self.state.clock_offset += float(body.get("advance_s", 0))
            elif path == "/_fake/reset":
                self.state.reset()
            else:
                return self._send(404, {"error": "unknown control"})
        self._send(200, {"ok": True})

    # -- Stripe's API -------------------------------------------------------------------------
    def _authenticate(self):
        header = self.headers.get("Authorization", "")
        key = None
        if header.startswith("Bearer "):
            key = header[7:].strip()
        elif header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(401, "invalid_request_error",
                              "You did not provide an API key. You need to provide your API key in the "
                              "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        if not hmac.compare_digest(key, self.state.api_key):
            shown = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
            raise StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")

    def _api(self, path, raw):
        state = self.state
        with state.lock:
            state.requests += 1
            fault = state.take_fault()
        if fault and fault["mode"] == "drop_before_commit":
            return self._drop()
        if fault and fault["mode"] == "status":
            status = fault["status"]
            headers = {}
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
            if status == 429:
                err = StripeError(429, "invalid_request_error",
                                  "Request rate limit exceeded. You can learn more about rate limits here "
                                  "https://stripe.com/docs/rate-limits.", "rate_limit", headers=headers)
            else:
                headers["Stripe-Should-Retry"] = "true"
                err = StripeError(status, "api_error", "An unknown error occurred", headers=headers)
            return self._send(err.status, err.body, err.headers)

        try:
            self._authenticate()
        except StripeError as e:
            return self._send(e.status, e.body, e.headers)  # 401s are never saved under a key

        key = self.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(f"POST {path}\n".encode() + raw).hexdigest()
        if key is not None:
            if len(key) > 255:
                e = StripeError(400, "invalid_request_error",
                                "Idempotency-Key must be at most 255 characters long.", param="Idempotency-Key")
                return self._send(e.status, e.body)
            with state.lock:
                saved = state.idempotency.get(key)
                if saved and state.now() - saved["at"] > IDEMPOTENCY_TTL_S:
                    saved = None
                    del state.idempotency[key]
                if saved:
                    if saved["fingerprint"] != fingerprint:
                        e = StripeError(400, "idempotency_error",
                                        "Keys for idempotent requests can only be used with the same parameters "
                                        "they were first used with. Try using a key other than "
                                        f"'{key}' if you meant to execute a different request.")
                        return self._send(e.status, e.body)
                    if saved["in_flight"]:
                        e = StripeError(409, "idempotency_error",
                                        "There is currently another in-progress request using this Idempotent "
                                        "Key (that probably means you submitted twice, and the other request is "
                                        "still going through): " + key + ". Please try again later.")
                        return self._send(e.status, e.body)
                    state.replays += 1
                    replay = saved
                else:
                    replay = None
                    state.idempotency[key] = {"fingerprint": fingerprint, "at": state.now(), "in_flight": True}
            if replay:
                return self._send(replay["status"], replay["body"], {"Idempotent-Replayed": "true",
                                                                     **replay.get("headers", {})})

        try:
            if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise StripeError(400, "invalid_request_error",
                                  "Invalid request: the body must be application/x-www-form-urlencoded.")
            form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
            with state.lock:
                if path == "/v1/billing/meter_events":
                    status, body, headers = 200, self._meter_event(form), {}
                else:
                    status, body, headers = 200, self._adjustment(form), {}
        except StripeError as e:
            status, body, headers = e.status, e.body, e.headers

        if key is not None:
            with state.lock:
                if status == 429:
                    state.idempotency.pop(key, None)
                else:
                    state.idempotency[key] = {"fingerprint": fingerprint, "at": state.now(), "in_flight": False,
                                              "status": status, "body": body, "headers": headers}
        if fault and fault["mode"] == "drop_after_commit":
            return self._drop()
        self._send(status, body, headers)

    def _meter_event(self, form):
        state = self.state
        event_name = form.get("event_name")
        if not event_name:
            raise missing("event_name")
        if len(event_name) > 100:
            raise StripeError(400, "invalid_request_error", "event_name must be at most 100 characters.",
                              "string_too_long", "event_name")
        payload = {k[len("payload["):-1]: v for k, v in form.items() if k.startswith("payload[") and k.endswith("]")}
        if not payload:
            raise missing("payload")
        for field in ("stripe_customer_id", "value"):
            if not payload.get(field):
                raise missing(f"payload[{field}]")
        value = payload["value"]
        if not (value.isdigit() or (value.startswith("-") and value[1:].isdigit())):
            raise StripeError(400, "invalid_request_error", "Invalid integer: " + value,
                              "parameter_invalid_integer", "payload[value]")
        now = state.now()
        timestamp = form.get("timestamp")
        if timestamp is None or timestamp == "":
            ts = int(now)
        else:
            try:
                ts = int(timestamp)
            except ValueError:
                raise StripeError(400, "invalid_request_error", "Invalid integer: " + timestamp,
                                  "parameter_invalid_integer", "timestamp")
            if ts < now - MAX_PAST_S or ts > now + MAX_FUTURE_S:
                raise StripeError(400, "invalid_request_error",
                                  "Timestamp must be within the past 35 days and no more than 5 minutes in the future.",
                                  param="timestamp")
        identifier = form.get("identifier") or ("fake_" + secrets.token_hex(12))
        if len(identifier) > 100:
            raise StripeError(400, "invalid_request_error", "identifier must be at most 100 characters.",
                              "string_too_long", "identifier")
        seen = state.identifiers.get(identifier)
        if seen and now - seen[0] < DEDUPE_WINDOW_S:
            state.duplicates += 1
            raise StripeError(400, "invalid_request_error",
                              f"An event already exists with identifier {identifier}.",
                              headers={"Stripe-Should-Retry": "false"})
        event = {"object": "billing.meter_event", "created": int(now), "event_name": event_name,
                 "identifier": identifier, "livemode": False, "payload": payload, "timestamp": ts}
        state.identifiers[identifier] = (now, event)
        state.events.append(event)
        return event

    def _adjustment(self, form):
        state = self.state
        event_name = form.get("event_name")
        if not event_name:
            raise missing("event_name")
        if form.get("type", "cancel") != "cancel":
            raise StripeError(400, "invalid_request_error", "Invalid type: must be cancel.", param="type")
        identifier = form.get("cancel[identifier]")
        if not identifier:
            raise missing("cancel[identifier]")
        seen = state.identifiers.get(identifier)
        if not seen or state.now() - seen[0] > DAY_S or seen[1].get("cancelled"):
            raise StripeError(400, "invalid_request_error",
                              f"No meter event with identifier {identifier} can be cancelled.",
                              param="cancel[identifier]")
        seen[1]["cancelled"] = True
        return {"object": "billing.meter_event_adjustment", "event_name": event_name, "status": "pending",
                "type": "cancel", "cancel": {"identifier": identifier}, "livemode": False}


class StripeFake:
    """The stand-in on 127.0.0.1 in a background thread (port 0 = any free port)."""

    def __init__(self, api_key="sk_test_local", port=0):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.state = State(api_key)
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self):
        return self.server.state

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # Shortcuts for in-process tests (the same state the /_fake/ routes expose).
    def totals(self):
        with self.state.lock:
            return self.state.totals()

    def set_fault(self, mode, count=-1, status=500, retry_after=None):
        with self.state.lock:
            self.state.fault = {"mode": mode, "count": count, "status": status, "retry_after": retry_after}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=os.environ.get("STRIPE_API_KEY", "sk_test_local"))
    parser.add_argument("--ready-file")
    args = parser.parse_args()
    fake = StripeFake(args.api_key, args.port)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), "port": fake.port}, f)
        os.replace(tmp, args.ready_file)
    print(f"stripe fake on {fake.url}", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
