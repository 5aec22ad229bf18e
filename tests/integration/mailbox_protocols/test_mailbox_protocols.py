# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mailbox_protocols against the lab's Dovecot: each scenario's classification on each protocol."""

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _mail
from ece_lab import control
from ece_lab.clients import Lab
from ece_lab.identity import Issuer, SigningKey
from ece_lab.tenant import load

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCENARIOS = os.path.join(REPO, "tests", "lab", "scenarios")
COLLECTIONS = os.path.join(REPO, ".build", "collections")
MAIL_SCOPES = ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/POP.AccessAsUser.All",
               "https://outlook.office.com/SMTP.Send"]


@pytest.fixture
def scenario(lab):
    """Switch the session lab to a scenario; return (tenant, Lab client); back to healthy after."""
    def use(name):
        path = os.path.join(SCENARIOS, name + ".yml")
        control.switch(path, lab["run_dir"])
        tenant = load(path)
        return tenant, Lab(lab["run_dir"], tenant=tenant)
    yield use
    control.switch(os.path.join(SCENARIOS, "healthy.yml"), lab["run_dir"])


def token_for(tenant, client, refresh_key):
    app = tenant.applications["ece-mail"]
    reply = client.msal_app(app["client_id"], app["secrets"][0]["value"]).acquire_token_by_refresh_token(
        tenant.refresh_tokens[refresh_key]["value"], scopes=MAIL_SCOPES)
    return reply["access_token"]


def logins(client, login, token, protocols=("imap", "pop3", "smtp"), address=None, smtp_login=None, sender=None,
           **settings):
    """As ECE logs in: IMAP/POP3 as LOGIN, SMTP as SMTP_LOGIN (the account; default LOGIN) with MAIL FROM SENDER."""
    ports = {"imap": client.ports["imaps"], "pop3": client.ports["pop3s"], "smtp": client.ports["submission"]}
    jobs = [dict(protocol=p, host="127.0.0.1", port=ports[p], address=address or login,
                 login=(smtp_login or login) if p == "smtp" else login, token=token, mechanism="xoauth2", timeout=10,
                 settings={"sender": sender or address or login}) for p in protocols]
    results = _mail.login_all(jobs, dict(settings, ca_path=client.state["ca"]), 30)
    assert token not in json.dumps(results), "the token never appears in a result"
    assert {r["address"] for r in results} == {address or login}
    for result in results:
        assert result["ok"] is (result["error_class"] is None) and "error" not in result
    return {r["protocol"]: r for r in results}


def errors(results):
    return {protocol: result["error_class"] for protocol, result in results.items()}


