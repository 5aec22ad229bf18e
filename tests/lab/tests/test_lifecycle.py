# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab up / status / down: fast start, clear refusals, recovery after a crash, nothing left behind."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import LAB_ROOT, scenario

from ece_lab import control


@pytest.fixture
def run_dir():
    base = tempfile.mkdtemp(prefix="ece-lab-cycle-")
    os.chmod(base, 0o755)
    path = os.path.join(base, "run")
    yield path
    control.down(path)
    shutil.rmtree(base, ignore_errors=True)


def _lab(*args):
    env = dict(os.environ, PYTHONPATH=LAB_ROOT)
    return subprocess.run([sys.executable, "-m", "ece_lab"] + list(args), capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def _listening(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_status_down_leaves_no_process_and_no_listener(run_dir):
    started = time.monotonic()
    up = _lab("--run-dir", run_dir, "up", "healthy")
    assert up.returncode == 0, up.stderr
    assert time.monotonic() - started < 10, "the lab starts in seconds"
    state = control.read_state(run_dir)
    pids = list(state["pids"].values())
    assert all(_listening(port) for port in state["ports"].values())
    status = _lab("--run-dir", run_dir, "status")
    assert status.returncode == 0 and status.stdout.count("listening") == len(state["ports"])
    check = _lab("--run-dir", run_dir, "check")
    assert check.returncode == 0 and "0 failed" in check.stdout, check.stdout + check.stderr
    down = _lab("--run-dir", run_dir, "down")
    assert down.returncode == 0 and "dovecot" in down.stdout and "servers" in down.stdout
    assert not [port for port in state["ports"].values() if _listening(port)]
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    leftovers = subprocess.run(["pgrep", "-f", run_dir], capture_output=True, text=True, check=False).stdout.split()
    assert leftovers == []
    assert _lab("--run-dir", run_dir, "status").returncode == 3
    assert "nothing" in _lab("--run-dir", run_dir, "down").stdout


def test_second_up_is_refused_while_running(run_dir):
    assert _lab("--run-dir", run_dir, "up").returncode == 0
    again = _lab("--run-dir", run_dir, "up")
    assert again.returncode == 1 and "already running" in again.stderr and "lab down" in again.stderr


def test_up_recovers_from_a_crash(run_dir):
    control.up(scenario("healthy"), run_dir)
    for pid in control.read_state(run_dir)["pids"].values():
        os.killpg(pid, signal.SIGKILL)  # a crash: no clean shutdown, state and sockets left behind
    time.sleep(0.3)
    state = control.up(scenario("healthy"), run_dir)
    assert all(_listening(port) for port in state["ports"].values())


def test_a_taken_port_is_named(run_dir, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        tenant = tmp_path / "fixed.yml"
        tenant.write_text("# fixed imaps port\nextends: %s\nlab: {ports: {imaps: %d}}\n" % (scenario("healthy"), port))
        result = _lab("--run-dir", run_dir, "up", str(tenant))
    assert result.returncode == 1
    assert "port %d (imaps)" % port in result.stderr and "lab.ports.imaps to 0" in result.stderr


def test_unknown_scenario_lists_the_known_ones(run_dir):
    result = _lab("--run-dir", run_dir, "up", "no-such-scenario")
    assert result.returncode == 1 and "healthy" in result.stderr and "expired-secret" in result.stderr


def test_nothing_the_lab_writes_holds_a_secret_or_a_token(run_dir):
    """After a full check (secrets sent, tokens issued and used), no log or file carries them."""
    assert _lab("--run-dir", run_dir, "up").returncode == 0
    check = _lab("--run-dir", run_dir, "check")
    assert check.returncode == 0, check.stdout
    _lab("--run-dir", run_dir, "down")
    from ece_lab.tenant import load
    tenant = load(scenario("healthy"))
    secrets = [s["value"] for app in tenant.applications.values() for s in app["secrets"]]
    secrets += [rt["value"] for rt in tenant.refresh_tokens.values()]
    secrets += [u["password"] for u in tenant.users.values() if u["password"]]
    outputs = [check.stdout, check.stderr]
    for root, _dirs, files in os.walk(run_dir):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith((".pem", ".key")) or root.endswith(("/sink", "/RS256")) or not os.path.isfile(path) \
                    or os.path.islink(path):
                continue  # key material the lab made for itself; mail bodies; sockets and FIFOs
            with open(path, "rb") as handle:
                outputs.append(handle.read().decode("utf-8", "replace"))
    everything = "\n".join(outputs)
    assert len(everything) > 1000, "the logs were read"
    leaked = [s[:12] for s in secrets if s in everything]
    assert leaked == []
    assert "eyJ" not in everything, "no JWT (access or id token) in any lab output"
    assert "0.lab." not in everything, "no issued refresh token in any lab output"
