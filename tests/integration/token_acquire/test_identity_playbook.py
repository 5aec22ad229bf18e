# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""token_acquire and tenant_info through a real ansible-playbook run (connection local, check mode,
-vvvv) against the lab: every secret is planted (client secrets, refresh token, password, proxy
password, the token handed from one task to the next) and then searched for in everything the run
printed - zero hits."""

import json
import os
import re

from identity_helpers import ConnectProxy, ansible_playbook

PLAYBOOK = """
- name: Identity and tenant, as an operator would run them
  hosts: localhost
  gather_facts: false
  vars_files:
    - vars.json
  tasks:
    - name: ECE's stored refresh token still works from this host, through the site proxy; whose is it?
      ece_o365.preflight.token_acquire:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ ece_client_id }}"
        client_secret: "{{ ece_secret }}"
        refresh_token: "{{ refresh_token }}"
        proxy: "{{ proxy }}"
      register: ece_token

    - name: A test account signs in with its password
      ece_o365.preflight.token_acquire:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ ece_client_id }}"
        client_secret: "{{ ece_secret }}"
        username: ece.service@contoso.example
        password: "{{ password }}"
      register: password_token

    - name: An app-only Graph token, handed to the next task (hidden by no_log)
      ece_o365.preflight.token_acquire:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ preflight_client_id }}"
        client_secret: "{{ preflight_secret }}"
        return_token: true
      register: graph
      no_log: true

    - name: Asking for the token without no_log is refused
      ece_o365.preflight.token_acquire:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ preflight_client_id }}"
        client_secret: "{{ preflight_secret }}"
        return_token: true
      register: refused
      ignore_errors: true

    - name: A refused refresh token fails the gate with Microsoft's code and the fix
      ece_o365.preflight.token_acquire:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ ece_client_id }}"
        client_secret: "{{ ece_secret }}"
        refresh_token: "{{ refresh_token }}-truncated"
        fail_on_error: true
      register: gate
      ignore_errors: true

    - name: The ECE app registration and the mailboxes, with the handed-on token
      ece_o365.preflight.tenant_info:
        access_token: "{{ graph.access_token }}"
        graph_url: "{{ graph_url }}"
        ca_path: "{{ ca }}"
        application_id: "{{ ece_client_id }}"
        users: [support@contoso.example, sales@contoso.example]
      register: with_token

    - name: The same, acquiring its own token through the proxy
      ece_o365.preflight.tenant_info:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ preflight_client_id }}"
        client_secret: "{{ preflight_secret }}"
        proxy: "{{ proxy }}"
        graph_url: "{{ graph_url }}"
        application_id: "{{ ece_client_id }}"
        users: [former.agent@contoso.example]
      register: own_token

    - name: What the operator learns
      ansible.builtin.assert:
        that:
          - ece_token is not changed
          - ece_token.acquired
          - ece_token.token_owner == 'support@contoso.example'
          - ece_token.lifetime_seconds >= 3600
          - ece_token.proxy is search('\\\\*{8}@127.0.0.1')
          - password_token.token_owner == 'ece.service@contoso.example'
          - graph.access_token | length > 100
          - refused is failed
          - "'no_log: true on the task' in refused.msg"
          - gate is failed
          - gate.aadsts.code == 9002313
          - with_token is not changed
          - with_token.error_class is none
          - with_token.ok
          - with_token.application.redirect_uris.web == ['https://ece.contoso.example/system/oauth2/callback']
          - with_token.users | map(attribute='address') | list == ['support@contoso.example', 'sales@contoso.example']
          - with_token.users[0].licences | map(attribute='service_plans') | flatten | map(attribute='name')
            is contains('EXCHANGE_S_ENTERPRISE')
          - with_token.users[1].licences == []
          - own_token.token.roles | length == 3
          - own_token.users[0].enabled == false

    - name: Keep the handed-on token for the test's search (hidden)
      ansible.builtin.copy:
        content: "{{ graph.access_token }}"
        dest: "{{ out }}"
        mode: "0600"
      no_log: true
      check_mode: false
"""


def test_playbook_at_vvvv_in_check_mode_shows_no_secret(lab, scenarios, tmp_path):
    tenant = scenarios.use("healthy")
    ece, preflight = tenant.applications["ece-mail"], tenant.applications["preflight"]
    proxy = ConnectProxy(auth=("ece", "Planted-Proxy-Pw-7"))
    out = tmp_path / "graph-token"
    secrets = {
        "ece_secret": ece["secrets"][0]["value"],
        "preflight_secret": preflight["secrets"][0]["value"],
        "refresh_token": tenant.refresh_tokens["support"]["value"],
        "password": tenant.users["ece.service@contoso.example"]["password"],
        "proxy_password": "Planted-Proxy-Pw-7",
    }
    (tmp_path / "vars.json").write_text(json.dumps({
        "authority": lab["authority"], "ca": lab["ca"], "graph_url": lab["graph_url"], "out": str(out),
        "ece_client_id": ece["client_id"], "preflight_client_id": preflight["client_id"], "proxy": proxy.url,
        "ece_secret": secrets["ece_secret"], "preflight_secret": secrets["preflight_secret"],
        "refresh_token": secrets["refresh_token"], "password": secrets["password"]}))
    playbook = tmp_path / "identity.yml"
    playbook.write_text(PLAYBOOK)
    try:
        run = ansible_playbook(playbook, "--check", "-vvvv")
    finally:
        proxy.close()
    output = run.stdout + run.stderr
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # changed=1: only the copy that keeps the token for this test
    assert re.search(r"localhost\s+: ok=9\s+changed=1 .* failed=0 .* ignored=2", output), output[-1500:]
    assert {c["credentials"] for c in proxy.connects} == {"ece:Planted-Proxy-Pw-7"}, "the proxy was really used"
    secrets["handed_on_token"] = out.read_text()
    assert secrets["handed_on_token"].count(".") == 2
    for name, value in secrets.items():
        assert value not in output, "%s appears in the -vvvv output" % name
    assert "0.lab." not in output, "no refresh token (stored or rotated) appears"
    assert not re.search(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}", output), "no JWT (access or id token) appears"
    assert "the output has been hidden" in output, "the no_log task's result is censored"
    assert os.stat(str(out)).st_mode & 0o777 == 0o600


LEAK = """
- name: A careless later task prints the registered token
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Token handed on under no_log
      ece_o365.preflight.token_acquire:
        authority: "{{ authority }}"
        ca_path: "{{ ca }}"
        client_id: "{{ client_id }}"
        client_secret: "{{ secret }}"
        return_token: true
      register: graph
      no_log: true

    - name: Printing it shows it (what docs/identity.md warns about)
      ansible.builtin.debug:
        var: graph.access_token
"""


def test_the_secret_search_catches_a_token_a_later_task_prints(lab, scenarios, tmp_path):
    tenant = scenarios.use("healthy")
    preflight = tenant.applications["preflight"]
    playbook = tmp_path / "leak.yml"
    playbook.write_text(LEAK)
    run = ansible_playbook(playbook, "-e", json.dumps({
        "authority": lab["authority"], "ca": lab["ca"], "client_id": preflight["client_id"],
        "secret": preflight["secrets"][0]["value"]}))
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}", run.stdout), "the search above would have caught it"
