# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the full preflight across fleets of 1, 5, 20 and 50 ECE hosts against the peer way, in one run.

One fleet lab (tests/lab/ece_lab/fleet.py, healthy tenant) serves every run. For each fleet size,
simulated ECE hosts (ece-sim001..., local connection, all in the controller's namespace, a third of
them services servers) run `ansible-playbook ece_o365.preflight.preflight` (by FQCN, from the
collection) and then the peer playbook (tests/benchmarks/fleet_peer.py: wait_for, openssl, curl and
uri tasks, one per check); the fleet's three real hosts over SSH do the same. A callback
(tests/benchmarks/callback_plugins/bench_counts.py) counts host-tasks and module calls per probe
family. Every preflight run's JSON report must pass the gate with exactly the findings the lab
expects, and every peer run must pass its own asserts, or there is no figure.
Prints one table and the two targets (PASS or MISS); --write rewrites its section of docs/performance.md.
Run as root through tools/bench-fleet (it sets up the venv and collection path).
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, os.path.join(REPO, "tests", "lab"), os.path.join(REPO, "tests", "integration")]

import fleet_peer  # noqa: E402
from _docblock import replace_block  # noqa: E402
from ece_lab import fleet  # noqa: E402
from fleet_run import fleet_lab  # noqa: E402  (the preflight tests' fleet lab and run harness)

SIZES = (1, 5, 20, 50)
MAX_FORKS = 50
SERVICES_EVERY = 3  # ece-sim001, 004, 007... are services servers (they probe 993 and 995 too)
TENANT_HOST = "localhost"
RUN_TIMEOUT = 900
DOC = os.path.join(REPO, "docs", "performance.md")
MARKER = "bench_fleet"
SECTION = "The full preflight across a fleet"
INTRO = ("Measured by `tools/bench-fleet` (tests/benchmarks/bench_fleet.py), which runs the preflight and the "
         "peer playbook in one run, against one fleet lab.")
# Module calls are counted per probe family: the peer's tasks carry the family as their tag, ours
# are known by their module. set_fact, assert, debug and preflight_report run on the controller.
FAMILIES = {
    "port": ("ece_o365.preflight.port_probe", "ece_o365.preflight.win_port_probe", "ansible.builtin.wait_for"),
    "url": ("ece_o365.preflight.url_reach", "ece_o365.preflight.win_url_reach"),
    "tenant": ("ece_o365.preflight.tenant_info", "ece_o365.preflight.mailbox_settings",
               "ece_o365.preflight.token_acquire"),
    "mailbox": ("ece_o365.preflight.mailbox_protocols",),
}
TARGET_CALLS, TARGET_RATIO = 3, 3.0
# Every simulated host shares the 2 cores with the lab: 50 probes at once meet a Dovecot that needs
# more than the lab inventory's 3 s to answer, which no real fleet would see. Both sides get 10 s.
SIM_TIMEOUT = 10
# The counting callback, for every run; nothing else of ansible's configuration changes.
COUNTING = {"ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_counts"}
PEER_COVERAGE = (
    "The peer playbook (written by tests/benchmarks/fleet_peer.py, not shipped) covers the same checks "
    "the way people write them today, one task per check, loops with `ignore_errors`: per ECE host "
    "`ansible.builtin.wait_for` for each port the network role probes (443 and 587; 993 and 995 on "
    "services servers), `openssl s_client` command tasks (TLS, or STARTTLS on 587, `-verify_return_error` "
    "with the lab CA, the issuer, XOAUTH2 in the capabilities), `ansible.builtin.uri` for the OIDC "
    "discovery document and an `assert` of the ECE release, ES and External URL; once on localhost: "
    "`uri` POSTs to the token endpoint (client credentials for Graph and the Exchange admin API, ECE's "
    "stored refresh token per mailbox, with an `assert` of owner, scopes and lifetime), `uri` GETs to "
    "Graph (the application, its service principal and consent grants, each user, each mailbox's "
    "licences), `uri` POSTs to the Exchange admin API (Get-TransportConfig, Get-CASMailbox and "
    "Get-MailboxPermission per mailbox) and one `curl --oauth2-bearer` login per mailbox per protocol "
    "(imaps://, pop3s://, smtp:// with `--ssl-reqd`). Each play ends with an `assert` of its own "
    "results, counted with the peer's host-tasks. What it cannot express as the preflight does: curl "
    "7.88 chooses OAUTHBEARER whenever the server offers it (the lab's Dovecot offers it next to "
    "XOAUTH2; `--login-options AUTH=XOAUTH2` does not change that), so its logins are OAUTHBEARER with "
    "the same token; it classifies no Microsoft reply (a failed login is only a non-zero exit), keeps "
    "no evidence, writes no report and has no waivers; wait_for and openssl probe one port after "
    "another, so a dropped port costs its whole timeout each time.")


