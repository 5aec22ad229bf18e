# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Windows path on the fleet lab, where the Python twins answer for the PowerShell ones (the routing
picks them over SSH to a POSIX shell; no PowerShell runs here, docs/windows.md):

- docs/examples/inventory-windows.yml and windows-fleet.yml, as documented, with only the connection
  details and the lab's addresses, CA and identity overridden: the run completes, the reports are
  written and the gate passes with exactly the lab's firewalled 993 failing (waived) on the services server;
- ece_o365.preflight.windows_selftest on the fleet's three hosts: one 'works' line per twin per host, rc 0,
  and the temporary listener stopped;
- the same with a wrong known answer injected: 'does not work' with the evidence, rc != 0, listener stopped.
"""

import copy
import os
import re

import yaml

from ece_lab import fleet

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
EXAMPLES = os.path.join(REPO, "docs", "examples")
HOSTS = ("ece-svc01", "ece-app01", "ece-app02")
TWINS = ("port_probe", "url_reach")
# The connection details an inventory of Windows hosts has, which the lab's SSH ones replace.
CONNECTION_PREFIXES = ("ansible_connection", "ansible_port", "ansible_user", "ansible_password", "ansible_psrp_",
                       "ansible_winrm_", "ansible_shell_type", "ansible_ssh_", "ansible_control_path_dir",
                       "ansible_remote_tmp", "ansible_python_interpreter")


def _is_connection(key):
    return any(key.startswith(prefix) for prefix in CONNECTION_PREFIXES)


def example_inventory_for_the_lab(fleet_lab, report_dir):
    """docs/examples/inventory-windows.yml with only the connection details and the lab's addresses, CA and
    identity overridden. Returns (path, {example host: lab host})."""
    with open(os.path.join(EXAMPLES, "inventory-windows.yml"), encoding="utf-8") as handle:
        example = yaml.safe_load(handle)
    lab = fleet.inventory(fleet_lab.state, "ssh", str(report_dir))
    lab_vars = lab["all"]["vars"]
    connection = dict((k, v) for k, v in lab_vars.items() if _is_connection(k))
    identity = dict((k, v) for k, v in lab_vars.items() if not _is_connection(k))
    lab_hosts = dict((name, hostvars) for group in lab["all"]["children"].values()
                     for name, hostvars in group["hosts"].items())
    inventory = copy.deepcopy(example)
    windows = inventory["all"]["children"]["ece_windows"]
    # The group's vars: its connection details become the lab's SSH ones; a value the lab sets (proxy, ECE's
    # declared facts) is the lab's, set once below; everything else stays as the example has it.
    windows["vars"] = dict(dict((k, v) for k, v in windows["vars"].items()
                                if not _is_connection(k) and k not in identity), **connection)
    names = {}
    for group in ("ece_services", "ece_application"):
        for host in windows["children"][group]["hosts"]:
            short = host.split(".")[0]
            names[host] = short
            # The lab's address for it, and its egress address (the lab's own host variables).
            windows["children"][group]["hosts"][host] = dict(lab_hosts[short])
    # The lab's waiver of its own firewall rule names its host: here, the example's name for it.
    waivers = [dict(w, subject=[h for h, s in names.items() if s == w["subject"]][0]) for w in identity["ece_o365_waivers"]]
    inventory["all"]["vars"].update(identity, ece_o365_waivers=waivers)
    path = str(report_dir) + ".inventory.yml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the lab's secrets
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=False)
    return path, names


def _listeners():
    """Command lines of running selftest listeners (every fleet namespace shares this PID namespace)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if "selftest_listener.py start" in cmdline:
            found.append(cmdline)
    return found


def _lines(run):
    """The twins' lines: [(host, line)], from the 'One line per twin' task."""
    return re.findall(r'ok: \[([^\]]+)\] => \(item=\w+\) => \{\s+"msg": "((?:port_probe|url_reach) [^"]*)"', run.output)


