# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailbox_settings against the lab's Exchange admin API: protocol switches, both SMTP AUTH settings as read,
every FullAccess and Send As entry (Deny and SELF included) for the shared model, the Get-Mailbox identity facts,
the anchor header, the cause inside an error, the roles per cmdlet, 401/403 with what is missing, paging."""

import json
import ssl
import urllib.request

from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_settings
from identity_helpers import lab_auth, run_module, variant

MAILBOXES = [{"address": "support@contoso.example"},
             {"address": "sales@contoso.example", "account": "ece.service@contoso.example"}]
SELF = "NT AUTHORITY\\SELF"


def read(lab, tenant, app_key="preflight", mailboxes=None, **extra):
    args = lab_auth(lab, tenant, app_key, exchange_url=lab["exchange_url"], mailboxes=mailboxes or MAILBOXES,
                    **extra)
    args["tenant"] = tenant.tenant_id
    result = run_module(mailbox_settings, args)
    assert result["changed"] is False
    return result, {m["address"]: m for m in result["mailboxes"]}


def holders(mailbox, deny=False):
    """The FullAccess holders of MAILBOX as read (Deny entries when DENY), the mailbox's own SELF entry left out."""
    return [e["user"] for e in mailbox["full_access"] if bool(e["deny"]) is deny and e["user"] != SELF]


def test_healthy(lab, scenarios):
    tenant = scenarios.use("healthy")
    result, boxes = read(lab, tenant)
    assert result["ok"] is True and result["error_class"] is None, result["message"]
    assert result["transport_config"]["smtp_client_authentication_disabled"] is False
    assert result["transport_config"]["ok"] is True
    support, sales = boxes["support@contoso.example"], boxes["sales@contoso.example"]
    assert support["ok"] and support["account"] == "support@contoso.example"
    assert support["exists"] and support["imap_enabled"] and support["pop_enabled"]
    assert support["smtp_client_authentication_disabled"] is None, "the tenant's setting applies"
    assert sales["account"] == "ece.service@contoso.example"
    assert sales["full_access"] == [
        {"user": SELF, "access_rights": ["FullAccess", "ReadPermission"], "deny": False, "is_inherited": False},
        {"user": "ece.service@contoso.example", "access_rights": ["FullAccess"], "deny": False, "is_inherited": False}]
    for removed in ("smtp_auth_enabled", "smtp_auth_source", "account_has_full_access", "full_access_denied",
                    "mailbox", "error"):
        assert removed not in sales, removed
    assert sales["send_as"] == [
        {"trustee": SELF, "access_rights": ["SendAs"], "deny": False, "is_inherited": False},
        {"trustee": "ece.service@contoso.example", "access_rights": ["SendAs"], "deny": False, "is_inherited": False}]
    assert sales["send_as_read"]["ok"] is True
    assert (sales["recipient_type_details"], support["recipient_type_details"]) == ("SharedMailbox", "UserMailbox")
    assert sales["external_directory_object_id"] == tenant.users["sales@contoso.example"]["object_id"]
    assert (sales["primary_smtp_address"], sales["user_principal_name"]) == ("sales@contoso.example",) * 2
    assert result["token"]["roles"] == ["Exchange.ManageAsApp"]
    secret = tenant.applications["preflight"]["secrets"][0]["value"]
    assert secret not in json.dumps(result)


def _invocations(lab):
    context = ssl.create_default_context(cafile=lab["ca"])
    with urllib.request.urlopen(lab["exchange_url"] + "/lab/invocations", context=context, timeout=10) as reply:
        return json.loads(reply.read())["value"]


def test_the_anchor_header_goes_with_every_call(lab, scenarios):
    tenant = scenarios.use("healthy")
    before = len(_invocations(lab))
    result, _boxes = read(lab, tenant)
    records = _invocations(lab)
    calls = result["calls"]["calls"]
    # 1 transport config + 4 cmdlets for support@, sales@ and ece.service@ (the account that signs in to SMTP)
    assert calls == 13 and len(records) - before == calls, "every InvokeCommand recorded (it keeps the last 500)"
    anchor = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + tenant.tenant_id
    assert [r["anchor"] for r in records[-calls:]] == [anchor] * calls
    assert [r["cmdlet"] for r in records[-4:]] == ["Get-CASMailbox", "Get-Mailbox", "Get-MailboxPermission",
                                                   "Get-RecipientPermission"]


