# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tenant_info against the lab's Graph: the healthy tenant, each broken-tenant scenario as facts,
401 and 403 with the permission that was missing, throttling and paging."""

import datetime
import time

from ece_lab.clients import Lab

from ansible_collections.ece_o365.preflight.plugins.modules import tenant_info
from identity_helpers import EXO, certificate, dumps, lab_auth, run_module, variant

ECE_URL = "https://ece.contoso.example"
USERS = ["support@contoso.example", "sales@contoso.example", "former.agent@contoso.example", "ghost@contoso.example"]


def read(lab, tenant, app_key="preflight", **args):
    options = dict(graph_url=lab["graph_url"], application_id=tenant.applications["ece-mail"]["client_id"],
                   users=USERS)
    options.update(args)
    result = run_module(tenant_info, lab_auth(lab, tenant, app_key, **options))
    assert result.get("failed") is not True and result["changed"] is False, result
    return result


def by_name(result):
    return {user["address"]: user for user in result["users"]}


def days_left(end):
    """Whole days from now to END (Graph's ISO 8601 date), as the judge will count them."""
    when = datetime.datetime.strptime(end[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400


def admin_consented(app):
    return {scope for grant in app["service_principal"]["delegated_grants"] if grant["consent_type"] == "AllPrincipals"
            for scope in grant["scopes"]}


def keys(value):
    """Every key at any depth of VALUE."""
    if isinstance(value, dict):
        return set(value).union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(v) for v in value))
    return set()


def plans(user):
    return {(plan["name"], plan["status"]) for licence in user["licences"] for plan in licence["service_plans"]}


def test_healthy_tenant_facts(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = read(lab, tenant)
    assert result["ok"] is True and result["error_class"] is None and result["errors"] == [], result["message"]
    assert result["token"]["source"] == "acquired" and result["token"]["ok"] is True
    assert set(result["token"]["roles"]) == {"Application.Read.All", "User.Read.All", "AuditLog.Read.All"}
    app = result["application"]
    assert app["ok"] is True and app["graph_error"] is None
    assert app["found"] and app["display_name"] == "ECE OAuth2 mail" and app["sign_in_audience"] == "AzureADMyOrg"
    assert app["redirect_uris"]["web"] == [ECE_URL + "/system/oauth2/callback"]
    delegated = {p["name"] for p in app["required_permissions"] if p["type"] == "delegated"}
    assert {"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "offline_access"} <= delegated
    assert {p["resource"] for p in app["required_permissions"]} == {"Microsoft Graph"}
    assert len(app["secrets"]) == 1 and app["secrets"][0]["hint"] == "lab" and days_left(app["secrets"][0]["end"]) > 300
    sp = app["service_principal"]
    assert sp["found"] and sp["delegated_grants"][0]["consent_type"] == "AllPrincipals"
    assert delegated <= admin_consented(app)
    users = by_name(result)
    assert list(users) == USERS and all(user["name"] == user["address"] for user in result["users"])
    assert ("EXCHANGE_S_ENTERPRISE", "Success") in plans(users["support@contoso.example"])
    assert users["support@contoso.example"]["licences"][0]["sku"] == "ENTERPRISEPACK"
    assert users["sales@contoso.example"]["exists"] and users["sales@contoso.example"]["licences"] == []
    assert users["former.agent@contoso.example"]["enabled"] is False, "accountEnabled comes only with $select"
    assert users["ghost@contoso.example"]["exists"] is False and users["ghost@contoso.example"]["ok"] is True
    assert "3 of 4 users exist" in result["message"]
    assert tenant.applications["preflight"]["secrets"][0]["value"] not in dumps(result)
    assert keys(result) & {"external_url", "redirect_uri_hosts", "secrets_valid", "latest_secret_days_left",
                           "days_left", "expired", "admin_consented_scopes", "delegated_not_admin_consented",
                           "exchange_provisioned", "exchange_plans", "error"} == set(), "facts only, one vocabulary"


def test_expired_and_near_expiry_secrets_are_dates_as_read(lab, scenarios):
    expired = read(lab, scenarios.use("expired-secret"), users=[])["application"]
    assert len(expired["secrets"]) == 1 and days_left(expired["secrets"][0]["end"]) < 0
    near = read(lab, scenarios.use("secret-near-expiry"), users=[])["application"]
    assert len(near["secrets"]) == 1 and 8.5 < days_left(near["secrets"][0]["end"]) < 11


def test_missing_consent(lab, scenarios):
    app = read(lab, scenarios.use("missing-consent"), users=[])["application"]
    assert app["service_principal"]["found"] and app["service_principal"]["delegated_grants"] == []
    assert admin_consented(app) == set()


def test_redirect_uri_mismatch_returns_the_registered_uri(lab, scenarios):
    app = read(lab, scenarios.use("redirect-uri-mismatch"), users=[])["application"]
    assert app["redirect_uris"]["web"] == ["https://ece-old.contoso.example/system/oauth2/callback"]


def test_user_without_an_exchange_licence(lab, scenarios):
    support = by_name(read(lab, scenarios.use("no-exchange-licence"), application_id=None))["support@contoso.example"]
    assert support["exists"] and support["enabled"]
    assert support["licences"][0]["sku"] == "O365_BUSINESS"
    assert not [name for name, _status in plans(support) if name.startswith("EXCHANGE_S_")]


def test_app_without_graph_permissions_is_forbidden_with_the_permission_named(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = read(lab, tenant, app_key="ece-mail", users=["support@contoso.example"])
    assert result["ok"] is False and result["error_class"] == "forbidden" and result["token"]["roles"] == []
    app, user = result["application"], result["users"][0]
    assert (app["ok"], app["error_class"], user["ok"], user["error_class"]) == (False, "forbidden", False, "forbidden")
    assert app["graph_error"]["permission"] == "Application.Read.All (or Directory.Read.All)"
    assert user["graph_error"]["permission"] == "User.Read.All (or Directory.Read.All)"
    assert user["graph_error"]["code"] == "Authorization_RequestDenied" and user["address"] == "support@contoso.example"
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
        assert result["error_class"] == "unauthorized" and text in result["errors"][0]["message"]
        assert result["token"]["source"] == "given" and token not in dumps(result)


def test_throttled_graph_is_retried_after_retry_after(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab: {graph_throttle: {status: 429, count: 2, retry_after: 1}}\n"))
    started = time.monotonic()
    result = read(lab, tenant, users=["support@contoso.example"])
    assert result["error_class"] is None and result["graph"]["retries"] == 2
    assert result["graph"]["throttled_seconds"] == 2
    assert time.monotonic() - started >= 2
    tenant = scenarios.use(variant(tmp_path, "lab: {graph_throttle: {status: 503, count: 1, retry_after: null}}\n",
                                   name="outage"))
    assert read(lab, tenant, application_id=None, users=["support@contoso.example"])["graph"]["retries"] == 1


def test_throttling_beyond_the_deadline_is_reported_at_once(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab: {graph_throttle: {status: 429, count: 100, retry_after: 30}}\n"))
    started = time.monotonic()
    result = read(lab, tenant, application_id=None, users=["support@contoso.example"], deadline=10)
    assert result["error_class"] == "throttled" and time.monotonic() - started < 5
    assert "Retry-After: 30; waiting 30 s more would pass the deadline" in result["errors"][0]["message"]
    assert result["users"][0]["error_class"] == "throttled" and result["users"][0]["graph_error"]["status"] == 429


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
    assert result["token"]["acquired"] and result["error_class"] is None, result["message"]
    certificates = result["application"]["certificates"]
    assert [(c["display_name"], c["custom_key_identifier"]) for c in certificates] == [("ece-cert", cert["sha1"])]
    assert 4 < days_left(certificates[0]["end"]) <= 5


# -- issue 12 (graph) -----------------------------------------------------------------------------

def test_a_proxy_address_resolves_to_the_user_and_its_id(lab, scenarios):
    tenant = scenarios.use("graph-address-not-upn")
    result = read(lab, tenant, users=["helpdesk@contoso.example", "support@contoso.example",
                                      "11111111-aaaa-4bbb-8ccc-000000000003", "nobody@contoso.example"])
    helpdesk, support, by_id, nobody = result["users"]
    assert helpdesk["exists"] is True and helpdesk["resolved_by"] == "proxyAddresses"
    assert helpdesk["id"] == support["id"] == "11111111-aaaa-4bbb-8ccc-000000000001"
    assert helpdesk["user_principal_name"] == "support@contoso.example" and support["resolved_by"] == "mail"
    assert helpdesk["proxy_addresses"] == ["support@contoso.example", "helpdesk@contoso.example"]
    assert by_id["resolved_by"] == "id" and by_id["user_principal_name"] == "ece.service@contoso.example"
    assert nobody["exists"] is False and nobody["resolved_by"] is None and result["errors"] == []


def test_a_refused_licence_read_leaves_the_account_and_reads_assigned_plans(lab, scenarios):
    tenant = scenarios.use("graph-licence-read-refused")
    result = read(lab, tenant)
    support = by_name(result)["support@contoso.example"]
    assert support["exists"] is True and support["enabled"] is True and support["ok"] is True
    assert support["licence_read"]["source"] == "assignedPlans" and support["licence_read"]["status"] == 403
    assert support["licence_read"]["error_class"] == "forbidden" and support["licence_read"]["ok"] is True
    assert ("EXCHANGE_S_ENTERPRISE", "Success") in plans(support)
    assert result["ok"] is True and result["errors"] == []


def test_foundation_only_and_pending_plans_as_read(lab, scenarios):
    foundation = by_name(read(lab, scenarios.use("graph-foundation-only")))["support@contoso.example"]
    assert plans(foundation) == {("EXCHANGE_S_FOUNDATION", "Success"), ("OFFICE_BUSINESS", "Success")}
    assert foundation["licence_read"]["source"] == "licenseDetails"
    pending = by_name(read(lab, scenarios.use("graph-licence-pending")))["support@contoso.example"]
    assert ("EXCHANGE_S_ENTERPRISE", "PendingProvisioning") in plans(pending)


def test_per_user_consent_and_no_mail_consent(lab, scenarios):
    tenant = scenarios.use("graph-per-user-consent")
    grants = read(lab, tenant)["application"]["service_principal"]["delegated_grants"]
    assert {g["consent_type"] for g in grants} == {"Principal"}
    assert {g["principal_id"] for g in grants} == {tenant.users["support@contoso.example"]["object_id"],
                                                   tenant.users["ece.service@contoso.example"]["object_id"]}
    app = read(lab, scenarios.use("graph-no-consent"))["application"]
    assert admin_consented(app) == {"offline_access", "openid", "profile", "User.Read"}
    assert not {p["name"] for p in app["required_permissions"]} & {"IMAP.AccessAsUser.All", "SMTP.Send"}


def test_the_secret_ece_holds_is_marked_in_use_and_never_returned(lab, scenarios):
    tenant = scenarios.use("graph-secret-in-use-expired")
    held = tenant.ece["client_secret"]
    result = read(lab, tenant, application_client_secret=held)
    secrets = {s["display_name"]: s for s in result["application"]["secrets"]}
    assert secrets["ece-2024"]["in_use"] is True and secrets["ece-2026-rotated"]["in_use"] is False
    assert days_left(secrets["ece-2024"]["end"]) < 0 < days_left(secrets["ece-2026-rotated"]["end"])
    assert held not in dumps(result) and held[3:] not in dumps(result)


def test_redirect_uris_per_platform(lab, scenarios):
    http = read(lab, scenarios.use("graph-redirect-http"))["application"]["redirect_uris"]
    assert http["web"] == ["http://ece.contoso.example/system/oauth2/callback"]
    spa = read(lab, scenarios.use("graph-redirect-spa"))["application"]["redirect_uris"]
    assert spa == {"web": [], "spa": ["https://ece.contoso.example/system/oauth2/callback"], "public_client": []}
