# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token issuer through msal and requests: grants, claims and Entra's AADSTS error bodies."""

import datetime
import os
import urllib.parse

import jwt
import msal
import pytest
import requests
from conftest import MAIL_SCOPES, scenario

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def assert_aadsts(reply, code, error=None):
    assert reply.get("error_codes") == [code], reply
    assert reply["error_description"].startswith("AADSTS%d: " % code)
    assert "Trace ID: " in reply["error_description"] and "Correlation ID: " in reply["error_description"]
    if error:
        assert reply["error"] == error


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_refresh_token_gives_delegated_mail_token_for_the_mailbox(use_scenario):
    s = use_scenario("healthy")
    reply = s.refresh("support")
    token = claims(reply["access_token"])
    assert token["aud"] == "https://outlook.office.com"
    assert set(token["scp"].split()) == {"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"}
    assert token["upn"] == token["preferred_username"] == "support@contoso.example"
    assert token["tid"] == s.tenant.tenant_id and token["azp"] == token["appid"] == s.app("ece-mail")["client_id"]
    # Entra back-dates iat and nbf by 5 minutes; expires_in stays the real 60-90 minutes
    # (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens, its samples: exp - iat = 3900 s).
    assert 3600 + 300 <= token["exp"] - token["iat"] <= 5400 + 300 and token["nbf"] == token["iat"]
    assert reply["expires_in"] == token["exp"] - token["iat"] - 300
    assert reply["id_token_claims"]["preferred_username"] == "support@contoso.example"
    assert reply["refresh_token"] != s.tenant.refresh_tokens["support"]["value"], "refresh tokens rotate"
    rotated = s.ece_msal().acquire_token_by_refresh_token(reply["refresh_token"], scopes=MAIL_SCOPES)
    assert "access_token" in rotated


def test_token_signature_verifies_against_the_published_keys(use_scenario):
    s = use_scenario("healthy")
    keys = s.lab.session.get(s.lab.state["authority"] + "/discovery/v2.0/keys").json()["keys"]
    token = s.refresh("support")["access_token"]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(keys[0])
    decoded = jwt.decode(token, public, algorithms=["RS256"], audience="https://outlook.office.com",
                         issuer=s.lab.state["issuer"])
    assert decoded["upn"] == "support@contoso.example"


def test_client_credentials_carry_the_consented_roles(use_scenario):
    s = use_scenario("healthy")
    graph = claims(s.preflight_token("https://graph.microsoft.com"))
    assert graph["aud"] == "https://graph.microsoft.com" and graph["idtyp"] == "app"
    assert set(graph["roles"]) == {"Application.Read.All", "User.Read.All", "AuditLog.Read.All"}
    assert graph["oid"] == s.app("preflight")["service_principal_id"] and "upn" not in graph
    exchange = claims(s.preflight_token("https://outlook.office365.com"))
    assert exchange["roles"] == ["Exchange.ManageAsApp"]


def test_password_grant_goes_through_userrealm_and_returns_the_users_token(use_scenario):
    s = use_scenario("healthy")
    user = s.tenant.users["ece.service@contoso.example"]
    reply = s.ece_msal().acquire_token_by_username_password(user["upn"], user["password"], scopes=MAIL_SCOPES)
    assert claims(reply["access_token"])["upn"] == "ece.service@contoso.example"


@pytest.mark.parametrize("user, password, code", [
    ("support@contoso.example", "wrong", 50126),
    ("nobody@contoso.example", "x", 50034),
    ("former.agent@contoso.example", "lab-pw-Former-2&Lp", 50057),
    ("mfa.user@contoso.example", "lab-pw-Mfa-4%Zr", 50076),
])
def test_password_grant_failures(use_scenario, user, password, code):
    s = use_scenario("healthy")
    reply = s.ece_msal().acquire_token_by_username_password(user, password, scopes=MAIL_SCOPES)
    assert_aadsts(reply, code, "invalid_grant")


def test_client_authentication_failures(use_scenario):
    s = use_scenario("healthy")
    ece = s.app("ece-mail")
    assert_aadsts(s.lab.app_token(ece["client_id"], "not-the-secret", "https://graph.microsoft.com"),
                  7000215, "invalid_client")
    assert_aadsts(s.lab.app_token("00000000-0000-0000-0000-00000000dead", "x", "https://graph.microsoft.com"),
                  700016, "unauthorized_client")
    assert_aadsts(s.refresh("support", scopes=["https://outlook.office.com/Mail.Teleport"]), 70011, "invalid_scope")