def _git_commit():
    out = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() or "unknown"


def _tool_version(argv):
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "missing"


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _forks(size):
    return min(size, MAX_FORKS)


def _sim_inventory(state, size, path):
    """The fleet's local-connection inventory with SIZE simulated ECE hosts instead of its three:
    ece-sim001... in ece_services (every SERVICES_EVERY-th, starting with the first) or ece_application."""
    inventory = fleet.inventory(state, "local")
    groups = {"ece_services": {"hosts": {}}, "ece_application": {"hosts": {}}}
    for index in range(size):
        group = "ece_services" if index % SERVICES_EVERY == 0 else "ece_application"
        groups[group]["hosts"]["ece-sim%03d" % (index + 1)] = {"ansible_connection": "local"}
    inventory["all"]["children"] = groups
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the lab's secrets
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=False)
    return sorted(h for g in groups.values() for h in g["hosts"])


def _family(record):
    for tag in record["tags"]:
        if tag in FAMILIES:
            return tag
    for family, actions in FAMILIES.items():
        if record["action"] in actions:
            return family
    return None


class Measured(object):
    """One playbook run: wall time, host-tasks, module calls per host and family, slowest tasks."""

    def __init__(self, run, records):
        self.run = run
        self.seconds = run.seconds
        self.cpu_seconds = run.cpu_seconds
        self.records = records
        self.host_tasks = len(records)
        self.calls = {}  # host -> family -> module calls
        for record in records:
            family = _family(record)
            if family:
                per_host = self.calls.setdefault(record["host"], {})
                per_host[family] = per_host.get(family, 0) + record["calls"]

    def calls_by_family(self, tenant):
        """{family: max module calls on one host} over the ECE hosts (TENANT false) or the tenant host."""
        out = {}
        for host, families in self.calls.items():
            if (host == TENANT_HOST) == tenant:
                for family, count in families.items():
                    out[family] = max(out.get(family, 0), count)
        return out

    def task_spans(self):
        """[(task, seconds from its first host's start to its last host's end, host-tasks, family)], slowest first."""
        spans = {}
        for record in self.records:
            if record["start"] is None:
                continue
            first, last, number, family = spans.get(record["task"], (record["start"], record["end"], 0, None))
            # A task that made no module call anywhere (all skipped) was controller-side work only.
            spans[record["task"]] = (min(first, record["start"]), max(last, record["end"]), number + 1,
                                     family or (_family(record) if record["calls"] else None))
        return sorted(((name, last - first, number, family) for name, (first, last, number, family) in spans.items()),
                      key=lambda item: -item[1])

    def breakdown(self, hosts):
        """(seconds in per-host probe tasks, seconds in per-host controller-side tasks and how many there are,
        the rest: start-up, the tenant once, the judge) of a run with HOSTS ECE hosts."""
        probes = controller = 0.0
        count = 0
        for _name, seconds, number, family in self.task_spans():
            if number >= hosts:  # run on every ECE host (the judging play adds the tenant host)
                if family in ("port", "url"):
                    probes += seconds
                elif family is None:
                    controller += seconds
                    count += 1
        return probes, controller, count, self.seconds - probes - controller


