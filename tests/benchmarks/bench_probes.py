# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the probes against the way people check ports and URLs today, in one run.

Same targets for both sides, probed from a client network namespace across a veth pair to a
server namespace whose firewall drops half of them:
  - port_probe as one task  vs  ansible.builtin.wait_for in a loop (40 targets, 20 dropped, timeout 2 s)
  - url_reach as one task   vs  ansible.builtin.uri in a loop (same shape, HTTPS)
Prints wall times and ratios, and with --write rewrites the figures in docs/performance.md.
Run as root through tools/bench-probes (it sets up the venv and collection path).
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from certs import TestCerts  # noqa: E402
from netns import client_and_server  # noqa: E402

sys.path.insert(0, HERE)
from _docblock import replace_block  # noqa: E402

DROPPED, REFUSED, HTTPS_PORT = 993, 995, 8443
COUNT, TIMEOUT = 40, 2
DOC = os.path.join(REPO, "docs", "performance.md")


def _targets(address):
    return [{"host": address, "port": DROPPED if i % 2 else REFUSED, "mode": "tcp"} for i in range(COUNT)]


def _urls(address):
    return [{"url": "https://%s:%d/" % (address, DROPPED if i % 2 else HTTPS_PORT)} for i in range(COUNT)]


PLAYBOOKS = {
    "port_probe (1 task)": """
- hosts: localhost
  gather_facts: false
  tasks:
    - ece_o365.preflight.port_probe:
        timeout: %(timeout)d
        targets: %(targets)s
      register: probe
    - ansible.builtin.copy:
        content: "{{ probe | to_json }}"
        dest: %(out)s
""",
    "wait_for loop": """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.wait_for:
        host: "{{ item.host }}"
        port: "{{ item.port }}"
        timeout: %(timeout)d
      loop: %(targets)s
      ignore_errors: true
""",
    "url_reach (1 task)": """
- hosts: localhost
  gather_facts: false
  tasks:
    - ece_o365.preflight.url_reach:
        timeout: %(timeout)d
        ca_path: %(ca)s
        urls: %(urls)s
      register: reach
    - ansible.builtin.copy:
        content: "{{ reach | to_json }}"
        dest: %(out)s
""",
    "uri loop": """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.uri:
        url: "{{ item.url }}"
        timeout: %(timeout)d
        ca_path: %(ca)s
      loop: %(urls)s
      ignore_errors: true
""",
}


def _https_server(namespace, certs):
    cert, key = certs.pair("good")
    code = ("import http.server, ssl\n"
            "server = http.server.ThreadingHTTPServer(('0.0.0.0', %d), http.server.SimpleHTTPRequestHandler)\n"
            "context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\ncontext.load_cert_chain(%r, %r)\n"
            "server.socket = context.wrap_socket(server.socket, server_side=True)\nserver.serve_forever()\n"
            % (HTTPS_PORT, cert, key))
    return subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c", code],
                            cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run_playbook(namespace, text, workdir, name):
    path = os.path.join(workdir, re.sub(r"\W+", "_", name) + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_DEPRECATION_WARNINGS="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    started = time.monotonic()
    out = subprocess.run(["ip", "netns", "exec", namespace, playbook, "-c", "local", "-i", "localhost,", path],
                         capture_output=True, text=True, env=env, timeout=900, check=False)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (name, out.stdout[-3000:], out.stderr[-2000:]))
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the figures in docs/performance.md")
    parser.add_argument("--skip-url", action="store_true", help="only port_probe vs wait_for")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces): sudo tools/bench-probes")
    has_url_reach = os.path.exists(os.path.join(REPO, "plugins", "modules", "url_reach.py")) and not args.skip_url
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-probes-") as workdir, \
            client_and_server(drop_ports=(DROPPED,)) as (client, server, address):
        certs = TestCerts(os.path.join(workdir, "certs"))
        https = _https_server(server, certs)
        try:
            time.sleep(0.5)
            values = {"timeout": TIMEOUT, "targets": json.dumps(_targets(address)), "urls": json.dumps(_urls(address)),
                      "ca": certs.ca}
            pairs = [("port_probe (1 task)", "wait_for loop")]
            if has_url_reach:
                pairs.append(("url_reach (1 task)", "uri loop"))
            for ours, peer in pairs:
                measured = {}
                for name in (ours, peer):
                    out = os.path.join(workdir, re.sub(r"\W+", "_", name) + ".json")
                    seconds = _run_playbook(client, PLAYBOOKS[name] % dict(values, out=out), workdir, name)
                    module_ms = None
                    if os.path.exists(out):
                        with open(out, encoding="utf-8") as handle:
                            result = json.load(handle)
                        module_ms = max(r.get("elapsed_ms") or (r.get("timings") or {}).get("total_ms") or 0
                                        for r in result["results"])
                    measured[name] = (seconds, module_ms)
                rows.append((ours, peer, measured[ours], measured[peer]))
        finally:
            https.terminate()
            https.wait(5)
    lines = ["| Ours | Peer | Ours wall (s) | Slowest target inside ours (s) | Peer wall (s) | Peer / ours |",
             "| --- | --- | --- | --- | --- | --- |"]
    for ours, peer, (ours_s, ours_ms), (peer_s, _none) in rows:
        lines.append("| %s | %s | %.1f | %s | %.1f | %.1fx |" % (
            ours, peer, ours_s, "%.2f" % (ours_ms / 1000.0) if ours_ms is not None else "-", peer_s, peer_s / ours_s))
    table = "\n".join(lines)
    header = ("%d targets (half dropped by an nftables rule, half refused or served), timeout %d s, "
              "from a client network namespace; Python %s, ansible-playbook with the local connection, "
              "%d cores, %s." % (COUNT, TIMEOUT, platform.python_version(), os.cpu_count(),
                                 datetime.date.today().isoformat()))
    print(header)
    print(table)
    for ours, peer, (ours_s, ours_ms), (peer_s, _none) in rows:
        print("%s: %.1fx faster than %s; slowest target %.2f s against a timeout of %d s" % (
            ours, peer_s / ours_s, peer, (ours_ms or 0) / 1000.0, TIMEOUT))
    if args.write:
        replace_block(DOC, "bench_probes", "%s\n\n%s" % (header, table), "Probes against the peer approach",
                      "Measured by `tools/bench-probes` (tests/benchmarks/bench_probes.py), which runs both sides in one run.")


if __name__ == "__main__":
    main()
