# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""signin_activity against the lab's Graph: ECE's sign-ins in Microsoft's shape, from the preflight's own app
(no ECE secret), the wrong owner, failing refreshes, a token idle past the log's retention, and the refusals
Microsoft gives without a P1/P2 licence or without AuditLog.Read.All."""

import datetime

from ansible_collections.ece_o365.preflight.plugins.modules import signin_activity
from identity_helpers import dumps, lab_auth, run_module, variant

ACCOUNTS = ["support@contoso.example", "ece.service@contoso.example"]
SERVICES_SERVER = "10.231.8.11"


def read(lab, tenant, **args):
    options = dict(graph_url=lab["graph_url"], application_id=tenant.applications["ece-mail"]["client_id"],
                   users=ACCOUNTS)
    options.update(args)
    result = run_module(signin_activity, lab_auth(lab, tenant, "preflight", **options))
    assert result.get("failed") is not True and result["changed"] is False, result
    return result


def by_address(result):
    return {account["address"]: account for account in result["accounts"]}


def days_ago(text):
    when = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return (datetime.datetime.now(datetime.timezone.utc) - when).total_seconds() / 86400


def test_healthy_ece_refreshes_every_account_from_the_services_server(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = read(lab, tenant)
    assert result["ok"] is True and result["errors"] == [], result["message"]
    assert result["read"]["sign_ins"]["outcome"] == "ok" and result["read"]["sign_in_activity"]["outcome"] == "ok"
    assert result["other_users"] == []
    for address, account in by_address(result).items():
        assert account["exists"] is True and account["failures"] == [], account
        assert account["last_success"]["ip_address"] == SERVICES_SERVER, account
        assert account["last_success"]["interactive"] is False and days_ago(account["last_success"]["time"]) < 1
        assert [a["ip_address"] for a in account["refresh_addresses"]] == [SERVICES_SERVER]
        assert days_ago(account["sign_in_activity"]["last_successful_sign_in"]) < 1
    # ECE's client secret is not in the inventory: the preflight's own app reads it all.
    assert tenant.applications["ece-mail"]["secrets"][0]["value"] not in dumps(result)


def test_a_token_issued_to_the_sso_workstation_user_is_named(lab, scenarios):
    tenant = scenarios.use("signin-token-wrong-user")
    result = read(lab, tenant)
    assert [u["user_principal_name"] for u in result["other_users"]] == ["jdoe@contoso.example"]
    assert by_address(result)["support@contoso.example"]["sign_ins"] == 0


def test_failing_refreshes_carry_the_aadsts_code(lab, scenarios):
    tenant = scenarios.use("signin-refresh-failing")
    support = by_address(read(lab, tenant))["support@contoso.example"]
    assert support["failure_counts"][0]["error_code"] == 50173 and support["failure_counts"][0]["count"] == 2
    assert days_ago(support["failures"][0]["time"]) < days_ago(support["last_success"]["time"])


def test_a_token_idle_past_the_retention_shows_only_in_sign_in_activity(lab, scenarios):
    tenant = scenarios.use("signin-token-idle-85-days")
    support = by_address(read(lab, tenant))["support@contoso.example"]
    assert support["sign_ins"] == 0 and support["last_success"] is None
    assert 84.9 < days_ago(support["sign_in_activity"]["last_successful_sign_in"]) < 85.1


def test_a_tenant_without_premium_answers_as_microsoft_does(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "tenant:\n  premium: false\n"))
    result = read(lab, tenant)
    assert result["ok"] is False
    for source in ("sign_ins", "sign_in_activity"):
        read_facts = result["read"][source]
        assert read_facts["outcome"] == "not_licensed" and read_facts["status"] == 403, read_facts
        assert read_facts["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


def test_without_auditlog_read_all_the_permission_is_named(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "applications:\n  preflight:\n    permissions:\n"
                                             "      application: [Application.Read.All, User.Read.All]\n"))
    result = read(lab, tenant)
    assert result["read"]["sign_ins"]["outcome"] == "forbidden"
    assert result["read"]["sign_ins"]["code"] == "Authorization_RequestDenied"
    assert "AuditLog.Read.All" in result["read"]["sign_ins"]["permission"]
    assert "AuditLog.Read.All" in result["read"]["sign_in_activity"]["permission"]
