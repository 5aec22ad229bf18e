# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""graph.microsoft.com as the lab serves it: the v1.0 reads tenant_info makes, and the beta sign-in log and users'
signInActivity that signin_activity reads (see httpd.py for the listener)."""

import datetime
import importlib.util
import os
import re
import urllib.parse
import uuid

from .httpd import _graph_error, _ProtectedApp, resource_sp_id
from .identity import certificate_thumbprints
from .tenant import GRAPH_APP_ID, GRAPH_AUDIENCE, RESOURCES


def _load_licences():
    """The collection's plan table (plugins/module_utils/_licences.py, no imports of its own): one place for the
    servicePlanIds, so the lab's plans carry Microsoft's ids and tenant_info names them back."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins", "module_utils", "_licences.py")
    spec = importlib.util.spec_from_file_location("ece_lab_licences", os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LICENCES = _load_licences()
GRAPH_CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
GRAPH_DEFAULT_USER_FIELDS = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                             "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")


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
        if path.lower() == "/beta/auditlogs/signins":
            return 200, self._sign_ins(claims, url, query), {}
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
        if collection == "users" and "signinactivity" in query.get("$select", "").lower():
            self._require_sign_in_reads(claims)
            items = [dict(item, signInActivity=self._activity(item["id"])) for item in items]
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

    _READ_AUDIT = ("AuditLog.Read.All",)

    def _require_sign_in_reads(self, claims):
        """Sign-in logs and signInActivity: AuditLog.Read.All (Microsoft also asks Directory.Read.All for the log,
        a documented known issue the lab does not enforce), and a tenant with Entra ID P1/P2 (docs/signin-logs.md)."""
        self._require(claims, self._READ_AUDIT)
        if not self.tenant.premium:
            raise _graph_error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                               "Neither tenant is B2C or tenant doesn't have premium license")

    def _activity(self, user_id):
        user = self.tenant.user(user_id)
        activity = self.tenant.sign_in_activity(user) if user else {}
        out = {"@odata.type": "#microsoft.graph.signInActivity", "lastSignInRequestId": None,
               "lastNonInteractiveSignInRequestId": None, "lastSuccessfulSignInRequestId": None}
        out.update({k: _iso(v) if v else None for k, v in activity.items()})
        return out

    def _sign_ins(self, claims, url, query):
        """GET /beta/auditLogs/signIns: the records of the retention window, newest first, interactive ones
        unless the filter asks for another signInEventTypes (signIn resource, beta)."""
        self._require_sign_in_reads(claims)
        now = datetime.datetime.now(datetime.timezone.utc)
        oldest = now - datetime.timedelta(days=self.tenant.sign_in_retention_days)
        records = [r for r in self.tenant.sign_ins if r["time"] >= oldest]
        wanted = _sign_in_filter(query.get("$filter", ""))
        items = [_sign_in(self.tenant, r) for r in sorted(records, key=lambda r: r["time"], reverse=True)]
        items = [item for item in items if all(test(item) for test in wanted)]
        if not any(getattr(test, "event_type", False) for test in wanted):
            items = [item for item in items if item["isInteractive"]]
        page = self._page("auditLogs/signIns", items, url, query)
        page["@odata.context"] = "https://graph.microsoft.com/beta/$metadata#auditLogs/signIns"
        return page

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
            # Documented "Application: Not supported" (user-list-licensedetails); lab.graph_licence_details:
            # refused answers as Graph refuses a call the token's permissions do not cover.
            if self.tenant.graph_licence_details == "refused":
                raise _graph_error(403, "Authorization_RequestDenied",
                                   "Insufficient privileges to complete the operation.")
            return _license_details(self.tenant.user(item["id"]))
        if collection == "servicePrincipals" and navigation == "oauth2PermissionGrants":
            return [g for g in self._collection("oauth2PermissionGrants") if g["clientId"] == item["id"]]
        if collection == "servicePrincipals" and navigation == "appRoleAssignments":
            app = self.tenant.application_by_sp_id(item["id"])
            return _app_role_assignments(self.tenant, app) if app else []
        raise _graph_error(400, "BadRequest", "Resource not found for the segment '%s'." % navigation)


