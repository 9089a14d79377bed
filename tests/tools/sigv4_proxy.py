#!/usr/bin/env python3
"""An independent AWS Signature Version 4 verifier for wineq's S3 client tests.

s3rver (the S3 emulator the tests use) never checks signatures, so this proxy sits in front
of it: every request is re-signed with botocore (S3SigV4Auth, the signer of the AWS SDK for
Python and the AWS CLI) from the same credentials and the request's own X-Amz-Date, the same
way S3 itself would check it, and the result is compared with the Authorization header that
arrived. A match is forwarded to the upstream (method, path and query, headers, body) and the
answer relayed; a mismatch is answered 403 SignatureDoesNotMatch and both headers are logged to
stderr. Counts go to --stats FILE as JSON after every request and at exit (SIGTERM included):
    {"verified": N, "mismatched": M, "with_token": T, "incomplete": I, "forward_errors": F}
(with_token: verified requests that carried x-amz-security-token; incomplete: bodies cut short
by the client, answered 400 and neither verified nor forwarded).
The stats file is first written once the proxy listens and the upstream accepts connections,
so a caller can wait for it instead of probing (a probe would count as a mismatch).

Like S3, the verifier canonicalises the path and query itself (decode, then RFC 3986 encode)
instead of trusting the client's encoding, requires host, x-amz-date, x-amz-content-sha256 and
every x-amz-* header of the request to be signed, checks that x-amz-content-sha256 is the
SHA-256 of the body that arrived, and refuses a date more than 15 minutes off.

Usage: sigv4_proxy.py --port P --upstream http://127.0.0.1:U --access-key K --secret-key S
                      [--session-token T] [--region R] --stats FILE
Requests without x-amz-security-token are verified with the long-term key alone; requests with
one must carry (and have signed) exactly --session-token.
"""
import argparse
import datetime
import hashlib
import http.client
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape


def _import_botocore():
    try:
        import botocore.auth  # noqa: F401
    except ImportError:
        # Debian's awscli ships botocore inside its own package and makes it importable as
        # "botocore" once awscli has been imported.
        import awscli  # noqa: F401
        import botocore.auth  # noqa: F401
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    return S3SigV4Auth, AWSRequest, Credentials


S3SigV4Auth, AWSRequest, Credentials = _import_botocore()

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "expect"}
MAX_SKEW = datetime.timedelta(minutes=15)
MAX_BODY = 256 * 1024 * 1024


class FixedTimeAuth(S3SigV4Auth):
    """S3SigV4Auth signing at a given X-Amz-Date instead of now."""

    def __init__(self, credentials, region, timestamp):
        super().__init__(credentials, "s3", region)
        self._timestamp = timestamp

    def add_auth(self, request):
        request.context["timestamp"] = self._timestamp
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))
        return canonical


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...' -> dict or None."""
    prefix = "AWS4-HMAC-SHA256 "
    if not value or not value.startswith(prefix):
        return None
    parts = {}
    for item in value[len(prefix):].split(","):
        name, sep, val = item.strip().partition("=")
        if not sep:
            return None
        parts[name] = val
    if set(parts) != {"Credential", "SignedHeaders", "Signature"}:
        return None
    return parts


def canonical_path(raw):
    # S3 signs the path single-encoded: decode what the client sent, encode per RFC 3986.
    return urllib.parse.quote(urllib.parse.unquote(raw), safe="/~")


def canonical_params(query):
    """The query as (name, value) pairs, decoded ('+' stays '+', as S3 reads it)."""
    params = {}
    if not query:
        return params
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        name = urllib.parse.unquote(name)
        if name in params:
            raise ValueError("repeated query parameter %r" % name)
        params[name] = urllib.parse.unquote(value)
    return params


class Verifier:
    def __init__(self, access_key, secret_key, session_token, region):
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.region = region

    def check(self, method, target, headers, body):
        """Returns (ok, reason, expected_authorization)."""
        received = headers.get("authorization")
        auth = parse_authorization(received)
        if auth is None:
            return False, "missing or malformed Authorization header", None
        amz_date = headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            return False, "missing or malformed X-Amz-Date %r" % amz_date, None
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        if abs(now - when) > MAX_SKEW:
            return False, "X-Amz-Date %s is more than 15 minutes off" % amz_date, None
        scope = "%s/%s/%s/s3/aws4_request" % (self.access_key, amz_date[:8], self.region)
        if auth["Credential"] != scope:
            return False, "credential scope %r, expected %r" % (auth["Credential"], scope), None
        signed = auth["SignedHeaders"].split(";")
        if signed != sorted(signed) or any(h != h.lower() or not h for h in signed):
            return False, "SignedHeaders not sorted lower-case names: %r" % signed, None
        must = {"host", "x-amz-date", "x-amz-content-sha256"}
        must.update(h for h in headers if h.startswith("x-amz-"))
        missing = sorted(must - set(signed))
        if missing:
            return False, "headers present but not signed: %s" % ", ".join(missing), None
        absent = [h for h in signed if h not in headers]
        if absent:
            return False, "signed headers absent from the request: %s" % ", ".join(absent), None
        body_sha = hashlib.sha256(body).hexdigest()
        if headers["x-amz-content-sha256"] != body_sha:
            return False, "x-amz-content-sha256 %s is not the body's SHA-256 %s" % (
                headers["x-amz-content-sha256"], body_sha), None
        token = headers.get("x-amz-security-token")
        if token is not None and token != self.session_token:
            return False, "unknown session token", None

        path, _, query = target.partition("?")
        try:
            params = canonical_params(query)
        except ValueError as e:
            return False, str(e), None
        request = AWSRequest(method=method,
                             url="http://%s%s" % (headers["host"], canonical_path(path)),
                             headers={h: headers[h] for h in signed},
                             params=params, data=body)
        credentials = Credentials(self.access_key, self.secret_key, token)
        canonical = FixedTimeAuth(credentials, self.region, amz_date).add_auth(request)
        expected = request.headers["Authorization"]
        if parse_authorization(expected) != auth:
            return False, "signature mismatch (botocore's canonical request is in the " \
                "proxy's log)\n" + canonical, expected
        return True, "", expected


