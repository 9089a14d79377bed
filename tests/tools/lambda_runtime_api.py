#!/usr/bin/python3
"""A small, faithful AWS Lambda Runtime API (version 2018-06-01) for wineq's tests.

It plays Lambda's side of a custom runtime: events queued by the test are handed to the
runtime on GET /2018-06-01/runtime/invocation/next, and the runtime's answers are recorded
for the test to read. Behaviour follows the AWS documentation and OpenAPI specification
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) and the AWS Runtime Interface
Emulator where the documentation is silent. Python standard library only.

Usage: lambda_runtime_api.py --port P [--host 127.0.0.1] [--timeout SECONDS]
                             [--function-arn ARN] [--max-response BYTES] [--events DIR]
                             [--quiet]
  --timeout       the function timeout: an event's deadline is delivery time + this (default
                  3, Lambda's default)
  --max-response  largest response/error body accepted (default 6291556, Lambda's)
  --events DIR    queue every regular file of DIR (sorted by name; hidden files and
                  *.meta.json skipped) at start; NAME.meta.json may hold the options of
                  POST /test/invoke for NAME, as a JSON object
Exit status 3 when the address cannot be bound (the caller may try another port).
"listening on HOST:PORT" goes to stdout once the socket accepts connections.

Runtime API (what the runtime sees)
  GET  /2018-06-01/runtime/invocation/next
       Blocks until an event is queued, then 200 with the event as body and the headers
       Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms (Unix ms),
       Lambda-Runtime-Invoked-Function-Arn, Lambda-Runtime-Trace-Id and, when given,
       Lambda-Runtime-Client-Context and Lambda-Runtime-Cognito-Identity; Content-Type is
       application/json unless the event says otherwise. After an init error: 403
       InvalidStateTransition (the runtime should have exited). A waiting call whose client
       hangs up gives its event to the next caller instead.
  POST /2018-06-01/runtime/invocation/{id}/response
  POST /2018-06-01/runtime/invocation/{id}/error    (header Lambda-Runtime-Function-Error-Type)
       202 {"status":"OK"} for the first answer to an event the runtime was given. An
       unknown id, an event not handed out yet, or a second answer (response or error): 400
       {"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"} (what the
       emulator's interop layer answers; Lambda's state machine may say 403
       InvalidStateTransition for some of these). A body over --max-response: 413
       {"errorMessage":"Exceeded maximum allowed payload size (N bytes).",
        "errorType":"RequestEntityTooLarge"}, and the invocation ends in the error
       Function.ResponseSizeTooLarge, as in Lambda.
  POST /2018-06-01/runtime/init/error               (header Lambda-Runtime-Function-Error-Type)
       202 before the first `next`; recorded, and "served in response to the first invoke":
       every event not yet handed out (and any queued later) ends with this error. After a
       `next`, or a second time: 403 InvalidStateTransition.
  Any other path: 404; bodies of errors are always {"errorMessage", "errorType"}.

Control API (what the test uses; all answers are JSON)
  POST /test/invoke[?options]   body: the event bytes
       Queues an event. 201 {"request_id": ID}. Options (query parameters; the same keys in a
       .meta.json file):
         request_id=ID         (default: a new UUID)
         deadline_ms=MS        absolute deadline (default: delivery time + timeout)
         timeout_ms=MS         this event's timeout instead of --timeout
         arn=ARN  trace_id=T  client_context=C  cognito_identity=C  content_type=T
         delay_ms=MS           queue the event only after MS (the id is returned at once)
         wait=1                block until the runtime answered and return the result (below)
         wait_s=S              how long wait=1 blocks (default 60)
       Hostile answers, to test the client's strictness:
         header=Name:%20value  (repeatable) add this header line to the `next` answer
                               (after the standard ones; same name: sent twice)
         omit=Name             (repeatable) leave this standard header out
         truncate=N            announce the full Content-Length, send N bytes, close
         answer_delay_ms=MS    hold the runtime's response/error POST for MS before
                               answering it (a slow API, for the client's POST timeout)
  GET  /test/result/{id}[?timeout=S]
       Blocks (default 30 s) until the runtime answered {id}, then 200:
         {"request_id", "status": "response"|"error"|"queued"|"delivered",
          "body": text or null (when not UTF-8), "body_b64", "body_json": parsed or null,
          "content_type", "error_type" (the Lambda-Runtime-Function-Error-Type header),
          "headers": {name: value} of the runtime's POST, "init_error": bool,
          "deadline_ms", "refused": [{"kind": "response"|"error", "status": 400|413, ...}]}
       "queued"/"delivered" mean the timeout passed first. Unknown id: 404.
  GET  /test/init-error[?timeout=S]
       Waits (default 0 s) for an init error: 200 {"recorded": true, "error_type", "body",
       "body_json", "headers", "refused": N} or {"recorded": false, "refused": N} (N: init
       errors refused with 403).
  GET  /test/state
       {"queued", "delivered", "answered", "next_waiting", "next_calls", "init_error",
        "runtime_ready"}
  POST /test/shutdown    stops the server (200 first).
"""
import argparse
import base64
import json
import os
import select
import socket
import sys
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

