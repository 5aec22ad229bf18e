# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two network namespaces joined by a veth pair, for tests that need a real network path.

The server namespace's firewall (nftables) drops TCP to the DROP_PORTS, so a probe from the
client namespace sees a silent drop, the way a corporate firewall behaves, and rejects TCP to
the REJECT_PORTS with a TCP reset, the way a firewall that says no does; ports with nothing
listening are refused by the kernel. Nothing is added to the root namespace. Needs root.
"""

import contextlib
import subprocess
import uuid

CLIENT_ADDRESS = "10.203.7.1"
SERVER_ADDRESS = "10.203.7.2"


def _run(*argv, **kwargs):
    subprocess.run(argv, check=True, capture_output=True, timeout=20, **kwargs)


def _rule(verdict, ports):
    """One nftables input rule giving TCP to PORTS the VERDICT, or nothing for no ports."""
    if not ports:
        return ""
    return "    tcp dport { %s } %s\n" % (", ".join(str(p) for p in ports), verdict)


@contextlib.contextmanager
def client_and_server(drop_ports=(993,), reject_ports=()):
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
        rules = _rule("drop", drop_ports) + _rule("reject with tcp reset", reject_ports)
        if rules:
            table = ("table inet preflight_test {\n  chain input {\n    type filter hook input priority 0;\n"
                     "%s  }\n}\n" % rules)
            _run("ip", "netns", "exec", server, "nft", "-f", "-", input=table.encode())
        yield client, server, SERVER_ADDRESS
    finally:
        for namespace in (client, server):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