class Stats:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.counts = {"verified": 0, "mismatched": 0, "with_token": 0, "incomplete": 0,
                       "forward_errors": 0}

    def add(self, **inc):
        with self.lock:
            for name, n in inc.items():
                self.counts[name] += n
            self._write()

    def write(self):
        with self.lock:
            self._write()

    def _write(self):
        tmp = "%s.tmp-%d" % (self.path, os.getpid())
        with open(tmp, "w") as f:
            json.dump(self.counts, f)
            f.write("\n")
        os.replace(tmp, self.path)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and 100-continue, as clients expect of S3
    server_version = "wineq-sigv4-proxy"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("sigv4_proxy: " + (fmt % args) + "\n")

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ValueError("connection closed inside a chunk")
                chunks.append(chunk)
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length > MAX_BODY:
            raise ValueError("body too large")
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) != length:
            # the client gave up mid-body (wineq does so on purpose when the bytes do not
            # match the digest it signed): nothing to verify, nothing to forward
            raise ValueError("got %d of %d bytes" % (len(body), length))
        return body

    def _reply(self, status, body, headers=(), close=False):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client left first; nothing to tell it

    def _error(self, status, code, message):
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
               '<Message>%s</Message><RequestId>sigv4-proxy</RequestId></Error>'
               % (code, escape(message)))
        self._reply(status, xml.encode(), [("Content-Type", "application/xml")], close=True)

    def _handle(self):
        try:
            body = self._read_body()
        except (ValueError, OSError) as e:
            self.server.stats.add(incomplete=1)
            sys.stderr.write("sigv4_proxy: incomplete body %s %s: %s\n"
                             % (self.command, self.path, e))
            self._error(400, "IncompleteBody", "cannot read the request body: %s" % e)
            return
        headers = {}
        for name in self.headers.keys():
            lname = name.lower()
            if lname not in headers:
                # repeated headers are signed as one, values joined by ','
                headers[lname] = ",".join(v.strip() for v in self.headers.get_all(name))
        ok, reason, expected = self.server.verifier.check(self.command, self.path, headers, body)
        if not ok:
            self.server.stats.add(mismatched=1)
            sys.stderr.write("sigv4_proxy: REFUSED %s %s: %s\n  received: %s\n  expected: %s\n"
                             % (self.command, self.path, reason, headers.get("authorization"),
                                expected))
            self._error(403, "SignatureDoesNotMatch",
                        "The request signature does not match the one botocore computed "
                        "(sigv4 proxy): " + reason.split("\n")[0])
            return
        fwd = [(n, v) for n, v in self.headers.items() if n.lower() not in HOP_BY_HOP]
        fwd = [(n, v) for n, v in fwd if n.lower() != "content-length"]
        if body or self.command in ("PUT", "POST"):
            fwd.append(("Content-Length", str(len(body))))
        try:
            conn = http.client.HTTPConnection(self.server.upstream_host,
                                              self.server.upstream_port, timeout=30)
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            for name, value in fwd:
                conn.putheader(name, value)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            rheaders = resp.getheaders()
            status = resp.status
            conn.close()
        except OSError as e:
            self.server.stats.add(forward_errors=1)
            self._error(502, "BadGateway", "upstream: %s" % e)
            return
        self.server.stats.add(verified=1, with_token=1 if "x-amz-security-token" in headers
                              else 0)
        keep = [(n, v) for n, v in rheaders
                if n.lower() not in HOP_BY_HOP and n.lower() not in ("content-length", "date",
                                                                      "server")]
        if self.command == "HEAD":
            # no body to measure: relay the upstream's length
            self.send_response(status)
            for name, value in rheaders:
                if name.lower() not in HOP_BY_HOP and name.lower() not in ("date", "server"):
                    self.send_header(name, value)
            self.end_headers()
            return
        self._reply(status, data, keep)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def wait_for_upstream(host, port, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--session-token")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--wait-upstream", type=float, default=15.0,
                    help="seconds to wait for the upstream to accept connections")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    up = urllib.parse.urlsplit(args.upstream)
    if up.scheme != "http" or not up.hostname or not up.port:
        ap.error("--upstream must be http://HOST:PORT")
    server = Server(("127.0.0.1", args.port), Handler)
    server.verifier = Verifier(args.access_key, args.secret_key, args.session_token, args.region)
    server.stats = Stats(args.stats)
    server.upstream_host = up.hostname
    server.upstream_port = up.port
    server.verbose = args.verbose

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if not wait_for_upstream(up.hostname, up.port, args.wait_upstream):
        sys.stderr.write("sigv4_proxy: upstream %s not reachable\n" % args.upstream)
        return 1
    server.stats.write()  # "ready": the caller waits for this file
    sys.stderr.write("sigv4_proxy: listening on 127.0.0.1:%d -> %s\n"
                     % (args.port, args.upstream))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        server.stats.write()
        c = server.stats.counts
        sys.stderr.write("sigv4_proxy: verified %d, mismatched %d, with session token %d, "
                         "incomplete %d, forward errors %d\n"
                         % (c["verified"], c["mismatched"], c["with_token"], c["incomplete"],
                            c["forward_errors"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
