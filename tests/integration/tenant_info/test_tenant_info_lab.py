# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tenant_info against the lab's Graph: the healthy tenant, each broken-tenant scenario as facts,
401 and 403 with the permission that was missing, throttling and paging."""

import time

from ece_lab.clients import Lab

from ansible_collections.ece_o365.preflight.plugins.modules import tenant_info
from identity_helpers import EXO, certificate, dumps, lab_auth, run_module, variant

ECE_URL = "https://ece.contoso.example"
USERS = ["support@contoso.example", "sales@contoso.example", "former.agent@contoso.example", "ghost@contoso.example"]


def read(lab, tenant, app_key="preflight", **args):
    options = dict(graph_url=lab["graph_url"], application_id=tenant.applications["ece-mail"]["client_id"],
                   external_url=ECE_URL, users=USERS)
    options.update(args)
    result = run_module(tenant_info, lab_auth(lab, tenant, app_key, **options))
    assert result.get("failed") is not True and result["changed"] is False, result
    return result


def by_name(result):
    return {user["name"]: user for user in result["users"]}


def test_healthy_tenant_facts(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = read(lab, tenant)
    assert result["error"] is None and result["errors"] == [], result["message"]
    assert result["token"]["source"] == "acquired"
    assert set(result["token"]["roles"]) == {"Application.Read.All", "User.Read.All"}
    app = result["application"]
    assert app["found"] and app["display_name"] == "ECE OAuth2 mail" and app["sign_in_audience"] == "AzureADMyOrg"
    assert app["redirect_uris"]["web"] == [ECE_URL + "/system/oauth2/callback"]
    assert app["external_url"]["host_registered"] is True
    delegated = {p["name"] for p in app["required_permissions"] if p["type"] == "delegated"}
    assert {"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "offline_access"} <= delegated
    assert {p["resource"] for p in app["required_permissions"]} == {"Microsoft Graph"}
    assert app["secrets_valid"] == 1 and app["latest_secret_days_left"] > 300 and app["secrets"][0]["hint"] == "lab"
    sp = app["service_principal"]
    assert sp["found"] and sp["delegated_not_admin_consented"] == []
    assert sp["delegated_grants"][0]["consent_type"] == "AllPrincipals"
    users = by_name(result)
    assert users["support@contoso.example"]["exchange_provisioned"] is True
    assert users["support@contoso.example"]["licences"][0]["sku"] == "ENTERPRISEPACK"
    assert users["sales@contoso.example"]["exists"] and users["sales@contoso.example"]["licences"] == []
    assert users["former.agent@contoso.example"]["enabled"] is False, "accountEnabled comes only with $select"
    assert users["ghost@contoso.example"]["exists"] is False
    assert "3 of 4 users exist" in result["message"]
    assert tenant.applications["preflight"]["secrets"][0]["value"] not in dumps(result)


def test_expired_and_near_expiry_secrets(lab, scenarios):
    expired = read(lab, scenarios.use("expired-secret"), users=[])["application"]
    assert expired["secrets"][0]["expired"] is True and expired["secrets"][0]["days_left"] < 0
    assert expired["secrets_valid"] == 0
    near = read(lab, scenarios.use("secret-near-expiry"), users=[])["application"]
    assert near["secrets"][0]["expired"] is False and near["latest_secret_days_left"] in (9, 10)


def test_missing_consent(lab, scenarios):
    sp = read(lab, scenarios.use("missing-consent"), users=[])["application"]["service_principal"]
    assert sp["delegated_grants"] == [] and sp["admin_consented_scopes"] == []
    assert {"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "offline_access"} <= set(
        sp["delegated_not_admin_consented"])


def test_redirect_uri_mismatch_shows_both_hosts(lab, scenarios):
    app = read(lab, scenarios.use("redirect-uri-mismatch"), users=[])["application"]
    assert app["redirect_uri_hosts"] == ["ece-old.contoso.example"]
    assert app["external_url"] == {"url": ECE_URL, "host": "ece.contoso.example", "host_registered": False,
                                   "matching_redirect_uris": []}


def test_user_without_an_exchange_licence(lab, scenarios):
    support = by_name(read(lab, scenarios.use("no-exchange-licence"), application_id=None))["support@contoso.example"]
    assert support["exists"] and support["enabled"] and support["exchange_provisioned"] is False
    assert support["licences"][0]["sku"] == "O365_BUSINESS" and support["exchange_plans"] == []


def test_app_without_graph_permissions_is_forbidden_with_the_permission_named(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = read(lab, tenant, app_key="ece-mail", users=["support@contoso.example"])
    assert result["error"] == "forbidden" and result["token"]["roles"] == []
    assert result["application"]["error"]["permission"] == "Application.Read.All (or Directory.Read.All)"
    assert result["users"][0]["error"]["permission"] == "User.Read.All (or Directory.Read.All)"
    assert "Authorization_RequestDenied" in result["errors"][0]["message"]


def test_only_application_read_all_consented_reads_the_app_but_not_the_users(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "applications:\n  preflight:\n    admin_consent: [Application.Read.All]\n"))
    result = read(lab, tenant, users=["support@contoso.example"])
    assert result["application"]["found"] is True
    assert [e["permission"] for e in result["errors"]] == ["User.Read.All (or Directory.Read.All)"]


def test_tokens_graph_refuses_are_unauthorized(lab, scenarios):
    tenant = scenarios.use("healthy")
    client = Lab(lab["run_dir"], tenant=tenant)
    preflight = tenant.applications["preflight"]
    exchange_token = client.app_token(preflight["client_id"], preflight["secrets"][0]["value"], EXO)["access_token"]
    for token, text in ((exchange_token, "Invalid audience"), ("not-a-token", "validation failure")):
        result = run_module(tenant_info, {"access_token": token, "graph_url": lab["graph_url"], "ca_path": lab["ca"],
                                          "users": ["support@contoso.example"]})
        assert result["error"] == "unauthorized" and text in result["errors"][0]["message"]
        assert result["token"]["source"] == "given" and token not in dumps(result)


def test_throttled_graph_is_retried_after_retry_after(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab: {graph_throttle: {status: 429, count: 2, retry_after: 1}}\n"))
    started = time.monotonic()
    result = read(lab, tenant, users=["support@contoso.example"])
    assert result["error"] is None and result["graph"]["retries"] == 2 and result["graph"]["throttled_seconds"] == 2
    assert time.monotonic() - started >= 2
    tenant = scenarios.use(variant(tmp_path, "lab: {graph_throttle: {status: 503, count: 1, retry_after: null}}\n",
                                   name="outage"))
    assert read(lab, tenant, application_id=None, users=["support@contoso.example"])["graph"]["retries"] == 1


def test_throttling_beyond_the_deadline_is_reported_at_once(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab: {graph_throttle: {status: 429, count: 100, retry_after: 30}}\n"))
    started = time.monotonic()
    result = read(lab, tenant, application_id=None, users=["support@contoso.example"], deadline=10)
    assert result["error"] == "throttled" and time.monotonic() - started < 5
    assert "Retry-After 30 s would pass the deadline" in result["errors"][0]["message"]


def test_paging_one_item_a_page_gives_the_same_facts(lab, scenarios, tmp_path):
    licences = ("users:\n  support@contoso.example:\n    licenses:\n"
                "      - {sku: ENTERPRISEPACK, service_plans: {EXCHANGE_S_ENTERPRISE: Success}}\n"
                "      - {sku: POWER_BI_STANDARD, sku_id: a403ebcc-fae0-4ca2-8c8c-7a907fd6c235, "
                "service_plans: {BI_AZURE_P0: Success}}\n")
    whole = read(lab, scenarios.use(variant(tmp_path, licences, name="two-licences")))
    paged = read(lab, scenarios.use(variant(tmp_path, licences + "lab: {page_size: 1}\n", name="paged")))
    assert paged["graph"]["calls"] == whole["graph"]["calls"] + 1, "the second licence came on a second page"
    assert [lic["sku"] for lic in by_name(paged)["support@contoso.example"]["licences"]] == [
        "ENTERPRISEPACK", "POWER_BI_STANDARD"]
    for key in ("application", "users"):
        assert paged[key] == whole[key], key


def test_certificate_credentials_for_graph_and_the_certificates_expiry(lab, scenarios, tmp_path):
    cert = certificate(tmp_path, "preflight", 40)
    tenant = scenarios.use(variant(tmp_path, (
        "applications:\n  preflight:\n    certificates:\n"
        "      - {key_id: c1, display_name: preflight-cert, path: preflight.crt, end_days_from_now: 40}\n"
        "  ece-mail:\n    certificates:\n"
        "      - {key_id: c9, display_name: ece-cert, path: preflight.crt, end_days_from_now: 5}\n")))
    result = read(lab, tenant, client_secret=None, client_certificate_path=cert["combined"], users=[])
    assert result["token"]["acquired"] and result["error"] is None, result["message"]
    certificates = result["application"]["certificates"]
    assert [(c["display_name"], c["days_left"], c["custom_key_identifier"]) for c in certificates] == [
        ("ece-cert", 4, cert["sha1"])]
