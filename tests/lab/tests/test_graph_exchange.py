# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Graph and the Exchange admin API: Microsoft's shapes, and 401/403 without the right token."""

import datetime
import os

GRAPH = "https://graph.microsoft.com"
EXO = "https://outlook.office365.com"


def test_application_by_appid_both_ways(use_scenario):
    s = use_scenario("healthy")
    token = s.preflight_token(GRAPH)
    client_id = s.app("ece-mail")["client_id"]
    direct = s.lab.graph("/v1.0/applications(appId='%s')" % client_id, token).json()
    listed = s.lab.graph("/v1.0/applications?$filter=appId eq '%s'" % client_id, token).json()
    assert listed["value"][0]["appId"] == direct["appId"] == client_id
    assert direct["web"]["redirectUris"] == ["https://ece.contoso.example/system/oauth2/callback"]
    assert direct["passwordCredentials"][0]["secretText"] is None, "Graph never returns a secret's value"
    scopes = {a["id"] for r in direct["requiredResourceAccess"] for a in r["resourceAccess"] if a["type"] == "Scope"}
    graph_sp = s.lab.graph("/v1.0/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'",
                           token).json()["value"][0]
    names = {p["id"]: p["value"] for p in graph_sp["oauth2PermissionScopes"]}
    assert {"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "offline_access"} <= {names[i] for i in scopes}


def test_consent_grants_follow_the_tenant_file(use_scenario):
    for name, expected in (("healthy", True), ("missing-consent", False)):
        s = use_scenario(name)
        token = s.preflight_token(GRAPH)
        sp = s.app("ece-mail")["service_principal_id"]
        grants = s.lab.graph("/v1.0/servicePrincipals/%s/oauth2PermissionGrants" % sp, token).json()["value"]
        assert bool(grants) is expected
        if expected:
            assert grants[0]["consentType"] == "AllPrincipals" and "SMTP.Send" in grants[0]["scope"].split()


def test_expired_secret_is_visible_in_graph(use_scenario):
    s = use_scenario("expired-secret")
    app = s.lab.graph("/v1.0/applications(appId='%s')" % s.app("ece-mail")["client_id"],
                      s.preflight_token(GRAPH)).json()
    end = datetime.datetime.fromisoformat(app["passwordCredentials"][0]["endDateTime"].replace("Z", "+00:00"))
    assert end < datetime.datetime.now(datetime.timezone.utc)


def test_users_default_fields_select_and_licences(use_scenario):
    s = use_scenario("no-exchange-licence")
    token = s.preflight_token(GRAPH)
    user = s.lab.graph("/v1.0/users/support@contoso.example", token).json()
    assert "accountEnabled" not in user, "Graph v1.0 returns accountEnabled only when $select asks"
    selected = s.lab.graph("/v1.0/users/support@contoso.example?$select=accountEnabled,userPrincipalName", token)
    assert selected.json()["accountEnabled"] is True
    plans = [p["servicePlanName"] for lic in s.lab.graph("/v1.0/users/%s/licenseDetails" % user["id"], token)
             .json()["value"] for p in lic["servicePlans"]]
    assert plans and not [p for p in plans if p.startswith("EXCHANGE_S_")]


def test_graph_refuses_missing_wrong_and_underprivileged_tokens(use_scenario):
    s = use_scenario("healthy")
    no_token = s.lab.session.get(s.lab.state["graph_url"] + "/v1.0/users")
    assert no_token.status_code == 401 and no_token.json()["error"]["code"] == "InvalidAuthenticationToken"
    wrong_audience = s.lab.graph("/v1.0/users", s.preflight_token(EXO))
    assert wrong_audience.status_code == 401 and "Invalid audience" in wrong_audience.json()["error"]["message"]
    ece = s.app("ece-mail")  # app-only token with no application permissions
    bare = s.lab.app_token(ece["client_id"], ece["secrets"][0]["value"], GRAPH)["access_token"]
    denied = s.lab.graph("/v1.0/users", bare)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "Authorization_RequestDenied"
    missing = s.lab.graph("/v1.0/users/ghost@contoso.example", s.preflight_token(GRAPH))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_graph_pages_with_next_link(use_scenario, tmp_path):
    healthy = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios", "healthy.yml")
    paged = tmp_path / "paged.yml"
    paged.write_text("# healthy, two items a page\nextends: %s\nlab: {page_size: 2}\n" % healthy)
    s = use_scenario(str(paged))
    token = s.preflight_token(GRAPH)
    url, seen, pages = s.lab.state["graph_url"] + "/v1.0/users", [], 0
    while url and pages < 10:
        body = s.lab.session.get(url, headers={"Authorization": "Bearer " + token}).json()
        seen += [u["userPrincipalName"] for u in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) == len(s.tenant.users)


def test_exchange_admin_cmdlets(use_scenario):
    s = use_scenario("smtp-auth-tenant-off-mailbox-on")
    token = s.preflight_token(EXO)
    cas = s.lab.exchange("Get-CASMailbox", token, Identity="support@contoso.example").json()["value"][0]
    assert cas["ImapEnabled"] is True and cas["PopEnabled"] is True
    assert cas["SmtpClientAuthenticationDisabled"] is False
    shared = s.lab.exchange("Get-CASMailbox", token, Identity="sales@contoso.example").json()["value"][0]
    assert shared["SmtpClientAuthenticationDisabled"] is None, "unset: the tenant's value applies"
    transport = s.lab.exchange("Get-TransportConfig", token).json()["value"][0]
    assert transport["SmtpClientAuthenticationDisabled"] is True
    perms = s.lab.exchange("Get-MailboxPermission", token, Identity="sales@contoso.example").json()["value"]
    assert {"User": "ece.service@contoso.example", "AccessRights": ["FullAccess"], "Deny": False}.items() <= \
        [p for p in perms if p["User"] == "ece.service@contoso.example"][0].items()


def test_exchange_admin_reflects_imap_and_licence_scenarios(use_scenario):
    s = use_scenario("imap-disabled")
    cas = s.lab.exchange("Get-CASMailbox", s.preflight_token(EXO), Identity="support@contoso.example").json()
    assert cas["value"][0]["ImapEnabled"] is False
    s = use_scenario("no-exchange-licence")
    missing = s.lab.exchange("Get-CASMailbox", s.preflight_token(EXO), Identity="support@contoso.example")
    assert missing.status_code == 404 and "ManagementObjectNotFoundException" in missing.text
    s = use_scenario("shared-no-fullaccess")
    perms = s.lab.exchange("Get-MailboxPermission", s.preflight_token(EXO), Identity="sales@contoso.example").json()
    assert [p["User"] for p in perms["value"]] == ["NT AUTHORITY\\SELF"]


def test_exchange_admin_refuses_without_role_or_token(use_scenario):
    s = use_scenario("exchange-role-missing")
    forbidden = s.lab.exchange("Get-TransportConfig", s.preflight_token(EXO))
    assert forbidden.status_code == 403 and "isn't supported in this scenario" in forbidden.json()["error"]["message"]
    unauthorized = s.lab.exchange("Get-TransportConfig", s.preflight_token(GRAPH))
    assert unauthorized.status_code == 401 and 'error="invalid_token"' in unauthorized.headers["WWW-Authenticate"]


def _variant(tmp_path, text):
    healthy = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios", "healthy.yml")
    path = tmp_path / "variant.yml"
    path.write_text("# a test variant of healthy\nextends: %s\n%s" % (healthy, text))
    return str(path)


def test_graph_throttle_answers_then_serves(use_scenario, tmp_path):
    s = use_scenario(_variant(tmp_path, "lab: {graph_throttle: {status: 429, count: 2, retry_after: 3}}\n"))
    token = s.preflight_token(GRAPH)
    replies = [s.lab.graph("/v1.0/users/support@contoso.example", token) for _attempt in range(3)]
    assert [r.status_code for r in replies] == [429, 429, 200]
    assert replies[0].headers["Retry-After"] == "3" and replies[0].json()["error"]["code"] == "TooManyRequests"
    s = use_scenario(_variant(tmp_path, "lab: {graph_throttle: {status: 503, count: 1, retry_after: null}}\n"))
    outage = s.lab.graph("/v1.0/users", s.preflight_token(GRAPH))
    assert outage.status_code == 503 and "Retry-After" not in outage.headers
    assert s.lab.graph("/v1.0/users", s.preflight_token(GRAPH)).status_code == 200


def test_secret_near_expiry_still_works_and_shows_its_end(use_scenario):
    s = use_scenario("secret-near-expiry")
    app = s.app("ece-mail")
    assert "access_token" in s.lab.app_token(app["client_id"], app["secrets"][0]["value"], GRAPH)
    graph_app = s.lab.graph("/v1.0/applications(appId='%s')" % app["client_id"], s.preflight_token(GRAPH)).json()
    end = datetime.datetime.fromisoformat(graph_app["passwordCredentials"][0]["endDateTime"].replace("Z", "+00:00"))
    left = end - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=9) < left <= datetime.timedelta(days=10)


