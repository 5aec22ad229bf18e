# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two network namespaces joined by a veth pair, for tests that need a real network path.

The server namespace's firewall (nftables) drops TCP to the ports given, so a probe from the
client namespace sees a silent drop, the way a corporate firewall behaves; ports with nothing
listening are refused by the kernel. Nothing is added to the root namespace. Needs root.
"""

import contextlib
import subprocess
import uuid

CLIENT_ADDRESS = "10.203.7.1"
SERVER_ADDRESS = "10.203.7.2"


def _run(*argv, **kwargs):
    subprocess.run(argv, check=True, capture_output=True, timeout=20, **kwargs)


@contextlib.contextmanager
def client_and_server(drop_ports=(993,)):
    """Yield (client namespace, server namespace, server address)."""
    suffix = uuid.uuid4().hex[:6]
    client, server = "ppc-%s" % suffix, "pps-%s" % suffix
    try:
        _run("ip", "netns", "add", client)
        _run("ip", "netns", "add", server)
        _run("ip", "-n", client, "link", "add", "veth-c", "type", "veth", "peer", "name", "veth-s", "netns", server)
        _run("ip", "-n", client, "addr", "add", CLIENT_ADDRESS + "/30", "dev", "veth-c")
        _run("ip", "-n", server, "addr", "add", SERVER_ADDRESS + "/30", "dev", "veth-s")
        for namespace, device in ((client, "veth-c"), (server, "veth-s")):
            _run("ip", "-n", namespace, "link", "set", device, "up")
            _run("ip", "-n", namespace, "link", "set", "lo", "up")
        if drop_ports:
            rules = ("table inet preflight_test {\n  chain input {\n    type filter hook input priority 0;\n"
                     "    tcp dport { %s } drop\n  }\n}\n" % ", ".join(str(p) for p in drop_ports))
            _run("ip", "netns", "exec", server, "nft", "-f", "-", input=rules.encode())
        yield client, server, SERVER_ADDRESS
    finally:
        for namespace in (client, server):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