def test_send_as_missing_for_the_shared_model(lab, scenarios):
    tenant = scenarios.use("exchange-send-as-missing")
    result, boxes = read(lab, tenant)
    sales = boxes["sales@contoso.example"]
    assert result["ok"] is True and [e["trustee"] for e in sales["send_as"]] == [SELF]
    assert holders(sales) == ["ece.service@contoso.example"], "FullAccess stays: it can read, not send as"


def test_a_mailbox_found_by_its_address_when_the_upn_differs(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "users:\n  sales@contoso.example:\n    mail: sales@contoso.com\n"
                                             "    proxy_addresses: [SMTP:sales@contoso.com, "
                                             "smtp:vertrieb@contoso.com]\n"))
    result, boxes = read(lab, tenant, mailboxes=[{"address": "vertrieb@contoso.com",
                                                  "account": "ece.service@contoso.example"}])
    box = boxes["vertrieb@contoso.com"]
    assert result["ok"] is True and box["exists"] is True
    assert (box["primary_smtp_address"], box["user_principal_name"]) == ("sales@contoso.com", "sales@contoso.example")
    assert box["external_directory_object_id"] == tenant.users["sales@contoso.example"]["object_id"]


def test_global_reader_reads_all_but_send_as(lab, scenarios):
    tenant = scenarios.use("exchange-role-global-reader")
    result, boxes = read(lab, tenant)
    sales = boxes["sales@contoso.example"]
    assert result["transport_config"]["ok"] is True and sales["ok"] is True and sales["imap_enabled"] is True
    assert sales["send_as"] is None and sales["send_as_read"]["error_class"] == "forbidden"
    assert sales["send_as_read"]["graph_error"]["status"] == 401
    assert "Exchange Recipient Administrator" in sales["send_as_read"]["message"]
    assert result["ok"] is False and result["error_class"] == "forbidden"
    assert [e["cmdlet"] for e in result["errors"]] == ["Get-RecipientPermission"] * 3, "with the account's own"


def test_recipient_administrator_reads_all_but_the_transport_config(lab, scenarios):
    tenant = scenarios.use("exchange-role-recipient-admin")
    result, boxes = read(lab, tenant)
    config = result["transport_config"]
    assert config["ok"] is False and config["error_class"] == "forbidden" and config["graph_error"]["status"] == 401
    assert "Global Reader" in config["message"] and config["graph_error"]["cmdlet"] == "Get-TransportConfig"
    assert boxes["sales@contoso.example"]["ok"] is True and boxes["sales@contoso.example"]["send_as"] is not None
    tenant = scenarios.use("exchange-role-least-privilege")
    result, _boxes = read(lab, tenant)
    assert result["ok"] is True and result["errors"] == [], result["message"]