# -- issue 12 (graph): identities, licences, per-user consent, secrets, redirect platforms ----------

def test_a_proxy_address_is_no_key_but_filters_find_it(use_scenario):
    s = use_scenario("graph-address-not-upn")
    token = s.preflight_token(GRAPH)
    missing = s.lab.graph("/v1.0/users/helpdesk@contoso.example", token)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound", \
        "GET /users/{key} takes only an id or a UPN"
    assert s.lab.graph("/v1.0/users?$filter=mail eq 'helpdesk@contoso.example'", token).json()["value"] == []
    found = s.lab.graph("/v1.0/users?$filter=proxyAddresses/any(x:x eq 'smtp:HELPDESK@contoso.example')"
                        "&$select=id,userPrincipalName,mail,proxyAddresses", token).json()["value"]
    assert [u["userPrincipalName"] for u in found] == ["support@contoso.example"]
    assert found[0]["proxyAddresses"] == ["SMTP:support@contoso.example", "smtp:helpdesk@contoso.example"]
    bad = s.lab.graph("/v1.0/users?$filter=proxyAddresses/all(x:x eq 'a')", token)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_licence_details_refused_and_assigned_plans_with_microsofts_ids(use_scenario):
    s = use_scenario("graph-licence-read-refused")
    token = s.preflight_token(GRAPH)
    user = s.lab.graph("/v1.0/users/support@contoso.example?$select=id,assignedPlans,provisionedPlans", token).json()
    refused = s.lab.graph("/v1.0/users/%s/licenseDetails" % user["id"], token)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
    assert {"servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0", "service": "exchange",
            "capabilityStatus": "Enabled"}.items() <= user["assignedPlans"][0].items()
    assert {"service": "exchange", "provisioningStatus": "Success"}.items() <= user["provisionedPlans"][0].items()


