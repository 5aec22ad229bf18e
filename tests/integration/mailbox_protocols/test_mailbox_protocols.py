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


def logins(client, login, token, protocols=("imap", "pop3", "smtp"), address=None, **settings):
    ports = {"imap": client.ports["imaps"], "pop3": client.ports["pop3s"], "smtp": client.ports["submission"]}
    jobs = [dict(protocol=p, host="127.0.0.1", port=ports[p], address=address or login, login=login, token=token,
                 mechanism="xoauth2", timeout=10) for p in protocols]
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
    assert errors(logins(client, "sales@contoso.example", token_for(tenant, client, "ece-service"))) == \
        {"imap": None, "pop3": None, "smtp": None}
    tenant, client = scenario("shared-no-fullaccess")
    assert errors(logins(client, "sales@contoso.example", token_for(tenant, client, "ece-service"))) == \
        {"imap": "auth_failed", "pop3": "auth_failed", "smtp": "auth_failed"}


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
          - mail.summary.ok == 3
          - mail.results | map(attribute='address') | unique | list == ['support@contoso.example']
          - mail.results | map(attribute='ok') | list == [true, true, true]
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
    assert result["summary"] == {"total": 3, "ok": 3, "failed": 0, "errors": {}}, result
    assert [(r["address"], r["login"], r["ok"]) for r in result["results"]] == [("sales@contoso.example",) * 2 + (True,)] * 3
    token = result["tokens"][0]
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
    assert len({t["token_owner"] for t in result["tokens"]}) == 1, "the refresh token was redeemed once"