def test_unknown_tenant_is_aadsts90002(use_scenario):
    s = use_scenario("healthy")
    reply = s.lab.session.get(s.lab.state["login_url"] + "/contoso.invalid/v2.0/.well-known/openid-configuration")
    assert reply.status_code == 400
    assert_aadsts(reply.json(), 90002)
    with pytest.raises(ValueError):  # msal refuses an authority whose discovery fails
        s.lab.msal_app(s.app("ece-mail")["client_id"], "x",
                       authority=s.lab.state["login_url"] + "/contoso.invalid").acquire_token_for_client(["x/.default"])


def _authorize(s, redirect_uri, login_hint=None):
    query = {"client_id": s.app("ece-mail")["client_id"], "response_type": "code", "redirect_uri": redirect_uri,
             "scope": " ".join(MAIL_SCOPES + ["offline_access", "openid", "profile"]), "state": "ece"}
    if login_hint:
        query["login_hint"] = login_hint
    return s.lab.session.get(s.lab.state["authority"] + "/oauth2/v2.0/authorize?" + urllib.parse.urlencode(query),
                             allow_redirects=False)


def _redeem(s, location, redirect_uri):
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    return s.ece_msal().acquire_token_by_authorization_code(code, scopes=MAIL_SCOPES, redirect_uri=redirect_uri)


def test_authorization_code_without_login_hint_is_the_sso_workstation_user(use_scenario):
    s = use_scenario("healthy")
    redirect = s.app("ece-mail")["redirect_uris"]["web"][0]
    hinted = _authorize(s, redirect, login_hint="support@contoso.example")
    assert hinted.status_code == 302 and "state=ece" in hinted.headers["Location"]
    assert _redeem(s, hinted.headers["Location"], redirect)["id_token_claims"]["preferred_username"] == \
        "support@contoso.example"
    sso = _authorize(s, redirect)
    assert _redeem(s, sso.headers["Location"], redirect)["id_token_claims"]["preferred_username"] == \
        "jdoe@contoso.example"


def test_redirect_uri_mismatch_shows_aadsts50011(use_scenario):
    s = use_scenario("redirect-uri-mismatch")
    ece_redirect = s.tenant.ece["external_url"] + "/system/oauth2/callback"
    page = _authorize(s, ece_redirect, login_hint="support@contoso.example")
    assert page.status_code == 400 and "AADSTS50011" in page.text and ece_redirect in page.text
    registered = s.app("ece-mail")["redirect_uris"]["web"][0]
    assert urllib.parse.urlsplit(registered).hostname != urllib.parse.urlsplit(ece_redirect).hostname


@pytest.mark.parametrize("name, code, error", [
    ("expired-secret", 7000222, "invalid_client"),
    ("missing-consent", 65001, "invalid_grant"),
    ("refresh-token-inactive", 700082, "invalid_grant"),
    ("conditional-access-block", 53003, "invalid_grant"),
    ("password-reset", 50173, "invalid_grant"),
])
def test_scenario_breaks_the_token_with_microsofts_code(use_scenario, name, code, error):
    s = use_scenario(name)
    assert_aadsts(s.refresh("support"), code, error)


def test_inactive_refresh_token_names_the_issue_date(use_scenario):
    s = use_scenario("refresh-token-inactive")
    text = s.refresh("support")["error_description"]
    assert "The refresh token has expired due to inactivity" in text and "inactive for 90.00:00:00" in text


def test_wrong_owner_scenario_token_belongs_to_the_workstation_user(use_scenario):
    s = use_scenario("token-wrong-owner")
    reply = s.refresh("support")
    assert reply["id_token_claims"]["preferred_username"] == "jdoe@contoso.example"
    assert claims(reply["access_token"])["upn"] == "jdoe@contoso.example"


def test_msal_trusts_only_the_ca_it_is_given(use_scenario):
    s = use_scenario("healthy")
    app = s.app("preflight")
    # The system store does not know the lab CA: discovery fails on TLS, as against a foreign issuer.
    session = type(s.lab.session)(dict(s.lab.state, ca="/etc/ssl/certs/ca-certificates.crt"))
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        msal.ConfidentialClientApplication(app["client_id"], client_credential=app["secrets"][0]["value"],
                                           authority=s.lab.state["authority"], http_client=session,
                                           instance_discovery=False)