API = "/2018-06-01/runtime"
STD_HEADERS = ("Lambda-Runtime-Aws-Request-Id", "Lambda-Runtime-Deadline-Ms",
               "Lambda-Runtime-Invoked-Function-Arn", "Lambda-Runtime-Trace-Id",
               "Lambda-Runtime-Client-Context", "Lambda-Runtime-Cognito-Identity",
               "Content-Type")
OPTION_KEYS = {"request_id", "deadline_ms", "timeout_ms", "arn", "trace_id", "client_context",
               "cognito_identity", "content_type", "delay_ms", "header", "omit", "truncate",
               "wait", "wait_s", "answer_delay_ms"}


def now_ms():
    return int(time.time() * 1000)


def new_trace_id():
    # An X-Ray trace header as Lambda passes it: Root=1-<8 hex time>-<24 hex>;Parent;Sampled
    return "Root=1-%08x-%s;Parent=%s;Sampled=0" % (int(time.time()), os.urandom(12).hex(),
                                                  os.urandom(8).hex())


class Invocation:
    def __init__(self, body, opts, cfg):
        self.id = opts.get("request_id") or str(uuid.uuid4())
        self.body = body
        self.deadline_ms = int(opts["deadline_ms"]) if "deadline_ms" in opts else None
        self.timeout_ms = int(opts["timeout_ms"]) if "timeout_ms" in opts else \
            int(cfg.timeout * 1000)
        self.arn = opts.get("arn", cfg.function_arn)
        self.trace_id = opts.get("trace_id") or new_trace_id()
        self.client_context = opts.get("client_context")
        self.cognito_identity = opts.get("cognito_identity")
        self.content_type = opts.get("content_type", "application/json")
        self.extra = []
        for h in opts.get("header", []):
            name, _, value = h.partition(":")
            self.extra.append((name.strip(), value.strip()))
        self.omit = {h.lower() for h in opts.get("omit", [])}
        self.truncate = int(opts["truncate"]) if "truncate" in opts else None
        self.answer_delay_ms = int(opts.get("answer_delay_ms", 0))
        self.status = "queued"   # -> delivered -> response | error
        self.delivered_deadline = None
        self.result = None
        self.refused = []

    def result_json(self):
        out = {"request_id": self.id, "status": self.status, "refused": self.refused,
               "deadline_ms": self.delivered_deadline, "init_error": False}
        if self.result is not None:
            out.update(self.result)
        return out


