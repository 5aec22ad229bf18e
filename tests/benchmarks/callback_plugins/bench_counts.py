# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark callback: one record per host-task (task, action, tags, host, status, module calls, times).

Enabled by tests/benchmarks/bench_fleet.py (ANSIBLE_CALLBACKS_ENABLED=bench_counts, with
ANSIBLE_CALLBACK_PLUGINS pointing here); writes a JSON list to $BENCH_COUNTS_FILE at the end of the
run. Counting results here, rather than parsing the PLAY RECAP, also gives the action of each
task (what a module call is) and, for loops, how many items ran (one module call each)."""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_counts
type: aggregate
short_description: one JSON record per host-task, for the fleet benchmark
description:
  - Writes the records to the file named by the environment variable E(BENCH_COUNTS_FILE).
requirements:
  - enabled in the configuration (the benchmark sets E(ANSIBLE_CALLBACKS_ENABLED))
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_counts"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._records = []
        self._started = {}  # (task uuid, host name) -> when the worker for it was started

    def v2_runner_on_start(self, host, task):
        self._started[(task._uuid, host.get_name())] = time.time()

    def _record(self, result, status):
        task, host = result._task, result._host.get_name()
        items = result._result.get("results")
        if (task.loop or task.loop_with) and isinstance(items, list):  # one module call per item run
            calls = sum(1 for item in items if isinstance(item, dict) and not item.get("skipped"))
        else:
            calls = 0 if status == "skipped" else 1
        self._records.append({
            "task": task.get_name(), "action": getattr(task, "resolved_action", None) or task.action,
            "tags": list(task.tags or []), "host": host, "status": status, "calls": calls,
            "start": self._started.pop((task._uuid, host), None), "end": time.time()})

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_COUNTS_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self._records, handle)
