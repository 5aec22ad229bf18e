# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""token_acquire with real msal against the lab's issuer: every grant, every AADSTS code the lab
produces, the broken-tenant scenarios, certificate credentials, an unreachable, unresolvable and
TLS-intercepted issuer, and proxies (argument, environment, NO_PROXY)."""

import base64
import datetime
import time
import urllib.parse

import jwt
import pytest
from ece_lab.clients import Lab

from ansible_collections.ece_o365.preflight.plugins.module_utils import _aadsts
from ansible_collections.ece_o365.preflight.plugins.modules import token_acquire
from identity_helpers import EXO, GRAPH, ConnectProxy, certificate, closed_port, dumps, lab_auth, run_module, variant

MAIL = ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/POP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send"]


def acquire(lab, tenant, app_key="ece-mail", **args):
    result = run_module(token_acquire, lab_auth(lab, tenant, app_key, **args))
    assert result.get("failed") is not True, result
    assert result["changed"] is False
    return result


def assert_secrets_absent(result, *secrets):
    text = dumps(result)
    for secret in secrets:
        assert secret not in text


def test_client_credentials_for_graph_and_exchange(lab, scenarios):
    tenant = scenarios.use("healthy")
    graph = acquire(lab, tenant, "preflight")
    assert graph["acquired"] and graph["grant"] == "client_credentials" and graph["error_class"] is None and graph["ok"] is True
    assert graph["claims"]["aud"] == GRAPH and graph["claims"]["idtyp"] == "app"
    assert set(graph["claims"]["roles"]) == {"Application.Read.All", "User.Read.All", "AuditLog.Read.All"}
    assert graph["token_owner"] is None and graph["id_token_claims"] is None
    assert graph["scopes"] == [GRAPH + "/.default"] and graph["token_source"] == "identity_provider"
    # lifetime_seconds is exp - iat: Entra back-dates iat by 5 minutes; expires_in is the real 60-90 minutes
    assert 3900 <= graph["lifetime_seconds"] <= 5700 and graph["trust_store"] == lab["ca"]
    assert graph["lifetime_seconds"] - graph["expires_in"] in (300, 301)
    assert graph["token_kind"] == "app-only" and graph["oid"] == tenant.applications["preflight"]["service_principal_id"]
    assert [r["status"] for r in graph["requests"]] == [200, 200]
    exchange = acquire(lab, tenant, "preflight", scopes=[EXO + "/.default"])
    assert exchange["claims"]["roles"] == ["Exchange.ManageAsApp"] and exchange["claims"]["aud"] == EXO
    assert_secrets_absent(graph, tenant.applications["preflight"]["secrets"][0]["value"])


def test_ece_stored_refresh_token_works_and_is_the_mailboxs(lab, scenarios):
    tenant = scenarios.use("healthy")
    stored = tenant.refresh_tokens["support"]["value"]
    result = acquire(lab, tenant, refresh_token=stored)
    # the default: what ECE most often uses, IMAP and SMTP (issue 12)
    assert result["grant"] == "refresh_token" and result["scopes_requested"] == [MAIL[0], MAIL[2]]
    assert result["token_owner"] == "support@contoso.example"
    assert result["id_token_claims"]["preferred_username"] == "support@contoso.example"
    assert result["claims"]["aud"] == "https://outlook.office.com"
    assert set(result["claims"]["scp"].split()) == {"IMAP.AccessAsUser.All", "SMTP.Send"}
    assert {"offline_access", "openid", "profile"} <= set(result["scopes"])
    assert result["refresh_token_returned"] and result["refresh_token_rotated"]
    assert 3900 <= result["lifetime_seconds"] <= 5700 and 3600 <= result["expires_in"] <= 5400
    assert result["token_kind"] == "delegated" and result["token_owner_claim"] == "upn"
    assert result["oid"] == tenant.users["support@contoso.example"]["object_id"]
    expires = datetime.datetime.strptime(result["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires > datetime.datetime.utcnow() + datetime.timedelta(minutes=59)
    assert_secrets_absent(result, stored, "0.lab.", tenant.applications["ece-mail"]["secrets"][0]["value"], "eyJ")


def test_password_grant_for_a_test_account(lab, scenarios):
    tenant = scenarios.use("healthy")
    user = tenant.users["ece.service@contoso.example"]
    result = acquire(lab, tenant, username=user["upn"], password=user["password"])
    assert result["grant"] == "password" and result["token_owner"] == "ece.service@contoso.example"
    assert "/common/userrealm/" in result["requests"][1]["url"], "msal's user-realm look-up reached the lab"
    assert_secrets_absent(result, user["password"])


def test_certificate_credentials_and_their_aadsts700027(lab, scenarios, tmp_path):
    good = certificate(tmp_path, "good", 200)
    old = certificate(tmp_path, "old", 300)
    stranger = certificate(tmp_path, "stranger", 100)
    tenant = scenarios.use(variant(tmp_path, (
        "applications:\n  preflight:\n    certificates:\n"
        "      - {key_id: c1, display_name: good, path: good.crt, end_days_from_now: 200}\n"
        "      - {key_id: c2, display_name: old, path: old.crt, end_days_from_now: -1}\n")))
    base = dict(lab_auth(lab, tenant, "preflight"))
    base.pop("client_secret")
    ok = run_module(token_acquire, dict(base, client_certificate_path=good["combined"]))
    assert ok["acquired"] and ok["claims"]["roles"] and ok["certificate"]["sha1_thumbprint"] == good["sha1"]
    sha1 = run_module(token_acquire, dict(base, client_certificate_path=good["cert"], client_private_key_path=good["key"],
                                          client_certificate_thumbprint=good["sha1"]))
    assert sha1["acquired"], sha1["message"]
    expired = run_module(token_acquire, dict(base, client_certificate_path=old["combined"]))
    assert expired["aadsts"]["code"] == 700027 and "The key used is expired" in expired["aadsts"]["message"]
    assert "upload the certificate" in expired["aadsts"]["fix"]
    unknown = run_module(token_acquire, dict(base, client_certificate_path=stranger["combined"]))
    assert unknown["aadsts"]["code"] == 700027 and "The key was not found" in unknown["aadsts"]["message"]


def _code(lab, tenant, app_key="ece-mail", **args):
    result = acquire(lab, tenant, app_key, **args)
    assert result["acquired"] is False and result["error_class"] == "aadsts", result["message"]
    facts = result["aadsts"]
    assert facts["known"] and facts["meaning"] and facts["fix"], facts
    assert facts["message"].startswith("AADSTS%d: " % facts["code"]) and facts["trace_id"] and facts["correlation_id"]
    assert result["message"].startswith(lab["authority"] + ": AADSTS%d: " % facts["code"])
    return result


@pytest.mark.parametrize("case, code", [
    ("wrong secret", 7000215),
    ("unknown client id", 700016),
    ("no secret for a confidential app", 7000218),
    ("unknown scope", 70011),
    ("scopes of two resources", 28000),
    ("app-only without /.default", 1002012),
    ("app-only for an unknown resource", 70011),
    ("a refresh token this app never issued", 9002313),
    ("wrong password", 50126),
    ("unknown user", 50034),
    ("disabled user", 50057),
    ("MFA user", 50076),
])
def test_every_aadsts_code_of_the_healthy_tenant(lab, scenarios, case, code):
    tenant = scenarios.use("healthy")
    stored = tenant.refresh_tokens["support"]["value"]
    args = {
        "wrong secret": dict(app_key="preflight", client_secret="not-the-secret"),
        "unknown client id": dict(app_key="preflight", client_id="00000000-0000-0000-0000-00000000dead"),
        "no secret for a confidential app": dict(client_secret=None, refresh_token=stored),
        "unknown scope": dict(refresh_token=stored, scopes=["https://outlook.office.com/Mail.Teleport"]),
        "scopes of two resources": dict(refresh_token=stored, scopes=["https://outlook.office.com/SMTP.Send", "User.Read"]),
        "app-only without /.default": dict(app_key="preflight", scopes=["https://graph.microsoft.com/User.Read.All"]),
        "app-only for an unknown resource": dict(app_key="preflight", scopes=["https://unknown.example/.default"]),
        "a refresh token this app never issued": dict(refresh_token="0.lab.not-a-token"),
        "wrong password": dict(username="support@contoso.example", password="wrong"),
        "unknown user": dict(username="nobody@contoso.example", password="x"),
        "disabled user": dict(username="former.agent@contoso.example", password="lab-pw-Former-2&Lp"),
        "MFA user": dict(username="mfa.user@contoso.example", password="lab-pw-Mfa-4%Zr"),
    }[case]
    app_key = args.pop("app_key", "ece-mail")
    result = _code(lab, tenant, app_key, **args)
    assert result["aadsts"]["code"] == code


def test_unknown_tenant_is_aadsts90002_from_the_failed_discovery(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = acquire(lab, tenant, "preflight", authority=lab["login_url"] + "/contoso.invalid")
    assert result["error_class"] == "aadsts" and result["aadsts"]["code"] == 90002
    assert "Directory (tenant) ID" in result["aadsts"]["fix"] and result["requests"][0]["status"] == 400


@pytest.mark.parametrize("name, code, item", [
    ("expired-secret", 7000222, 3),
    ("missing-consent", 65001, 3),
    ("refresh-token-inactive", 700082, 4),
    ("conditional-access-block", 53003, None),
    ("password-reset", 50173, 4),
])
def test_broken_tenants_give_microsofts_code_and_the_fix(lab, scenarios, name, code, item):
    tenant = scenarios.use(name)
    result = _code(lab, tenant, refresh_token=tenant.refresh_tokens["support"]["value"])
    assert result["aadsts"]["code"] == code and result["aadsts"]["checklist_item"] == item
    if item:
        assert "[TAC checklist item %d: " % item in result["message"]


def test_refresh_token_of_the_wrong_user_shows_whose_it_is(lab, scenarios):
    tenant = scenarios.use("token-wrong-owner")
    result = acquire(lab, tenant, refresh_token=tenant.refresh_tokens["support"]["value"])
    assert result["acquired"] and result["token_owner"] == "jdoe@contoso.example"
    assert result["id_token_claims"]["preferred_username"] == "jdoe@contoso.example"
    assert result["claims"]["upn"] == "jdoe@contoso.example"


def test_secret_near_expiry_still_gives_tokens(lab, scenarios):
    tenant = scenarios.use("secret-near-expiry")
    assert acquire(lab, tenant, refresh_token=tenant.refresh_tokens["support"]["value"])["acquired"]


def test_fail_on_error_fails_the_task_with_the_fix(lab, scenarios):
    tenant = scenarios.use("expired-secret")
    result = run_module(token_acquire, lab_auth(lab, tenant, "ece-mail", grant="client_credentials", fail_on_error=True))
    assert result["failed"] is True and result["aadsts"]["code"] == 7000222
    assert "create a new client secret" in result["msg"]


def test_an_unreachable_issuer(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = acquire(lab, tenant, "preflight", authority="https://127.0.0.1:%d/%s" % (closed_port(), tenant.tenant_id))
    assert result["error_class"] == "refused" and "Fix: check the port" in result["message"]


def test_an_issuer_name_that_does_not_resolve(lab, scenarios):
    tenant = scenarios.use("healthy")
    result = acquire(lab, tenant, "preflight", authority="https://login.preflight-test.invalid/" + tenant.tenant_id)
    assert result["error_class"] == "dns"


def test_the_lab_issuer_is_untrusted_without_its_ca_even_with_requests_ca_bundle_set(lab, scenarios, monkeypatch):
    tenant = scenarios.use("healthy")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", lab["ca"])  # would make plain msal trust the lab; the module ignores it
    monkeypatch.setenv("CURL_CA_BUNDLE", lab["ca"])
    args = lab_auth(lab, tenant, "preflight")
    args.pop("ca_path")
    result = run_module(token_acquire, args)
    assert result["error_class"] == "cert_untrusted" and result["trust_store"].startswith("system (")
    assert "TLS inspection" in result["message"] or "trust store" in result["message"]


def test_a_tls_inspecting_proxy_shows_as_cert_untrusted(lab, scenarios, intercepting_proxy):
    tenant = scenarios.use("healthy")
    result = acquire(lab, tenant, "preflight", proxy=intercepting_proxy.url)
    assert result["error_class"] == "cert_untrusted" and result["proxy"] == intercepting_proxy.url
    assert intercepting_proxy.connects[-1]["target"] == "127.0.0.1:%d" % lab["ports"]["login"]


def test_through_a_proxy_with_credentials_from_the_argument(lab, scenarios):
    tenant = scenarios.use("healthy")
    proxy = ConnectProxy(auth=("ece", "PlantedProxyPassword"))
    try:
        result = acquire(lab, tenant, "preflight", proxy=proxy.url)
        # docs/contract.md: the proxy is named with only its password replaced
        assert result["acquired"] and result["proxy"] == "http://ece:********@127.0.0.1:%d" % proxy.port
        assert {c["credentials"] for c in proxy.connects} == {"ece:PlantedProxyPassword"}
        assert_secrets_absent(result, "PlantedProxyPassword")
        wrong = acquire(lab, tenant, "preflight", proxy="http://ece:wrong@127.0.0.1:%d" % proxy.port)
        assert wrong["error_class"] == "proxy" and "wrong" not in dumps(wrong["message"])
    finally:
        proxy.close()


def test_proxy_from_the_environment_and_no_proxy(lab, scenarios, monkeypatch):
    tenant = scenarios.use("healthy")
    proxy = ConnectProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        via = acquire(lab, tenant, "preflight")
        tunnels = len(proxy.connects)
        assert via["acquired"] and via["proxy"] == proxy.url and tunnels >= 1  # keep-alive: one tunnel may serve both
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        direct = acquire(lab, tenant, "preflight")
        assert direct["acquired"] and direct["proxy"] is None and len(proxy.connects) == tunnels
        explicit_none = acquire(lab, tenant, "preflight", proxy="")
        assert explicit_none["proxy"] is None
    finally:
        proxy.close()


def test_the_catalogue_explains_the_codes_the_lab_gives_outside_msals_grants(lab, scenarios, tmp_path):
    """50011 (the sign-in page), 70003, 70008 and 700024 come from flows token_acquire does not run; the
    catalogue must still explain them when an operator pastes them in (checks, docs)."""
    cert = certificate(tmp_path, "assertion", 100)
    tenant = scenarios.use(variant(tmp_path, (
        "applications:\n  ece-mail:\n    redirect_uris: {web: [https://ece-old.contoso.example/system/oauth2/callback]}\n"
        "    certificates:\n      - {key_id: c1, display_name: c, path: assertion.crt, end_days_from_now: 100}\n")))
    client = Lab(lab["run_dir"], tenant=tenant)
    ece = tenant.applications["ece-mail"]
    token_url = lab["authority"] + "/oauth2/v2.0/token"
    page = client.session.get(lab["authority"] + "/oauth2/v2.0/authorize?" + urllib.parse.urlencode({
        "client_id": ece["client_id"], "response_type": "code", "scope": "openid",
        "redirect_uri": "https://ece.contoso.example/system/oauth2/callback"}), allow_redirects=False)
    with open(cert["key"], "rb") as handle:
        key = handle.read()
    expired_assertion = jwt.encode(
        {"aud": token_url, "iss": ece["client_id"], "sub": ece["client_id"], "exp": int(time.time()) - 600,
         "iat": int(time.time()) - 1200, "jti": "x"}, key, algorithm="RS256",
        headers={"x5t": base64url_sha1(cert["sha1"])})
    bodies = {
        50011: page.text,
        70003: client.session.post(token_url, data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                                    "client_id": ece["client_id"]}).text,
        70008: client.session.post(token_url, data={"grant_type": "authorization_code", "code": "stale",
                                                    "client_id": ece["client_id"],
                                                    "client_secret": ece["secrets"][0]["value"]}).text,
        700024: client.session.post(token_url, data={
            "grant_type": "client_credentials", "client_id": ece["client_id"], "scope": GRAPH + "/.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": expired_assertion}).text,
    }
    for code, body in bodies.items():
        facts = _aadsts.parse(body)
        assert facts["code"] == code and facts["known"], (code, body[:300])
    assert _aadsts.parse(bodies[50011])["checklist_item"] == 2


def base64url_sha1(hex_thumbprint):
    return base64.urlsafe_b64encode(bytes.fromhex(hex_thumbprint)).decode().rstrip("=")


# -- issue 12 ------------------------------------------------------------------------------------------------
IMAP_SMTP = ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send"]


def test_partial_consent_asking_only_for_imap_and_smtp_works_pop_too_is_65001(lab, scenarios):
    tenant = scenarios.use("entra-partial-consent")
    stored = tenant.refresh_tokens["support"]["value"]
    result = acquire(lab, tenant, refresh_token=stored, scopes=IMAP_SMTP)
    assert result["acquired"] and result["scopes_requested"] == IMAP_SMTP
    assert set(result["claims"]["scp"].split()) == {"IMAP.AccessAsUser.All", "SMTP.Send"}
    refused = acquire(lab, tenant, refresh_token=stored, scopes=MAIL)
    assert refused["error_class"] == "aadsts" and refused["aadsts"]["code"] == 65001
    assert refused["aadsts"]["suberror"] == "consent_required" and "scopes_requested" in refused["aadsts"]["fix"]


def test_per_user_consent_gives_the_token(lab, scenarios):
    tenant = scenarios.use("entra-user-consent")
    result = acquire(lab, tenant, refresh_token=tenant.refresh_tokens["ece-service"]["value"], scopes=IMAP_SMTP)
    assert result["acquired"] and result["token_owner"] == "ece.service@contoso.example"


def test_a_guests_v1_token_is_delegated_and_owned_by_its_sign_in_name(lab, scenarios):
    tenant = scenarios.use("entra-guest-v1-token")
    result = acquire(lab, tenant, refresh_token=tenant.refresh_tokens["guest"]["value"], scopes=IMAP_SMTP)
    assert result["claims"]["ver"] == "1.0" and "upn" not in result["claims"]
    assert result["token_kind"] == "delegated" and result["oid"] == "11111111-aaaa-4bbb-8ccc-000000000009"
    assert result["token_owner"] == "pat.guest@outlook.example" and result["token_owner_claim"] == "preferred_username"
    assert result["message"].startswith("token acquired for pat.guest@outlook.example")


def test_one_outage_answer_is_retried_and_the_token_comes(lab, scenarios, tmp_path):
    tenant = scenarios.use(variant(tmp_path, "lab:\n  login_outage: {count: 1}\n"))
    result = acquire(lab, tenant, "preflight")
    assert result["acquired"] and result["ok"] and result["error_class"] is None and result["retries"] == 1
    assert [r["status"] for r in result["requests"] if r["url"].endswith("/token")] == [500, 200]


def test_a_persistent_outage_is_microsofts_never_the_secret(lab, scenarios):
    tenant = scenarios.use("entra-token-outage")
    started = time.monotonic()
    result = acquire(lab, tenant, "preflight", timeout=5)
    assert time.monotonic() - started < 15
    assert result["acquired"] is False and result["error_class"] == "entra_outage"
    assert result["aadsts"]["code"] == 50000 and result["aadsts"]["name"] == "TokenIssuanceError"
    assert result["retries"] >= 1 and "service health" in result["message"]
    assert "secret" not in result["message"].split("Fix:")[0].lower()