def _certificate(tmp_path, name, days):
    """A self-signed certificate and its key (PEM files), valid DAYS from now (negative: expired)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / (name + ".crt"), tmp_path / (name + ".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path.read_text(), key_path.read_text()


def test_certificate_credentials_registered_unknown_and_expired(use_scenario, tmp_path):
    good_cert, good_key = _certificate(tmp_path, "good", 200)
    old_cert, old_key = _certificate(tmp_path, "old", 300)
    _other_cert, other_key = _certificate(tmp_path, "other", 200)
    healthy = scenario("healthy")
    variant = tmp_path / "certs.yml"
    variant.write_text(
        "# the preflight app with two certificates, one expired\nextends: %s\napplications:\n  preflight:\n"
        "    certificates:\n      - {key_id: c1, display_name: good, path: good.crt, end_days_from_now: 200}\n"
        "      - {key_id: c2, display_name: old, path: old.crt, end_days_from_now: -1}\n" % healthy)
    s = use_scenario(str(variant))
    client_id = s.app("preflight")["client_id"]

    def token(cert, key, sha1=None):
        credential = {"private_key": key, "public_certificate": cert}
        if sha1:
            credential = {"private_key": key, "thumbprint": sha1}
        app = s.lab.msal_app(client_id, credential)
        return app.acquire_token_for_client(scopes=[GRAPH_SCOPE])

    assert claims(token(good_cert, good_key)["access_token"])["roles"]
    from ece_lab.identity import certificate_thumbprints
    assert "access_token" in token(None, good_key, sha1=certificate_thumbprints(good_cert)[0])
    assert_aadsts(token(good_cert, other_key), 700027, "invalid_client")  # key does not match the certificate
    expired = token(old_cert, old_key)
    assert_aadsts(expired, 700027)
    assert "The key used is expired" in expired["error_description"]
    unknown_cert, unknown_key = _certificate(tmp_path, "unknown", 100)
    assert "The key was not found" in token(unknown_cert, unknown_key)["error_description"]
    graph_app = s.lab.graph("/v1.0/applications(appId='%s')" % client_id, s.preflight_token("https://graph.microsoft.com")).json()
    assert [k["customKeyIdentifier"] for k in graph_app["keyCredentials"]] == [
        certificate_thumbprints(good_cert)[0], certificate_thumbprints(old_cert)[0]]


# -- issue 12: consent per scope, back-dated tokens, v1 guest tokens, Microsoft's outage -------------------

IMAP_SMTP = ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send"]


def test_tokens_are_back_dated_five_minutes_and_expires_in_is_the_real_lifetime(use_scenario):
    s = use_scenario("healthy")
    before = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    reply = s.refresh("support")
    token = claims(reply["access_token"])
    after = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    assert before - 300 <= token["iat"] <= after - 300 and token["nbf"] == token["iat"]
    assert before + reply["expires_in"] <= token["exp"] <= after + reply["expires_in"]
    assert 3600 <= reply["expires_in"] <= 5400
    ident = claims(reply["id_token"]) if "id_token" in reply else reply["id_token_claims"]
    assert ident["exp"] - ident["iat"] == 3900
    app_only = claims(s.preflight_token("https://graph.microsoft.com"))
    assert 3900 <= app_only["exp"] - app_only["iat"] <= 5700


def test_partial_consent_a_subset_works_one_scope_more_is_aadsts65001(use_scenario):
    s = use_scenario("entra-partial-consent")
    reply = s.refresh("support", scopes=IMAP_SMTP)
    assert set(claims(reply["access_token"])["scp"].split()) == {"IMAP.AccessAsUser.All", "SMTP.Send"}
    assert "refresh_token" in reply  # offline_access is consented
    over = s.refresh("support", scopes=MAIL_SCOPES)  # POP too
    assert_aadsts(over, 65001, "invalid_grant")
    assert over["suberror"] == "consent_required"
    assert "has not consented to use the application" in over["error_description"]
    # the same tenant-wide for every user
    assert "access_token" in s.refresh("ece-service", scopes=IMAP_SMTP)


def test_per_user_consent_counts_for_that_user_only(use_scenario):
    s = use_scenario("entra-user-consent")
    reply = s.refresh("support", scopes=IMAP_SMTP)
    assert set(claims(reply["access_token"])["scp"].split()) == {"IMAP.AccessAsUser.All", "SMTP.Send"}
    assert_aadsts(s.refresh("support", scopes=MAIL_SCOPES), 65001, "invalid_grant")
    jdoe = s.tenant.users["jdoe@contoso.example"]  # no consent of his own, none by an admin
    denied = s.ece_msal().acquire_token_by_username_password(jdoe["upn"], jdoe["password"], scopes=IMAP_SMTP)
    assert_aadsts(denied, 65001, "invalid_grant")


def test_a_guests_token_is_v1_shaped_delegated_without_upn(use_scenario):
    s = use_scenario("entra-guest-v1-token")
    reply = s.refresh("guest", scopes=IMAP_SMTP)
    token = claims(reply["access_token"])
    assert token["ver"] == "1.0" and "upn" not in token and "preferred_username" not in token and "azp" not in token
    assert token["unique_name"] == "live.com#pat.guest@outlook.example" and token["email"] == "pat.guest@outlook.example"
    assert token["idp"].startswith("https://sts.windows.net/") and token["scp"] == "IMAP.AccessAsUser.All SMTP.Send"
    assert token["oid"] == "11111111-aaaa-4bbb-8ccc-000000000009" and "roles" not in token
    assert reply["id_token_claims"]["preferred_username"] == "pat.guest@outlook.example"


def _outage_variant(tmp_path, count):
    path = tmp_path / "outage.yml"
    path.write_text("extends: %s\nlab:\n  login_outage: {count: %d}\n" % (scenario("healthy"), count))
    return str(path)


def test_login_outage_answers_microsofts_500_body_for_the_first_requests_only(use_scenario, tmp_path):
    s = use_scenario(_outage_variant(tmp_path, 1))
    app = s.app("ece-mail")
    token_url = s.lab.state["authority"] + "/oauth2/v2.0/token"
    form = {"grant_type": "refresh_token", "client_id": app["client_id"], "client_secret": app["secrets"][0]["value"],
            "refresh_token": s.tenant.refresh_tokens["support"]["value"], "scope": " ".join(IMAP_SMTP)}
    first = s.lab.session.post(token_url, data=form)
    assert first.status_code == 500 and first.headers["Content-Type"].startswith("application/json")
    body = first.json()
    assert_aadsts(body, 50000, "server_error")
    assert "There was an error issuing a token or an issue with our sign-in service." in body["error_description"]
    second = s.lab.session.post(token_url, data=form)
    assert second.status_code == 200 and "access_token" in second.json()


def test_login_outage_persistent_scenario_fails_every_token_request(use_scenario):
    s = use_scenario("entra-token-outage")
    app = s.app("preflight")
    for _attempt in range(3):  # msal raises MsalServiceError on a 5xx: read the body as _auth does
        answer = s.lab.session.post(s.lab.state["authority"] + "/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": app["client_id"],
            "client_secret": app["secrets"][0]["value"], "scope": "https://graph.microsoft.com/.default"})
        assert answer.status_code == 500
        assert_aadsts(answer.json(), 50000, "server_error")
    with pytest.raises(msal.exceptions.MsalServiceError, match="HTTP Error: 500"):
        s.refresh("support")


def test_a_location_policy_blocks_only_sign_ins_from_its_ip_ranges(use_scenario, tmp_path):
    """Conditional Access by named location (IP ranges): the lab matches the client address it sees, as Entra
    matches the sign-in's IP address. The fleet's services server (10.231.8.11) is blocked, loopback is not."""
    elsewhere = use_scenario("entra-location-blocks-services-server")
    assert "access_token" in elsewhere.refresh("support"), "127.0.0.1 is not in 10.231.8.11/32"
    here = tmp_path / "location-here.yml"
    here.write_text("extends: %s\ntenant:\n  conditional_access:\n    - {name: here, users: [all], applications: "
                    "[ece-mail], grant: block, locations: [127.0.0.0/8]}\n" % scenario(
                        "entra-location-blocks-services-server"))
    os.chmod(str(tmp_path), 0o755)
    os.chmod(str(here), 0o644)
    assert_aadsts(use_scenario(str(here)).refresh("support"), 53003, "invalid_grant")
