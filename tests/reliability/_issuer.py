# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An Entra-like issuer whose token endpoint misbehaves, for the reliability suite.

HTTPS on 127.0.0.1 (the good certificate of certs.TestCerts) with a valid OpenID discovery
document per tenant, so real msal gets as far as the token request; the tenant segment of the
authority (https://127.0.0.1:PORT/<behaviour>) picks how the token endpoint answers:

throttled        429 with Retry-After: 120 and Entra's JSON error body, every time
throttled-once   429 with Retry-After: 1 once, then a token (a client that honours Retry-After succeeds)
error500         500 with Entra's JSON error body (AADSTS90033, the directory service unavailable)
html             200 with an HTML page instead of JSON (a captive portal or a proxy's block page)
never            reads the request and never answers
"""

import datetime
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from servers import hold  # tests/reliability/conftest.py puts tests/integration on sys.path

BEHAVIOURS = ("throttled", "throttled-once", "error500", "html", "never")


def entra_error(error, code, text):
    """A token endpoint error body in the shape Entra ID sends (error, AADSTS description, ids, codes)."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    description = "%s%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
        "AADSTS%d: " % code if code else "", text, trace, correlation, now)
    body = {"error": error, "error_description": description, "trace_id": trace, "correlation_id": correlation,
            "timestamp": now}
    if code:
        body["error_codes"] = [code]
    return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's names)
        parts = [part for part in self.path.split("?")[0].split("/") if part]
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._json(200, self.server.discovery(parts[0]))
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        behaviour = self.path.split("/")[1]
        with self.server.lock:
            self.server.posts[behaviour] = self.server.posts.get(behaviour, 0) + 1
            first = self.server.posts[behaviour] == 1
        if behaviour == "never":
            hold(self.connection, self.server.stopped)
            self.close_connection = True
        elif behaviour == "throttled" or (behaviour == "throttled-once" and first):
            wait = "120" if behaviour == "throttled" else "1"
            self._json(429, entra_error("temporarily_unavailable", None, "The server is temporarily too busy to "
                                        "handle the request. Retry the request after a small delay."),
                       {"Retry-After": wait})
        elif behaviour == "error500":
            self._json(500, entra_error("server_error", 90033, "A transient error has occurred. Please try again."))
        elif behaviour == "html":
            page = b"<html><head><title>Sign in</title></head><body><h1>Sign in to the network</h1></body></html>"
            self._send(200, page, "text/html; charset=utf-8")
        else:
            self._json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                             "access_token": "opaque-test-token-%s" % uuid.uuid4().hex})

    def _json(self, status, body, headers=None):
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _send(self, status, payload, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # quiet
        pass


class MisbehavingIssuer(ThreadingHTTPServer):
    """The issuer; authority(behaviour) is the authority URL to give the modules."""

    daemon_threads = True

    def __init__(self, cert_pair):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*cert_pair)
        self.port = self.server_address[1]
        self.base = "https://127.0.0.1:%d" % self.port
        self.lock, self.posts, self.stopped = threading.Lock(), {}, threading.Event()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def finish_request(self, request, client_address):
        request.settimeout(10)
        super().finish_request(self.context.wrap_socket(request, server_side=True), client_address)

    def handle_error(self, request, client_address):  # a client that gave up is expected
        pass

    def authority(self, behaviour):
        assert behaviour in BEHAVIOURS, behaviour
        return "%s/%s" % (self.base, behaviour)

    def discovery(self, tenant):
        """The OpenID configuration msal reads before its first token request."""
        base = "%s/%s" % (self.base, tenant)
        return {"token_endpoint": base + "/oauth2/v2.0/token",
                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                "jwks_uri": base + "/discovery/v2.0/keys", "issuer": base + "/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "response_types_supported": ["code", "id_token"], "scopes_supported": ["openid", "offline_access"],
                "id_token_signing_alg_values_supported": ["RS256"], "subject_types_supported": ["pairwise"]}

    def close(self):
        self.stopped.set()
        self.shutdown()
        self.server_close()
