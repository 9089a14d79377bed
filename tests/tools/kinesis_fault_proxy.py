#!/usr/bin/python3
"""A loopback fault injector in front of kinesalite, for wineq's Kinesis client tests.

kinesalite never throttles, never fails part of a PutRecords call, never paginates ListShards
and expires iterators only after 5 minutes, so the retry and error paths of a client cannot be
exercised against it alone. This proxy forwards every request unchanged to kinesalite and
answers it unchanged, except where a rule says otherwise:

  throttle  answer the call itself, without forwarding: HTTP `status` (400) with __type `code`
            (ProvisionedThroughputExceededException); e.g. status 500, code InternalFailure.
  partial   PutRecords: the entries at `entries` (indices in the request) or every index
            i % `every` == 0 fail with `code` (ProvisionedThroughputExceededException or
            InternalFailure; "codes": [...] cycles through several). Faithfully: the failed
            entries are removed from the request before it is forwarded (they are really not
            written), and their failures are spliced into kinesalite's answer at their
            positions, FailedRecordCount adjusted. When every entry fails nothing is forwarded.
  expire    GetRecords: forwarded, then answered 400 ExpiredIteratorException instead.
  paginate  ListShards: at most `page` shards per answer, with a NextToken the proxy
            understands on the next call (turned back into StreamName + ExclusiveStartShardId).
  replace   forwarded (unless "forward": false), then answered with `status` (200) and the
            raw `body` instead: hostile or malformed answers.
  truncate  forwarded, then only the first `bytes` bytes of the answer are sent; with
            "announce_full": true the Content-Length still promises the whole answer and the
            connection is closed early (a cut transfer), else it matches (a short body).

Each rule applies to the operation `op` (every operation when absent) for `times` calls
(forever when absent), counted per rule `id`. One rule acts on a request, looked for in the
order throttle, partial, paginate, expire, replace, truncate (the first rule of that action
with uses left). Rules come from the command line and from a JSON
control file ({"rules": [{...}, ...]}) that is read again at every request, so a test can
change the faults while the proxy runs; a new id starts a new count.

Every request is logged as one JSON line to --log (default stderr):
  {"n": 7, "op": "PutRecords", "action": "partial", "rule": "p1", "records": 500,
   "failed": [0, 3], "status": 200, "sig": "ok"}
With --verify-secret the SigV4 signature of each request is checked with an independent
implementation (hashlib/hmac) before anything else; "sig" says "ok" or "mismatch: why", and a
mismatch is answered 400 InvalidSignatureException like Kinesis would.

Usage: kinesis_fault_proxy.py --port P --upstream http://127.0.0.1:K [--control FILE]
           [--log FILE] [--wait-upstream SECONDS] [--verify-secret S [--verify-token T]]
           [--throttle N [--throttle-op OP] [--throttle-status 400] [--throttle-code CODE]]
           [--partial 0,3 [--partial-times N] [--partial-code CODE]] [--expire N]
           [--page-shards K]
Prints "kinesis_fault_proxy ready on 127.0.0.1:P" on stdout once it listens (and the upstream
accepts connections, with --wait-upstream). Loopback only. Python standard library only.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "expect", "content-length"}
TARGET_PREFIX = "Kinesis_20131202."
JSON_TYPE = "application/x-amz-json-1.1"
MAX_BODY = 16 * 1024 * 1024
MAX_SKEW = datetime.timedelta(minutes=15)
ACTIONS = {"throttle", "partial", "expire", "paginate", "replace", "truncate"}
RETRYABLE_ENTRY_CODES = {"ProvisionedThroughputExceededException", "InternalFailure"}


class Rules:
    """Rules from the command line and the control file, with their use counts."""

    def __init__(self, cli_rules, control):
        self.cli_rules = cli_rules
        self.control = control
        self.used = {}
        self.lock = threading.Lock()

    def _current(self):
        rules = list(self.cli_rules)
        if self.control and os.path.exists(self.control):
            try:
                with open(self.control, encoding="utf-8") as f:
                    doc = json.load(f)
                rules.extend(doc.get("rules", []))
            except (OSError, ValueError, AttributeError) as e:
                # a control file caught half-written: the previous rules are gone too, which
                # is what its writer meant by rewriting it; say so
                log_line({"warning": "control file unreadable: %s" % e})
        return rules

    def take(self, op, action=None):
        """The first rule for op (and action, when given) with uses left; counts one use."""
        with self.lock:
            for i, rule in enumerate(self._current()):
                if rule.get("action") not in ACTIONS:
                    continue
                if action is not None and rule["action"] != action:
                    continue
                if rule.get("op") not in (None, op):
                    continue
                rid = str(rule.get("id", "rule%d" % i))
                times = rule.get("times")
                if times is not None and times >= 0 and self.used.get(rid, 0) >= times:
                    continue
                self.used[rid] = self.used.get(rid, 0) + 1
                return rid, rule
        return None, None


LOG_LOCK = threading.Lock()
LOG_FILE = None
SEQ = [0]


def log_line(obj):
    with LOG_LOCK:
        out = LOG_FILE if LOG_FILE is not None else sys.stderr
        out.write(json.dumps(obj, sort_keys=True) + "\n")
        out.flush()


# --- SigV4 verification (independent of the client's libcurl) --------------------------------

def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def verify_sigv4(method, path, headers, body, secret, token):
    """Returns "ok" or "mismatch: why" for a request signed with AWS SigV4 (header form)."""
    auth = headers.get("authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*"
                 r"Signature=([0-9a-f]{64})$", auth)
    if not m:
        return "mismatch: malformed Authorization header"
    credential, signed, signature = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return "mismatch: malformed credential scope"
    _access, day, region, service, _ = parts
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "mismatch: bad x-amz-date"
    if amz_date[:8] != day:
        return "mismatch: x-amz-date and credential scope disagree"
    if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_SKEW:
        return "mismatch: x-amz-date more than 15 minutes off"
    names = signed.split(";")
    if names != sorted(names):
        return "mismatch: SignedHeaders not sorted"
    for required in ("host", "x-amz-date", "content-type", "x-amz-target"):
        if required not in names:
            return "mismatch: %s not signed" % required
    for name in headers:
        if name.startswith("x-amz-") and name not in names:
            return "mismatch: %s sent but not signed" % name
    if token is not None:
        if headers.get("x-amz-security-token") != token:
            return "mismatch: wrong or missing x-amz-security-token"
    elif "x-amz-security-token" in headers:
        return "mismatch: unexpected x-amz-security-token"
    canon_headers = ""
    for name in names:
        if name not in headers:
            return "mismatch: signed header %s missing" % name
        value = re.sub(r"\s+", " ", headers[name].strip())
        canon_headers += "%s:%s\n" % (name, value)
    split = urllib.parse.urlsplit(path)
    query = "&".join(sorted(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
        for k, v in urllib.parse.parse_qsl(split.query, keep_blank_values=True)))
    canonical = "\n".join([method, urllib.parse.quote(split.path or "/", safe="/-_.~"), query,
                           canon_headers, signed, hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode("utf-8"), day), region), service),
                "aws4_request")
    want = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signature):
        return "mismatch: signature differs"
    return "ok"


# --- the proxy -----------------------------------------------------------------------------

def error_body(code, message):
    return json.dumps({"__type": code, "message": message}).encode("utf-8")


def encode_token(stream, after):
    raw = json.dumps({"s": stream, "a": after}).encode("utf-8")
    return "wqpage-" + base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token):
    if not isinstance(token, str) or not token.startswith("wqpage-"):
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(token[7:].encode("ascii")))
        return doc["s"], doc["a"]
    except (ValueError, KeyError, TypeError):
        return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kinesis_fault_proxy"

    def log_message(self, fmt, *args):  # noqa: N802 - quiet: our own log has the facts
        pass

    def do_GET(self):  # noqa: N802
        self.reply(400, error_body("UnknownOperationException", "POST only"), {})

    def do_POST(self):  # noqa: N802
        cfg = self.server.cfg
        with LOG_LOCK:
            SEQ[0] += 1
            entry = {"n": SEQ[0]}
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length < 0 or length > MAX_BODY:
            self.reply(413, b"", {})
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return
        target = self.headers.get("X-Amz-Target", "")
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else target
        entry["op"] = op
        headers = {k.lower(): v for k, v in self.headers.items()}
        if cfg.verify_secret is not None:
            entry["sig"] = verify_sigv4("POST", self.path, headers, body, cfg.verify_secret,
                                        cfg.verify_token)
            if entry["sig"] != "ok":
                entry.update(action="refuse", status=400)
                log_line(entry)
                self.reply(400, error_body("InvalidSignatureException", entry["sig"]), {})
                return
        try:
            req = json.loads(body) if body else None
        except ValueError:
            req = None
        status, out, extra = self.handle_op(op, req, body, entry)
        if status is None:
            return  # the connection was cut on purpose
        entry["status"] = status
        log_line(entry)
        self.reply(status, out, extra)

    def handle_op(self, op, req, body, entry):
        rules = self.server.rules
        rid, rule = rules.take(op, "throttle")
        if rule is not None:
            code = rule.get("code", "ProvisionedThroughputExceededException")
            entry.update(action="throttle", rule=rid)
            return (int(rule.get("status", 400)),
                    error_body(code, "Rate exceeded (injected by kinesis_fault_proxy)"),
                    {"x-amzn-ErrorType": code + ":"})
        if op == "PutRecords" and isinstance(req, dict) and isinstance(req.get("Records"), list):
            rid, rule = rules.take(op, "partial")
            if rule is not None:
                entry.update(action="partial", rule=rid)
                return self.partial(req, rule, entry)
        if op == "ListShards" and isinstance(req, dict):
            rid, rule = rules.take(op, "paginate")
            if rule is not None:
                entry.update(action="paginate", rule=rid)
                return self.paginate(req, rule, entry)
        rid, rule = rules.take(op, "expire") if op == "GetRecords" else (None, None)
        if rule is not None:
            self.forward(body)
            entry.update(action="expire", rule=rid)
            return 400, error_body("ExpiredIteratorException",
                                   "Iterator expired (injected by kinesis_fault_proxy)"), {}
        rid, rule = rules.take(op, "replace")
        if rule is not None:
            if rule.get("forward", True):
                self.forward(body)
            entry.update(action="replace", rule=rid)
            return int(rule.get("status", 200)), rule.get("body", "").encode("utf-8"), {}
        rid, rule = rules.take(op, "truncate")
        if rule is not None:
            status, out, extra = self.forward(body)
            cut = out[:max(0, int(rule.get("bytes", 0)))]
            entry.update(action="truncate", rule=rid, status=status)
            if rule.get("announce_full", False):
                log_line(entry)
                self.reply(status, cut, extra, announce=len(out))
                self.close_connection = True
                return None, None, None
            return status, cut, extra
        if isinstance(req, dict) and isinstance(req.get("Records"), list):
            entry["records"] = len(req["Records"])
        entry["action"] = "forward"
        return self.forward(body)

    def partial(self, req, rule, entry):
        records = req["Records"]
        n = len(records)
        if "entries" in rule:
            failed = sorted({int(i) for i in rule["entries"] if 0 <= int(i) < n})
        else:
            every = max(1, int(rule.get("every", 2)))
            failed = [i for i in range(n) if i % every == 0]
        codes = rule.get("codes") or [rule.get("code", "ProvisionedThroughputExceededException")]
        entry.update(records=n, failed=failed)
        fail_set = set(failed)
        kept = [r for i, r in enumerate(records) if i not in fail_set]
        if kept:
            fwd = dict(req)
            fwd["Records"] = kept
            status, out, extra = self.forward(json.dumps(fwd).encode("utf-8"))
            if status != 200:
                return status, out, extra
            try:
                answer = json.loads(out)
                written = answer["Records"]
                assert len(written) == len(kept)
            except (ValueError, KeyError, TypeError, AssertionError):
                return 502, error_body("InternalFailure", "bad upstream answer"), {}
            upstream_failed = int(answer.get("FailedRecordCount", 0))
        else:
            written, upstream_failed, extra = [], 0, {}
        merged, w = [], iter(written)
        for i in range(n):
            if i in fail_set:
                code = codes[failed.index(i) % len(codes)]
                msg = ("Rate exceeded for shard shardId-000000000000 (injected)"
                       if code == "ProvisionedThroughputExceededException"
                       else "Internal service failure (injected)")
                merged.append({"ErrorCode": code, "ErrorMessage": msg})
            else:
                merged.append(next(w))
        out = {"FailedRecordCount": upstream_failed + len(failed), "Records": merged}
        return 200, json.dumps(out).encode("utf-8"), {}

    def paginate(self, req, rule, entry):
        page = max(1, int(rule.get("page", 1)))
        fwd = dict(req)
        if "NextToken" in req:
            decoded = decode_token(req["NextToken"])
            if decoded is None or "StreamName" in req:
                return 400, error_body("InvalidArgumentException", "bad NextToken"), {}
            del fwd["NextToken"]
            fwd["StreamName"], after = decoded
            if after:
                fwd["ExclusiveStartShardId"] = after
        status, out, extra = self.forward(json.dumps(fwd).encode("utf-8"))
        if status != 200:
            return status, out, extra
        answer = json.loads(out)
        shards = answer.get("Shards", [])
        entry["shards"] = min(len(shards), page)
        if len(shards) > page:
            answer["Shards"] = shards[:page]
            answer["NextToken"] = encode_token(fwd["StreamName"], shards[page - 1]["ShardId"])
        return 200, json.dumps(answer).encode("utf-8"), {}

    def forward(self, body):
        cfg = self.server.cfg
        conn = http.client.HTTPConnection(cfg.up_host, cfg.up_port, timeout=30)
        try:
            conn.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP:
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            out = resp.read()
            extra = {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP}
            return resp.status, out, extra
        except OSError as e:
            return 502, error_body("InternalFailure", "upstream: %s" % e), {}
        finally:
            conn.close()

    def reply(self, status, body, extra, announce=None):
        self.send_response(status)
        seen = set()
        for k, v in extra.items():
            if k.lower() in ("content-type", "x-amzn-requestid", "x-amzn-errortype"):
                self.send_header(k, v)
                seen.add(k.lower())
        if "content-type" not in seen:
            self.send_header("Content-Type", JSON_TYPE)
        if status >= 400 and "x-amzn-errortype" not in seen:
            try:
                code = json.loads(body).get("__type")
                if code:
                    self.send_header("x-amzn-ErrorType", code + ":")
            except (ValueError, AttributeError):
                pass
        self.send_header("Content-Length", str(announce if announce is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global LOG_FILE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of kinesalite")
    ap.add_argument("--control", help="JSON rules file, read at every request")
    ap.add_argument("--log", help="JSON lines log (default stderr)")
    ap.add_argument("--wait-upstream", type=float, default=0,
                    help="seconds to wait for the upstream to accept connections")
    ap.add_argument("--verify-secret", help="check SigV4 signatures with this secret key")
    ap.add_argument("--verify-token", help="the session token requests must carry")
    ap.add_argument("--throttle", type=int, default=0, help="answer N calls throttled")
    ap.add_argument("--throttle-op", default=None)
    ap.add_argument("--throttle-status", type=int, default=400)
    ap.add_argument("--throttle-code", default=None)
    ap.add_argument("--partial", help="PutRecords entry indices to fail, e.g. 0,3")
    ap.add_argument("--partial-times", type=int, default=1)
    ap.add_argument("--partial-code", default="ProvisionedThroughputExceededException")
    ap.add_argument("--expire", type=int, default=0, help="answer N GetRecords expired")
    ap.add_argument("--page-shards", type=int, default=0, help="ListShards page size")
    a = ap.parse_args()

    up = urllib.parse.urlsplit(a.upstream)
    if up.scheme != "http" or up.hostname not in ("127.0.0.1", "localhost") or not up.port:
        ap.error("--upstream must be http://127.0.0.1:PORT")
    if a.port < 1 or a.port > 65535:
        ap.error("--port must be 1-65535")
    if a.log:
        LOG_FILE = open(a.log, "a", encoding="utf-8")
    cli = []
    if a.throttle > 0:
        code = a.throttle_code or ("InternalFailure" if a.throttle_status >= 500
                                   else "ProvisionedThroughputExceededException")
        cli.append({"id": "cli-throttle", "action": "throttle", "times": a.throttle,
                    "op": a.throttle_op, "status": a.throttle_status, "code": code})
    if a.partial:
        cli.append({"id": "cli-partial", "action": "partial", "op": "PutRecords",
                    "times": a.partial_times, "code": a.partial_code,
                    "entries": [int(x) for x in a.partial.split(",") if x.strip()]})
    if a.expire > 0:
        cli.append({"id": "cli-expire", "action": "expire", "op": "GetRecords",
                    "times": a.expire})
    if a.page_shards > 0:
        cli.append({"id": "cli-paginate", "action": "paginate", "op": "ListShards",
                    "page": a.page_shards})

    srv = Server(("127.0.0.1", a.port), Handler)
    srv.cfg = argparse.Namespace(up_host=up.hostname, up_port=up.port,
                                 verify_secret=a.verify_secret, verify_token=a.verify_token)
    srv.rules = Rules(cli, a.control)

    deadline = time.monotonic() + a.wait_upstream
    while a.wait_upstream > 0:
        try:
            socket.create_connection((up.hostname, up.port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                print("kinesis_fault_proxy: upstream %s does not answer" % a.upstream,
                      file=sys.stderr)
                return 1
            time.sleep(0.05)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("kinesis_fault_proxy ready on 127.0.0.1:%d" % a.port, flush=True)
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
