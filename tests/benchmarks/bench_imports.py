# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: each module's start-up, measured with ``python -X importtime``.

A module's start-up is what its process imports before main() runs: ansible's AnsibleModule (which
every module pays: the floor), the collection's module_utils, and the third-party libraries it
needs (msal, requests/urllib3, jmespath, cryptography). Each module is imported RUNS times in a
fresh interpreter; the median is reported, with the heavy libraries it loaded and their share, and
the ratio to the floor. tests/unit/plugins/modules/test_module_imports.py holds the contract (which
heavy library each module may load at import); this script measures what it costs.

    tools/bench-imports [--runs N] [--write]
"""

import argparse
import collections
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
sys.path.insert(0, HERE)

from _docblock import replace_block  # noqa: E402

PACKAGE = "ansible_collections.ece_o365.preflight.plugins.modules."
MODULES = ("port_probe", "url_reach", "token_acquire", "tenant_info", "mailbox_protocols", "mailbox_settings",
           "runtime_info")
FLOOR = "ansible.module_utils.basic"
# The third-party libraries that make a start-up heavy, by the top-level package importtime names.
HEAVY = ("msal", "requests", "urllib3", "charset_normalizer", "idna", "jmespath", "cryptography")
DOC = os.path.join(REPO, "docs", "performance.md")
MARKER = "bench_imports"
LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def importtime(module):
    """{top-level package: self time in microseconds} of importing MODULE in a fresh interpreter."""
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, PYTHONDONTWRITEBYTECODE="")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + module],
                         capture_output=True, text=True, env=env, timeout=60, check=True)
    per_package = collections.Counter()
    for line in out.stderr.splitlines():
        match = LINE.match(line)
        if match:
            per_package[match.group(4).split(".")[0]] += int(match.group(1))
    return per_package


def measure(module, runs):
    """(median total ms, {heavy package: median ms}) over RUNS fresh imports."""
    samples = [importtime(module) for _run in range(runs)]
    total = statistics.median(sum(s.values()) for s in samples) / 1000.0
    heavy = {}
    for package in HEAVY:
        values = [s.get(package, 0) for s in samples]
        if any(values):
            heavy[package] = statistics.median(values) / 1000.0
    return total, heavy


def table(runs):
    importtime(PACKAGE + MODULES[0])  # warm the bytecode caches: the first import compiles
    floor, _none = measure(FLOOR, runs)
    rows = ["| Module | Start-up (ms) | / AnsibleModule alone | Heavy libraries loaded (ms) |",
            "| --- | --- | --- | --- |",
            "| (AnsibleModule alone: the floor) | %.0f | 1.0x | - |" % floor]
    for name in MODULES:
        total, heavy = measure(PACKAGE + name, runs)
        loaded = ", ".join("%s %.0f" % (package, ms) for package, ms in sorted(heavy.items(), key=lambda i: -i[1]))
        rows.append("| %s | %.0f | %.1fx | %s |" % (name, total, total / floor, loaded or "none"))
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh imports per module (the median is shown)")
    parser.add_argument("--write", action="store_true", help="rewrite the figures in docs/performance.md")
    args = parser.parse_args()
    header = ("Median of %d fresh `python -X importtime` imports per module (self times summed per top-level "
              "package); Python %s, %d cores, %s." % (args.runs, platform.python_version(), os.cpu_count(),
                                                      datetime.date.today().isoformat()))
    text = table(args.runs)
    print(header)
    print(text)
    if args.write:
        replace_block(DOC, MARKER, header + "\n\n" + text, "Module start-up (import time)",
                      "Measured by `tools/bench-imports` (tests/benchmarks/bench_imports.py).")


if __name__ == "__main__":
    main()
