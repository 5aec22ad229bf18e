# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preflight run as AWX and Automation Platform run a job (docs/awx.md): ansible-runner's private data
directory, with ansible_runner.run() in this process and process isolation off (the execution
environment's container is the one thing left out: the collection comes from ANSIBLE_COLLECTIONS_PATH, as
an execution environment that has it installed would give it), against the fleet lab over real SSH.

What AWX writes for a job, and this test too:
- project/: the source-control checkout - a playbook importing ece_o365.preflight.preflight (and one
  importing fleet_audit), an ansible.cfg enabling the preflight_summary callback (callbacks_enabled), and
  vault.yml, the refresh tokens ECE stored, encrypted with Ansible Vault, loaded by the playbooks' first play;
- inventory/hosts.yml: the fleet lab's inventory, its secrets replaced by the variables that carry them;
- env/extravars: the job template's extra variables and survey answers;
- env/envvars: the environment (here only the collections path);
- the custom credential type's extra_vars injector: a file of its own under env/, passed as -e @file
  (AWX's CredentialType.inject_credential), the Vault credential as --ask-vault-pass answered from
  env/passwords (AWX's 'Vault password:' prompt), the job's tags as --tags.
Then: status and rc, the job events and stdout under artifacts/<ident>/, the reports and the audit history
under artifacts/<ident>/reports (the role's default under ansible-runner: AWX_ISOLATED_DATA_DIR), the
set_stats data in the playbook_on_stats event (AWX stores it as the job's artifacts; a workflow branches on
it), no secret in any artifact, a broken scenario failing with its ids in the stats, and --tags that leave
the probes out ending in a failed, judged run that says so.
Run under the fleet lock: flock /tmp/ece-fleet.lock python -m pytest tests/integration/runner -q"""

import contextlib
import ctypes
import glob
import json
import os
import time

import ansible_runner
import pytest
import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret

from fleet_run import COLLECTIONS
from ece_lab import fleet as lab_fleet

CLONE_NEWNET = 0x40000000
SUPPORT = "support@contoso.example"
VAULT_PASSWORD = "Planted-Vault-Pw-0815"
FORMATS = {"json": "preflight.json", "junit": "preflight-junit.xml", "markdown": "preflight.md",
           "html": "preflight.html"}
# The job template's project (docs/awx.md, "The project"), as committed to source control: each playbook first
# loads the vaulted refresh tokens on every host of the run (vars beside a playbook that imports the
# collection's are not read: its plays take the collection's directory as theirs), then imports the collection's.
TOKENS_PLAY = """---
- name: The refresh tokens ECE stored, from the project's vault
  hosts: all
  gather_facts: false
  tasks:
    - name: Load vault.yml (the job's Vault credential opens it)
      ansible.builtin.include_vars:
        file: "{{ playbook_dir }}/vault.yml"
      tags: [always]  # whatever the job's tags

"""
PLAYBOOKS = {
    "preflight.yml": TOKENS_PLAY + "- name: ECE / Microsoft 365 preflight\n"
                                   "  ansible.builtin.import_playbook: ece_o365.preflight.preflight\n",
    "audit.yml": TOKENS_PLAY + "- name: ECE / Microsoft 365 daily audit\n"
                               "  ansible.builtin.import_playbook: ece_o365.preflight.fleet_audit\n",
}
ANSIBLE_CFG = "[defaults]\ncallbacks_enabled = ece_o365.preflight.preflight_summary\n"
# The custom credential type's injector (docs/awx.md, "The credential type"): its secret fields as extra vars.
CREDENTIAL_FIELDS = {"ece_o365_preflight_client_secret": "preflight_client_secret",
                     "ece_o365_ece_app_client_secret": "ece_app_client_secret"}
# Survey answers and extra variables of the job template (docs/awx.md, "Survey").
EXTRA_VARS = {"ece_o365_report_show_table": False, "ece_o365_fail_on_warn": "false"}  # a survey answer is a string


@contextlib.contextmanager
def _controller_namespace(state):
    """This thread in the fleet's controller namespace (what `ip netns exec` does for a command), so that
    ansible_runner.run() itself runs here, in-process, and ansible-playbook, which it forks, runs there."""
    prefix = lab_fleet.netns_exec(state, "ctl")
    if not prefix:  # the loopback fallback: everything in this namespace
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(os.path.join("/run/netns", prefix[-1]), os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the controller namespace")
        yield
    finally:
        if libc.setns(own, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(own)
        os.close(target)


def _write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _job_dir(base, fleet_state):
    """The private data directory AWX would write for the job template; returns it and every secret in it."""
    with open(fleet_state["inventories"]["ssh"], encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    variables = inventory["all"]["vars"]
    credential = dict((field, variables.pop(var)) for var, field in CREDENTIAL_FIELDS.items() if var in variables)
    vaulted = {}
    for index, mailbox in enumerate(variables.get("ece_o365_mailboxes") or []):
        if mailbox.get("refresh_token"):
            name = "vault_rt_%d" % index
            vaulted[name] = mailbox["refresh_token"]
            mailbox["refresh_token"] = "{{ %s }}" % name
    project = os.path.join(base, "project")
    for name, text in PLAYBOOKS.items():
        _write(os.path.join(project, name), text, 0o644)
    _write(os.path.join(project, "ansible.cfg"), ANSIBLE_CFG, 0o644)
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(VAULT_PASSWORD.encode()))])
    _write(os.path.join(project, "vault.yml"),
           vault.encrypt(yaml.safe_dump(vaulted)).decode(), 0o644)
    _write(os.path.join(base, "inventory", "hosts.yml"), yaml.safe_dump(inventory, sort_keys=False), 0o700)
    _write(os.path.join(base, "env", "extravars"), yaml.safe_dump(EXTRA_VARS))
    _write(os.path.join(base, "env", "envvars"), yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}))
    injected = os.path.join(base, "env", "tmp-credential")
    _write(os.path.join(base, "env", "tmp-credential"),
           yaml.safe_dump(dict((var, credential[field]) for var, field in CREDENTIAL_FIELDS.items()
                               if field in credential)), 0o400)
    _write(os.path.join(base, "env", "passwords"), yaml.safe_dump({r"Vault password:\s*?$": VAULT_PASSWORD}))
    _write(os.path.join(base, "env", "cmdline"), "-e @%s --ask-vault-pass" % injected)
    secrets = [VAULT_PASSWORD] + list(credential.values()) + list(vaulted.values())
    assert len(secrets) >= 4 and all(len(s) >= 8 for s in secrets), "the lab's secrets were not found"
    return base, secrets


def _run(fleet, base, scenario, ident, playbook="preflight.yml", **kwargs):
    fleet.switch(scenario)
    private, secrets = _job_dir(str(base), fleet.state)
    start = time.monotonic()
    with _controller_namespace(fleet.state):
        run = ansible_runner.run(private_data_dir=private, playbook=playbook, ident=ident, quiet=True,
                                 process_isolation=False, timeout=180, **kwargs)
    artifacts = os.path.join(private, "artifacts", ident)
    stats = [e for e in run.events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1, run.stdout.read()[-3000:]
    with open(os.path.join(artifacts, "stdout"), encoding="utf-8") as handle:
        stdout = handle.read()
    return run, artifacts, stats[0]["event_data"], stdout, secrets, time.monotonic() - start


def _no_secret_in(artifacts, secrets):
    for path in glob.glob(os.path.join(artifacts, "**"), recursive=True):
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as handle:
                data = handle.read()
            leaked = [i for i, secret in enumerate(secrets) if secret.encode() in data]
            assert not leaked, "secret(s) %s in %s" % (leaked, path)


def _blocking(report):
    """(id, subject, status) of the findings that block the gate, as the JSON report has them."""
    return sorted((f["id"], f["subject"], f["status"]) for f in report["findings"]
                  if f["status"] in ("fail", "error") and not (f.get("waiver") or {}).get("active"))


def test_a_job_and_a_scheduled_audit_run_as_awx_runs_them(runner_fleet, tmp_path):
    # The scheduled audit (fleet_audit) on the healthy tenant: successful, everything in the artifacts.
    run, artifacts, stats, stdout, secrets, seconds = _run(runner_fleet, tmp_path / "audit", "healthy", "41",
                                                           playbook="audit.yml")
    assert (run.status, run.rc) == ("successful", 0), stdout[-4000:]
    with open(os.path.join(artifacts, "status"), encoding="utf-8") as handle:
        assert handle.read().strip() == "successful"
    with open(os.path.join(artifacts, "rc"), encoding="utf-8") as handle:
        assert handle.read().strip() == "0"
    events = glob.glob(os.path.join(artifacts, "job_events", "*.json"))
    assert len(events) > 20 and any(e["event"] == "runner_on_ok" for e in run.events)
    # The role's default report directory under ansible-runner: <artifacts>/reports; the audit's history in it.
    reports = os.path.join(artifacts, "reports")
    for name in list(FORMATS.values()) + ["preflight-observations.json"]:
        assert os.path.getsize(os.path.join(reports, name)) > 0, name
    history = glob.glob(os.path.join(reports, "history", "preflight-????-??-??.json"))
    assert len(history) == 1, os.listdir(reports)
    with open(os.path.join(reports, "preflight.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    # The summary callback, enabled by the project's ansible.cfg, printed the table after the recap.
    assert "ECE OAUTH2 MAIL PREFLIGHT" in stdout and stdout.index("PLAY RECAP") < stdout.index(
        "ECE OAUTH2 MAIL PREFLIGHT"), stdout[-3000:]
    assert "this one is the baseline" in stdout
    # set_stats: what AWX keeps as the job's artifacts and hands to a workflow's next node.
    data = stats["artifact_data"]["ece_o365_preflight"]
    assert data["passed_gate"] is True and data["failing"] == [] and data["failing_ids"] == []
    assert data["counts"] == dict(report["summary"]["counts"], waived=1), data  # NET-PORT-993, waived (lab)
    assert data["coverage"]["judged_hosts"] == ["ece-app01", "ece-app02", "ece-svc01"], data
    assert data["reports"]["json"] == os.path.join(reports, "preflight.json")
    assert data["reports"]["audit"].startswith(os.path.join(reports, "history")), data
    assert stats["failures"] == {} and stats["dark"] == {}, stats
    _no_secret_in(artifacts, secrets)
    assert seconds < 45, seconds


def test_a_broken_tenant_fails_the_job_with_its_ids_in_the_stats(runner_fleet, tmp_path):
    run, artifacts, stats, stdout, secrets, seconds = _run(runner_fleet, tmp_path / "job", "token-wrong-owner", "42")
    assert (run.status, run.rc) == ("failed", 2), stdout[-4000:]
    with open(os.path.join(artifacts, "reports", "preflight.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    data = stats["artifact_data"]["ece_o365_preflight"]
    assert data["passed_gate"] is False and report["summary"]["passed_gate"] is False
    assert sorted((f["id"], f["subject"], f["status"]) for f in data["failing"]) == _blocking(report), data
    assert ("TOKEN-OWNER", SUPPORT, "fail") in [(f["id"], f["subject"], f["status"]) for f in data["failing"]]
    assert data["failing_ids"] == sorted(set(f["id"] for f in data["failing"]))
    assert data["counts"]["fail"] == report["summary"]["counts"]["fail"] >= 4, data
    assert "The preflight gate failed" in stdout and "TOKEN-OWNER" in stdout
    _no_secret_in(artifacts, secrets)
    assert seconds < 45, seconds


@pytest.mark.parametrize("selection, line", [
    ({"tags": "report"}, "tags: only report (--tags)"),
    ({"skip_tags": "network"}, "tags: skipped network (--skip-tags)"),
], ids=["job-tags-report", "skip-tags-network"])
def test_job_tags_that_leave_probes_out_end_in_a_failed_judged_run(runner_fleet, tmp_path, selection, line):
    """AWX's Job Tags / Skip Tags: what the skipped tasks would have recorded never passes, and a line says why."""
    run, artifacts, stats, stdout, secrets, _seconds = _run(runner_fleet, tmp_path / "tags", "healthy", "43",
                                                            **selection)
    assert (run.status, run.rc) == ("failed", 2), stdout[-4000:]
    with open(os.path.join(artifacts, "reports", "preflight.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    data = stats["artifact_data"]["ece_o365_preflight"]
    assert data["passed_gate"] is False, data
    assert data["tags"] == {"run": [selection.get("tags", "all")], "skipped": [s for s in [selection.get("skip_tags")] if s]}
    assert sorted((f["id"], f["subject"], f["status"]) for f in data["failing"]) == _blocking(report), data
    # Every ECE host's checks: none passes on what was not read.
    for host in ("ece-svc01", "ece-app01", "ece-app02"):
        assert not [f for f in report["findings"] if f["subject"] == host and f["status"] == "pass"], host
        assert host in [f["subject"] for f in data["failing"]], data
    if "tags" in selection:  # the tenant role did not run either
        assert data["counts"]["pass"] == 0 and "PREFLIGHT-TENANT-READ" in data["failing_ids"], data
    assert line + ": the tasks they left out recorded nothing" in stdout, stdout[-3000:]
    assert "nothing they would have recorded passes: %d blocking finding(s) in this run, gate FAILED" % len(
        data["failing"]) in stdout, stdout[-3000:]
    _no_secret_in(artifacts, secrets)


def test_a_limit_with_the_tenant_host_gates_what_it_covers_and_says_so(runner_fleet, tmp_path):
    """AWX's Limit as docs/awx.md advises it: one server and the tenant host (without the tenant host,
    PREFLIGHT-TENANT-READ is an error: tests/integration/preflight/test_contract_regressions.py)."""
    run, artifacts, stats, stdout, secrets, _seconds = _run(runner_fleet, tmp_path / "limit", "healthy", "44",
                                                            limit="ece-app01:localhost")
    assert (run.status, run.rc) == ("successful", 0), stdout[-4000:]
    data = stats["artifact_data"]["ece_o365_preflight"]
    assert data["passed_gate"] is True and data["coverage"]["judged_hosts"] == ["ece-app01"], data
    assert data["coverage"]["limited_out"] == ["ece-svc01", "ece-app02"], data
    assert data["coverage"]["tenant"] == "read from localhost", data
    assert "covers: 1 of 3 ECE host(s) (limited out: ece-svc01, ece-app02); tenant read from localhost" in stdout
    _no_secret_in(artifacts, secrets)
