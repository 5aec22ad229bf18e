# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet lab: the lab and a small ECE fleet, each in a network namespace of its own.

    namespace      address        what runs there
    <id>-br        (no address)   the bridge every other namespace is plugged into (veth pairs)
    <id>-lab       10.231.8.1     the lab (login on 443, SMTP submission 587, IMAP 993, POP3 995)
    <id>-ctl       10.231.8.2     the controller: ansible-playbook runs here (ip netns exec)
    <id>-svc1      10.231.8.11    ece-svc01, services server, sshd; nftables drops outbound TCP 993
    <id>-app1      10.231.8.21    ece-app01, application server, sshd
    <id>-app2      10.231.8.22    ece-app02, application server, sshd

Nothing is added to the root namespace: no interface, no route, no rule. Each sshd listens on
its namespace's address only, with a key made for this fleet (UsePAM no, StrictModes no), so
Ansible reaches three real hosts over real SSH, and the services server's probe of 993 meets a
silent drop, as behind a corporate firewall. The lab serves Microsoft's own port numbers there,
so the inventory is the one a real deployment has, with the lab's addresses and CA.

Everything is recorded, before it is made, in ``fleet.json`` under the fleet directory, so
``down`` (and the next ``up``) removes what a crashed run left: the lab, every process inside the
fleet's namespaces, the namespaces, the directory. Every command has a time limit. Needs root.
"""

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

from . import control
from .tenant import load

SUBNET = "10.231.8"
LAB_ADDRESS = SUBNET + ".1"
CONTROLLER_ADDRESS = SUBNET + ".2"
# (inventory name, namespace suffix, address, inventory group, outbound TCP ports dropped)
HOSTS = (
    ("ece-svc01", "svc1", SUBNET + ".11", "ece_services", (993,)),
    ("ece-app01", "app1", SUBNET + ".21", "ece_application", ()),
    ("ece-app02", "app2", SUBNET + ".22", "ece_application", ()),
)
# Microsoft's port numbers where a probe looks for them; the rest picked free.
LAB_PORTS = {"login": 443, "submission": 587, "imaps": 993, "pop3s": 995, "graph": 0, "exchange": 0, "sink": 0}
STATE_FILE = "fleet.json"
COMMAND_TIMEOUT = 20
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
SSHD = "/usr/sbin/sshd"
SCENARIOS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios")


class FleetError(control.LabError):
    """The fleet cannot be built or used; the message says why and what to do."""


def default_fleet_dir():
    """$ECE_LAB_FLEET_DIR, else 'fleet' beside the lab's default run directory."""
    if os.environ.get("ECE_LAB_FLEET_DIR"):
        return os.path.abspath(os.environ["ECE_LAB_FLEET_DIR"])
    return os.path.join(os.path.dirname(control.default_run_dir()), "fleet")


def scenario_path(value):
    """A tenant file path, or the path of the scenario of that name."""
    if os.path.exists(value):
        return os.path.abspath(value)
    candidate = os.path.join(SCENARIOS_DIR, value + ".yml")
    if os.path.exists(candidate):
        return candidate
    names = sorted(n[:-4] for n in os.listdir(SCENARIOS_DIR) if n.endswith(".yml"))
    raise FleetError("no tenant file or scenario %r; scenarios: %s" % (value, ", ".join(names)))