def test_the_documented_windows_example_runs_the_preflight_with_the_report_and_the_gate(windows_fleet, report_dir):
    windows_fleet.switch("healthy")
    inventory, names = example_inventory_for_the_lab(windows_fleet, report_dir)
    assert sorted(names.values()) == sorted(HOSTS)
    run = windows_fleet.run(report_dir, inventory=inventory, playbook=os.path.join(EXAMPLES, "windows-fleet.yml"),
                            timeout=300)
    assert "is undefined" not in run.output, run.tail()
    assert run.report is not None, run.tail()
    svc = [h for h, s in names.items() if s == "ece-svc01"][0]
    # The same verdicts as the lab's own inventory gives the full preflight over SSH, host for host: the example
    # describes the same deployment, with the variables of docs/variables.md.
    reference_dir = os.path.join(os.path.dirname(str(report_dir)), "reference")
    os.mkdir(reference_dir)
    reference = windows_fleet.run(reference_dir, connection="ssh", timeout=300)
    renamed = dict((short, host) for host, short in names.items())
    assert run.verdicts() == sorted((check, renamed.get(subject, subject), status)
                                    for check, subject, status in reference.verdicts()), run.tail()
    # The gate's verdict for the healthy lab: only the services server's firewalled 993 fails, waived.
    assert run.not_passing() == {("NET-PORT-993", svc): "fail"}, run.tail()
    finding = [f for f in run.findings if (f["id"], f["subject"]) == ("NET-PORT-993", svc)][0]
    assert finding["waiver"]["active"], finding
    assert run.returncode == 0 and run.report["summary"]["passed_gate"], run.tail()
    # Every ECE host of the example was probed (over SSH, by the Python twins) and judged; the tenant was read
    # on the example's helper, and the mailbox logins ran from there.
    for host in names:
        assert run.report["hosts"][host]["reached"], host
        assert [f for f in run.findings if f["subject"] == host and f["id"] == "NET-PORT-443"], host
    assert run.report["run"]["coverage"]["tenant"] == "read from preflight-helper", run.report["run"]
    assert sorted(run.report["run"]["coverage"]["judged_hosts"]) == sorted(names), run.report["run"]
    assert any(f["id"].startswith("MBX-LOGIN-") and f["status"] == "pass" for f in run.findings), run.tail()
    for name in ("preflight.json", "preflight-junit.xml", "preflight.md", "preflight.html", "preflight-observations.json"):
        assert os.path.exists(os.path.join(str(report_dir), name)), name
    assert run.recap()["preflight-helper"]["failed"] == 0, run.recap()


def test_windows_selftest_says_each_twin_works_on_each_fleet_host(windows_fleet, report_dir):
    windows_fleet.switch("healthy")
    run = windows_fleet.run(report_dir, connection="ssh", playbook="ece_o365.preflight.windows_selftest", timeout=180)
    assert run.returncode == 0, run.tail()
    lines = _lines(run)
    for host in HOSTS:
        for twin in TWINS:
            mine = [line for h, line in lines if h == host and line.startswith(twin + " ")]
            assert len(mine) == 1, (host, twin, lines)
            assert mine[0].startswith("%s works (%s.py on %s): " % (twin, twin, host)), mine[0]
        address = [h["address"] for h in windows_fleet.state["hosts"] if h["name"] == host][0]
        port_line = [line for h, line in lines if h == host and line.startswith("port_probe")][0]
        # The evidence: the listener answered, the closed port refused, the .invalid name did not resolve, and
        # the host's own sshd (the endpoint Ansible connects to) accepted.
        for evidence in ("listener (127.0.0.1:", "closed port (127.0.0.1:", "): refused",
                         "unknown name (ece-o365-selftest.invalid:443): dns", "own endpoint (%s:22): ok" % address,
                         "4 results follow the observation contract"):
            assert evidence in port_line, port_line
        url_line = [line for h, line in lines if h == host and line.startswith("url_reach")][0]
        assert "/ece-o365-selftest): ok, HTTP 204" in url_line and "4 results follow" in url_line, url_line
        assert "listener, a form POST (http://127.0.0.1:" in url_line and "/token): ok, HTTP 204" in url_line, url_line
    assert not [line for _h, line in lines if "does not work" in line], lines
    assert len(lines) == len(HOSTS) * len(TWINS), lines
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in run.recap().values()), run.recap()
    assert _listeners() == []


def test_windows_selftest_says_a_twin_does_not_work_with_the_evidence(windows_fleet, report_dir):
    windows_fleet.switch("healthy")
    # A known answer made wrong on purpose: the closed port answers 'refused', the expectation says 'dns'.
    run = windows_fleet.run(report_dir, connection="ssh", playbook="ece_o365.preflight.windows_selftest",
                            flags=("--limit", "ece-app01"), timeout=180,
                            extra_vars={"ece_o365_selftest_expected": {"url_reach": {"closed port": {"error_class": ["dns"]}}}})
    assert run.returncode != 0, run.tail()
    lines = _lines(run)
    assert [h for h, _line in lines] == ["ece-app01", "ece-app01"], lines
    assert lines[0][1].startswith("port_probe works (port_probe.py on ece-app01): "), lines
    assert lines[1][1].startswith("url_reach does not work (url_reach.py on ece-app01): closed port: expected dns, "
                                  "got refused (http://127.0.0.1:"), lines
    assert "; evidence: listener (http://127.0.0.1:" in lines[1][1], lines
    assert "Fail when a twin does not work" in run.output and run.recap()["ece-app01"]["failed"] == 1, run.tail()
    assert _listeners() == []
