# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab tenant file: one YAML file that describes a fake Microsoft 365 tenant.

A scenario file may start with ``extends: <other file>``; it is then deep-merged over that
file (mappings merge key by key, everything else replaces), so each scenario states only the
one thing it breaks. The format is documented in docs/lab.md.
"""

import copy
import datetime
import os
import threading

import yaml

# Microsoft's resource applications, the audiences their tokens carry, and the permission ids
# they publish. One place for these facts: the issuer (scopes and roles), Graph
# (servicePrincipals) and the docs read them from here. The mail scopes are registered under
# Microsoft Graph in the portal (Microsoft's OAuth guide for IMAP, POP and SMTP), while the
# token a client asks for with the outlook.office.com prefix carries that audience.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_AUDIENCE = "https://graph.microsoft.com"
OUTLOOK_AUDIENCES = ("https://outlook.office.com", "https://outlook.office365.com")
RESOURCES = {
    GRAPH_APP_ID: {
        "display_name": "Microsoft Graph",
        "audiences": (GRAPH_AUDIENCE,),
        "delegated": {
            "IMAP.AccessAsUser.All": "652390e4-393a-48de-9484-05f9b1212954",
            "POP.AccessAsUser.All": "d7b7f2d9-0f45-4ea1-9d42-e50810c06991",
            "SMTP.Send": "258f6531-6087-4cc4-bb90-092c5fb3ed3f",
            "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
            "openid": "37f7f235-527c-4136-accd-4a02d197296e",
            "profile": "14dad69e-099b-42c9-810b-d002981feec1",
            "email": "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
            "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
        },
        "application": {
            "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
            "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
            "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
            "AuditLog.Read.All": "b0afded3-3588-46d8-8b3d-9842eff778da",
        },
    },
    EXCHANGE_APP_ID: {
        "display_name": "Office 365 Exchange Online",
        "audiences": OUTLOOK_AUDIENCES,
        "delegated": {},
        "application": {
            "Exchange.ManageAsApp": "dc50a0fb-09a3-484d-be87-e023b12c6440",
        },
    },
}
# The delegated permissions a token for an Outlook audience (IMAP, POP, SMTP) may carry.
MAIL_PERMISSIONS = ("IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send")
# Scopes every delegated sign-in may ask for without a resource prefix (OpenID Connect).
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
REFRESH_TOKEN_MAX_INACTIVE_DAYS = 90
# Exchange service plans that give no mailbox (the collection's _licences.NO_MAILBOX_PLANS names them all).
NO_MAILBOX_PLANS = ("EXCHANGE_S_FOUNDATION", "EXCHANGE_S_FOUNDATION_GOV", "EXCHANGE_S_ARCHIVE",
                    "EXCHANGE_S_ARCHIVE_ADDON")

MAIL_MECHANISMS = ("xoauth2", "oauthbearer")
LAB_PORT_NAMES = ("login", "graph", "exchange", "imaps", "pop3s", "submission", "sink")


class TenantFileError(Exception):
    """The tenant file cannot be used; the message names the file and the key."""


def _deep_merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _read_yaml(path, seen):
    path = os.path.abspath(path)
    if path in seen:
        raise TenantFileError("%s: 'extends' loops back to itself" % path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise TenantFileError("cannot read tenant file %s: %s" % (path, exc.strerror))
    except yaml.YAMLError as exc:
        raise TenantFileError("tenant file %s is not valid YAML: %s" % (path, exc))
    if not isinstance(data, dict):
        raise TenantFileError("tenant file %s must hold a mapping at the top" % path)
    parent = data.pop("extends", None)
    if parent:
        base = _read_yaml(os.path.join(os.path.dirname(path), parent), seen | {path})
        data = _deep_merge(base, data)
    return data


def _as_datetime(value, where):
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TenantFileError("%s: %r is not an ISO 8601 date" % (where, value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
    raise TenantFileError("%s: %r is not a date" % (where, value))


def _tokens_valid_from(user, where):
    """TokensValidFrom: set by a password reset or revocation; relative days keep scenarios evergreen."""
    if user.get("tokens_valid_from_days_ago") is not None:
        return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
            days=float(user["tokens_valid_from_days_ago"]))
    if user.get("tokens_valid_from"):
        return _as_datetime(user["tokens_valid_from"], where + ".tokens_valid_from")
    return None


def _validity(item, where):
    """(start, end) of a secret or certificate: absolute dates, or days relative to now (evergreen scenarios)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if item.get("start_days_ago") is not None:
        start = now - datetime.timedelta(days=float(item["start_days_ago"]))
    else:
        start = _as_datetime(item.get("start", "2025-01-01T00:00:00Z"), where + ".start")
    if item.get("end_days_from_now") is not None:
        end = now + datetime.timedelta(days=float(item["end_days_from_now"]))
    else:
        end = _as_datetime(_require(item, "end", where), where + ".end")
    return start, end