def _sign_in(tenant, record):
    """A signIn in the beta resource's shape (the fields ECE's sign-ins carry)."""
    app = tenant.applications[record["application"]]
    code = record["error_code"]
    return {
        "id": str(uuid.uuid5(uuid.UUID(tenant.tenant_id), "signin/" + record["key"])),
        "createdDateTime": _iso(record["time"]), "userDisplayName": record["display_name"],
        "userPrincipalName": record["upn"], "userId": record["user_id"], "appId": app["client_id"],
        "appDisplayName": app["display_name"], "ipAddress": record["ip"], "clientAppUsed": "Mobile Apps and Desktop clients",
        "conditionalAccessStatus": "notApplied", "isInteractive": record["interactive"],
        "signInEventTypes": ["interactiveUser" if record["interactive"] else "nonInteractiveUser"],
        "resourceDisplayName": record["resource"], "resourceId": EXCHANGE_RESOURCE_ID,
        "incomingTokenType": "none" if record["interactive"] else "refreshToken",
        "authenticationProtocol": "oAuth2", "clientCredentialType": "clientSecret",
        "status": {"errorCode": code, "failureReason": record["failure_reason"], "additionalDetails": None},
    }


EXCHANGE_RESOURCE_ID = "00000002-0000-0ff1-ce00-000000000000"