def _run(argv, input_text=None, check=True):
    try:
        proc = subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        raise FleetError("%s did not finish within %d s" % (" ".join(argv), COMMAND_TIMEOUT))
    if check and proc.returncode != 0:
        raise FleetError("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def read_state(fleet_dir=None):
    path = os.path.join(os.path.abspath(fleet_dir or default_fleet_dir()), STATE_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        raise FleetError("%s is damaged; run 'lab fleet-down' (it removes what it can) or remove it" % path)


def _write_state(state):
    path = os.path.join(state["fleet_dir"], STATE_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def netns_exec(state, name):
    """The argv prefix that runs a command in the fleet namespace NAME (ctl, lab, svc1, app1, app2);
    empty in the loopback fallback, where everything runs in this namespace."""
    if not state["namespaces"]:
        return []
    return ["ip", "netns", "exec", state["namespaces"][name]]


# -- up ----------------------------------------------------------------------------------

def up(scenario="healthy", fleet_dir=None, ssh=True, fallback=False):
    """Build the fleet and start the lab for SCENARIO; return the state (inventories, namespaces...).

    SSH false: no sshd (the local-connection inventory only). FALLBACK true: where network
    namespaces cannot be made (a container without CAP_SYS_ADMIN), start one lab on 127.0.0.1
    with Microsoft's port numbers instead and write only the local-connection inventory; the
    state's ``mode`` then says ``loopback`` and ``fallback_reason`` why."""
    if os.geteuid() != 0:
        raise FleetError("the fleet lab makes network namespaces and runs Dovecot and sshd, which needs root: "
                         "run it as root (sudo tools/preflight)")
    for tool in ("ip", "nft", "ssh", "ssh-keygen"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            raise FleetError("%s is missing: apt-get install iproute2 nftables openssh-server openssh-client "
                             "(tools/bootstrap.sh does this as root)" % tool)
    if ssh and not os.path.exists(SSHD):
        raise FleetError("%s is missing: apt-get install openssh-server" % SSHD)
    fleet_dir = os.path.abspath(fleet_dir or default_fleet_dir())
    tenant_file = scenario_path(scenario)
    down(fleet_dir)  # a fleet left by a crash: its lab, processes and namespaces go first
    os.makedirs(fleet_dir, mode=0o755, exist_ok=True)
    os.chmod(fleet_dir, 0o755)  # Dovecot's mail processes (user dovecot) reach the lab's run directory
    fleet_id = uuid.uuid4().hex[:6]
    state = {
        "fleet_dir": fleet_dir, "id": fleet_id, "ssh": ssh, "mode": "ssh" if ssh else "local",
        "started": time.time(),
        "namespaces": dict((name, "eop%s-%s" % (fleet_id, name))
                           for name in ["br", "lab", "ctl"] + [h[1] for h in HOSTS]),
        "lab_address": LAB_ADDRESS, "controller_address": CONTROLLER_ADDRESS,
        "hosts": [{"name": h[0], "namespace": h[1], "address": h[2], "group": h[3], "drop_tcp": list(h[4])}
                  for h in HOSTS],
        "lab_run_dir": os.path.join(fleet_dir, "lab", "run"), "pids": {},
        "control_path_dir": tempfile.mkdtemp(prefix="eop-cp-"),
        "tenant_file": None, "scenario": None,
    }
    _write_state(state)  # recorded before anything is made, so down() can undo a half-built fleet
    try:
        try:
            _build_network(state)
        except NamespacesUnavailable as exc:
            if not fallback:
                raise
            _loopback(state, str(exc))
        if state["ssh"]:
            _start_sshds(state)
        _start_lab(state, tenant_file)
        if state["mode"] != "loopback":
            _wait_reachable(state)
        write_inventories(state)
    except BaseException:
        down(fleet_dir)
        raise
    _write_state(state)
    return state


class NamespacesUnavailable(FleetError):
    """Network namespaces cannot be made here (no CAP_SYS_ADMIN, or no kernel support)."""


def _loopback(state, reason):
    """Fall back to one lab on 127.0.0.1: no namespaces, no sshd, the local-connection inventory."""
    for name in state["namespaces"].values():
        if _namespace_exists(name):
            _run(["ip", "netns", "del", name], check=False)
    state.update(mode="loopback", ssh=False, namespaces={}, lab_address="127.0.0.1", controller_address=None,
                 fallback_reason=reason)
    for host in state["hosts"]:
        host["drop_tcp"] = []  # no namespace, no firewall of its own
    _write_state(state)


def _build_network(state):
    ns = state["namespaces"]
    probe = _run(["ip", "netns", "add", ns["br"]], check=False)
    if probe.returncode != 0:
        raise NamespacesUnavailable("cannot make a network namespace here (%s)" % probe.stderr.strip())
    for name in [n for key, n in ns.items() if key != "br"]:
        _run(["ip", "netns", "add", name])
    bridge = ns["br"]
    _run(["ip", "-n", bridge, "link", "add", "br0", "type", "bridge"])
    _run(["ip", "-n", bridge, "link", "set", "br0", "up"])
    members = [("lab", LAB_ADDRESS), ("ctl", CONTROLLER_ADDRESS)] + [(h["namespace"], h["address"])
                                                                     for h in state["hosts"]]
    for short, address in members:
        port = "v-" + short  # the bridge side; the host side is eth0 in the member namespace
        _run(["ip", "-n", bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns[short]])
        _run(["ip", "-n", bridge, "link", "set", port, "master", "br0", "up"])
        _run(["ip", "-n", ns[short], "addr", "add", address + "/24", "dev", "eth0"])
        _run(["ip", "-n", ns[short], "link", "set", "eth0", "up"])
        _run(["ip", "-n", ns[short], "link", "set", "lo", "up"])
    for host in state["hosts"]:
        if host["drop_tcp"]:
            rules = ("table inet ece_preflight_fleet {\n  chain output {\n    type filter hook output priority 0;\n"
                     "    tcp dport { %s } drop\n  }\n}\n" % ", ".join(str(p) for p in host["drop_tcp"]))
            _run(["ip", "netns", "exec", ns[host["namespace"]], "nft", "-f", "-"], input_text=rules)


def _start_sshds(state):
    fleet_dir = state["fleet_dir"]
    ssh_dir = os.path.join(fleet_dir, "ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    key = os.path.join(ssh_dir, "id_ed25519")
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ece-preflight-fleet", "-f", key])
    shutil.copyfile(key + ".pub", os.path.join(ssh_dir, "authorized_keys"))
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(ssh_dir, "host_ed25519")])
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    state["ssh_key"] = key
    for host in state["hosts"]:
        config = os.path.join(ssh_dir, "sshd-%s.conf" % host["name"])
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("\n".join([
                "# sshd of %s in the fleet lab (%s)" % (host["name"], fleet_dir),
                "ListenAddress %s:22" % host["address"],
                "HostKey %s" % os.path.join(ssh_dir, "host_ed25519"),
                "AuthorizedKeysFile %s" % os.path.join(ssh_dir, "authorized_keys"),
                "PidFile none",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "MaxStartups 50",
                "MaxSessions 50",
                "Subsystem sftp internal-sftp",
                "LogLevel INFO", ""]))
        log = os.path.join(ssh_dir, "sshd-%s.log" % host["name"])
        with open(log, "ab") as out:
            proc = subprocess.Popen(netns_exec(state, host["namespace"]) + [SSHD, "-D", "-e", "-f", config],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        state["pids"]["sshd-" + host["name"]] = proc.pid
        _write_state(state)


def variant_file(state, scenario):
    """Write (and return) the tenant file that serves SCENARIO from the lab namespace's address."""
    source = scenario_path(scenario)
    name = os.path.basename(source)[:-4] if source.endswith(".yml") else "tenant"
    path = os.path.join(state["fleet_dir"], "tenants", "%s.yml" % name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# %s, served by the fleet lab from %s (written by ece_lab.fleet)\n" % (name, state["lab_address"]))
        yaml.safe_dump({"extends": source, "lab": {"host": state["lab_address"], "ports": _lab_ports(state)}}, handle,
                       default_flow_style=False, sort_keys=False)
    return path


def _lab_ports(state):
    """LAB_PORTS; in the loopback fallback, a port another process holds on 127.0.0.1 is picked free
    instead (the port checks then see the lab's port, not Microsoft's, and say so)."""
    if state["mode"] != "loopback" or state.get("lab_ports"):
        return dict(state.get("lab_ports") or LAB_PORTS)
    ports = {}
    for name, port in LAB_PORTS.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
            ports[name] = port
        except OSError:
            ports[name] = 0
        finally:
            sock.close()
    state["lab_ports"] = ports
    return dict(ports)


def _start_lab(state, tenant_file):
    variant = variant_file(state, tenant_file)
    os.makedirs(os.path.dirname(state["lab_run_dir"]), mode=0o755, exist_ok=True)
    lab_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=lab_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = netns_exec(state, "lab") + [sys.executable, "-m", "ece_lab", "--run-dir", state["lab_run_dir"],
                                       "up", variant]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=control.START_TIMEOUT + 15,
                              check=False)
    except subprocess.TimeoutExpired:
        raise FleetError("the lab did not start within %.0f s in namespace %s" % (
            control.START_TIMEOUT + 15, state["namespaces"]["lab"]))
    if proc.returncode != 0:
        raise FleetError("the lab did not start in namespace %s: %s" % (
            state["namespaces"]["lab"], (proc.stderr or proc.stdout).strip()))
    state["tenant_file"] = variant
    state["scenario"] = os.path.basename(tenant_file)[:-4]
    _write_state(state)


def _wait_reachable(state):
    """From the controller's namespace: every sshd and every lab port accepts a connection."""
    lab = control.read_state(state["lab_run_dir"])
    targets = [(LAB_ADDRESS, port) for port in lab["ports"].values()]
    if state["ssh"]:
        targets += [(host["address"], 22) for host in state["hosts"]]
    probe = (
        "import socket, sys, time\n"
        "targets = %r\n"
        "deadline = time.monotonic() + %f\n"
        "while targets and time.monotonic() < deadline:\n"
        "    for target in list(targets):\n"
        "        try:\n"
        "            socket.create_connection(target, timeout=0.5).close()\n"
        "            targets.remove(target)\n"
        "        except OSError:\n"
        "            pass\n"
        "    if targets:\n"
        "        time.sleep(0.05)\n"
        "print(' '.join('%%s:%%d' %% t for t in targets))\n"
        "sys.exit(1 if targets else 0)\n" % (targets, START_TIMEOUT))
    try:
        proc = subprocess.run(netns_exec(state, "ctl") + [sys.executable, "-c", probe], capture_output=True,
                              text=True, timeout=START_TIMEOUT + 10, check=False)
    except subprocess.TimeoutExpired:
        raise FleetError("the fleet did not answer within %.0f s" % START_TIMEOUT)
    if proc.returncode != 0:
        raise FleetError("from the controller namespace, these did not accept a connection within %.0f s: %s; "
                         "see %s" % (START_TIMEOUT, proc.stdout.strip() or proc.stderr.strip(), state["fleet_dir"]))


# -- the inventory ---------------------------------------------------------------------------

def lab_variables(state, report_dir=None, connection="ssh"):
    """The ece_o365_* inventory variables that point the preflight at the lab's tenant (secrets included)."""
    lab = control.read_state(state["lab_run_dir"])
    tenant = load(lab["tenant_file"])
    ece = tenant.ece
    ece_app = tenant.applications[ece.get("application", "ece-mail")]
    preflight_app = tenant.applications[ece.get("preflight_application", "preflight")]
    # ece.tokens: none - the inventory holds no ECE secret (no client secret, no refresh token) and says so
    # (ece_o365_ece_tokens: none): the sign-in checks judge ECE's tokens from Entra's records (docs/signin-logs.md).
    no_tokens = str(ece.get("tokens", "stored")) == "none"
    mailboxes = []
    for mailbox in ece.get("mailboxes") or []:
        entry = {"address": mailbox["address"], "login": mailbox.get("login", mailbox["address"]),
                 "account": mailbox.get("account", mailbox.get("login", mailbox["address"]))}
        for key in ("sender", "protocols"):  # as ECE is configured; absent: the collection's defaults
            if mailbox.get(key):
                entry[key] = mailbox[key]
        token = tenant.refresh_tokens.get(mailbox.get("refresh_token"))
        if token and not no_tokens:
            entry["refresh_token"] = token["value"]
        mailboxes.append(entry)
    variables = {
        "ece_o365_tenant_id": tenant.tenant_id,
        "ece_o365_authority": lab["authority"],
        "ece_o365_login_host": lab["host"],
        "ece_o365_login_port": lab["ports"]["login"],
        "ece_o365_login_alt_host": lab["host"],  # login.microsoft.com's stand-in: the same lab endpoint
        "ece_o365_smtp_host": lab["host"],
        "ece_o365_smtp_port": lab["ports"]["submission"],
        "ece_o365_outlook_host": lab["host"],
        "ece_o365_imap_port": lab["ports"]["imaps"],
        "ece_o365_pop3_port": lab["ports"]["pop3s"],
        "ece_o365_graph_url": lab["graph_url"],
        "ece_o365_exchange_url": lab["exchange_url"],
        "ece_o365_ca_path": lab["ca"],
        "ece_o365_proxy": "",
        "ece_o365_expected_issuers": ["O=ece_o365 preflight lab CA"],
        "ece_o365_probe_timeout": 3,
        "ece_o365_ece_version": str(ece.get("version", "")),
        "ece_o365_ece_installed_es": str(ece.get("installed_es", "")),
        "ece_o365_ece_external_url": ece.get("external_url", ""),
        "ece_o365_ece_admin_login_fqdn": ece.get("admin_login_fqdn", ""),
        "ece_o365_ece_app_client_id": ece_app["client_id"],
        # The secret ECE holds: ece.client_secret when the tenant file names it, else the app's first.
        "ece_o365_ece_app_client_secret": ece.get("client_secret") or (
            ece_app["secrets"][0]["value"] if ece_app["secrets"] else ""),
        "ece_o365_preflight_client_id": preflight_app["client_id"],
        "ece_o365_preflight_client_secret": preflight_app["secrets"][0]["value"] if preflight_app["secrets"] else "",
        "ece_o365_mailboxes": mailboxes,
    }
    if no_tokens:
        del variables["ece_o365_ece_app_client_secret"]
        variables["ece_o365_ece_tokens"] = "none"
    # The fleet's firewall drops these on purpose: the finding shows, waived (with its reason and
    # expiry), so the healthy tenant passes the gate and a broken one fails it for its own reason.
    expires = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    variables["ece_o365_waivers"] = [
        {"id": "NET-PORT-%d" % port, "subject": host["name"], "expires": expires,
         "reason": "the fleet lab's nftables rule drops outbound TCP %d from %s on purpose" % (port, host["name"])}
        for host in state["hosts"] for port in host["drop_tcp"] if connection == "ssh"]
    if report_dir:
        variables["ece_o365_report_dir"] = report_dir
    return variables


def inventory(state, connection="ssh", report_dir=None, python=None):
    """The inventory (a dict) of the fleet: CONNECTION ssh (real SSH into each namespace) or local
    (every ECE host runs where ansible-playbook runs: the controller namespace)."""
    python = python or sys.executable
    groups = {}
    for host in state["hosts"]:
        if connection == "ssh":
            hostvars = {"ansible_host": host["address"]}
        else:
            hostvars = {"ansible_connection": "local"}
        if host["group"] == "ece_services":  # where its traffic to Microsoft leaves from (ENTRA-SIGNIN-SOURCE)
            hostvars["ece_o365_egress_addresses"] = [host["address"]]
        groups.setdefault(host["group"], {"hosts": {}})["hosts"][host["name"]] = hostvars
    variables = lab_variables(state, report_dir, connection)
    variables["ansible_python_interpreter"] = python
    if connection == "ssh":
        variables.update({
            "ansible_connection": "ssh", "ansible_user": "root", "ansible_port": 22,
            "ansible_ssh_private_key_file": state["ssh_key"],
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                       "-o ConnectTimeout=5 -o LogLevel=ERROR",
            "ansible_ssh_pipelining": True,
            "ansible_control_path_dir": state["control_path_dir"],
            "ansible_remote_tmp": "/tmp/.ansible-ece-fleet-%s" % state["id"],
        })
    localhost = {"ansible_connection": "local"}
    return {"all": {"children": groups, "hosts": {"localhost": localhost}, "vars": variables}}


def write_inventories(state, report_dir=None):
    """Write inventory-ssh.yml and inventory-local.yml (mode 0600: they hold the lab's secrets)."""
    paths = {}
    for connection in (("ssh", "local") if state["ssh"] else ("local",)):
        path = os.path.join(state["fleet_dir"], "inventory-%s.yml" % connection)
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("# The fleet lab (%s connection), for the %s scenario; written by ece_lab.fleet\n"
                         % (connection, state["scenario"]))
            yaml.safe_dump(inventory(state, connection, report_dir), handle, default_flow_style=False,
                           sort_keys=False)
        os.replace(path + ".tmp", path)
        paths[connection] = path
    state["inventories"] = paths
    _write_state(state)
    return paths


def switch(scenario, fleet_dir=None, report_dir=None):
    """Serve another scenario (same tenant) without a restart; rewrite the inventories."""
    state = read_state(fleet_dir)
    if not state or not state.get("tenant_file"):
        raise FleetError("no fleet in %s: run 'lab fleet-up' first" % (fleet_dir or default_fleet_dir()))
    variant = variant_file(state, scenario)
    control.switch(variant, state["lab_run_dir"])
    state["tenant_file"] = variant
    state["scenario"] = os.path.basename(scenario_path(scenario))[:-4]
    _write_state(state)
    write_inventories(state, report_dir)
    return state


# -- down -----------------------------------------------------------------------------------

def _namespace_exists(name):
    return os.path.exists(os.path.join("/run/netns", name))


def _pids_in(namespace):
    proc = _run(["ip", "netns", "pids", namespace], check=False)
    return [int(pid) for pid in proc.stdout.split() if pid.isdigit()]


def down(fleet_dir=None):
    """Stop the lab, every process in the fleet's namespaces, delete the namespaces and the fleet
    directory. Returns what was removed (names), nothing when there was no fleet."""
    fleet_dir = os.path.abspath(fleet_dir or default_fleet_dir())
    try:
        state = read_state(fleet_dir)
    except FleetError:
        state = None
    removed = []
    if state:
        if os.path.isdir(state["lab_run_dir"]):
            removed += ["lab:" + name for name in control.down(state["lab_run_dir"])]
        namespaces = [name for name in state["namespaces"].values() if _namespace_exists(name)]
        pids = sorted(set(pid for name in namespaces for pid in _pids_in(name)))
        for pid in pids:  # only processes inside namespaces this fleet made: ours by construction
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(_pids_in(name) for name in namespaces):
            time.sleep(0.05)
        for name in namespaces:
            for pid in _pids_in(name):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for name in namespaces:
            _run(["ip", "netns", "del", name], check=False)
            removed.append("netns:" + name)
        shutil.rmtree(state.get("control_path_dir") or "", ignore_errors=True)
        if state.get("id"):
            shutil.rmtree("/tmp/.ansible-ece-fleet-%s" % state["id"], ignore_errors=True)
    if os.path.isdir(fleet_dir):
        shutil.rmtree(fleet_dir, ignore_errors=True)
    return removed
