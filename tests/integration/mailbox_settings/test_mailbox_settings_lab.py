# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailbox_settings against the lab's Exchange admin API: protocol switches, both SMTP AUTH settings as read,
every FullAccess entry (Deny and SELF included) for the shared model, 401/403 with what is missing, paging."""

import json

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
    assert result["token"]["roles"] == ["Exchange.ManageAsApp"]
    secret = tenant.applications["preflight"]["secrets"][0]["value"]
    assert secret not in json.dumps(result)


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
    assert "Exchange.ManageAsApp" in result["message"] and "Exchange administrator role" in result["message"]
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
    assert result["calls"]["calls"] >= 5, "Get-MailboxPermission pages one entry at a time"


def test_the_old_mailbox_key_still_works(lab, scenarios):
    tenant = scenarios.use("healthy")
    result, boxes = read(lab, tenant, mailboxes=[{"mailbox": "support@contoso.example"}])
    assert result["ok"] and list(boxes) == ["support@contoso.example"] and boxes["support@contoso.example"]["exists"]


def test_bad_arguments(lab, scenarios):
    tenant = scenarios.use("healthy")
    args = lab_auth(lab, tenant, "preflight", exchange_url=lab["exchange_url"], mailboxes=MAILBOXES)
    result = run_module(mailbox_settings, args)
    assert result["failed"] and "tenant is required" in result["msg"]
