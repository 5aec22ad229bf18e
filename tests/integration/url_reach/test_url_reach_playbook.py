# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real module through ansible-playbook (connection local): result shape, not changed, and no
planted secret (Authorization header, proxy password) anywhere in the output at -vvvv."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
TOKEN = "eyJplanted.Auth0rization.t0ken-value"

PLAYBOOK = """
- name: url_reach from the host itself
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Reach the local servers through the proxy
      ece_o365.preflight.url_reach:
        urls:
          - name: good
            url: "{{ good_url }}"
            purpose: oidc_discovery
            expect:
              status: [200]
              assertions:
                - "contains(issuer, '444444444444')"
          - name: refused
            url: "{{ refused_url }}"
            purpose: token_endpoint
            timeout: 2
        ca_path: "{{ ca }}"
        proxy: "{{ proxy }}"
        headers:
          Authorization: "Bearer {{ token }}"
          Accept: application/json
        timeout: 5
      register: reach

    - name: The probe changes nothing and reports a failing URL as a finding
      ansible.builtin.assert:
        that:
          - reach is not changed
          - reach is not failed
          - reach.results | length == 2
          - reach.results[0].ok
          - reach.results[0].json.issuer is search('444444444444')
          - reach.results[1].error_class == 'proxy'
          - reach.summary.errors == 1

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ reach | to_nice_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def ansible_playbook():
    for candidate in (os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), shutil.which("ansible-playbook")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("ansible-playbook is missing: tools/bootstrap.sh installs ansible-core into .venv")
    return None


@pytest.fixture
def playbook_run(tmp_path, https_servers, reach_certs, tinyproxy_auth, refused_port):
    """run(*flags) -> (completed process, result dict, seconds) of the playbook above."""
    playbook = tmp_path / "reach.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "result.json"
    proxy = "http://%s:%s@127.0.0.1:%d" % (tinyproxy_auth.user, tinyproxy_auth.password, tinyproxy_auth.port)
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({
        "good_url": "https://127.0.0.1:%d/discovery" % https_servers["good"].port,
        "refused_url": "https://127.0.0.1:%d/" % refused_port,
        "ca": reach_certs.ca, "proxy": proxy, "token": TOKEN, "out": str(out),
        "ansible_python_interpreter": sys.executable,
    }))
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.join(REPO, ".build", "collections"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote-tmp"), "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })

    def run(*flags):
        start = time.monotonic()
        process = subprocess.run([ansible_playbook(), "-i", "localhost,", "-c", "local", "-e", "@%s" % variables]
                                 + list(flags) + [str(playbook)], env=env, cwd=str(tmp_path), capture_output=True,
                                 text=True, timeout=120, check=False)
        seconds = time.monotonic() - start
        assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
        with open(str(out), encoding="utf-8") as handle:
            return process, json.load(handle), seconds
    run.password = tinyproxy_auth.password
    run.port = tinyproxy_auth.port
    return run


def test_playbook_result_shape_and_not_changed(playbook_run):
    process, result, dummy = playbook_run()

    assert result["changed"] is False and not result.get("failed")
    assert set(result["summary"]) == {"total", "ok", "errors", "by_class", "elapsed_ms", "deadline_reached"}
    good, refused = result["results"]
    assert set(good) == set(refused)  # one shape, whatever happened
    assert good["status"] == 200 and good["purpose"] == "oidc_discovery"
    # expect travels unchanged to the judge; the JSON body is there for it to evaluate.
    assert good["expect"] == {"status": [200], "assertions": ["contains(issuer, '444444444444')"]}
    assert "444444444444" in good["json"]["issuer"]
    assert good["proxy"] == "http://ece:********@127.0.0.1:%d" % playbook_run.port
    assert refused["purpose"] == "token_endpoint" and refused["expect"] is None
    assert set(good["tls"]["certificate"]) >= {"subject", "issuer", "sans", "not_after", "days_left"}
    assert good["timings"]["proxy_tunnel_ms"] is not None and good["clock_skew_seconds"] is not None
    assert refused["error_class"] == "proxy" and refused["status"] is None and refused["tls"] is None
    assert "PLAY RECAP" in process.stdout and "changed=1" in process.stdout  # only the copy task changed


def test_no_secret_in_the_output_at_vvvv(playbook_run):
    process, result, dummy = playbook_run("-vvvv")
    output = process.stdout + process.stderr

    # The verbose output does carry the module's result and its invocation...
    assert '"module_args"' in output and '"clock_skew_seconds"' in output
    assert "http://ece:********@127.0.0.1:" in output  # the proxy in the results, only its password hidden
    # The argument itself (the whole URL carries the password) is masked by Ansible.
    assert '"proxy": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in output
    # ...but neither planted secret, anywhere.
    assert TOKEN not in output and TOKEN not in json.dumps(result)
    assert playbook_run.password not in output and playbook_run.password not in json.dumps(result)