def test_the_cause_inside_an_error_is_reported(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab:\n  exchange_fail: {Get-CASMailbox: 'The lab says why.'}\n"))
    result, boxes = read(lab, tenant)
    support = boxes["support@contoso.example"]
    assert support["ok"] is False and support["graph_error"]["cause"] == "The lab says why."
    assert support["graph_error"]["cmdlet"] == "Get-CASMailbox" and support["graph_error"]["status"] == 400
    assert "Invalid Operation" in support["message"] and "cause: The lab says why." in support["message"]
    assert "cause: The lab says why." in result["message"]


def test_both_smtp_auth_settings_as_read(lab, scenarios, tmp_path):
    tenant = scenarios.use("smtp-auth-tenant-off-mailbox-on")
    result, boxes = read(lab, tenant)
    assert result["transport_config"]["smtp_client_authentication_disabled"] is True
    assert boxes["support@contoso.example"]["smtp_client_authentication_disabled"] is False
    assert boxes["sales@contoso.example"]["smtp_client_authentication_disabled"] is None
    tenant = scenarios.use(variant(tmp_path, "users:\n  support@contoso.example:\n    mailbox: "
                                             "{smtp_client_authentication_disabled: true}\n"))
    result, boxes = read(lab, tenant)
    assert result["transport_config"]["smtp_client_authentication_disabled"] is False
    assert boxes["support@contoso.example"]["smtp_client_authentication_disabled"] is True


def test_imap_disabled_licence_missing_and_no_fullaccess(lab, scenarios):
    tenant = scenarios.use("imap-disabled")
    assert read(lab, tenant)[1]["support@contoso.example"]["imap_enabled"] is False
    tenant = scenarios.use("no-exchange-licence")
    result, boxes = read(lab, tenant)
    assert boxes["support@contoso.example"]["exists"] is False and boxes["support@contoso.example"]["ok"] is True
    assert result["error_class"] is None
    tenant = scenarios.use("shared-no-fullaccess")
    sales = read(lab, tenant)[1]["sales@contoso.example"]
    assert holders(sales) == [] and [e["user"] for e in sales["full_access"]] == [SELF]


def test_deny_entries_are_returned_beside_the_grant(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "users:\n  sales@contoso.example:\n    mailbox:\n      full_access: "
                                             "[ece.service@contoso.example]\n      full_access_deny: "
                                             "[ece.service@contoso.example]\n"))
    sales = read(lab, tenant)[1]["sales@contoso.example"]
    assert holders(sales) == ["ece.service@contoso.example"]
    assert holders(sales, deny=True) == ["ece.service@contoso.example"]


def test_missing_role_is_403_with_what_is_missing(lab, scenarios):
    tenant = scenarios.use("exchange-role-missing")
    result, boxes = read(lab, tenant)
    assert result["ok"] is False and result["error_class"] == "forbidden"
    assert "Exchange.ManageAsApp" in result["message"] and "Exchange Recipient Administrator" in result["message"]
    support = boxes["support@contoso.example"]
    assert support["ok"] is False and support["error_class"] == "forbidden" and support["exists"] is None
    assert support["graph_error"]["status"] == 403 and "Exchange.ManageAsApp" in support["graph_error"]["permission"]
    assert result["transport_config"]["error_class"] == "forbidden"


def test_app_without_exchange_permission_is_refused(lab, scenarios):
    tenant = scenarios.use("healthy")
    result, _boxes = read(lab, tenant, app_key="ece-mail")  # ECE's own app: no application permissions
    assert result["error_class"] == "forbidden" and result["token"]["roles"] == []


def test_paging(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab:\n  page_size: 1\n"))
    result, boxes = read(lab, tenant)
    assert result["error_class"] is None and len(boxes["sales@contoso.example"]["full_access"]) == 2
    assert len(boxes["sales@contoso.example"]["send_as"]) == 2
    # 1 transport config + support@ 4 (one entry each) + sales@ 6 (two pages of FullAccess and of Send As)
    # + ece.service@ 4 (the account that signs in to SMTP for sales@, read for its own SMTP AUTH setting)
    assert result["calls"]["calls"] == 15, "Get-MailboxPermission and Get-RecipientPermission page one entry at a time"


def test_the_old_mailbox_key_still_works(lab, scenarios):
    tenant = scenarios.use("healthy")
    result, boxes = read(lab, tenant, mailboxes=[{"mailbox": "support@contoso.example"}])
    assert result["ok"] and list(boxes) == ["support@contoso.example"] and boxes["support@contoso.example"]["exists"]


def test_bad_arguments(lab, scenarios):
    tenant = scenarios.use("healthy")
    args = lab_auth(lab, tenant, "preflight", exchange_url=lab["exchange_url"], mailboxes=MAILBOXES)
    result = run_module(mailbox_settings, args)
    assert result["failed"] and "tenant is required" in result["msg"]
