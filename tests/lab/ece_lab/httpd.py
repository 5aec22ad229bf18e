# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS stand-ins for login.microsoftonline.com, graph.microsoft.com and the Exchange admin API.

Three listeners in one process, each answering in the JSON shapes Microsoft documents: the login
endpoint here, Graph in graph.py, the Exchange admin API in exchange.py. Graph and
the admin API demand a valid app-only token from the lab issuer with the right roles, and answer
401 / 403 bodies like Microsoft's otherwise.
"""

import datetime
import json
import ssl
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

from .aadsts import EntraError
from . import identity


class HTTPError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def resource_sp_id(tenant, app_id):
    """The object id of a Microsoft resource's service principal in this tenant (stable per tenant)."""
    return str(uuid.uuid5(uuid.UUID(tenant.tenant_id), app_id))


class _Handler(BaseHTTPRequestHandler):
    server_version = "Microsoft-IIS/10.0"  # what Microsoft's endpoints say they are
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 15  # a client that stalls mid-request loses its socket, not the lab
    app = None  # set per listener

    def log_message(self, fmt, *args):  # one line per request into the lab log, no bodies
        self.server.log.write("%s %s %s\n" % (self.server.name, self.address_string(), fmt % args))
        self.server.log.flush()

    def _send(self, status, body, content_type="application/json; charset=utf-8", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        identity.REQUEST.client_address = self.client_address[0]  # the sign-in's IP address, for named locations
        try:
            status, reply, extra = self.app(method, url, self.headers, body)
        except HTTPError as exc:
            status, reply, extra = exc.status, exc.body, exc.headers
        except EntraError as exc:
            status, reply = exc.render()
            extra = {}
        except Exception as exc:  # a lab bug must show as a 500, never a hung client
            status, reply, extra = 500, {"error": {"code": "LabInternalError", "message": repr(exc)}}, {}
        content_type = extra.pop("Content-Type", "application/json; charset=utf-8")
        self._send(status, reply, content_type=content_type, headers=extra)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


def _form(body):
    return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _graph_error(status, code, message):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return HTTPError(status, {"error": {"code": code, "message": message, "innerError": {
        "date": now, "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}}})


class LoginApp:
    """login.microsoftonline.com: discovery, keys, token, authorize, userrealm."""

    def __init__(self, tenant, issuer, base_url):
        self.tenant = tenant
        self.issuer = issuer
        self.base = base_url

    def __call__(self, method, url, headers, body):
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if len(parts) >= 3 and parts[0] == "common" and parts[1] == "userrealm":
            return 200, self._userrealm(urllib.parse.unquote(parts[2])), {}
        if not parts:
            raise HTTPError(404, {"error": "not_found"})
        tenant_segment, rest = parts[0], "/".join(parts[1:])
        if rest == "v2.0/.well-known/openid-configuration":
            if not self.tenant.matches_tenant(tenant_segment):
                raise EntraError(90002, tenant=tenant_segment)
            return 200, self._openid_configuration(), {}
        if rest == "discovery/v2.0/keys":
            return 200, {"keys": [self.issuer.key.jwk()]}, {}
        if rest == "oauth2/v2.0/token" and method == "POST":
            outage = getattr(self.tenant, "login_outage", None)
            if outage is not None and outage.take():
                # lab.login_outage: Microsoft's sign-in service fails (AADSTS50000, HTTP 500 server_error).
                status, payload = EntraError(50000).render()
                extra = {"Cache-Control": "no-store"}
                if outage.retry_after is not None:
                    extra["Retry-After"] = str(outage.retry_after)
                raise HTTPError(status, json.loads(payload), extra)
            return 200, self.issuer.token(tenant_segment, _form(body)), {"Cache-Control": "no-store"}
        if rest == "oauth2/v2.0/authorize" and method == "GET":
            try:
                location = self.issuer.authorize(tenant_segment, query)
            except EntraError as exc:
                # Entra shows these on its sign-in page, not as JSON.
                _status, payload = exc.render()
                text = json.loads(payload)["error_description"].split("\r\n")[0]
                page = "<html><body><h1>Sorry, but we're having trouble signing you in.</h1><p>%s</p></body></html>" % text
                return 400, page.encode(), {"Content-Type": "text/html; charset=utf-8"}
            return 302, b"", {"Location": location}
        raise HTTPError(404, {"error": "not_found", "error_description": "no such endpoint: %s" % url.path})

    def _openid_configuration(self):
        tid = self.tenant.tenant_id
        base = "%s/%s" % (self.base, tid)
        return {
            "token_endpoint": base + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": base + "/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer.issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": base + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                                 "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                 "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": base + "/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def _userrealm(self, user):
        domain = user.rpartition("@")[2].lower()
        known = domain in (self.tenant.domain, self.tenant.initial_domain)
        return {"ver": "1.0", "account_type": "Managed" if known else "Unknown",
                "domain_name": domain, "cloud_instance_name": "microsoftonline.com",
                "cloud_audience_urn": "urn:federation:MicrosoftOnline"}


class _ProtectedApp:
    """Shared bearer-token check for Graph and the admin API."""

    audience = None

    def __init__(self, tenant, issuer):
        self.tenant = tenant
        self.issuer = issuer

    def _claims(self, headers):
        auth = headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise self._unauthorized("Access token is empty.")
        token = auth[7:].strip()
        try:
            return self.issuer.key.verify(token, audience=self.audience, issuer=self.issuer.issuer)
        except jwt.ExpiredSignatureError:
            raise self._unauthorized("Lifetime validation failed, the token is expired.")
        except jwt.InvalidAudienceError:
            raise self._unauthorized("Access token validation failure. Invalid audience.")
        except jwt.InvalidTokenError:
            raise self._unauthorized("Access token validation failure.")

    def _unauthorized(self, message):
        raise NotImplementedError


class LabHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name, address, app, cert, key, log):
        handler = type("%sHandler" % name, (_Handler,), {"app": app})
        super().__init__(address, handler)
        self.name = name
        self.log = log
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        # Handshake in the handler thread, not in accept(): a silent client must not stall the loop.
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address):  # TLS errors from probing clients are not lab failures
        self.log.write("%s %s connection error\n" % (self.name, client_address[0]))
        self.log.flush()


def serve(tenant, issuer, host, ports, cert, key, log):
    """Start the three listeners; return the servers (each serving in its own daemon thread)."""
    # exchange.py and graph.py import this module, so they are imported here, not at the top.
    from .exchange import ExchangeAdminApp  # pylint: disable=import-outside-toplevel
    from .graph import GraphApp  # pylint: disable=import-outside-toplevel

    login = LoginApp(tenant, issuer, "https://%s:%d" % (host, ports["login"]))
    graph = GraphApp(tenant, issuer)
    graph._host = "%s:%d" % (host, ports["graph"])
    exchange = ExchangeAdminApp(tenant, issuer)
    exchange._host = "%s:%d" % (host, ports["exchange"])
    servers = []
    for name, app in (("login", login), ("graph", graph), ("exchange", exchange)):
        server = LabHTTPServer(name, (host, ports[name]), app, cert, key, log)
        threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
        servers.append(server)
    return servers
