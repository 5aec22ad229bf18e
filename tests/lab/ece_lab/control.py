# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab up / down / status: start the lab's processes, record them in one run directory, stop them.

Everything a lab run leaves is under the run directory: state.json (ports, PIDs, paths), the CA
and server certificate, the signing key, Dovecot's configuration, mail, the sink's messages and
the logs. ``down`` stops only the PIDs recorded there, and only when their command line still
names this run directory, so a recycled PID is never killed.
"""

import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import dovecot, pki
from .identity import SigningKey
from .tenant import LAB_PORT_NAMES, load

STATE_FILE = "state.json"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 8.0
DOVECOT = shutil.which("dovecot", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") or "/usr/sbin/dovecot"


class LabError(Exception):
    """A lab command cannot do what was asked; the message says why and what to do."""


def default_run_dir():
    """$ECE_LAB_RUN_DIR, else .lab/run in the checkout when Dovecot can reach it, else under /var/tmp."""
    if os.environ.get("ECE_LAB_RUN_DIR"):
        return os.path.abspath(os.environ["ECE_LAB_RUN_DIR"])
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    run_dir = os.path.join(checkout, ".lab", "run")
    try:
        _check_searchable(run_dir)
    except LabError:
        digest = hashlib.sha1(checkout.encode()).hexdigest()[:10]
        run_dir = os.path.join("/var/tmp", "ece-o365-preflight-lab-%s" % digest, "run")
    return run_dir


def read_state(run_dir):
    try:
        with open(os.path.join(run_dir, STATE_FILE), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        raise LabError("%s is damaged; remove the run directory %s and run 'lab up' again"
                       % (os.path.join(run_dir, STATE_FILE), run_dir))


def _write_state(run_dir, state):
    tmp = os.path.join(run_dir, STATE_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(run_dir, STATE_FILE))


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def _ours(pid, run_dir):
    """True when PID is alive and its command line names RUN_DIR (so it is the process we started)."""
    cmdline = _cmdline(pid)
    return cmdline is not None and run_dir in cmdline


def _running(state, run_dir):
    return {name: pid for name, pid in (state or {}).get("pids", {}).items() if _ours(pid, run_dir)}


def _pick_ports(host, wanted):
    ports = {}
    held = []
    try:
        for name in LAB_PORT_NAMES:
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            try:
                sock.bind((host, wanted.get(name, 0)))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise LabError("port %d (%s) on %s is taken by another process: free it, or set "
                                   "lab.ports.%s to 0 in the tenant file so the lab picks a free one"
                                   % (wanted[name], name, host, name))
                raise LabError("cannot bind %s:%d for %s: %s" % (host, wanted.get(name, 0), name, exc.strerror))
            ports[name] = sock.getsockname()[1]
    finally:
        for sock in held:  # released just before the servers bind them
            sock.close()
    return ports


def _listening(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def up(tenant_path, run_dir=None, auth_debug=False):
    run_dir = os.path.abspath(run_dir or default_run_dir())
    tenant = load(tenant_path)
    if os.geteuid() != 0:
        raise LabError("the lab runs Dovecot, which needs root here: run it as root (e.g. sudo -E tools/lab up)")
    if not os.path.exists(DOVECOT):
        raise LabError("dovecot is not installed: apt-get install dovecot-core dovecot-imapd dovecot-pop3d "
                       "dovecot-submissiond dovecot-auth-lua (tools/bootstrap.sh does this as root)")
    _check_searchable(run_dir)
    state = read_state(run_dir)
    if state and _running(state, run_dir):
        raise LabError("the lab is already running from %s (PIDs %s); run 'lab down' first"
                       % (run_dir, ", ".join(map(str, _running(state, run_dir).values()))))
    if os.path.isdir(run_dir):  # stale run directory from a crash or an earlier run: start clean
        shutil.rmtree(run_dir)
    os.makedirs(os.path.join(run_dir, "logs"))
    os.makedirs(os.path.join(run_dir, "sink"))
    ports = _pick_ports(tenant.host, tenant.ports)
    certs = pki.create(run_dir, extra_names=[tenant.host])  # lab.host may be a namespace's address
    key = SigningKey.generate()
    key_path = os.path.join(run_dir, "signing-key.pem")
    with open(key_path, "wb") as handle:
        handle.write(key.private_pem)
    os.chmod(key_path, 0o600)
    base = "https://%s:%d" % (_url_host(tenant.host), ports["login"])
    state = {
        "run_dir": run_dir, "tenant_file": tenant.path, "host": tenant.host, "ports": ports,
        "ca": certs["ca"], "cert": certs["cert"], "key": certs["key"], "signing_key": key_path,
        "tenant_id": tenant.tenant_id, "domain": tenant.domain,
        "login_url": base, "authority": "%s/%s" % (base, tenant.tenant_id),
        "issuer": "%s/%s/v2.0" % (base, tenant.tenant_id),
        "graph_url": "https://%s:%d" % (_url_host(tenant.host), ports["graph"]),
        "exchange_url": "https://%s:%d" % (_url_host(tenant.host), ports["exchange"]),
        "pids": {}, "started": time.time(),
    }
    config = dovecot.write(tenant, run_dir, state["issuer"], ports, certs["cert"], certs["key"], key,
                           [app["client_id"] for app in tenant.applications.values()], auth_debug=auth_debug)
    state["dovecot_config"] = config
    _write_state(run_dir, state)
    lab_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=lab_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        procs = {
            "servers": _spawn([sys.executable, "-m", "ece_lab", "serve", "--run-dir", run_dir],
                              os.path.join(run_dir, "logs", "servers.log"), env),
            "dovecot": _spawn([DOVECOT, "-F", "-c", config], os.path.join(run_dir, "logs", "dovecot-stderr.log"), env),
        }
        state["pids"] = {name: proc.pid for name, proc in procs.items()}
        _write_state(run_dir, state)
        _wait_listening(state, procs)
    except LabError:
        down(run_dir)
        raise
    return state


def _check_searchable(run_dir):
    """Dovecot's mail processes run as the dovecot user, who must reach the run directory's mail."""
    path = os.path.dirname(run_dir)
    while True:
        if os.path.exists(path) and not os.stat(path).st_mode & 0o001:
            raise LabError("the dovecot user cannot reach %s: %s is not searchable by others. Use a run directory "
                           "under a searchable path (e.g. --run-dir /var/tmp/ece-lab) or chmod o+x %s"
                           % (run_dir, path, path))
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def _url_host(host):
    return "[%s]" % host if ":" in host else host


def _spawn(argv, log_path, env):
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, close_fds=True)


def _wait_listening(state, procs):
    deadline = time.monotonic() + START_TIMEOUT
    pending = dict(state["ports"])
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            if _listening(state["host"], port):
                del pending[name]
        # Popen.poll, not /proc: between fork and exec a child still shows its parent's command line.
        dead = ["%s (exit %s)" % (name, proc.returncode) for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            raise LabError("lab process %s exited during start-up; see %s" % (
                ", ".join(dead), os.path.join(state["run_dir"], "logs")) + _log_tail(state["run_dir"]))
        if pending:
            time.sleep(0.05)
    if pending:
        raise LabError("lab services did not start listening within %.0f s: %s; see %s" % (
            START_TIMEOUT, ", ".join("%s:%d" % item for item in pending.items()),
            os.path.join(state["run_dir"], "logs")) + _log_tail(state["run_dir"]))


def _log_tail(run_dir, lines=15):
    out = []
    logs = os.path.join(run_dir, "logs")
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as handle:
            tail = handle.read().splitlines()[-lines:]
        if tail:
            out.append("\n--- %s ---\n%s" % (name, "\n".join(tail)))
    return "".join(out)


def down(run_dir=None):
    """Stop what this run directory's state names; return the names of the processes stopped."""
    run_dir = os.path.abspath(run_dir or default_run_dir())
    state = read_state(run_dir)
    if state is None:
        return []
    running = _running(state, run_dir)
    for pid in running.values():
        try:
            os.killpg(pid, signal.SIGTERM)  # each lab process leads its own session/group
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(_ours(pid, run_dir) and not _zombie(pid) for pid in running.values()):
        time.sleep(0.05)
    for pid in running.values():
        if _ours(pid, run_dir) and not _zombie(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    state["pids"] = {}
    state["stopped"] = time.time()
    _write_state(run_dir, state)
    return sorted(running)


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def status(run_dir=None):
    """Return a list of (service, pid or None, host:port, listening) for the recorded lab."""
    run_dir = os.path.abspath(run_dir or default_run_dir())
    state = read_state(run_dir)
    if state is None:
        return None, []
    running = _running(state, run_dir)
    rows = []
    owner = {"login": "servers", "graph": "servers", "exchange": "servers", "sink": "servers",
             "imaps": "dovecot", "pop3s": "dovecot", "submission": "dovecot"}
    for name, port in state["ports"].items():
        pid = running.get(owner[name])
        rows.append((name, pid, "%s:%d" % (state["host"], port), bool(pid) and _listening(state["host"], port)))
    return state, rows


def switch(tenant_path, run_dir=None):
    """Point a running lab at another tenant file (ports stay): rewrite Dovecot's files, reload both."""
    run_dir = os.path.abspath(run_dir or default_run_dir())
    state = read_state(run_dir)
    running = _running(state, run_dir)
    if not state or set(running) != {"servers", "dovecot"}:
        raise LabError("the lab is not running from %s: run 'lab up' first" % run_dir)
    tenant = load(tenant_path)
    if tenant.tenant_id != state["tenant_id"]:
        raise LabError("%s describes tenant %s but the running lab serves %s: 'lab down' and 'lab up' with it"
                       % (tenant.path, tenant.tenant_id, state["tenant_id"]))
    with open(state["signing_key"], "rb") as handle:
        key = SigningKey(handle.read())
    dovecot.write(tenant, run_dir, state["issuer"], state["ports"], state["cert"], state["key"], key,
                  [app["client_id"] for app in tenant.applications.values()])
    state["tenant_file"] = tenant.path
    _write_state(run_dir, state)
    dovecot_log = os.path.join(run_dir, "logs", "dovecot.log")
    reloads = _count_lines(dovecot_log, "SIGHUP received")
    os.kill(running["servers"], signal.SIGHUP)
    os.kill(running["dovecot"], signal.SIGHUP)
    # The servers process logs each load; wait for this one so callers never race the reload.
    log = os.path.join(run_dir, "logs", "http.log")
    deadline = time.monotonic() + START_TIMEOUT
    marker = "loaded tenant %s\n" % tenant.path
    while time.monotonic() < deadline:
        with open(log, encoding="utf-8") as handle:
            servers_done = handle.read().endswith(marker)
        if servers_done and _count_lines(dovecot_log, "SIGHUP received") > reloads:
            time.sleep(0.3)  # Dovecot restarts its auth service after logging the reload
            return state
        time.sleep(0.02)
    raise LabError("the lab did not load %s within %.0f s; see %s" % (tenant.path, START_TIMEOUT, log))


def _count_lines(path, text):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return sum(1 for line in handle if text in line)
    except FileNotFoundError:
        return 0
