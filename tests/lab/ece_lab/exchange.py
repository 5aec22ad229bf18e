# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Exchange Online admin API as the lab serves it (outlook.office365.com/adminapi/beta/{tenant}/InvokeCommand).

What it follows, with the sources (docs/exchange-admin-api.md has them all):
- The roles: an app with Exchange.ManageAsApp and no supported directory role gets 403; a role that does not hold
  a cmdlet gets 401 "User is not allowed to call <cmdlet>" (office-docs-powershell issue 8058). Global Reader
  (View-Only Organization Management) reads everything here but Get-RecipientPermission (issues 9428, 7365);
  Exchange Recipient Administrator (Recipient Management) everything but Get-TransportConfig
  (learn.microsoft.com/en-us/exchange/permissions-exo/permissions-exo).
- Errors say little in error.message ("Invalid Operation"); the cause is in error.details[0].message and
  error.innererror.internalexception.message, where its callers read it (CIPP-API New-ExoRequest.ps1).
- Identity takes any of a recipient's addresses or its UPN (Get-RecipientPermission.md, Get-MailboxPermission.md).
- Every InvokeCommand's X-AnchorMailbox is recorded; GET /lab/invocations (a lab-only path) lists the records.
"""

import collections
import json
import threading
import urllib.parse

from .httpd import HTTPError, _ProtectedApp
from .tenant import EXCHANGE_APP_ID

ADMIN_API_AUDIENCE = "https://outlook.office365.com"
SELF = "NT AUTHORITY\\SELF"
GENERIC = "Invalid Operation"
ODATA_ERROR = "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
ALL = ("Get-TransportConfig", "Get-Mailbox", "Get-CASMailbox", "Get-MailboxPermission", "Get-RecipientPermission")
_MAILBOX_READS = ("Get-Mailbox", "Get-CASMailbox", "Get-MailboxPermission")
# Which of the cmdlets served here each supported Entra role reads (through the Exchange role group it maps to).
ROLE_CMDLETS = {
    "Global Administrator": ALL,                       # Organization Management
    "Exchange Administrator": ALL,                     # Organization Management
    "Global Reader": ("Get-TransportConfig",) + _MAILBOX_READS,            # View-Only Organization Management
    "Helpdesk Administrator": ("Get-TransportConfig",) + _MAILBOX_READS,   # View-Only Organization Management
    "Compliance Administrator": ("Get-TransportConfig",) + _MAILBOX_READS,  # View-Only Configuration, Recipients
    "Exchange Recipient Administrator": _MAILBOX_READS + ("Get-RecipientPermission",),  # Recipient Management
    "Security Administrator": (),                      # Security Admin: none of these
    "Security Reader": (),                             # Security Reader: none of these
}
PARAMETERS = {"Get-TransportConfig": (), "Get-Mailbox": ("Identity", "ResultSize"),
              "Get-CASMailbox": ("Identity", "ResultSize"), "Get-MailboxPermission": ("Identity", "ResultSize"),
              "Get-RecipientPermission": ("Identity", "AccessRights", "ResultSize", "Trustee")}
RECORDS_KEPT = 500


class ExchangeAdminApp(_ProtectedApp):
    """outlook.office365.com/adminapi/beta/{tenant}/InvokeCommand: the cmdlets the preflight reads."""

    audience = ADMIN_API_AUDIENCE

    def __init__(self, tenant, issuer):
        super().__init__(tenant, issuer)
        self.records = collections.deque(maxlen=RECORDS_KEPT)  # survives tenant switches (same app)
        self._lock = threading.Lock()

    def _unauthorized(self, message):
        return HTTPError(401, b"", {"WWW-Authenticate": 'Bearer client_id="%s", error="invalid_token", '
                                    'error_description="%s"' % (EXCHANGE_APP_ID, message),
                                    "Content-Type": "text/plain"})

    def __call__(self, method, url, headers, body):
        parts = [p for p in url.path.split("/") if p]
        if parts == ["lab", "invocations"] and method == "GET":
            with self._lock:
                return 200, {"value": list(self.records)}, {}
        if len(parts) != 4 or parts[:2] != ["adminapi", "beta"] or parts[3] != "InvokeCommand" or method != "POST":
            raise HTTPError(404, _admin_error("NotFound", "The requested resource does not exist: %s" % url.path))
        if not self.tenant.matches_tenant(parts[2]):
            raise HTTPError(400, _admin_error("BadRequest", "Tenant '%s' not found." % parts[2]))
        claims = self._claims(headers)
        app = self.tenant.application_by_client_id(claims.get("appid"))
        try:
            cmdlet = json.loads(body or b"{}")["CmdletInput"]
            name, params = cmdlet["CmdletName"], cmdlet.get("Parameters") or {}
        except (ValueError, KeyError, TypeError):
            raise HTTPError(400, _admin_error("BadRequest", "The request body must be {\"CmdletInput\": "
                                              "{\"CmdletName\": ..., \"Parameters\": {...}}}."))
        with self._lock:
            identity = params.get("Identity") if isinstance(params, dict) else None
            self.records.append({"cmdlet": name, "identity": identity, "anchor": headers.get("X-AnchorMailbox"),
                                 "tenant": parts[2]})
        if "Exchange.ManageAsApp" not in claims.get("roles", []) or app is None or not app["exchange_admin_role"]:
            raise HTTPError(403, _admin_error(
                "Forbidden", "The role assigned to application %s isn't supported in this scenario. Please check "
                "online documentation for assigning correct Directory Roles to Azure AD Application for EXO App "
                "Only Authentication." % claims.get("appid"), generic=None))
        handlers = {"Get-CASMailbox": self._cas_mailbox, "Get-TransportConfig": self._transport_config,
                    "Get-MailboxPermission": self._mailbox_permission, "Get-Mailbox": self._mailbox,
                    "Get-RecipientPermission": self._recipient_permission}
        if name not in handlers:
            raise HTTPError(400, _admin_error("BadRequest", "The term '%s' is not recognized as a cmdlet." % name))
        if not any(name in ROLE_CMDLETS.get(role, ()) for role in app["exchange_admin_role"]):
            # https://github.com/MicrosoftDocs/office-docs-powershell/issues/8058 (HTTP 401, the text twice)
            text = "User is not allowed to call %s" % name
            raise HTTPError(401, {"error": {"code": "Unauthorized", "message": text,
                                            "innererror": {"message": text, "type": ODATA_ERROR}}})
        unknown = sorted(set(params) - set(PARAMETERS[name])) if isinstance(params, dict) else ["?"]
        if unknown:
            raise HTTPError(400, _admin_error("BadRequest", "A parameter cannot be found that matches parameter name "
                                              "'%s'." % unknown[0]))
        failure = ((self.tenant.raw.get("lab") or {}).get("exchange_fail") or {}).get(name)
        if failure:  # lab.exchange_fail: {<cmdlet>: <cause>}: the cmdlet fails with that cause inside the error
            raise HTTPError(400, _admin_error("BadRequest", str(failure)))
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

    # -- recipients ------------------------------------------------------------------------
    def _resolve(self, name):
        """A user by any name Exchange takes for Identity, Trustee or User: UPN, primary or proxy address, id."""
        name = (name or "").lower()
        for user in self.tenant.users.values():
            if name in [user["upn"], user["object_id"]] + self._addresses(user):
                return user
        return None

    def _addresses(self, user):
        raw = {k.lower(): v for k, v in (self.tenant.raw.get("users") or {}).items()}.get(user["upn"]) or {}
        return _addresses(user, raw)

    def _mailboxes(self, params):
        identity = params.get("Identity")
        users = [u for u in self.tenant.users.values() if self.tenant.has_mailbox(u)]
        if identity is None:
            return users
        user = self._resolve(identity)
        if user is None or user not in users:
            raise HTTPError(404, _admin_error(
                "NotFound", "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The "
                "operation couldn't be performed because object '%s' couldn't be found on "
                "'AM0PR01A001DC01.EURPR01A001.prod.outlook.com'." % identity))
        return [user]

    def _shown(self, name):
        """A grant's holder as Exchange shows it: the user's UPN (the name as written when no user has it)."""
        user = self._resolve(name)
        return user["upn"] if user else name

    def _mailbox(self, params):
        out = []
        for user in self._mailboxes(params):
            addresses = self._addresses(user)
            kind = "SharedMailbox" if user["mailbox"]["type"] == "shared" else "UserMailbox"
            out.append({"Identity": user["display_name"], "DisplayName": user["display_name"],
                        "UserPrincipalName": user["upn"], "PrimarySmtpAddress": addresses[0],
                        "ExternalDirectoryObjectId": user["object_id"], "RecipientTypeDetails": kind,
                        "EmailAddresses": ["SMTP:%s" % addresses[0]] + ["smtp:%s" % a for a in addresses[1:]]})
        return out

    def _cas_mailbox(self, params):
        return [{"Identity": u["display_name"], "PrimarySmtpAddress": self._addresses(u)[0],
                 "ExternalDirectoryObjectId": u["object_id"],
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
            out.append({"Identity": user["display_name"], "User": SELF,
                        "AccessRights": ["FullAccess", "ReadPermission"], "IsInherited": False, "Deny": False,
                        "InheritanceType": "All"})
            for holder, deny in [(h, False) for h in user["mailbox"]["full_access"]] + \
                                [(h, True) for h in user["mailbox"]["full_access_deny"]]:
                out.append({"Identity": user["display_name"], "User": self._shown(holder),
                            "AccessRights": ["FullAccess"], "IsInherited": False, "Deny": deny,
                            "InheritanceType": "All"})
        return out

    def _recipient_permission(self, params):
        """Send As entries: Identity, Trustee, AccessControlType, AccessRights, IsInherited, InheritanceType."""
        rights = params.get("AccessRights")
        rights = [rights] if isinstance(rights, str) else list(rights or ["SendAs"])
        if "sendas" not in [str(r).lower() for r in rights]:
            return []
        out = []
        for user in self._mailboxes(params):
            trustees = [SELF] + [self._shown(t) for t in user["mailbox"].get("send_as", [])]
            for trustee in trustees:
                out.append({"Identity": user["display_name"], "Trustee": trustee, "AccessControlType": "Allow",
                            "AccessRights": ["SendAs"], "IsInherited": False, "InheritanceType": "None"})
        if params.get("Trustee"):
            wanted = self._shown(params["Trustee"])
            out = [entry for entry in out if entry["Trustee"] == wanted]
        return out


def _addresses(user, raw=None):
    """The user's SMTP addresses, primary first: users.<upn>.mail (default the UPN) and proxy_addresses (with or
    without the smtp: prefix), from the loaded user, else from RAW (the user's entry in the tenant file)."""
    raw = raw or {}
    primary = (user.get("mail") or raw.get("mail") or user["upn"]).lower()
    listed = user.get("proxy_addresses") or raw.get("proxy_addresses") or []
    proxies = [str(a).lower().split(":", 1)[-1] for a in listed]
    return [primary] + [a for a in proxies if a != primary]


def _admin_error(code, cause, generic=GENERIC):
    """The admin API's error body: error.message says little (GENERIC), the cause is in details and innererror.

    GENERIC None: the cause is the message too (the 403 for an unsupported role says it outright).
    """
    return {"error": {"code": code, "message": generic or cause.split("|")[-1],
                      "details": [{"code": "Context", "target": "", "message": cause}],
                      "innererror": {"message": cause, "type": ODATA_ERROR,
                                     "internalexception": {"message": cause, "type": ODATA_ERROR}}}}
