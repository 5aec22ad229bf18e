# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's Exchange admin API as Microsoft's behaves (docs/exchange-admin-api.md has the sources): Send As through
Get-RecipientPermission, Get-Mailbox's identity facts, Identity by any address, roles per cmdlet with Microsoft's
401, errors with the cause inside, and the anchor header recorded."""

import os

EXO = "https://outlook.office365.com"
SELF = "NT AUTHORITY\\SELF"
ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"


def _variant(tmp_path, text):
    healthy = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios", "healthy.yml")
    path = tmp_path / "variant.yml"
    path.write_text("# a test variant of healthy\nextends: %s\n%s" % (healthy, text))
    return str(path)


def _trustees(reply):
    return [(p["Trustee"], p["AccessControlType"], p["AccessRights"]) for p in reply.json()["value"]]


def test_send_as_as_exchange_shows_it(use_scenario):
    s = use_scenario("healthy")
    token = s.preflight_token(EXO)
    reply = s.lab.exchange("Get-RecipientPermission", token, Identity="sales@contoso.example", AccessRights=["SendAs"])
    assert reply.status_code == 200
    assert _trustees(reply) == [(SELF, "Allow", ["SendAs"]), ("ece.service@contoso.example", "Allow", ["SendAs"])]
    entry = reply.json()["value"][1]
    assert set(entry) == {"Identity", "Trustee", "AccessControlType", "AccessRights", "IsInherited", "InheritanceType"}
    s = use_scenario("exchange-send-as-missing")
    reply = s.lab.exchange("Get-RecipientPermission", s.preflight_token(EXO), Identity="sales@contoso.example")
    assert _trustees(reply) == [(SELF, "Allow", ["SendAs"])]


def test_get_mailbox_identity_facts(use_scenario):
    s = use_scenario("healthy")
    token = s.preflight_token(EXO)
    sales = s.lab.exchange("Get-Mailbox", token, Identity="sales@contoso.example").json()["value"][0]
    assert sales["RecipientTypeDetails"] == "SharedMailbox" and sales["UserPrincipalName"] == "sales@contoso.example"
    assert sales["ExternalDirectoryObjectId"] == s.tenant.users["sales@contoso.example"]["object_id"]
    support = s.lab.exchange("Get-Mailbox", token, Identity="support@contoso.example").json()["value"][0]
    assert support["RecipientTypeDetails"] == "UserMailbox" and support["PrimarySmtpAddress"] == "support@contoso.example"


def test_identity_by_proxy_address_and_holders_shown_by_upn(use_scenario, tmp_path):
    s = use_scenario(_variant(tmp_path, "users:\n  sales@contoso.example:\n    mail: sales@contoso.com\n"
                                        "    proxy_addresses: ['SMTP:sales@contoso.com', 'smtp:vertrieb@contoso.com']\n"
                                        "    mailbox: {full_access: [ece.service@contoso.example], "
                                        "send_as: [ece.service@contoso.example]}\n"))
    token = s.preflight_token(EXO)
    for name in ("sales@contoso.com", "vertrieb@contoso.com", "sales@contoso.example"):
        box = s.lab.exchange("Get-Mailbox", token, Identity=name).json()["value"][0]
        assert box["UserPrincipalName"] == "sales@contoso.example" and box["PrimarySmtpAddress"] == "sales@contoso.com"
    perms = s.lab.exchange("Get-MailboxPermission", token, Identity="vertrieb@contoso.com").json()["value"]
    assert [p["User"] for p in perms] == [SELF, "ece.service@contoso.example"]


def test_roles_per_cmdlet_with_microsofts_401(use_scenario):
    s = use_scenario("exchange-role-global-reader")
    token = s.preflight_token(EXO)
    assert s.lab.exchange("Get-TransportConfig", token).status_code == 200
    assert s.lab.exchange("Get-MailboxPermission", token, Identity="sales@contoso.example").status_code == 200
    refused = s.lab.exchange("Get-RecipientPermission", token, Identity="sales@contoso.example")
    assert refused.status_code == 401 and "WWW-Authenticate" not in refused.headers
    assert refused.json()["error"] == {
        "code": "Unauthorized", "message": "User is not allowed to call Get-RecipientPermission",
        "innererror": {"message": "User is not allowed to call Get-RecipientPermission",
                       "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"}}
    s = use_scenario("exchange-role-recipient-admin")
    token = s.preflight_token(EXO)
    assert s.lab.exchange("Get-TransportConfig", token).json()["error"]["message"] == \
        "User is not allowed to call Get-TransportConfig"
    assert s.lab.exchange("Get-RecipientPermission", token, Identity="sales@contoso.example").status_code == 200
    s = use_scenario("exchange-role-least-privilege")
    token = s.preflight_token(EXO)
    for cmdlet in ("Get-TransportConfig", "Get-Mailbox", "Get-CASMailbox", "Get-MailboxPermission",
                   "Get-RecipientPermission"):
        params = {} if cmdlet == "Get-TransportConfig" else {"Identity": "sales@contoso.example"}
        assert s.lab.exchange(cmdlet, token, **params).status_code == 200, cmdlet


def test_errors_say_little_in_message_and_the_cause_inside(use_scenario, tmp_path):
    s = use_scenario("healthy")
    token = s.preflight_token(EXO)
    missing = s.lab.exchange("Get-Mailbox", token, Identity="ghost@contoso.example")
    error = missing.json()["error"]
    assert missing.status_code == 404 and error["message"] == "Invalid Operation"
    assert "ManagementObjectNotFoundException" in error["details"][0]["message"]
    assert error["innererror"]["internalexception"]["message"] == error["details"][0]["message"]
    bad = s.lab.exchange("Get-Mailbox", token, Identity="support@contoso.example", Foo="x").json()["error"]
    assert bad["message"] == "Invalid Operation" and "parameter name 'Foo'" in bad["details"][0]["message"]
    s = use_scenario(_variant(tmp_path, "lab:\n  exchange_fail: {Get-CASMailbox: 'The mailbox is being moved.'}\n"))
    failed = s.lab.exchange("Get-CASMailbox", s.preflight_token(EXO), Identity="support@contoso.example")
    assert failed.status_code == 400 and failed.json()["error"]["details"][0]["message"] == "The mailbox is being moved."


def test_the_anchor_header_is_recorded(use_scenario):
    s = use_scenario("healthy")
    anchor = ANCHOR % s.tenant.tenant_id
    url = "%s/adminapi/beta/%s/InvokeCommand" % (s.lab.state["exchange_url"], s.tenant.tenant_id)
    body = {"CmdletInput": {"CmdletName": "Get-TransportConfig", "Parameters": {}}}
    token = s.preflight_token(EXO)
    s.lab.session.post(url, json=body, headers={"Authorization": "Bearer " + token, "X-AnchorMailbox": anchor})
    s.lab.exchange("Get-TransportConfig", token)  # without the header
    records = s.lab.session.get(s.lab.state["exchange_url"] + "/lab/invocations").json()["value"]
    assert [(r["cmdlet"], r["anchor"]) for r in records[-2:]] == [
        ("Get-TransportConfig", anchor), ("Get-TransportConfig", None)]
