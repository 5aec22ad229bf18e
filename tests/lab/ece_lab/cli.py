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


def _print_status(run_dir):
    state, rows = control.status(run_dir)
    if state is None:
        print("lab status: no lab in %s" % run_dir)
        return False
    for name, pid, address, listening in rows:
        print("  %-11s %-22s %-8s %s" % (name, address, pid or "-", "listening" if listening else "DOWN"))
    return all(row[3] for row in rows)