def test_plan_statuses_verbatim_and_foundation_gives_no_mailbox(use_scenario):
    pending = use_scenario("graph-licence-pending")
    token = pending.preflight_token(GRAPH)
    uid = pending.lab.graph("/v1.0/users/support@contoso.example", token).json()["id"]
    plans = {p["servicePlanName"]: p["provisioningStatus"] for lic in pending.lab.graph(
        "/v1.0/users/%s/licenseDetails" % uid, token).json()["value"] for p in lic["servicePlans"]}
    assert plans["EXCHANGE_S_ENTERPRISE"] == "PendingProvisioning"
    foundation = use_scenario("graph-foundation-only")
    user = foundation.tenant.user("support@contoso.example")
    assert foundation.tenant.has_exchange_plan(user) is False and foundation.tenant.has_mailbox(user) is False


def test_per_user_consent_is_a_principal_grant(use_scenario):
    s = use_scenario("graph-per-user-consent")
    token = s.preflight_token(GRAPH)
    grants = s.lab.graph("/v1.0/servicePrincipals/%s/oauth2PermissionGrants" % s.app("ece-mail")["service_principal_id"],
                         token).json()["value"]
    assert [g["consentType"] for g in grants] == ["Principal", "Principal"], "no admin consent"
    by_user = {g["principalId"]: g["scope"].split() for g in grants}
    support = s.tenant.user("support@contoso.example")["object_id"]
    assert "POP.AccessAsUser.All" in by_user[support]


def test_secret_hints_are_the_first_three_characters_and_spa_uris_are_served(use_scenario):
    s = use_scenario("graph-secret-in-use-expired")
    token = s.preflight_token(GRAPH)
    app = s.lab.graph("/v1.0/applications(appId='%s')" % s.app("ece-mail")["client_id"], token).json()
    assert [c["hint"] for c in app["passwordCredentials"]] == ["lab", "Nw4"]
    spa = use_scenario("graph-redirect-spa")
    app = spa.lab.graph("/v1.0/applications(appId='%s')" % spa.app("ece-mail")["client_id"],
                        spa.preflight_token(GRAPH)).json()
    assert app["web"]["redirectUris"] == [] and app["spa"]["redirectUris"] == [
        "https://ece.contoso.example/system/oauth2/callback"] and app["publicClient"]["redirectUris"] == []
