# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailbox_settings against the lab's Exchange admin API: protocol switches, effective SMTP AUTH,
FullAccess for the shared model, 401/403 with what is missing, paging and throttling."""

import json

from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_settings
from identity_helpers import lab_auth, run_module, variant

MAILBOXES = [{"mailbox": "support@contoso.example"},
             {"mailbox": "sales@contoso.example", "account": "ece.service@contoso.example"}]


def read(lab, tenant, app_key="preflight", mailboxes=None, **extra):
    args = lab_auth(lab, tenant, app_key, exchange_url=lab["exchange_url"], mailboxes=mailboxes or MAILBOXES,
                    **extra)
    args["tenant"] = tenant.tenant_id
    result = run_module(mailbox_settings, args)
    assert result["changed"] is False
    return result, {m["mailbox"]: m for m in result["mailboxes"]}


def test_healthy(lab, scenarios):
    tenant = scenarios.use("healthy")
    result, boxes = read(lab, tenant)
    assert result["error"] is None, result["message"]
    assert result["transport_config"]["smtp_client_authentication_disabled"] is False
    support, sales = boxes["support@contoso.example"], boxes["sales@contoso.example"]
    assert support["exists"] and support["imap_enabled"] and support["pop_enabled"]
    assert support["smtp_auth_enabled"] is True and support["smtp_auth_source"] == "tenant"
    assert sales["full_access"] == ["ece.service@contoso.example"] and sales["account_has_full_access"] is True
    assert result["token"]["roles"] == ["Exchange.ManageAsApp"]
    secret = tenant.applications["preflight"]["secrets"][0]["value"]
    assert secret not in json.dumps(result)


def test_effective_smtp_auth_both_ways(lab, scenarios, tmp_path):
    tenant = scenarios.use("smtp-auth-tenant-off-mailbox-on")
    _result, boxes = read(lab, tenant)
    assert boxes["support@contoso.example"]["smtp_auth_enabled"] is True
    assert boxes["support@contoso.example"]["smtp_auth_source"] == "mailbox"
    assert boxes["sales@contoso.example"]["smtp_auth_enabled"] is False
    assert boxes["sales@contoso.example"]["smtp_auth_source"] == "tenant"
    tenant = scenarios.use(variant(tmp_path, "users:\n  support@contoso.example:\n    mailbox: "
                                             "{smtp_client_authentication_disabled: true}\n"))
    _result, boxes = read(lab, tenant)
    assert boxes["support@contoso.example"]["smtp_auth_enabled"] is False
    assert boxes["support@contoso.example"]["smtp_auth_source"] == "mailbox"


def test_imap_disabled_licence_missing_and_no_fullaccess(lab, scenarios):
    tenant = scenarios.use("imap-disabled")
    assert read(lab, tenant)[1]["support@contoso.example"]["imap_enabled"] is False
    tenant = scenarios.use("no-exchange-licence")
    result, boxes = read(lab, tenant)
    assert boxes["support@contoso.example"]["exists"] is False and result["error"] is None
    tenant = scenarios.use("shared-no-fullaccess")
    sales = read(lab, tenant)[1]["sales@contoso.example"]
    assert sales["full_access"] == [] and sales["account_has_full_access"] is False


def test_deny_entries_are_flagged(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "users:\n  sales@contoso.example:\n    mailbox:\n      full_access: "
                                             "[ece.service@contoso.example]\n      full_access_deny: "
                                             "[ece.service@contoso.example]\n"))
    sales = read(lab, tenant)[1]["sales@contoso.example"]
    assert sales["full_access_denied"] == ["ece.service@contoso.example"]
    assert sales["account_has_full_access"] is False


def test_missing_role_is_403_with_what_is_missing(lab, scenarios):
    tenant = scenarios.use("exchange-role-missing")
    result, _boxes = read(lab, tenant)
    assert result["error"] == "forbidden"
    assert "Exchange.ManageAsApp" in result["message"] and "Exchange administrator role" in result["message"]


def test_app_without_exchange_permission_is_refused(lab, scenarios):
    tenant = scenarios.use("healthy")
    result, _boxes = read(lab, tenant, app_key="ece-mail")  # ECE's own app: no application permissions
    assert result["error"] == "forbidden" and result["token"]["roles"] == []


def test_paging(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab:\n  page_size: 1\n"))
    result, boxes = read(lab, tenant)
    assert result["error"] is None and len(boxes["sales@contoso.example"]["full_access"]) == 1
    assert result["calls"]["calls"] >= 5, "Get-MailboxPermission pages one entry at a time"


def test_bad_arguments(lab, scenarios):
    tenant = scenarios.use("healthy")
    args = lab_auth(lab, tenant, "preflight", exchange_url=lab["exchange_url"], mailboxes=MAILBOXES)
    result = run_module(mailbox_settings, args)
    assert result["failed"] and "tenant is required" in result["msg"]