def test_healthy_all_three_and_a_message_arrives(scenario):
    tenant, client = scenario("healthy")
    sink = os.path.join(client.state["run_dir"], "sink")
    before = set(os.listdir(sink))
    results = logins(client, "support@contoso.example", token_for(tenant, client, "support"),
                     send_test_message=True, test_recipient="support@contoso.example")
    assert errors(results) == {"imap": None, "pop3": None, "smtp": None}
    assert results["imap"]["followup"]["command"] == "EXAMINE INBOX"
    assert results["pop3"]["followup"]["command"] == "STAT"
    assert results["smtp"]["test_message"]["accepted"] and results["smtp"]["test_message"]["queue_id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not set(os.listdir(sink)) - before:
        time.sleep(0.05)
    assert len(set(os.listdir(sink)) - before) == 1


def test_shared_model_with_and_without_fullaccess(scenario):
    tenant, client = scenario("healthy")
    token = token_for(tenant, client, "ece-service")
    results = logins(client, "sales@contoso.example", token, smtp_login="ece.service@contoso.example")
    assert errors(results) == {"imap": None, "pop3": None, "smtp": None}
    assert (results["smtp"]["login"], results["smtp"]["mail_from"]) == ("ece.service@contoso.example",
                                                                        "sales@contoso.example")
    assert results["smtp"]["followup"]["reply"] == "250 2.1.0 Sender OK"
    tenant, client = scenario("shared-no-fullaccess")
    assert errors(logins(client, "sales@contoso.example", token_for(tenant, client, "ece-service"),
                         smtp_login="ece.service@contoso.example")) == \
        {"imap": "auth_failed", "pop3": "auth_failed", "smtp": None}, "SMTP needs Send As, not FullAccess"


def test_smtp_as_the_shared_mailbox_with_the_delegates_token_is_refused_535_5_7_3(scenario):
    """What the collection did before issue 12, and what Exchange answers to it
    (https://github.com/nextcloud/mail/issues/13667, https://github.com/frappe/frappe/issues/23079)."""
    tenant, client = scenario("healthy")
    result = logins(client, "sales@contoso.example", token_for(tenant, client, "ece-service"), protocols=("smtp",))
    assert result["smtp"]["error_class"] == "auth_failed" and "5.7.3 Authentication unsuccessful" in \
        result["smtp"]["reply"]


@pytest.mark.parametrize("name, error_class", [("healthy", None), ("exchange-send-as-missing", "send_as_denied")])
def test_send_as_shows_only_when_a_message_is_submitted(scenario, name, error_class):
    tenant, client = scenario(name)
    token = token_for(tenant, client, "ece-service")
    shared = dict(protocols=("smtp",), smtp_login="ece.service@contoso.example", address="sales@contoso.example")
    assert logins(client, "sales@contoso.example", token, **shared)["smtp"]["error_class"] is None, \
        "MAIL FROM then RSET proves no Send As"
    result = logins(client, "sales@contoso.example", token, send_test_message=True,
                    test_recipient="support@contoso.example", **shared)["smtp"]
    assert result["error_class"] == error_class and result["followup"]["reply"] == "250 2.1.0 Sender OK"
    if error_class:
        assert result["reply"].startswith("554 5.2.252 SendAsDenied; ece.service@contoso.example not allowed to "
                                          "send as sales@contoso.example; STOREDRV.Submission.Exception:")
        assert ("Add-RecipientPermission -Identity sales@contoso.example -Trustee ece.service@contoso.example "
                "-AccessRights SendAs") in result["message"]
        assert result["test_message"]["accepted"] is False


def test_xoauth2_not_offered_is_auth_unsupported_on_every_protocol(scenario):
    tenant, client = scenario("mail-xoauth2-not-offered")
    results = logins(client, "support@contoso.example", token_for(tenant, client, "support"))
    assert errors(results) == {"imap": "auth_unsupported", "pop3": "auth_unsupported", "smtp": "auth_unsupported"}
    for result in results.values():
        assert sorted(result["mechanisms_offered"]) == ["LOGIN", "PLAIN"] and result["authenticated"] is False
        assert "not XOAUTH2" in result["message"] and "refused the token" not in result["message"]
    tenant, client = scenario("healthy")
    results = logins(client, "support@contoso.example", token_for(tenant, client, "support"))
    assert all("XOAUTH2" in r["mechanisms_offered"] for r in results.values())


@pytest.mark.parametrize("name, expected", [
    ("imap-disabled", {"imap": "auth_failed", "pop3": None, "smtp": None}),
    ("no-exchange-licence", {"imap": "not_connected", "pop3": "auth_failed", "smtp": "mailbox_unavailable"}),
    ("smtp-auth-disabled-tenant", {"imap": None, "pop3": None, "smtp": "smtp_auth_disabled"}),
    ("smtp-auth-tenant-off-mailbox-on", {"imap": None, "pop3": None, "smtp": None}),
    ("token-wrong-owner", {"imap": "auth_failed", "pop3": "auth_failed", "smtp": "auth_failed"}),
])
def test_scenarios_classified_per_protocol(scenario, name, expected):
    tenant, client = scenario(name)
    results = logins(client, "support@contoso.example", token_for(tenant, client, "support"))
    assert errors(results) == expected
    for result in results.values():
        if result["error_class"]:
            assert "Fix:" in result["message"] and "support@contoso.example" in result["message"]
            if result["error_class"] in _mail.MAIL_CLASSES:
                meaning, fix = _mail.MAIL_CLASSES[result["error_class"]]
                assert result["meaning"].startswith(meaning) and fix in result["message"]


def test_the_reverse_smtp_case_mailbox_off_tenant_on(scenario, tmp_path):
    path = tmp_path / "mailbox-off.yml"
    path.write_text("# mailbox SMTP AUTH off, tenant on\nextends: %s\nusers:\n  support@contoso.example:\n"
                    "    mailbox: {smtp_client_authentication_disabled: true}\n" % os.path.join(SCENARIOS, "healthy.yml"))
    tenant, client = scenario("healthy")
    control.switch(str(path), client.state["run_dir"])
    result = logins(client, "support@contoso.example", token_for(tenant, client, "support"), protocols=("smtp",))
    assert result["smtp"]["error_class"] == "smtp_auth_disabled" and "for the Mailbox" in result["smtp"]["reply"]
    assert "disabled on the mailbox" in result["smtp"]["meaning"]


def _mint(client, tenant, **claims):
    with open(client.state["signing_key"], "rb") as handle:
        key = SigningKey(handle.read())
    return Issuer(tenant, key, client.state["login_url"]).mint(claims, user="support@contoso.example", app_key="ece-mail")


def test_wrong_audience_and_expired_tokens(scenario):
    tenant, client = scenario("healthy")
    wrong_audience = _mint(client, tenant, aud="https://graph.microsoft.com")
    expired = _mint(client, tenant, exp=int(time.time()) - 120)
    for token in (wrong_audience, expired):
        assert set(errors(logins(client, "support@contoso.example", token)).values()) == {"auth_failed"}


def _count_mail(run_dir):
    mail = os.path.join(run_dir, "dovecot", "mail", "support@contoso.example")
    return sorted(os.path.relpath(os.path.join(root, f), mail) for root, _d, files in os.walk(mail) for f in files
                  if "/new/" in os.path.join(root, f) or "/cur/" in os.path.join(root, f))


def test_mailbox_is_unchanged_after_repeated_runs(scenario):
    tenant, client = scenario("healthy")
    token = token_for(tenant, client, "support")
    logins(client, "support@contoso.example", token)
    before = _count_mail(client.state["run_dir"])
    for _run in range(3):
        assert errors(logins(client, "support@contoso.example", token)) == {"imap": None, "pop3": None, "smtp": None}
    assert _count_mail(client.state["run_dir"]) == before


def test_module_through_ansible_playbook_never_shows_the_token(scenario, tmp_path):
    tenant, client = scenario("healthy")
    token = token_for(tenant, client, "support")
    playbook = tmp_path / "mail.yml"
    playbook.write_text("""
- name: Log in as ECE does
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Logins
      ece_o365.preflight.mailbox_protocols:
        access_token: "{{ lookup('ansible.builtin.env', 'LAB_TOKEN') }}"
        imap_host: 127.0.0.1
        imap_port: %(imaps)d
        pop3_host: 127.0.0.1
        pop3_port: %(pop3s)d
        smtp_host: 127.0.0.1
        smtp_port: %(submission)d
        ca_path: %(ca)s
        mailboxes:
          - address: support@contoso.example
      register: mail
    - name: Check
      ansible.builtin.assert:
        that:
          - mail is not changed
          - mail.summary.ok == 2
          - mail.results | map(attribute='protocol') | list == ['imap', 'smtp']
          - mail.results | map(attribute='address') | unique | list == ['support@contoso.example']
          - mail.results | map(attribute='ok') | list == [true, true]
""" % dict(client.ports, ca=client.state["ca"]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable, LAB_TOKEN=token)
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvvv", "--check",
                          "-c", "local", "-i", "localhost,", str(playbook)],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stdout[-3000:]
    assert token not in out.stdout + out.stderr
    assert token.split(".")[1][:40] not in out.stdout + out.stderr


def _module_args(client, tenant, **extra):
    app = tenant.applications["ece-mail"]
    args = {"authority": client.state["authority"], "ca_path": client.state["ca"], "client_id": app["client_id"],
            "client_secret": app["secrets"][0]["value"], "imap_host": "127.0.0.1", "imap_port": client.ports["imaps"],
            "pop3_host": "127.0.0.1", "pop3_port": client.ports["pop3s"], "smtp_host": "127.0.0.1",
            "smtp_port": client.ports["submission"]}
    args.update(extra)
    return args


def test_module_redeems_the_stored_refresh_token_itself(scenario):
    from identity_helpers import run_module
    from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_protocols
    tenant, client = scenario("healthy")
    refresh = tenant.refresh_tokens["ece-service"]["value"]
    result = run_module(mailbox_protocols, _module_args(client, tenant, mailboxes=[
        {"address": "sales@contoso.example", "account": "ece.service@contoso.example", "refresh_token": refresh}]))
    assert result["summary"] == {"total": 2, "ok": 2, "failed": 0, "errors": {}}, result
    assert [(r["protocol"], r["login"], r["mail_from"], r["ok"]) for r in result["results"]] == [
        ("imap", "sales@contoso.example", None, True),
        ("smtp", "ece.service@contoso.example", "sales@contoso.example", True)]
    token = result["tokens"][0]
    assert token["scopes_requested"] == ["https://outlook.office.com/IMAP.AccessAsUser.All",
                                         "https://outlook.office.com/SMTP.Send", "offline_access", "openid", "profile"]
    assert not any("POP.AccessAsUser.All" in scope for scope in token["scopes"]), "the token has what was asked"
    assert (token["address"], token["account"], token["token_owner"]) == (
        "sales@contoso.example", "ece.service@contoso.example", "ece.service@contoso.example")
    assert token["source"] == "refresh_token" and token["ok"] is True and token["error_class"] is None
    assert refresh not in json.dumps(result) and "eyJ" not in json.dumps(result)


def test_module_reports_entra_refusing_the_refresh_token(scenario):
    from identity_helpers import run_module
    from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_protocols
    tenant, client = scenario("refresh-token-inactive")
    result = run_module(mailbox_protocols, _module_args(client, tenant, mailboxes=[
        {"address": "support@contoso.example", "refresh_token": tenant.refresh_tokens["support"]["value"],
         "protocols": ["imap"]}]))
    assert result["results"][0]["error_class"] == result["tokens"][0]["error_class"] == "aadsts"
    assert result["results"][0]["address"] == result["tokens"][0]["address"] == "support@contoso.example"
    assert result["tokens"][0]["aadsts"]["code"] == 700082 and result["tokens"][0]["ok"] is False
    assert "700082" in result["results"][0]["message"]


def test_module_shared_model_logs_in_as_each_mailbox_with_the_delegates_token(scenario):
    from identity_helpers import run_module
    from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_protocols
    tenant, client = scenario("healthy")
    refresh = tenant.refresh_tokens["ece-service"]["value"]
    result = run_module(mailbox_protocols, _module_args(client, tenant, refresh_token=refresh, mailboxes=[
        {"address": "sales@contoso.example", "account": "ece.service@contoso.example", "protocols": ["imap"]},
        {"address": "support@contoso.example", "account": "ece.service@contoso.example", "protocols": ["smtp"]}]))
    assert [(r["address"], r["protocol"]) for r in result["results"]] == [
        ("sales@contoso.example", "imap"), ("support@contoso.example", "smtp")]
    assert result["results"][0]["ok"] is True, result["results"][0]["message"]
    assert [t["address"] for t in result["tokens"]] == ["sales@contoso.example", "support@contoso.example"]
    assert len({t["token_owner"] for t in result["tokens"]}) == 1, "one account's token for both"
    assert [t["scopes_requested"][0].rsplit("/", 1)[1] for t in result["tokens"]] == [
        "IMAP.AccessAsUser.All", "SMTP.Send"], "each refresh asks for its mailbox's protocols only"
    assert result["results"][1]["login"] == "ece.service@contoso.example"


@pytest.mark.parametrize("protocols, error_class", [(["imap", "smtp"], None), (["imap", "pop3", "smtp"], "aadsts")])
def test_partial_consent_passes_for_the_protocols_used_and_fails_only_when_pop_is_asked(scenario, protocols,
                                                                                        error_class):
    """Admin consent for IMAP and SMTP only (entra-partial-consent): a refresh that asks for POP too gets
    AADSTS65001; one that asks for what the mailbox uses gets its token."""
    from identity_helpers import run_module
    from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_protocols
    tenant, client = scenario("entra-partial-consent")
    result = run_module(mailbox_protocols, _module_args(client, tenant, mailboxes=[
        {"address": "support@contoso.example", "refresh_token": tenant.refresh_tokens["support"]["value"],
         "protocols": protocols}]))
    assert {r["error_class"] for r in result["results"]} == {error_class}, result["results"]
    if error_class:
        assert result["tokens"][0]["aadsts"]["code"] == 65001
