# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's command line (tools/lab wraps it with the project's venv)."""

import argparse
import json
import os
import sys

from . import control
from .tenant import TenantFileError

SCENARIOS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios")
DEFAULT_TENANT = os.path.join(SCENARIOS_DIR, "healthy.yml")


def _tenant_path(value):
    """Accept a path or a scenario name (healthy, expired-secret, ...)."""
    if os.path.exists(value):
        return value
    candidate = os.path.join(SCENARIOS_DIR, value + ".yml")
    if os.path.exists(candidate):
        return candidate
    names = sorted(n[:-4] for n in os.listdir(SCENARIOS_DIR) if n.endswith(".yml"))
    raise control.LabError("no tenant file or scenario %r; scenarios: %s" % (value, ", ".join(names)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab", description="The ece_o365.preflight lab: a local Microsoft 365.")
    parser.add_argument("--run-dir", default=None, help="run directory (default: $ECE_LAB_RUN_DIR or .lab/run)")
    parser.add_argument("--fleet-dir", default=None,
                        help="fleet lab directory (default: $ECE_LAB_FLEET_DIR or .lab/fleet)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the lab for a tenant file or scenario name")
    p_up.add_argument("tenant", nargs="?", default=DEFAULT_TENANT)
    p_up.add_argument("--auth-debug", action="store_true", help="Dovecot auth_debug (never logs tokens)")
    sub.add_parser("down", help="stop the lab")
    sub.add_parser("status", help="show the lab's services")
    p_switch = sub.add_parser("switch", help="serve another tenant file of the same tenant without a restart")
    p_switch.add_argument("tenant")
    sub.add_parser("check", help="prove each lab service answers, with plain clients")
    sub.add_parser("env", help="print the running lab's state (ports, CA, authority) as JSON")
    sub.add_parser("scenarios", help="list the scenario tenant files")
    p_fleet_up = sub.add_parser("fleet-up", help="build the fleet lab (namespaces, sshd per ECE host) and start the "
                                "lab in it for a tenant file or scenario name")
    p_fleet_up.add_argument("tenant", nargs="?", default="healthy")
    p_fleet_up.add_argument("--no-ssh", action="store_true", help="no sshd: the local-connection inventory only")
    p_fleet_up.add_argument("--report-dir", default=None, help="ece_o365_report_dir in the inventories")
    p_fleet_up.add_argument("--fallback-loopback", action="store_true",
                            help="where network namespaces cannot be made, one lab on 127.0.0.1 instead")
    p_fleet_switch = sub.add_parser("fleet-switch", help="serve another scenario in the fleet lab, no restart")
    p_fleet_switch.add_argument("tenant")
    p_fleet_switch.add_argument("--report-dir", default=None, help="ece_o365_report_dir in the inventories")
    sub.add_parser("fleet-env", help="print the fleet's state (namespaces, addresses, inventories) as JSON")
    sub.add_parser("fleet-down", help="stop the fleet lab and remove its namespaces and directory")
    p_serve = sub.add_parser("serve", help=argparse.SUPPRESS)
    p_serve.add_argument("--run-dir", dest="serve_run_dir", required=True)
    args = parser.parse_args(argv)
    run_dir = os.path.abspath(args.run_dir or control.default_run_dir())
    try:
        return _run(args, run_dir)
    except (control.LabError, TenantFileError) as exc:
        print("lab %s: %s" % (args.command, exc), file=sys.stderr)
        return 1


def _run(args, run_dir):
    if args.command.startswith("fleet-"):
        return _fleet(args)
    if args.command == "serve":
        from .server import main as serve_main
        serve_main(args.serve_run_dir)
        return 0
    if args.command == "up":
        state = control.up(_tenant_path(args.tenant), run_dir, auth_debug=args.auth_debug)
        print("lab up: tenant %s (%s) from %s" % (state["domain"], state["tenant_id"], state["tenant_file"]))
        _print_status(run_dir)
        return 0
    if args.command == "down":
        stopped = control.down(run_dir)
        print("lab down: stopped %s" % (", ".join(stopped) if stopped else "nothing (no lab was running)"))
        return 0
    if args.command == "status":
        return 0 if _print_status(run_dir) else 3
    if args.command == "switch":
        state = control.switch(_tenant_path(args.tenant), run_dir)
        print("lab switch: now serving %s" % state["tenant_file"])
        return 0
    if args.command == "env":
        state = control.read_state(run_dir)
        if state is None:
            raise control.LabError("no lab in %s" % run_dir)
        print(json.dumps({k: v for k, v in state.items() if k not in ("signing_key", "key")}, indent=2, sort_keys=True))
        return 0
    if args.command == "scenarios":
        for name in sorted(os.listdir(SCENARIOS_DIR)):
            if name.endswith(".yml"):
                with open(os.path.join(SCENARIOS_DIR, name), encoding="utf-8") as handle:
                    first = handle.readline().lstrip("# ").strip()
                print("%-28s %s" % (name[:-4], first))
        return 0
    if args.command == "check":
        from .check import run_check
        return run_check(run_dir)
    return 2


def _fleet(args):
    from . import fleet
    fleet_dir = args.fleet_dir or fleet.default_fleet_dir()
    if args.command == "fleet-up":
        state = fleet.up(args.tenant, fleet_dir, ssh=not args.no_ssh, fallback=args.fallback_loopback)
        if state["mode"] == "loopback":
            print("lab fleet-up: %s; fell back to one lab on 127.0.0.1 and a local-connection inventory"
                  % state["fallback_reason"])
        if args.report_dir:
            fleet.write_inventories(state, args.report_dir)
        print("lab fleet-up: %s served from %s%s" % (
            state["scenario"], state["lab_address"], " (namespace %s); controller namespace %s" % (
                state["namespaces"]["lab"], state["namespaces"]["ctl"]) if state["namespaces"] else ""))
        for host in state["hosts"]:
            dropped = "  (drops outbound TCP %s)" % ", ".join(map(str, host["drop_tcp"])) if host["drop_tcp"] else ""
            namespace = state["namespaces"].get(host["namespace"], "-")
            print("  %-10s %-16s %-12s %s%s" % (host["name"], host["address"], namespace, host["group"], dropped))
        for connection, path in sorted(state["inventories"].items()):
            print("  inventory (%s): %s" % (connection, path))
        return 0
    if args.command == "fleet-switch":
        state = fleet.switch(args.tenant, fleet_dir, args.report_dir)
        print("lab fleet-switch: now serving %s" % state["scenario"])
        return 0
    if args.command == "fleet-env":
        state = fleet.read_state(fleet_dir)
        if state is None:
            raise control.LabError("no fleet in %s" % fleet_dir)
        print(json.dumps(state, indent=2, sort_keys=True))
        return 0
    removed = fleet.down(fleet_dir)
    print("lab fleet-down: %s" % ("removed %s" % ", ".join(removed) if removed else "nothing (no fleet was up)"))
    return 0


def _print_status(run_dir):
    state, rows = control.status(run_dir)
    if state is None:
        print("lab status: no lab in %s" % run_dir)
        return False
    for name, pid, address, listening in rows:
        print("  %-11s %-22s %-8s %s" % (name, address, pid or "-", "listening" if listening else "DOWN"))
    return all(row[3] for row in rows)
