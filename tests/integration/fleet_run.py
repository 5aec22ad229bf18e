# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The full preflight playbook on the fleet lab (ece_lab.fleet): Fleet builds it and runs
ansible-playbook in the controller namespace, by FQCN, from the collection; Run is one run's
process, output, JSON report and recap. Shared by tests/integration/preflight and
tests/reliability."""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ece_lab import control, fleet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".build", "collections")


class Run(object):
    """One ansible-playbook run: the completed process, its output, the JSON report and the recap."""

    def __init__(self, proc, report_dir, seconds, cpu_seconds=None):
        self.proc = proc
        # CPU seconds of ansible-playbook and everything it started (its workers, and the modules of hosts
        # reached over the local connection), user + system: what the run cost the controller machine.
        self.cpu_seconds = cpu_seconds
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.report_dir = report_dir
        self.seconds = seconds
        path = os.path.join(report_dir, "preflight.json")
        self.report = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                self.report = json.load(handle)

    def tail(self, chars=4000):
        return self.output[-chars:]

    @property
    def findings(self):
        assert self.report is not None, "no report was written:\n" + self.tail()
        return self.report["findings"]

    def not_passing(self):
        """{(id, subject): status} of every fail, error and warn."""
        return dict(((f["id"], f["subject"]), f["status"]) for f in self.findings
                    if f["status"] in ("fail", "error", "warn"))

    def verdicts(self):
        """(id, subject, status) of every finding, sorted: what 'the same findings' compares."""
        return sorted((f["id"], f["subject"], f["status"]) for f in self.findings)

    def recap(self):
        """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from PLAY RECAP."""
        hosts = {}
        for line in self.proc.stdout.split("PLAY RECAP", 1)[-1].splitlines():
            match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
            if match:
                hosts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2)))
        return hosts


class Fleet(object):
    def __init__(self, fleet_dir):
        self.fleet_dir = fleet_dir
        self.state = fleet.up("healthy", fleet_dir, ssh=True)

    def switch(self, scenario):
        self.state = fleet.switch(scenario, self.fleet_dir)
        return self.state

    def lab_state(self):
        return control.read_state(self.state["lab_run_dir"])

    def inventory(self, connection):
        return self.state["inventories"][connection]

    def run(self, report_dir, connection="local", playbook="ece_o365.preflight.preflight", flags=(),
            extra_vars=None, inventory=None, timeout=240, env_extra=None):
        program = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
        # Extra variables from a file beside the report directory: -vvvv echoes the command line.
        vars_file = str(report_dir) + ".vars.json"
        fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict({"ece_o365_report_dir": str(report_dir)}, **(extra_vars or {})), handle)
        argv = fleet.netns_exec(self.state, "ctl") + [
            program, "-i", inventory or self.inventory(connection), "-e", "@" + vars_file] + list(flags) + [playbook]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="false",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_DEPRECATION_WARNINGS="false")
        env.update(env_extra or {})
        start, cpu_start = time.monotonic(), os.times()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False,
                              cwd=str(report_dir))
        cpu_end = os.times()
        cpu = (cpu_end.children_user - cpu_start.children_user) + (cpu_end.children_system - cpu_start.children_system)
        return Run(proc, str(report_dir), time.monotonic() - start, cpu)


@contextlib.contextmanager
def fleet_lab():
    """A Fleet serving the healthy tenant, in a fresh directory; torn down however the tests end."""
    if not shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin:/bin"):
        raise RuntimeError("sshd is missing: tools/bootstrap.sh installs openssh-server as root")
    base = tempfile.mkdtemp(prefix="preflight-fleet-")
    os.chmod(base, 0o755)  # Dovecot's mail processes (user dovecot) must reach the lab's run directory
    fleet_dir = os.path.join(base, "fleet")
    try:
        yield Fleet(fleet_dir)
    finally:
        fleet.down(fleet_dir)
        shutil.rmtree(base, ignore_errors=True)