def body_fields(body):
    out = {"body_b64": base64.b64encode(body).decode("ascii")}
    try:
        out["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        out["body"] = None
    try:
        out["body_json"] = json.loads(body) if body else None
    except ValueError:
        out["body_json"] = None
    return out


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.cond = threading.Condition()
        self.queue = deque()
        self.invocations = {}
        self.init_error = None
        self.init_refused = 0
        self.runtime_ready = False
        self.next_waiting = 0
        self.next_calls = 0

    # all methods below run with self.cond held

    def add(self, inv):
        if inv.id in self.invocations:
            raise ValueError("request id %s already used" % inv.id)
        self.invocations[inv.id] = inv

    def enqueue(self, inv):
        if self.init_error is not None:
            self.answer_with_init_error(inv)
        else:
            self.queue.append(inv)
        self.cond.notify_all()

    def answer_with_init_error(self, inv):
        e = self.init_error
        inv.status = "error"
        inv.result = dict(body_fields(e["raw"]), content_type=e["content_type"],
                          error_type=e["error_type"], headers=e["headers"], init_error=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as Lambda's API
    server_version = "lambda-runtime-api-test/1"

    def version_string(self):
        return self.server_version

    # --- plumbing -----------------------------------------------------------------------

    def log_message(self, fmt, *args):
        if not self.server.cfg.quiet:
            sys.stderr.write("lambda_runtime_api: %s\n" % (fmt % args))

    def send_json(self, code, obj, extra=()):
        data = json.dumps(obj).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error_shape(self, code, error_type, message):
        self.send_json(code, {"errorMessage": message, "errorType": error_type})

    def read_body(self, limit):
        """Reads the request body (Content-Length or chunked). Returns (bytes, too_large):
        at most limit + 1 bytes are kept, the rest is read and dropped."""
        kept = bytearray()
        too_large = False

        def take(chunk):
            nonlocal too_large
            room = limit + 1 - len(kept)
            if room > 0:
                kept.extend(chunk[:room])
            if len(kept) > limit:
                too_large = True

        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("body cut short")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                while size > 0:
                    chunk = self.rfile.read(min(size, 65536))
                    if not chunk:
                        raise ConnectionError("body cut short")
                    take(chunk)
                    size -= len(chunk)
                self.rfile.readline(1024)
        else:
            length = int(self.headers.get("Content-Length", "0") or "0")
            if length < 0:
                raise ValueError("negative Content-Length")
            while length > 0:
                chunk = self.rfile.read(min(length, 65536))
                if not chunk:
                    raise ConnectionError("body cut short")
                take(chunk)
                length -= len(chunk)
        return bytes(kept), too_large

    def client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def route(self):
        u = urlsplit(self.path)
        return u.path, parse_qs(u.query, keep_blank_values=True)

    # --- methods ------------------------------------------------------------------------

    def do_GET(self):
        path, q = self.route()
        if path == API + "/invocation/next":
            return self.next_invocation()
        if path.startswith("/test/result/"):
            return self.test_result(unquote(path[len("/test/result/"):]), q)
        if path == "/test/init-error":
            return self.test_init_error(q)
        if path == "/test/state":
            return self.test_state()
        self.not_found()

    def do_POST(self):
        path, q = self.route()
        if path.startswith(API + "/invocation/"):
            rest = path[len(API + "/invocation/"):]
            rid, _, kind = rest.rpartition("/")
            if rid and "/" not in rid and kind in ("response", "error"):
                return self.invocation_answer(unquote(rid), kind)
        if path == API + "/init/error":
            return self.init_error()
        if path == "/test/invoke":
            return self.test_invoke(q)
        if path == "/test/shutdown":
            self.send_json(200, {"status": "stopping"})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        self.drain()
        self.not_found()

    def drain(self):
        try:
            self.read_body(0)
        except (ValueError, ConnectionError):
            self.close_connection = True

    def not_found(self):
        self.send_error_shape(404, "NotFound", "no such resource: %s %s"
                              % (self.command, self.path))

    # --- runtime API --------------------------------------------------------------------

    def next_invocation(self):
        st = self.server.state
        with st.cond:
            st.next_calls += 1
            if st.init_error is not None:
                return self.send_error_shape(
                    403, "InvalidStateTransition",
                    "State transition from RuntimeInitError to RuntimeReady failed for "
                    "runtime. Error: State transition is not allowed")
            st.runtime_ready = True
            st.next_waiting += 1
            try:
                while not st.queue:
                    st.cond.wait(0.2)
                    if st.init_error is not None:
                        return self.send_error_shape(
                            403, "InvalidStateTransition",
                            "State transition from RuntimeInitError to RuntimeReady failed "
                            "for runtime. Error: State transition is not allowed")
                    if self.client_gone():
                        self.close_connection = True
                        return
                inv = st.queue.popleft()
            finally:
                st.next_waiting -= 1
            inv.status = "delivered"
            inv.delivered_deadline = inv.deadline_ms if inv.deadline_ms is not None else \
                now_ms() + inv.timeout_ms
        std = [("Lambda-Runtime-Aws-Request-Id", inv.id),
               ("Lambda-Runtime-Deadline-Ms", str(inv.delivered_deadline)),
               ("Lambda-Runtime-Invoked-Function-Arn", inv.arn),
               ("Lambda-Runtime-Trace-Id", inv.trace_id),
               ("Lambda-Runtime-Client-Context", inv.client_context),
               ("Lambda-Runtime-Cognito-Identity", inv.cognito_identity),
               ("Content-Type", inv.content_type)]
        self.send_response(200)
        for name, value in std:
            if value is not None and value != "" and name.lower() not in inv.omit:
                self.send_header(name, value)
        for name, value in inv.extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(inv.body)))
        self.end_headers()
        if inv.truncate is not None:
            self.wfile.write(inv.body[:inv.truncate])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(inv.body)

    def invocation_answer(self, rid, kind):
        st = self.server.state
        limit = self.server.cfg.max_response
        try:
            body, too_large = self.read_body(limit)
        except (ValueError, ConnectionError):
            self.close_connection = True
            return self.send_error_shape(400, "TruncatedHTTPRequest",
                                         "HTTP request detected as truncated")
        with st.cond:
            inv = st.invocations.get(rid)
        if inv is not None and inv.answer_delay_ms > 0:
            time.sleep(inv.answer_delay_ms / 1000.0)
        with st.cond:
            if inv is None or inv.status != "delivered":
                if inv is not None:
                    inv.refused.append({"kind": kind, "status": 400,
                                        "errorType": "InvalidRequestID"})
                    st.cond.notify_all()
                return self.send_error_shape(400, "InvalidRequestID", "Invalid request ID")
            headers = {k: v for k, v in self.headers.items()}
            if too_large:
                inv.refused.append({"kind": kind, "status": 413,
                                    "errorType": "RequestEntityTooLarge"})
                inv.status = "error"
                doc = json.dumps({
                    "errorMessage": "Response payload size exceeded maximum allowed payload "
                                    "size (%d bytes)." % limit,
                    "errorType": "Function.ResponseSizeTooLarge"}).encode("utf-8")
                inv.result = dict(body_fields(doc), content_type="application/json",
                                  error_type="Function.ResponseSizeTooLarge", headers=headers)
                st.cond.notify_all()
                return self.send_error_shape(
                    413, "RequestEntityTooLarge",
                    "Exceeded maximum allowed payload size (%d bytes)." % limit)
            inv.status = kind
            inv.result = dict(body_fields(body),
                              content_type=self.headers.get("Content-Type"),
                              error_type=self.headers.get("Lambda-Runtime-Function-Error-Type"),
                              headers=headers)
            st.cond.notify_all()
        self.send_json(202, {"status": "OK"})

    def init_error(self):
        st = self.server.state
        try:
            body, _ = self.read_body(self.server.cfg.max_response)
        except (ValueError, ConnectionError):
            self.close_connection = True
            return self.send_error_shape(400, "TruncatedHTTPRequest",
                                         "HTTP request detected as truncated")
        with st.cond:
            if st.init_error is not None or st.runtime_ready:
                st.init_refused += 1
                src = "RuntimeInitError" if st.init_error is not None else "RuntimeReady"
                st.cond.notify_all()
                return self.send_error_shape(
                    403, "InvalidStateTransition",
                    "State transition from %s to RuntimeInitError failed for runtime. "
                    "Error: State transition is not allowed" % src)
            st.init_error = {"raw": body,
                             "error_type": self.headers.get("Lambda-Runtime-Function-Error-Type"),
                             "content_type": self.headers.get("Content-Type"),
                             "headers": {k: v for k, v in self.headers.items()}}
            while st.queue:
                st.answer_with_init_error(st.queue.popleft())
            st.cond.notify_all()
        self.send_json(202, {"status": "OK"})

    # --- control API --------------------------------------------------------------------

    def test_invoke(self, q):
        try:
            body, _ = self.read_body(64 * 1024 * 1024)
            opts = parse_options(q)
            inv = Invocation(body, opts, self.server.cfg)
        except (ValueError, ConnectionError) as e:
            self.close_connection = True
            return self.send_error_shape(400, "InvalidRequest", str(e))
        st = self.server.state
        with st.cond:
            try:
                st.add(inv)
            except ValueError as e:
                return self.send_error_shape(409, "Conflict", str(e))
        delay = int(opts.get("delay_ms", 0))
        if delay > 0:
            def later():
                with st.cond:
                    st.enqueue(inv)
            t = threading.Timer(delay / 1000.0, later)
            t.daemon = True
            t.start()
        else:
            with st.cond:
                st.enqueue(inv)
        if opts.get("wait") in ("1", "true", "yes"):
            return self.send_json(200, self.wait_result(inv, float(opts.get("wait_s", 60))))
        self.send_json(201, {"request_id": inv.id})

    def wait_result(self, inv, timeout):
        st = self.server.state
        end = time.monotonic() + timeout
        with st.cond:
            while inv.status not in ("response", "error"):
                left = end - time.monotonic()
                if left <= 0:
                    break
                st.cond.wait(min(left, 0.5))
            return inv.result_json()

    def test_result(self, rid, q):
        st = self.server.state
        with st.cond:
            inv = st.invocations.get(rid)
        if inv is None:
            return self.send_error_shape(404, "NotFound", "unknown request id %s" % rid)
        self.send_json(200, self.wait_result(inv, float(q.get("timeout", ["30"])[0])))

    def test_init_error(self, q):
        st = self.server.state
        end = time.monotonic() + float(q.get("timeout", ["0"])[0])
        with st.cond:
            while st.init_error is None and time.monotonic() < end:
                st.cond.wait(min(0.5, max(0.0, end - time.monotonic())))
            e = st.init_error
            if e is None:
                return self.send_json(200, {"recorded": False, "refused": st.init_refused})
            out = dict(body_fields(e["raw"]), recorded=True, error_type=e["error_type"],
                       content_type=e["content_type"], headers=e["headers"],
                       refused=st.init_refused)
        self.send_json(200, out)

    def test_state(self):
        st = self.server.state
        with st.cond:
            invs = list(st.invocations.values())
            out = {"queued": len(st.queue),
                   "delivered": sum(1 for i in invs if i.status == "delivered"),
                   "answered": sum(1 for i in invs if i.status in ("response", "error")),
                   "next_waiting": st.next_waiting, "next_calls": st.next_calls,
                   "init_error": st.init_error is not None,
                   "runtime_ready": st.runtime_ready}
        self.send_json(200, out)