def _certificate_pem(cert, where, base_dir):
    """The certificate's PEM text: inline (pem) or from a file (path, relative to the tenant file's directory)."""
    if cert.get("pem"):
        return str(cert["pem"])
    path = os.path.join(base_dir, _require(cert, "path", where))
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TenantFileError("%s.path: cannot read %s: %s" % (where, path, exc))


class _FirstRequests:
    """The first COUNT requests after a load get a failure (and are counted), under a lock: the lab's switches
    for answers Microsoft gives for a while (throttling, an outage)."""

    def __init__(self, count, where):
        self.remaining = int(count or 0)
        if self.remaining < 0:
            raise TenantFileError("%s.count: 0 or more, not %s" % (where, self.remaining))
        self._lock = threading.Lock()

    def take(self):
        """True when this request is to fail (and counts it)."""
        with self._lock:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            return True


class _Throttle(_FirstRequests):
    """lab.graph_throttle: Graph answers STATUS with Retry-After the first COUNT requests after a load."""

    def __init__(self, spec, where):
        spec = dict(spec or {})
        super().__init__(spec.get("count", 0), where)
        self.status = int(spec.get("status", 429))
        if self.status not in (429, 503):
            raise TenantFileError("%s.status: 429 or 503, not %s" % (where, self.status))
        self.retry_after = spec.get("retry_after", 1)


class _LoginOutage(_FirstRequests):
    """lab.login_outage: the token endpoint answers HTTP 500 AADSTS50000 (Microsoft's own outage) to the first
    COUNT token requests after a load."""

    def __init__(self, spec, where):
        spec = dict(spec or {})
        super().__init__(spec.get("count", 0), where)
        self.retry_after = spec.get("retry_after")


# The Entra roles app-only Exchange access supports
# (https://learn.microsoft.com/en-us/powershell/exchange/app-only-auth-powershell-v2);
# exchange.py knows which cmdlets each one reads (docs/exchange-admin-api.md).
EXCHANGE_ROLES = ("Global Administrator", "Exchange Administrator", "Exchange Recipient Administrator", "Global Reader",
                  "Helpdesk Administrator", "Compliance Administrator", "Security Administrator", "Security Reader")


def _exchange_roles(value, where):
    """applications.<key>.exchange_admin_role: true (Exchange Administrator), false, a role name or a list of them."""
    if value is True:
        return ["Exchange Administrator"]
    if not value:
        return []
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        if name not in EXCHANGE_ROLES:
            raise TenantFileError("%s.exchange_admin_role: %r is not one of %s"
                                  % (where, name, ", ".join(EXCHANGE_ROLES)))
    return names


def _require(mapping, key, where):
    if key not in mapping or mapping[key] in (None, ""):
        raise TenantFileError("%s: '%s' is required" % (where, key))
    return mapping[key]