def _playbook(bench, workdir, label, inventory, playbook, forks, extra_vars=None):
    """Run PLAYBOOK in the controller namespace with the counting callback; return Measured."""
    run_dir = os.path.join(workdir, label)
    report_dir = os.path.join(run_dir, "reports")
    os.makedirs(report_dir)
    counts = os.path.join(run_dir, "counts.json")
    run = bench.run(report_dir, playbook=playbook, inventory=inventory, flags=("-f", str(forks)),
                    extra_vars=extra_vars, timeout=RUN_TIMEOUT, env_extra=dict(COUNTING, BENCH_COUNTS_FILE=counts))
    if not os.path.exists(counts):
        raise SystemExit("%s: the counting callback wrote nothing (exit %d):\n%s" % (label, run.returncode, run.tail()))
    with open(counts, encoding="utf-8") as handle:
        return Measured(run, json.load(handle))


def _expected(state, connection):
    """{(check id, host): 'fail'} the healthy lab gives: the firewalled ports, over SSH only."""
    if connection != "ssh":
        return {}
    return dict((("NET-PORT-%d" % port, host["name"]), "fail") for host in state["hosts"] for port in host["drop_tcp"])


def _check_ours(label, measured, hosts, expected):
    """No figure from a broken run: the gate passed, exactly the expected findings, every host reached."""
    run = measured.run
    problems = []
    if run.report is None:
        problems.append("no JSON report")
    else:
        if run.returncode != 0 or not run.report["summary"]["passed_gate"]:
            problems.append("the gate did not pass (exit %d)" % run.returncode)
        if run.not_passing() != expected:
            unexpected = [f for f in run.findings if f["status"] in ("fail", "error", "warn")
                          and (f["id"], f["subject"]) not in expected]
            problems.append("findings not passing: %s, expected %s; the first unexpected: %s" % (
                sorted(run.not_passing()), sorted(expected), json.dumps(unexpected[:2])[:3000]))
        unreached = [h for h in hosts if not run.report["hosts"].get(h, {}).get("reached")]
        if unreached:
            problems.append("hosts not reached: %s" % ", ".join(unreached))
    if problems:
        raise SystemExit("%s (ours): %s\n%s" % (label, "; ".join(problems), run.tail()))


def _check_peer(label, measured):
    if measured.run.returncode != 0:
        raise SystemExit("%s (peer) failed its own checks (exit %d):\n%s" % (
            label, measured.run.returncode, measured.run.tail()))


def _format_calls(measured):
    ece = measured.calls_by_family(tenant=False)
    tenant = measured.calls_by_family(tenant=True)
    text = ", ".join("%s %d" % (family, ece[family]) for family in FAMILIES if family in ece)
    if tenant:
        text += "; %s: %s" % (TENANT_HOST, ", ".join("%s %d" % (f, tenant[f]) for f in FAMILIES if f in tenant))
    return text


def _measure_size(bench, workdir, size, skip_peer):
    inventory = os.path.join(workdir, "inventory-sim%d.yml" % size)
    hosts = _sim_inventory(bench.state, size, inventory)
    label = "local-%d" % size
    ours = _playbook(bench, workdir, label + "-ours", inventory, "ece_o365.preflight.preflight", _forks(size),
                     extra_vars={"ece_o365_probe_timeout": SIM_TIMEOUT})
    _check_ours(label, ours, hosts, {})
    peer = None
    if not skip_peer:
        peer = _playbook(bench, workdir, label + "-peer", inventory, fleet_peer.write(workdir), _forks(size),
                         extra_vars={"peer_expected_blocked": [], "ece_o365_probe_timeout": SIM_TIMEOUT})
        _check_peer(label, peer)
    return {"size": size, "connection": "local", "forks": _forks(size), "ours": ours, "peer": peer}