def _sign_in_filter(expression):
    """The clauses signin_activity sends, joined by 'and': appId eq, userId eq, createdDateTime ge/le,
    signInEventTypes/any(t: t eq '...') (beta: on v1.0 this property does not exist). Others: 400, as Graph."""
    tests = []
    for clause in [c for c in re.split(r"\s+and\s+", expression.strip()) if c] if expression.strip() else []:
        clause = clause.strip()
        match = re.fullmatch(r"(appId|userId|userPrincipalName)\s+eq\s+'((?:[^']|'')*)'", clause)
        if match:
            field, value = match.group(1), match.group(2).replace("''", "'").lower()
            tests.append(lambda item, f=field, v=value: str(item.get(f) or "").lower() == v)
            continue
        match = re.fullmatch(r"createdDateTime\s+(ge|le|gt|lt)\s+(\S+)", clause)
        if match:
            try:
                bound = datetime.datetime.fromisoformat(match.group(2).replace("Z", "+00:00"))
            except ValueError:
                raise _graph_error(400, "BadRequest", "Invalid filter clause: %s" % clause)
            op = match.group(1)
            tests.append(lambda item, o=op, b=bound: _compare(item["createdDateTime"], o, b))
            continue
        match = re.fullmatch(r"\(?signInEventTypes/any\((\w+):\s*\1\s+eq\s+'(\w+)'\)\)?", clause)
        if match:
            kind = match.group(2)

            def event_type(item, k=kind):
                return k in item["signInEventTypes"]
            event_type.event_type = True
            tests.append(event_type)
            continue
        raise _graph_error(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
    return tests


def _compare(text, op, bound):
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return {"ge": value >= bound, "le": value <= bound, "gt": value > bound, "lt": value < bound}[op]


def _matches(item, field, value, collection):
    if collection == "users" and field == "id":
        return value.lower() in (item["id"], item["userPrincipalName"].lower())
    return str(item.get(field, "")).lower() == value.lower()


def _graph_filter(item, expression):
    """The filter forms tenant_info uses: "<field> eq '<value>'" and "<collection>/any(x:x eq '<value>')"
    (proxyAddresses: https://learn.microsoft.com/en-us/graph/aad-advanced-queries lists eq on it as a default
    query). Entra compares the strings without regard to case; '' in a literal is a quote (OData)."""
    match = re.fullmatch(r"\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*", expression)
    if match:
        return str(item.get(match.group(1), "")).lower() == match.group(2).replace("''", "'").lower()
    match = re.fullmatch(r"\s*(\w+)/any\((\w+):\2\s+eq\s+'((?:[^']|'')*)'\)\s*", expression)
    if match and isinstance(item.get(match.group(1)), list):
        wanted = match.group(3).replace("''", "'").lower()
        return any(str(value).lower() == wanted for value in item[match.group(1)])
    raise _graph_error(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")


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
            # hint: the first three characters of the secret (passwordCredential resource).
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
    """The app's oAuth2PermissionGrants: admin consent (consentType AllPrincipals, principalId null) and each
    user's own consent (applications.<key>.user_consent: consentType Principal, principalId the user's id);
    https://learn.microsoft.com/en-us/graph/api/resources/oauth2permissiongrant."""
    grants = []
    scopes = [name for name in app["permissions"]["delegated"] if tenant.consented(app, "delegated", name)]
    if scopes:
        grants.append({"id": str(uuid.uuid5(uuid.UUID(tenant.tenant_id), "grant/" + app["client_id"])),
                       "clientId": app["service_principal_id"], "consentType": "AllPrincipals", "principalId": None,
                       "resourceId": resource_sp_id(tenant, GRAPH_APP_ID), "scope": " ".join(scopes)})
    for upn, names in sorted((app.get("user_consent") or {}).items()):
        user = tenant.user(upn)
        if not user or not names:
            continue
        grants.append({"id": str(uuid.uuid5(uuid.UUID(tenant.tenant_id), "grant/%s/%s" % (app["client_id"], upn))),
                       "clientId": app["service_principal_id"], "consentType": "Principal",
                       "principalId": user["object_id"], "resourceId": resource_sp_id(tenant, GRAPH_APP_ID),
                       "scope": " ".join(names)})
    return grants


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
    addresses = user["proxy_addresses"] if user["mailbox"] else []
    return {"id": user["object_id"], "userPrincipalName": user["upn"], "displayName": user["display_name"],
            "mail": user["mail"] if user["mailbox"] else None, "accountEnabled": user["account_enabled"],
            # SMTP: marks the primary address, smtp: the others (user resource, proxyAddresses).
            "proxyAddresses": [("SMTP:" if a == user["mail"] else "smtp:") + a for a in addresses],
            "assignedPlans": _assigned_plans(user), "provisionedPlans": _provisioned_plans(user),
            "businessPhones": [], "givenName": None, "jobTitle": None, "mobilePhone": None, "officeLocation": None,
            "preferredLanguage": "en-US", "surname": None,
            "assignedLicenses": [{"disabledPlans": [], "skuId": lic["sku_id"]} for lic in user["licenses"]],
            "userType": "Member"}


def _plan_id(plan):
    """Microsoft's servicePlanId for the Exchange plans (the collection's table), a stable made-up one otherwise."""
    table = dict(_LICENCES.MAILBOX_PLANS, **_LICENCES.NO_MAILBOX_PLANS)
    return table.get(plan) or str(uuid.uuid5(uuid.NAMESPACE_OID, plan))


def _service(plan):
    """assignedPlan.service: "exchange" for the Exchange plans (assignedplan resource's example), else the name."""
    return "exchange" if plan.startswith("EXCHANGE_") else plan


def _assigned_plans(user):
    """assignedPlans: servicePlanId, service, capabilityStatus Enabled (a plan still assigned)."""
    return [{"assignedDateTime": "2025-01-01T00:00:00Z", "capabilityStatus": "Enabled", "service": _service(plan),
             "servicePlanId": _plan_id(plan)}
            for lic in user["licenses"] for plan in lic["service_plans"]]


def _provisioned_plans(user):
    """provisionedPlans: the service and its provisioningStatus, verbatim from the tenant file; no plan id."""
    return [{"capabilityStatus": "Enabled", "provisioningStatus": status, "service": _service(plan)}
            for lic in user["licenses"] for plan, status in lic["service_plans"].items()]


def _license_details(user):
    # Foundation-like plans apply to the company (Microsoft's example: EXCHANGE_S_FOUNDATION appliesTo Company).
    return [{"id": "lab-" + lic["sku_id"], "skuId": lic["sku_id"], "skuPartNumber": lic["sku"],
             "servicePlans": [{"servicePlanId": _plan_id(plan), "servicePlanName": plan,
                               "provisioningStatus": status,
                               "appliesTo": "Company" if plan.startswith("EXCHANGE_S_FOUNDATION") else "User"}
                              for plan, status in lic["service_plans"].items()]}
            for lic in user["licenses"]]