class Tenant:
    """A loaded, validated tenant file with the look-ups the lab servers need."""

    def __init__(self, data, path="<memory>"):
        self.path = path
        self.raw = data
        where = "%s: tenant" % path
        tenant = _require(data, "tenant", path)
        self.tenant_id = str(_require(tenant, "id", where)).lower()
        self.domain = str(_require(tenant, "domain", where)).lower()
        self.name = tenant.get("name", self.domain)
        self.initial_domain = tenant.get("initial_domain", self.domain)
        self.smtp_client_authentication_disabled = bool(tenant.get("smtp_client_authentication_disabled", False))
        self.sso_user = (tenant.get("sso_user") or "").lower() or None
        self.conditional_access = list(tenant.get("conditional_access") or [])
        self.ece = dict(data.get("ece") or {})
        self.applications = {}
        for key, app in (data.get("applications") or {}).items():
            self.applications[key] = self._load_application(key, app)
        self.users = {}
        for upn, user in (data.get("users") or {}).items():
            self.users[upn.lower()] = self._load_user(upn.lower(), user)
        self.refresh_tokens = {}
        for key, token in (data.get("refresh_tokens") or {}).items():
            self.refresh_tokens[key] = self._load_refresh_token(key, token)
        # tenant.premium: whether the tenant holds Microsoft Entra ID P1/P2; Graph serves sign-in logs and
        # signInActivity only then (else 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant).
        self.premium = bool(tenant.get("premium", True))
        # sign_ins: Entra's sign-in records, by name (a scenario overrides one by its name, drops one with null).
        self.sign_ins = [self._load_sign_in(key, record)
                         for key, record in sorted((data.get("sign_ins") or {}).items()) if record is not None]
        lab = dict(data.get("lab") or {})
        self.host = lab.get("host", "127.0.0.1")
        self.ports = {name: int((lab.get("ports") or {}).get(name, 0)) for name in LAB_PORT_NAMES}
        lifetime = lab.get("access_token_lifetime", [3600, 5400])
        self.access_token_lifetime = (int(lifetime[0]), int(lifetime[-1]))
        self.page_size = int(lab.get("page_size", 100))
        self.graph_throttle = _Throttle(lab.get("graph_throttle"), "%s: lab.graph_throttle" % path)
        # lab.mail_mechanisms: the SASL mechanisms Dovecot offers (IMAP, POP3, submission); Exchange Online offers
        # XOAUTH2. Without it a client must not try XOAUTH2 (mailbox_protocols: auth_unsupported).
        self.mail_mechanisms = [str(m).lower() for m in lab.get("mail_mechanisms", MAIL_MECHANISMS)]
        unknown = sorted(set(self.mail_mechanisms) - set(MAIL_MECHANISMS + ("plain", "login")))
        if unknown or not self.mail_mechanisms:
            raise TenantFileError("%s: lab.mail_mechanisms: a list of %s, not %r" % (
                path, ", ".join(MAIL_MECHANISMS + ("plain", "login")), lab.get("mail_mechanisms")))
        # lab.graph_licence_details: served (default) or refused - GET /users/{id}/licenseDetails answers app-only
        # tokens 403 Authorization_RequestDenied, as Microsoft documents ("Application: Not supported").
        self.graph_licence_details = str(lab.get("graph_licence_details", "served"))
        if self.graph_licence_details not in ("served", "refused"):
            raise TenantFileError("%s: lab.graph_licence_details: served or refused, not %r"
                                  % (path, self.graph_licence_details))
        self.login_outage = _LoginOutage(lab.get("login_outage"), "%s: lab.login_outage" % path)
        # lab.sign_in_retention_days: how far back the sign-in log reaches (Microsoft: 30 days with P1/P2); older
        # records still count in the users' signInActivity, as they do at Microsoft.
        self.sign_in_retention_days = float(lab.get("sign_in_retention_days", 30))

    # -- loading -------------------------------------------------------------------------
    def _load_application(self, key, app):
        where = "%s: applications.%s" % (self.path, key)
        secrets = []
        for index, secret in enumerate(app.get("secrets") or []):
            swhere = "%s.secrets[%d]" % (where, index)
            start, end = _validity(secret, swhere)
            secrets.append({
                "key_id": str(_require(secret, "key_id", swhere)),
                "display_name": secret.get("display_name", ""),
                "value": str(_require(secret, "value", swhere)),
                "start": start,
                "end": end,
            })
        certificates = []
        for index, cert in enumerate(app.get("certificates") or []):
            cwhere = "%s.certificates[%d]" % (where, index)
            start, end = _validity(cert, cwhere)
            certificates.append({
                "key_id": str(_require(cert, "key_id", cwhere)),
                "display_name": cert.get("display_name", ""),
                "pem": _certificate_pem(cert, cwhere, os.path.dirname(self.path)),
                "start": start,
                "end": end,
            })
        permissions = app.get("permissions") or {}
        for kind in ("delegated", "application"):
            for name in permissions.get(kind) or []:
                if resource_of_permission(name) is None:
                    raise TenantFileError("%s.permissions.%s: unknown permission %r" % (where, kind, name))
        consent = app.get("admin_consent", True)
        # Per-user consent (oAuth2PermissionGrant, consentType Principal): {upn: [delegated permission names]}.
        user_consent = {}
        for upn, names in (app.get("user_consent") or {}).items():
            for name in names or []:
                if resource_of_permission(name) is None:
                    raise TenantFileError("%s.user_consent.%s: unknown permission %r" % (where, upn, name))
            user_consent[str(upn).lower()] = list(names or [])
        return {
            "key": key,
            "client_id": str(_require(app, "client_id", where)).lower(),
            "object_id": str(_require(app, "object_id", where)).lower(),
            "service_principal_id": str(_require(app, "service_principal_id", where)).lower(),
            "display_name": app.get("display_name", key),
            "sign_in_audience": app.get("sign_in_audience", "AzureADMyOrg"),
            "redirect_uris": {
                "web": list((app.get("redirect_uris") or {}).get("web") or []),
                "spa": list((app.get("redirect_uris") or {}).get("spa") or []),
                "public_client": list((app.get("redirect_uris") or {}).get("public_client") or []),
            },
            "secrets": secrets,
            "certificates": certificates,
            "permissions": {
                "delegated": list(permissions.get("delegated") or []),
                "application": list(permissions.get("application") or []),
            },
            # True: every requested permission has admin consent; False: none; a list: these.
            "admin_consent": consent,
            "user_consent": user_consent,
            "exchange_admin_role": _exchange_roles(app.get("exchange_admin_role", False), where),
            # allowPublicClient: a public client may redeem grants without a secret.
            "public_client": bool(app.get("public_client", False)),
        }

    def _load_user(self, upn, user):
        where = "%s: users.%s" % (self.path, upn)
        mailbox = user.get("mailbox")
        if mailbox is not None:
            mailbox = {
                "type": mailbox.get("type", "user"),
                "imap_enabled": bool(mailbox.get("imap_enabled", True)),
                "pop_enabled": bool(mailbox.get("pop_enabled", True)),
                "smtp_client_authentication_disabled": mailbox.get("smtp_client_authentication_disabled"),
                "full_access": [a.lower() for a in mailbox.get("full_access") or []],
                "full_access_deny": [a.lower() for a in mailbox.get("full_access_deny") or []],
                # Send As grants on this mailbox (UPNs): Get-RecipientPermission shows them; submission enforces them.
                "send_as": [a.lower() for a in mailbox.get("send_as") or []],
            }
        licenses = []
        for index, lic in enumerate(user.get("licenses") or []):
            lwhere = "%s.licenses[%d]" % (where, index)
            licenses.append({
                "sku": str(_require(lic, "sku", lwhere)),
                "sku_id": str(lic.get("sku_id", "6fd2c87f-b296-42f0-b197-1e91e994b900")),
                "service_plans": dict(lic.get("service_plans") or {}),
            })
        # mail: the primary SMTP address (default the UPN); proxy_addresses: every SMTP address (default [mail]).
        # A mailbox address that is not the UPN is a proxy address (hybrid tenants): Graph's /users/{key} takes
        # only an id or a UPN, so tenant_info resolves it by $filter (issue 12).
        mail = str(user.get("mail") or upn).lower()
        proxy_addresses = [str(a).lower() for a in user.get("proxy_addresses") or []]
        if mail not in proxy_addresses:
            proxy_addresses.insert(0, mail)
        return {
            "upn": upn,
            "mail": mail,
            "proxy_addresses": proxy_addresses,
            "object_id": str(_require(user, "object_id", where)).lower(),
            "display_name": user.get("display_name", upn),
            "account_enabled": bool(user.get("account_enabled", True)),
            "password": user.get("password"),
            "mfa_required": bool(user.get("mfa_required", False)),
            # A guest (B2B) or a token_version 1 user gets a v1.0-shaped access token: unique_name, no upn.
            "guest": bool(user.get("guest", False)),
            "token_version": 1 if user.get("guest") else int(user.get("token_version", 2)),
            "tokens_valid_from": _tokens_valid_from(user, where),
            "licenses": licenses,
            "mailbox": mailbox,
            # signInActivity in days ago (last_sign_in_days_ago, last_non_interactive_days_ago,
            # last_successful_days_ago); unset: derived from the sign_ins records.
            "sign_in_activity": dict(user.get("sign_in_activity") or {}),
        }

    def _load_refresh_token(self, key, token):
        where = "%s: refresh_tokens.%s" % (self.path, key)
        app_key = _require(token, "application", where)
        if app_key not in self.applications:
            raise TenantFileError("%s: application %r is not in applications" % (where, app_key))
        now = datetime.datetime.now(datetime.timezone.utc)
        return {
            "key": key,
            "value": str(_require(token, "value", where)),
            "user": str(_require(token, "user", where)).lower(),
            "application": app_key,
            "scopes": list(token.get("scopes") or []),
            "issued": now - datetime.timedelta(days=float(token.get("issued_days_ago", 1))),
            "last_used": now - datetime.timedelta(days=float(token.get("last_used_days_ago", 0))),
        }

    def _load_sign_in(self, key, record):
        """One sign-in record: the app (a key of applications, default ECE's), the user, when (days_ago), the
        address, the AADSTS code (0: success) and whether it was interactive."""
        where = "%s: sign_ins.%s" % (self.path, key)
        if not isinstance(record, dict):
            raise TenantFileError("%s: a mapping, not %r" % (where, record))
        app_key = record.get("application") or self.ece.get("application")
        if app_key not in self.applications:
            raise TenantFileError("%s: application %r is not in applications" % (where, app_key))
        user = str(_require(record, "user", where)).lower()
        known = self.user(user)
        now = datetime.datetime.now(datetime.timezone.utc)
        code = int(record.get("error_code", 0))
        return {
            "key": key, "application": app_key,
            "user_id": known["object_id"] if known else str(record.get("user_id") or user),
            "upn": known["upn"] if known else user,
            "display_name": known["display_name"] if known else user,
            "time": now - datetime.timedelta(days=float(_require(record, "days_ago", where))),
            "ip": str(record.get("ip", "10.231.8.11")),
            "error_code": code,
            "failure_reason": record.get("failure_reason") or ("Other." if code == 0 else "AADSTS%d" % code),
            "interactive": bool(record.get("interactive", False)),
            "resource": record.get("resource", "Office 365 Exchange Online"),
        }

    def sign_in_activity(self, user):
        """The user's signInActivity: from users.<upn>.sign_in_activity (days ago), else from the sign_ins records
        of any app (all of them, older than the log's retention too)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        given = user.get("sign_in_activity") or {}
        own = [r for r in self.sign_ins if r["user_id"] == user["object_id"]]

        def latest(records, key):
            if given.get(key) is not None:
                return now - datetime.timedelta(days=float(given[key]))
            times = [r["time"] for r in records]
            return max(times) if times else None
        return {
            "lastSignInDateTime": latest([r for r in own if r["interactive"]], "last_sign_in_days_ago"),
            "lastNonInteractiveSignInDateTime": latest([r for r in own if not r["interactive"]],
                                                       "last_non_interactive_days_ago"),
            "lastSuccessfulSignInDateTime": latest([r for r in own if r["error_code"] == 0],
                                                   "last_successful_days_ago"),
        }

    # -- look-ups ------------------------------------------------------------------------
    def application_by_client_id(self, client_id):
        client_id = (client_id or "").lower()
        for app in self.applications.values():
            if app["client_id"] == client_id:
                return app
        return None

    def application_by_sp_id(self, sp_id):
        for app in self.applications.values():
            if app["service_principal_id"] == (sp_id or "").lower():
                return app
        return None

    def user(self, name):
        """A user by UPN, object id, primary address or another of its SMTP addresses."""
        name = (name or "").lower()
        if name in self.users:
            return self.users[name]
        for user in self.users.values():
            if user["object_id"] == name:
                return user
        for user in self.users.values():
            if name == user["mail"] or name in user["proxy_addresses"]:
                return user
        return None

    def matches_tenant(self, value):
        value = (value or "").lower()
        return value in (self.tenant_id, self.domain, self.initial_domain, "organizations", "common")

    def consented(self, app, kind, permission, user=None):
        """Admin consent (AllPrincipals) for PERMISSION, or for a delegated one USER's own consent (Principal)."""
        consent = app["admin_consent"]
        if consent is True and permission in app["permissions"][kind]:
            return True
        if isinstance(consent, (list, tuple)) and permission in consent:
            return True
        if kind == "delegated" and user is not None:
            return permission in app.get("user_consent", {}).get(user["upn"], [])
        return False

    def smtp_auth_enabled(self, mailbox):
        """Effective SMTP AUTH: the mailbox setting when set, else the tenant's."""
        value = mailbox["smtp_client_authentication_disabled"]
        if value is None:
            value = self.smtp_client_authentication_disabled
        return not value

    def has_mailbox(self, user):
        """Exchange Online holds a mailbox: a shared one needs no licence, a user one needs a plan."""
        mailbox = user["mailbox"]
        return bool(mailbox) and (mailbox["type"] == "shared" or self.has_exchange_plan(user))

    def may_send_as(self, account, sender):
        """Exchange's Send As check at submission: the account is the sender's own mailbox, or holds Send As on it."""
        account, owner = self.user(account), self.user(sender)
        if account is None or owner is None or owner["mailbox"] is None:
            return False
        return account is owner or account["upn"] in owner["mailbox"]["send_as"]

    def has_exchange_plan(self, user):
        """A plan that gives a mailbox, provisioned (EXCHANGE_S_FOUNDATION and its kin give none)."""
        for lic in user["licenses"]:
            for plan, status in lic["service_plans"].items():
                if plan.startswith("EXCHANGE_S_") and plan not in NO_MAILBOX_PLANS and status == "Success":
                    return True
        return False


def resource_of_permission(name):
    """The resource app id that publishes permission NAME, or None when no resource does."""
    for app_id, resource in RESOURCES.items():
        if name in resource["delegated"] or name in resource["application"]:
            return app_id
    return None


def resource_of_audience(audience):
    for app_id, resource in RESOURCES.items():
        if audience in resource["audiences"]:
            return app_id
    return None


def split_scope(scope):
    """Map a requested scope to (audience, permission name).

    'https://outlook.office.com/SMTP.Send' -> ('https://outlook.office.com', 'SMTP.Send');
    a bare name means Microsoft Graph, as it does at Entra's token endpoint; an OIDC scope
    has no audience. An unknown resource prefix gives (None, scope).
    """
    if scope in OIDC_SCOPES:
        return None, scope
    if "/" in scope:
        prefix, name = scope.rsplit("/", 1)
        return (prefix if resource_of_audience(prefix) else None), name
    return GRAPH_AUDIENCE, scope


def load(path):
    return Tenant(_read_yaml(path, frozenset()), path=os.path.abspath(path))