def _measure_ssh(bench, workdir, skip_peer):
    state = bench.state
    inventory = state["inventories"]["ssh"]
    hosts = [h["name"] for h in state["hosts"]]
    ours = _playbook(bench, workdir, "ssh-ours", inventory, "ece_o365.preflight.preflight", _forks(len(hosts)))
    _check_ours("ssh", ours, hosts, _expected(state, "ssh"))
    peer = None
    if not skip_peer:
        blocked = ["%s:%d" % (h["name"], port) for h in state["hosts"] for port in h["drop_tcp"]]
        peer = _playbook(bench, workdir, "ssh-peer", inventory, fleet_peer.write(workdir), _forks(len(hosts)),
                         extra_vars={"peer_expected_blocked": blocked})
        _check_peer("ssh", peer)
    return {"size": len(hosts), "connection": "ssh", "forks": _forks(len(hosts)), "ours": ours, "peer": peer}


def _table(rows):
    lines = ["| ECE hosts | Connection | Forks | Ours wall (s) | Ours CPU (s) | Ours host-tasks | Ours module calls per "
             "host, by family | Peer wall (s) | Peer host-tasks | Peer module calls per host, by family | Peer / ours |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        ours, peer = row["ours"], row["peer"]
        lines.append("| %d | %s | %d | %.1f | %.1f | %d | %s | %s | %s | %s | %s |" % (
            row["size"], row["connection"], row["forks"], ours.seconds, ours.cpu_seconds, ours.host_tasks,
            _format_calls(ours),
            "%.1f" % peer.seconds if peer else "-", peer.host_tasks if peer else "-",
            _format_calls(peer) if peer else "-", "%.1fx" % (peer.seconds / ours.seconds) if peer else "-"))
    return "\n".join(lines)


def _targets(rows):
    """The two targets of issue 8 with the measured values: [(text, met)]."""
    verdicts = []
    most = max(count for row in rows for tenant in (False, True)
               for count in row["ours"].calls_by_family(tenant).values())
    verdicts.append(("(a) module calls per probe family for one host (most on any host, any run): %d, target <= %d"
                     % (most, TARGET_CALLS), most <= TARGET_CALLS))
    local = dict((row["size"], row["ours"].seconds) for row in rows if row["connection"] == "local")
    if 1 in local and 50 in local:
        ratio = local[50] / local[1]
        verdicts.append(("(b) wall(50 hosts) / wall(1 host), local connection: %.1f s / %.1f s = %.2f, target <= %.0f"
                         % (local[50], local[1], ratio, TARGET_RATIO), ratio <= TARGET_RATIO))
    else:
        verdicts.append(("(b) wall(50 hosts) / wall(1 host): not measured (--sizes must include 1 and 50)", None))
    return verdicts


def _cpu_lines(rows):
    """CPU seconds per added ECE host (local connection: the controller runs every host's modules too), between
    each pair of measured fleet sizes, and how many of the largest run's host-tasks ran per ECE host."""
    local = sorted((row["size"], row["ours"].cpu_seconds, row["ours"].host_tasks) for row in rows
                   if row["connection"] == "local" and row["ours"].cpu_seconds is not None)
    lines = []
    for (small, cpu_small, _t1), (large, cpu_large, _t2) in zip(local, local[1:]):
        lines.append("CPU per added host, %d to %d hosts: (%.1f s - %.1f s) / %d = %.2f s" % (
            small, large, cpu_large, cpu_small, large - small, (cpu_large - cpu_small) / (large - small)))
    return lines


def _verdict_lines(verdicts):
    return ["%s: %s" % ("PASS" if met else ("MISS" if met is False else "NOT MEASURED"), text)
            for text, met in verdicts]


def _profile_lines(rows):
    """Where the time of the largest local preflight run went: the breakdown, then the slowest tasks."""
    local = [row for row in rows if row["connection"] == "local"]
    if not local:
        return []
    row = max(local, key=lambda r: r["size"])
    ours = row["ours"]
    probes, controller, count, rest = ours.breakdown(row["size"])
    lines = ["Preflight with %d hosts: %.1f s = %.1f s in the per-host probe tasks (port_probe, url_reach) + %.1f s in "
             "%d per-host controller-side tasks (argument specs, asserts, set_fact, skipped ones) + %.1f s the rest "
             "(start-up, the tenant once, the judge)." % (row["size"], ours.seconds, probes, controller, count, rest),
             "Slowest tasks (first host's start to last host's end, host-tasks):"]
    for name, seconds, number, _family in ours.task_spans()[:6]:
        lines.append("  %5.1f s  %3d  %s" % (seconds, number, name))
    return lines


def _header(rows, load):
    """What was measured where: the machine, the versions, the forks, the fleets, the load."""
    from ansible.release import __version__ as ansible_version  # pylint: disable=import-outside-toplevel
    forks = ", ".join("%d host%s: %d" % (row["size"], "" if row["size"] == 1 else "s", row["forks"]) for row in rows)
    tools = "%s, %s" % (_tool_version(["openssl", "version"]).split(" (", maxsplit=1)[0],
                        _tool_version(["curl", "--version"]).split(" (", maxsplit=1)[0])
    services = {1: "", 2: "second", 3: "third"}.get(SERVICES_EVERY, "%dth" % SERVICES_EVERY)
    return ("%s, %d cores, Linux %s; Python %s, ansible-core %s, %s; commit %s, %s. Forks = min(ECE hosts, %d), "
            "the same for both sides (%s). Local connection: ECE hosts ece-sim001... all run in the controller's "
            "namespace against the lab (every %s host a services server; probe timeout %d s for both sides, as "
            "SIM_TIMEOUT explains). SSH: the fleet lab's three hosts, each in its namespace with its own sshd "
            "(pipelining), where ece-svc01's firewall drops TCP 993 (NET-PORT-993 fails there, waived). Host-tasks: "
            "every task result on every host (ok, failed, skipped, ignored), counted by "
            "tests/benchmarks/callback_plugins/bench_counts.py; module calls: per host and probe family (port, url, "
            "tenant, mailbox), a loop item counts one. The machine is shared with other test runs (1-minute load "
            "average %.1f when this run started, %.1f when it ended): figures vary between runs, the 1-host one most."
            % (_cpu_model(), os.cpu_count(), platform.release(), platform.python_version(), ansible_version, tools,
               _git_commit(), datetime.date.today().isoformat(), MAX_FORKS, forks, services, SIM_TIMEOUT,
               load[0], load[1]))


def _write_doc(header, table, verdicts, profile, cpu=()):
    parts = [header, table, "\n".join("- " + line for line in list(_verdict_lines(verdicts)) + list(cpu))]
    if profile:
        parts.append("```text\n%s\n```" % "\n".join(profile))
    parts.append(PEER_COVERAGE)
    replace_block(DOC, MARKER, "\n\n".join(parts), SECTION, INTRO)


def _sizes(value):
    sizes = [int(part) for part in value.split(",") if part.strip()]
    if not sizes or min(sizes) < 1 or max(sizes) > 999:
        raise argparse.ArgumentTypeError("a comma-separated list of fleet sizes from 1 to 999, e.g. 1,5,20,50")
    return sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=list(SIZES), help="fleet sizes (default 1,5,20,50)")
    parser.add_argument("--skip-ssh", action="store_true", help="no run over SSH")
    parser.add_argument("--skip-peer", action="store_true", help="only the preflight")
    parser.add_argument("--write", action="store_true", help="rewrite the bench_fleet section of docs/performance.md")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the fleet lab makes network namespaces): sudo tools/bench-fleet")
    rows = []
    load_before = os.getloadavg()[0]
    with fleet_lab() as bench, tempfile.TemporaryDirectory(prefix="bench-fleet-") as workdir:
        for size in args.sizes:
            rows.append(_measure_size(bench, workdir, size, args.skip_peer))
            print("measured %d hosts, local connection" % size, flush=True)
        if not args.skip_ssh:
            rows.append(_measure_ssh(bench, workdir, args.skip_peer))
            print("measured the fleet over SSH", flush=True)
    header = _header(rows, (load_before, os.getloadavg()[0]))
    table, verdicts, profile = _table(rows), _targets(rows), _profile_lines(rows)
    print(header)
    print(table)
    cpu = _cpu_lines(rows)
    for line in _verdict_lines(verdicts) + cpu + profile:
        print(line)
    if args.write:
        _write_doc(header, table, verdicts, profile, cpu)


if __name__ == "__main__":
    main()
