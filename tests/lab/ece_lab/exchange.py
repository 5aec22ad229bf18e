# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Exchange Online admin API as the lab serves it (outlook.office365.com/adminapi/beta/{tenant}/InvokeCommand)."""

import json
import urllib.parse

from .httpd import HTTPError, _ProtectedApp
from .tenant import EXCHANGE_APP_ID

ADMIN_API_AUDIENCE = "https://outlook.office365.com"


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
