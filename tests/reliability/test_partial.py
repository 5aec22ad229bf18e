# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partial failure: one broken host, or a broken tenant host, still yields a complete report.

The full preflight playbook runs on the fleet lab (local connection, so only the broken parts
differ) with hosts broken in the ways a fleet breaks: a host that does not answer SSH, a host whose
module process crashes (its Python dies with a traceback: MODULE FAILURE), a host whose module never
returns (bounded by ece_o365_task_timeout), and a tenant host whose modules crash. Each broken one is
reported as such, by name and cause; every other host and the tenant are judged in full; the gate
fails; and the run ends in bounded time.
"""

import os
import subprocess
import time

import pytest
import yaml

import _coverage

HANG_MARKER = "reliability-planted-hang"
TASK_TIMEOUT = 8
HEALTHY_HOSTS = ("ece-svc01",)

COVERAGE = [
    _coverage.Case("partial-host-unreachable", "partial", "an ECE host that does not answer SSH (no host at its address)",
                   "preflight playbook", "PREFLIGHT-HOST-REACHABLE fails for that host only; the others judged in full",
                   120),
    _coverage.Case("partial-module-crash", "partial", "an ECE host whose module process crashes (Python dies with a "
                   "traceback: MODULE FAILURE)", "preflight playbook",
                   "PREFLIGHT-HOST-REACHABLE fails for that host, naming the task and the last line of the module's stderr", 120),
    _coverage.Case("partial-module-hang", "partial", "an ECE host whose module process never returns",
                   "preflight playbook (ece_o365_task_timeout %d)" % TASK_TIMEOUT,
                   "PREFLIGHT-HOST-REACHABLE fails for that host, naming the timeout", 120),
    _coverage.Case("partial-tenant-crash", "partial", "the tenant host's modules crash (Graph, admin API, logins "
                   "never observed)", "preflight playbook",
                   "PREFLIGHT-TENANT-READ fails naming the task; every ECE host judged in full; the gate fails", 120),
    _coverage.Case("partial-tenant-unreachable", "partial", "the tenant host (ece_o365_tenant_host) does not answer SSH",
                   "preflight playbook", "PREFLIGHT-TENANT-READ fails naming the host; every ECE host judged in full", 120),
]
CASES = dict((case.id, case) for case in COVERAGE)


def _script(directory, name, body):
    path = os.path.join(str(directory), name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def _crashing_python(directory):
    """An interpreter that dies the way a broken Python does: a traceback on stderr, exit 1."""
    return _script(directory, "crashing-python", (
        "echo 'Traceback (most recent call last):' >&2\n"
        "echo '  File \"<planted>\", line 1, in <module>' >&2\n"
        "echo 'RuntimeError: planted crash of the module process' >&2\nexit 1\n"))


def _hanging_python(directory):
    """An interpreter that never answers (bounded here to 120 s, and killed by the test's teardown)."""
    return _script(directory, "hanging-python", "exec python3 -c 'import time; time.sleep(120)' %s \"$@\"\n" % HANG_MARKER)


def _unreachable_ssh_host(state):
    """Inventory variables of a host at an address of the fleet's subnet where nothing answers."""
    return {"ansible_connection": "ssh", "ansible_host": state["controller_address"].rsplit(".", 1)[0] + ".99",
            "ansible_user": "root", "ansible_ssh_private_key_file": state["ssh_key"],
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=3",
            "ansible_control_path_dir": state["control_path_dir"]}


def _inventory(fleet, tmp_path, change):
    with open(fleet.inventory("local"), encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    change(inventory)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    os.chmod(str(path), 0o600)
    return str(path)


def _host_findings(run, host):
    return [f for f in run.findings if f["subject"] == host]


def _assert_judged_in_full(run, host):
    findings = _host_findings(run, host)
    assert len(findings) >= 8, findings
    assert all(f["status"] == "pass" for f in findings), findings


def _reachable_finding(run, host):
    found = [f for f in run.findings if f["id"] == "PREFLIGHT-HOST-REACHABLE" and f["subject"] == host]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def broken_hosts_run(reliability_fleet, tmp_path_factory):
    """One run with three broken hosts beside a healthy one (the cases share it: each is ~20 s)."""
    reliability_fleet.switch("healthy")
    tmp_path = tmp_path_factory.mktemp("broken-hosts")
    state = reliability_fleet.state
    crashing, hanging = _crashing_python(tmp_path), _hanging_python(tmp_path)

    def break_hosts(inventory):
        application = inventory["all"]["children"]["ece_application"]["hosts"]
        application["ece-app01"]["ansible_python_interpreter"] = crashing
        application["ece-app02"]["ansible_python_interpreter"] = hanging
        application["ece-app99"] = _unreachable_ssh_host(state)

    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    try:
        run = reliability_fleet.run(report_dir, inventory=_inventory(reliability_fleet, tmp_path, break_hosts),
                                    extra_vars={"ece_o365_task_timeout": TASK_TIMEOUT}, timeout=300)
    finally:
        subprocess.run(["pkill", "-f", HANG_MARKER], check=False)
    return run


def _check_broken_hosts_run(run, bound):
    assert run.report is not None, run.tail()
    assert run.seconds < bound, "the run took %.1f s" % run.seconds
    assert run.returncode == 2 and "The preflight gate failed" in run.output, run.tail()
    for host in HEALTHY_HOSTS:
        _assert_judged_in_full(run, host)
    assert [f["status"] for f in run.findings if f["id"] == "TOKEN-OWNER"] == ["pass", "pass"], "tenant judged"
    for broken in ("ece-app01", "ece-app02", "ece-app99"):
        others = [f for f in _host_findings(run, broken) if f["id"] != "PREFLIGHT-HOST-REACHABLE"]
        assert others and all(f["status"] == "skip" for f in others), others
        assert "PREFLIGHT-HOST-REACHABLE" in others[0]["detail"], others[0]


def test_an_unreachable_host_is_reported_and_the_others_judged(broken_hosts_run):
    case = CASES["partial-host-unreachable"]
    _check_broken_hosts_run(broken_hosts_run, case.bound)
    finding = _reachable_finding(broken_hosts_run, "ece-app99")
    assert finding["status"] == "fail" and "could not reach" in finding["detail"], finding


def test_a_crashing_module_is_reported_and_the_others_judged(broken_hosts_run):
    case = CASES["partial-module-crash"]
    _check_broken_hosts_run(broken_hosts_run, case.bound)
    finding = _reachable_finding(broken_hosts_run, "ece-app01")
    assert finding["status"] == "fail", finding
    assert "a probe task failed" in finding["detail"], finding
    assert "module stderr ends: RuntimeError: planted crash of the module process" in finding["detail"], finding
    assert "TCP, TLS and STARTTLS" in finding["detail"], "the failed task is named: %s" % finding["detail"]


def test_a_hanging_module_is_cut_at_the_task_timeout(broken_hosts_run):
    case = CASES["partial-module-hang"]
    _check_broken_hosts_run(broken_hosts_run, case.bound)
    finding = _reachable_finding(broken_hosts_run, "ece-app02")
    assert finding["status"] == "fail", finding
    assert "timed out after %d second" % TASK_TIMEOUT in finding["detail"].lower(), finding


def _broken_tenant_run(fleet, tmp_path, change, case, extra_vars=None):
    """A run whose tenant host is broken by CHANGE: the tenant fails to be read, the hosts are judged in full."""
    fleet.switch("healthy")
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    started = time.monotonic()
    run = fleet.run(report_dir, inventory=_inventory(fleet, tmp_path, change), extra_vars=extra_vars, timeout=300)
    assert time.monotonic() - started < case.bound
    assert run.report is not None, run.tail()
    read = [f for f in run.findings if f["id"] == "PREFLIGHT-TENANT-READ"]
    assert [f["status"] for f in read] == ["fail"], read
    assert run.returncode == 2 and not run.report["summary"]["passed_gate"], run.tail()
    for host in ("ece-svc01", "ece-app01", "ece-app02"):
        _assert_judged_in_full(run, host)
    assert not [f for f in run.findings if f["scope"] == "mailbox" and f["status"] == "pass"], "nothing judged half-read"
    return read[0]


def test_a_crashing_tenant_host_fails_tenant_read_and_the_hosts_are_judged(reliability_fleet, tmp_path):
    crashing = _crashing_python(tmp_path)

    def break_tenant_host(inventory):
        inventory["all"]["hosts"]["localhost"]["ansible_python_interpreter"] = crashing

    read = _broken_tenant_run(reliability_fleet, tmp_path, break_tenant_host, CASES["partial-tenant-crash"])
    assert "module stderr ends: RuntimeError: planted crash" in read["detail"], read
    assert "Microsoft Graph" in read["detail"], "the failed task is named: %s" % read["detail"]


def test_an_unreachable_tenant_host_fails_tenant_read_and_the_hosts_are_judged(reliability_fleet, tmp_path):
    def add_tenant_host(inventory):
        inventory["all"]["hosts"]["ece-tenant99"] = _unreachable_ssh_host(reliability_fleet.state)

    read = _broken_tenant_run(reliability_fleet, tmp_path, add_tenant_host, CASES["partial-tenant-unreachable"],
                              extra_vars={"ece_o365_tenant_host": "ece-tenant99"})
    assert "ece-tenant99: " in read["detail"] and "Failed to connect to the host via ssh" in read["detail"], read
