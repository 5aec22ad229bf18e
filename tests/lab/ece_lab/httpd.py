# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS stand-ins for login.microsoftonline.com, graph.microsoft.com and the Exchange admin API.

Three listeners in one process, each answering in the JSON shapes Microsoft documents. Graph and
the admin API demand a valid app-only token from the lab issuer with the right roles, and answer
401 / 403 bodies like Microsoft's otherwise.
"""

import datetime
import json
import re
import ssl
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

from .aadsts import EntraError
from .identity import certificate_thumbprints
from .tenant import EXCHANGE_APP_ID, GRAPH_APP_ID, GRAPH_AUDIENCE, RESOURCES

GRAPH_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
ADMIN_API_AUDIENCE = "https://outlook.office365.com"
GRAPH_DEFAULT_USER_FIELDS = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                             "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")


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


class GraphApp(_ProtectedApp):
    """graph.microsoft.com/v1.0: the reads tenant_info makes."""

    audience = GRAPH_AUDIENCE
    _READ_APPS = ("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All")
    _READ_USERS = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All")

    def _unauthorized(self, message):
        return _graph_error(401, "InvalidAuthenticationToken", message)

    def __call__(self, method, url, headers, body):
        claims = self._claims(headers)
        throttle = self.tenant.graph_throttle
        if throttle.take():  # lab.graph_throttle: Graph's throttling and outage answers
            extra = {} if throttle.retry_after is None else {"Retry-After": str(throttle.retry_after)}
            if throttle.status == 429:
                error = _graph_error(429, "TooManyRequests", "Too many requests.")
            else:
                error = _graph_error(503, "serviceNotAvailable", "The service is temporarily unavailable.")
            error.headers.update(extra)
            raise error
        if method != "GET":
            raise _graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        path = urllib.parse.unquote(url.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        match = re.fullmatch(r"/v1\.0/(\w+)(?:\((\w+)='([^']*)'\)|/([^/]+))?(?:/(\w+))?", path)
        if not match:
            raise _graph_error(400, "BadRequest", "Resource not found for the segment '%s'." % path.rsplit("/", 1)[-1])
        collection, key_name, key_value, object_id, navigation = match.groups()
        if collection in ("applications", "servicePrincipals", "oauth2PermissionGrants"):
            self._require(claims, self._READ_APPS)
        elif collection == "users":
            self._require(claims, self._READ_USERS)
        else:
            raise _graph_error(400, "BadRequest", "Resource not found for the segment '%s'." % collection)
        items = self._collection(collection)
        if key_name or object_id:
            wanted = key_value if key_name else object_id
            field = key_name or "id"
            found = [item for item in items if _matches(item, field, wanted, collection)]
            if not found:
                raise _graph_error(404, "Request_ResourceNotFound",
                                   "Resource '%s' does not exist or one of its queried reference-property objects "
                                   "are not present." % wanted)
            item = found[0]
            if navigation:
                return 200, self._page("%s('%s')/%s" % (collection, item["id"], navigation),
                                       self._navigation(collection, item, navigation), url, query), {}
            return 200, dict(_select(item, query, collection), **{
                "@odata.context": GRAPH_CONTEXT + collection + "/$entity"}), {}
        if "$filter" in query:
            items = [item for item in items if _graph_filter(item, query["$filter"])]
        return 200, self._page(collection, [_select(i, query, collection) for i in items], url, query), {}

    def _require(self, claims, roles):
        if claims.get("idtyp") != "app" and "roles" not in claims:
            raise _graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if not set(claims.get("roles", [])) & set(roles):
            raise _graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    def _page(self, context, items, url, query):
        size = self.tenant.page_size
        start = int(query.get("$skiptoken", "0") or 0)
        page = {"@odata.context": GRAPH_CONTEXT + context, "value": items[start:start + size]}
        if start + size < len(items):
            params = dict(query, **{"$skiptoken": str(start + size)})
            query_string = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
            page["@odata.nextLink"] = "https://%s%s?%s" % (self._host, url.path, query_string)
        return page

    _host = None  # set by the server so nextLink points back at the lab

    def _collection(self, name):
        tenant = self.tenant
        if name == "applications":
            return [_application(app) for app in tenant.applications.values()]
        if name == "servicePrincipals":
            sps = [_service_principal(app) for app in tenant.applications.values()]
            return sps + [_resource_service_principal(tenant, app_id) for app_id in RESOURCES]
        if name == "oauth2PermissionGrants":
            return [grant for app in tenant.applications.values() for grant in _permission_grants(tenant, app)]
        if name == "users":
            return [_user(user) for user in tenant.users.values()]
        return []

    def _navigation(self, collection, item, navigation):
        if collection == "users" and navigation == "licenseDetails":
            return _license_details(self.tenant.user(item["id"]))
        if collection == "servicePrincipals" and navigation == "oauth2PermissionGrants":
            return [g for g in self._collection("oauth2PermissionGrants") if g["clientId"] == item["id"]]
        if collection == "servicePrincipals" and navigation == "appRoleAssignments":
            app = self.tenant.application_by_sp_id(item["id"])
            return _app_role_assignments(self.tenant, app) if app else []
        raise _graph_error(400, "BadRequest", "Resource not found for the segment '%s'." % navigation)


def _matches(item, field, value, collection):
    if collection == "users" and field == "id":
        return value.lower() in (item["id"], item["userPrincipalName"].lower())
    return str(item.get(field, "")).lower() == value.lower()


def _graph_filter(item, expression):
    """The one filter form tenant_info uses: "<field> eq '<value>'"."""
    match = re.fullmatch(r"\s*(\w+)\s+eq\s+'([^']*)'\s*", expression)
    if not match:
        raise _graph_error(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
    return str(item.get(match.group(1), "")).lower() == match.group(2).lower()


def _select(item, query, collection):
    if "$select" in query:
        fields = [f.strip() for f in query["$select"].split(",")] + ["id"]
        return {k: v for k, v in item.items() if k in fields}
    if collection == "users":  # Graph v1.0 returns only the default set unless $select asks
        return {k: v for k, v in item.items() if k in GRAPH_DEFAULT_USER_FIELDS}
    return item


def _iso(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _application(app):
    access = {}
    for kind, type_name in (("delegated", "Scope"), ("application", "Role")):
        for name in app["permissions"][kind]:
            for app_id, resource in RESOURCES.items():
                table = resource[kind]
                if name in table:
                    access.setdefault(app_id, []).append({"id": table[name], "type": type_name})
                    break
    return {
        "id": app["object_id"], "appId": app["client_id"], "displayName": app["display_name"],
        "signInAudience": app["sign_in_audience"], "isFallbackPublicClient": app["public_client"],
        "web": {"redirectUris": app["redirect_uris"]["web"], "homePageUrl": None, "logoutUrl": None,
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False}},
        "spa": {"redirectUris": app["redirect_uris"]["spa"]},
        "publicClient": {"redirectUris": app["redirect_uris"]["public_client"]},
        "requiredResourceAccess": [{"resourceAppId": k, "resourceAccess": v} for k, v in access.items()],
        "passwordCredentials": [{
            "customKeyIdentifier": None, "displayName": s["display_name"], "endDateTime": _iso(s["end"]),
            "hint": s["value"][:3], "keyId": s["key_id"], "secretText": None, "startDateTime": _iso(s["start"]),
        } for s in app["secrets"]],
        "keyCredentials": [{
            "customKeyIdentifier": c["thumbprint"], "displayName": c["display_name"], "endDateTime": _iso(c["end"]),
            "key": None, "keyId": c["key_id"], "startDateTime": _iso(c["start"]), "type": "AsymmetricX509Cert",
            "usage": "Verify",
        } for c in _certificates(app)],
    }


def _certificates(app):
    out = []
    for cert in app["certificates"]:
        sha1, _sha256 = certificate_thumbprints(cert["pem"])
        out.append(dict(cert, thumbprint=sha1))
    return out


def _service_principal(app):
    return {"id": app["service_principal_id"], "appId": app["client_id"], "displayName": app["display_name"],
            "accountEnabled": True, "servicePrincipalType": "Application", "appRoles": [],
            "oauth2PermissionScopes": [], "signInAudience": app["sign_in_audience"]}


def _resource_service_principal(tenant, app_id):
    resource = RESOURCES[app_id]
    return {
        "id": resource_sp_id(tenant, app_id), "appId": app_id, "displayName": resource["display_name"],
        "accountEnabled": True, "servicePrincipalType": "Application",
        "oauth2PermissionScopes": [{"id": pid, "value": name, "type": "User", "isEnabled": True,
                                    "adminConsentDisplayName": name} for name, pid in resource["delegated"].items()],
        "appRoles": [{"id": pid, "value": name, "allowedMemberTypes": ["Application"], "isEnabled": True,
                      "displayName": name} for name, pid in resource["application"].items()],
    }


def _permission_grants(tenant, app):
    scopes = [name for name in app["permissions"]["delegated"] if tenant.consented(app, "delegated", name)]
    if not scopes:
        return []
    return [{"id": str(uuid.uuid5(uuid.UUID(tenant.tenant_id), "grant/" + app["client_id"])),
             "clientId": app["service_principal_id"], "consentType": "AllPrincipals", "principalId": None,
             "resourceId": resource_sp_id(tenant, GRAPH_APP_ID), "scope": " ".join(scopes)}]


def _app_role_assignments(tenant, app):
    out = []
    for name in app["permissions"]["application"]:
        if not tenant.consented(app, "application", name):
            continue
        for app_id, resource in RESOURCES.items():
            if name in resource["application"]:
                out.append({"id": str(uuid.uuid5(uuid.UUID(tenant.tenant_id), app["client_id"] + name)),
                            "appRoleId": resource["application"][name], "principalId": app["service_principal_id"],
                            "principalType": "ServicePrincipal", "principalDisplayName": app["display_name"],
                            "resourceId": resource_sp_id(tenant, app_id), "resourceDisplayName": resource["display_name"]})
    return out


def _user(user):
    return {"id": user["object_id"], "userPrincipalName": user["upn"], "displayName": user["display_name"],
            "mail": user["upn"] if user["mailbox"] else None, "accountEnabled": user["account_enabled"],
            "businessPhones": [], "givenName": None, "jobTitle": None, "mobilePhone": None, "officeLocation": None,
            "preferredLanguage": "en-US", "surname": None,
            "assignedLicenses": [{"disabledPlans": [], "skuId": lic["sku_id"]} for lic in user["licenses"]],
            "userType": "Member"}


def _license_details(user):
    return [{"id": "lab-" + lic["sku_id"], "skuId": lic["sku_id"], "skuPartNumber": lic["sku"],
             "servicePlans": [{"servicePlanId": str(uuid.uuid5(uuid.NAMESPACE_OID, plan)), "servicePlanName": plan,
                               "provisioningStatus": status, "appliesTo": "User"}
                              for plan, status in lic["service_plans"].items()]}
            for lic in user["licenses"]]


class ExchangeAdminApp(_ProtectedApp):
    """outlook.office365.com/adminapi/beta/{tenant}/InvokeCommand: the cmdlets the preflight reads."""

    audience = ADMIN_API_AUDIENCE

    def _unauthorized(self, message):
        return HTTPError(401, b"", {"WWW-Authenticate": 'Bearer client_id="%s", error="invalid_token", '
                                    'error_description="%s"' % (EXCHANGE_APP_ID, message),
                                    "Content-Type": "text/plain"})

    def __call__(self, method, url, headers, body):
        parts = [p for p in url.path.split("/") if p]
        if len(parts) != 4 or parts[:2] != ["adminapi", "beta"] or parts[3] != "InvokeCommand" or method != "POST":
            raise HTTPError(404, _admin_error("NotFound", "The requested resource does not exist: %s" % url.path))
        if not self.tenant.matches_tenant(parts[2]):
            raise HTTPError(400, _admin_error("BadRequest", "Tenant '%s' not found." % parts[2]))
        claims = self._claims(headers)
        app = self.tenant.application_by_client_id(claims.get("appid"))
        if "Exchange.ManageAsApp" not in claims.get("roles", []) or app is None or not app["exchange_admin_role"]:
            raise HTTPError(403, _admin_error(
                "Forbidden", "The role assigned to application %s isn't supported in this scenario. Please check "
                "online documentation for assigning correct Directory Roles to Azure AD Application for EXO App "
                "Only Authentication." % claims.get("appid")))
        try:
            cmdlet = json.loads(body or b"{}")["CmdletInput"]
            name, params = cmdlet["CmdletName"], cmdlet.get("Parameters") or {}
        except (ValueError, KeyError, TypeError):
            raise HTTPError(400, _admin_error("BadRequest", "The request body must be {\"CmdletInput\": "
                                              "{\"CmdletName\": ..., \"Parameters\": {...}}}."))
        handlers = {"Get-CASMailbox": self._cas_mailbox, "Get-TransportConfig": self._transport_config,
                    "Get-MailboxPermission": self._mailbox_permission}
        if name not in handlers:
            raise HTTPError(400, _admin_error("BadRequest", "The term '%s' is not recognized as a cmdlet." % name))
        values = handlers[name](params)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        start = int(query.get("$skiptoken", "0") or 0)
        size = self.tenant.page_size
        reply = {"@odata.context": "https://outlook.office365.com/adminapi/beta/%s/$metadata#Collection"
                                   "(Exchange.GenericHashTable)" % self.tenant.tenant_id,
                 "adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": [],
                 "value": values[start:start + size]}
        if start + size < len(values):
            reply["@odata.nextLink"] = "https://%s%s?$skiptoken=%d" % (self._host, url.path, start + size)
        return 200, reply, {}

    _host = None

    def _mailboxes(self, params):
        identity = params.get("Identity")
        users = [u for u in self.tenant.users.values() if self.tenant.has_mailbox(u)]
        if identity is None:
            return users
        user = self.tenant.user(identity)
        if user is None or user not in users:
            raise HTTPError(404, _admin_error(
                "NotFound", "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The "
                "operation couldn't be performed because object '%s' couldn't be found on "
                "'AM0PR01A001DC01.EURPR01A001.prod.outlook.com'." % identity))
        return [user]

    def _cas_mailbox(self, params):
        return [{"Identity": u["display_name"], "PrimarySmtpAddress": u["upn"], "ExternalDirectoryObjectId": u["object_id"],
                 "ImapEnabled": u["mailbox"]["imap_enabled"], "PopEnabled": u["mailbox"]["pop_enabled"],
                 "SmtpClientAuthenticationDisabled": u["mailbox"]["smtp_client_authentication_disabled"],
                 "ActiveSyncEnabled": True, "OWAEnabled": True, "MAPIEnabled": True, "EwsEnabled": True}
                for u in self._mailboxes(params)]

    def _transport_config(self, _params):
        return [{"Identity": self.tenant.initial_domain,
                 "SmtpClientAuthenticationDisabled": self.tenant.smtp_client_authentication_disabled}]

    def _mailbox_permission(self, params):
        out = []
        for user in self._mailboxes(params):
            out.append({"Identity": user["display_name"], "User": "NT AUTHORITY\\SELF", "AccessRights": ["FullAccess", "ReadPermission"],
                        "IsInherited": False, "Deny": False, "InheritanceType": "All"})
            for holder, deny in [(h, False) for h in user["mailbox"]["full_access"]] + \
                                [(h, True) for h in user["mailbox"]["full_access_deny"]]:
                out.append({"Identity": user["display_name"], "User": holder, "AccessRights": ["FullAccess"],
                            "IsInherited": False, "Deny": deny, "InheritanceType": "All"})
        return out


def _admin_error(code, message):
    return {"error": {"code": code, "message": message.split("|")[-1],
                      "details": [{"code": "Context", "target": "", "message": message}],
                      "innererror": {"message": message, "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}}}


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
