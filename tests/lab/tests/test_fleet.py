# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab fleet-up / fleet-switch / fleet-down: namespaces, sshd, the lab on Microsoft's ports in its own
namespace with a certificate for its address, the firewall on the services server, a crashed fleet
recovered, nothing left behind (no namespace, no process, no directory)."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

import pytest
import yaml
from conftest import LAB_ROOT

from ece_lab import control, fleet


@pytest.fixture
def fleet_dir():
    base = tempfile.mkdtemp(prefix="ece-lab-fleet-")
    os.chmod(base, 0o755)
    path = os.path.join(base, "fleet")
    yield path
    fleet.down(path)
    shutil.rmtree(base, ignore_errors=True)


def _namespaces():
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return set(line.split()[0] for line in proc.stdout.splitlines() if line.strip())


def _alive(pid):
    """PID runs (a zombie left for a parent that never reaps it does not)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _root_namespace_network():
    """The root namespace's interfaces and addresses, to prove the fleet adds nothing there."""
    return subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, timeout=10, check=True).stdout


def _in(state, name, code):
    """Run python CODE in the fleet namespace NAME; its stdout."""
    proc = subprocess.run(fleet.netns_exec(state, name) + [sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


CONNECT = """
import socket
for host, port in %r:
    try:
        socket.create_connection((host, port), timeout=%s).close()
        print(host, port, "open")
    except socket.timeout:
        print(host, port, "timeout")
    except OSError as exc:
        print(host, port, type(exc).__name__)
"""


def test_fleet_up_switch_down(fleet_dir):
    root_before = _root_namespace_network()
    state = fleet.up("healthy", fleet_dir, ssh=True)
    made = set(state["namespaces"].values())
    assert made <= _namespaces()
    lab = control.read_state(state["lab_run_dir"])
    assert lab["host"] == fleet.LAB_ADDRESS and lab["authority"].startswith("https://%s:443/" % fleet.LAB_ADDRESS)
    assert {lab["ports"][n] for n in ("login", "submission", "imaps", "pop3s")} == {443, 587, 993, 995}
    # Nothing is added to the root namespace: no interface, no address.
    assert _root_namespace_network() == root_before and fleet.SUBNET not in root_before
    # From the controller: the lab's certificate verifies for its address, every sshd answers.
    code = ("import socket, ssl\nctx = ssl.create_default_context(cafile=%r)\n"
            "with socket.create_connection((%r, 443), timeout=3) as raw:\n"
            "    with ctx.wrap_socket(raw, server_hostname=%r) as tls:\n"
            "        print(tls.version())\n" % (lab["ca"], fleet.LAB_ADDRESS, fleet.LAB_ADDRESS))
    assert _in(state, "ctl", code).startswith("TLS")
    sshd = [(host["address"], 22) for host in state["hosts"]]
    assert _in(state, "ctl", CONNECT % (sshd, 2)).splitlines() == ["%s 22 open" % address for address, _port in sshd]
    # The services server's firewall drops outbound 993 (silently); 995 and the others connect.
    mail = [(fleet.LAB_ADDRESS, 993), (fleet.LAB_ADDRESS, 995)]
    assert _in(state, "svc1", CONNECT % (mail, 1)).splitlines() == [
        "%s 993 timeout" % fleet.LAB_ADDRESS, "%s 995 open" % fleet.LAB_ADDRESS]
    assert _in(state, "app1", CONNECT % (mail, 1)).splitlines() == [
        "%s 993 open" % fleet.LAB_ADDRESS, "%s 995 open" % fleet.LAB_ADDRESS]
    # The inventories: real SSH or the local connection, the lab's endpoints, CA and tenant.
    with open(state["inventories"]["ssh"], encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    assert os.stat(state["inventories"]["ssh"]).st_mode & 0o777 == 0o600, "the inventory holds the lab's secrets"
    assert sorted(inventory["all"]["children"]) == ["ece_application", "ece_services"]
    variables = inventory["all"]["vars"]
    assert variables["ece_o365_ca_path"] == lab["ca"] and variables["ece_o365_login_port"] == 443
    assert variables["ece_o365_waivers"][0]["id"] == "NET-PORT-993"
    # Another scenario of the same tenant, no restart.
    state = fleet.switch("token-wrong-owner", fleet_dir)
    assert state["scenario"] == "token-wrong-owner"
    assert control.read_state(state["lab_run_dir"])["tenant_file"] == state["tenant_file"]
    pids = dict(control.read_state(state["lab_run_dir"])["pids"], **state["pids"])
    removed = fleet.down(fleet_dir)
    assert sorted("netns:" + n for n in made) == sorted(r for r in removed if r.startswith("netns:"))
    assert not made & _namespaces()
    assert not any(_alive(pid) for pid in pids.values())
    assert not os.path.exists(fleet_dir)
    assert fleet.down(fleet_dir) == [], "a second down finds nothing"


def test_a_crashed_fleet_is_recovered_by_the_next_up(fleet_dir):
    first = fleet.up("healthy", fleet_dir, ssh=False)
    first_pids = control.read_state(first["lab_run_dir"])["pids"].values()
    # The next up (as after a crash: nothing was torn down) removes the first fleet entirely.
    env = dict(os.environ, PYTHONPATH=LAB_ROOT)
    proc = subprocess.run([sys.executable, "-m", "ece_lab", "--fleet-dir", fleet_dir, "fleet-up", "--no-ssh",
                           "imap-disabled"], capture_output=True, text=True, env=env, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "inventory (local)" in proc.stdout and "inventory (ssh)" not in proc.stdout
    assert not set(first["namespaces"].values()) & _namespaces()
    assert not any(_alive(pid) for pid in first_pids)
    env_out = subprocess.run([sys.executable, "-m", "ece_lab", "--fleet-dir", fleet_dir, "fleet-env"],
                             capture_output=True, text=True, env=env, timeout=30, check=True).stdout
    second = json.loads(env_out)
    assert second["id"] != first["id"] and second["scenario"] == "imap-disabled"
    assert set(second["namespaces"].values()) <= _namespaces()


def test_fleet_needs_root_and_says_so(monkeypatch, fleet_dir):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(fleet.FleetError, match="needs root"):
        fleet.up("healthy", fleet_dir)


def test_fallback_to_loopback_when_namespaces_cannot_be_made(monkeypatch, fleet_dir):
    real_run = fleet._run

    def no_namespaces(argv, input_text=None, check=True):
        if argv[:3] == ["ip", "netns", "add"]:
            reason = "mount --make-shared /run/netns failed: Operation not permitted"
            return subprocess.CompletedProcess(argv, 1, "", reason)
        return real_run(argv, input_text, check)
    monkeypatch.setattr(fleet, "_run", no_namespaces)
    with pytest.raises(fleet.NamespacesUnavailable):
        fleet.up("healthy", fleet_dir, ssh=True)
    state = fleet.up("healthy", fleet_dir, ssh=True, fallback=True)
    assert state["mode"] == "loopback" and "Operation not permitted" in state["fallback_reason"]
    assert sorted(state["inventories"]) == ["local"] and fleet.netns_exec(state, "ctl") == []
    lab = control.read_state(state["lab_run_dir"])
    assert lab["host"] == "127.0.0.1"
    context = ssl.create_default_context(cafile=lab["ca"])
    with socket.create_connection(("127.0.0.1", lab["ports"]["login"]), timeout=3) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version()