def parse_options(q):
    opts = {}
    for k, vals in q.items():
        if k not in OPTION_KEYS:
            raise ValueError("unknown option %s" % k)
        opts[k] = vals if k in ("header", "omit") else vals[-1]
    return opts


def load_events(state, directory):
    names = sorted(n for n in os.listdir(directory)
                   if not n.startswith(".") and not n.endswith(".meta.json")
                   and os.path.isfile(os.path.join(directory, n)))
    for n in names:
        with open(os.path.join(directory, n), "rb") as f:
            body = f.read()
        opts = {}
        meta = os.path.join(directory, n + ".meta.json")
        if os.path.exists(meta):
            with open(meta, encoding="utf-8") as f:
                opts = json.load(f)
            bad = set(opts) - OPTION_KEYS
            if bad:
                raise ValueError("%s: unknown options %s" % (meta, sorted(bad)))
            opts = {k: (v if isinstance(v, list) else str(v)) for k, v in opts.items()}
        inv = Invocation(body, opts, state.cfg)
        with state.cond:
            state.add(inv)
            state.enqueue(inv)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A runtime that hangs up (it refused an oversize event, or was killed) is part of
        # the tests, not a server fault.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--function-arn",
                   default="arn:aws:lambda:us-east-1:123456789012:function:wineq-test")
    p.add_argument("--max-response", type=int, default=6291556)
    p.add_argument("--events")
    p.add_argument("--quiet", action="store_true")
    cfg = p.parse_args()
    try:
        srv = Server((cfg.host, cfg.port), Handler)
    except OSError as e:
        sys.stderr.write("lambda_runtime_api: cannot listen on %s:%d: %s\n"
                         % (cfg.host, cfg.port, e))
        return 3
    srv.cfg = cfg
    srv.state = State(cfg)
    if cfg.events:
        load_events(srv.state, cfg.events)
    print("listening on %s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
