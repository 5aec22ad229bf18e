# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers for port_probe: the lab's Dovecot, TLS servers with each certificate case, servers
that misbehave on purpose, tinyproxy, and two network namespaces with a firewall that drops."""

import os
import shutil
import ssl
import tempfile

import pytest

from certs import TestCerts  # tests/integration/conftest.py puts these on sys.path
from netns import client_and_server
from proxies import Tinyproxy
from servers import HOSTILE, RawServer, close_all, hold, serve_all


@pytest.fixture(scope="session")
def certs():
    directory = tempfile.mkdtemp(prefix="port-probe-certs-")
    yield TestCerts(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_servers(certs):
    """{case: port} of implicit-TLS servers presenting each certificate case."""
    servers = {}
    for case in TestCerts.CASES:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certs.pair(case))

        def handler(conn, stopped, context=context):
            tls = context.wrap_socket(conn, server_side=True)
            hold(tls, stopped)
        servers[case] = RawServer(handler)
    yield {case: server.port for case, server in servers.items()}
    for server in servers.values():
        server.close()


@pytest.fixture(scope="session")
def hostile():
    """{name: port} of servers that misbehave, one way each (servers.HOSTILE)."""
    servers = serve_all(HOSTILE)
    yield {name: server.port for name, server in servers.items()}
    close_all(servers)


@pytest.fixture(scope="session")
def proxies():
    """Three tinyproxy instances: open, requiring Basic auth, and allowing CONNECT to 443 only."""
    base = tempfile.mkdtemp(prefix="port-probe-proxy-")
    made = {}
    try:
        for name, kwargs in (("open", {}), ("auth", {"basic_auth": ("ece", "pr0xy-pass")}),
                             ("port443", {"connect_ports": [443]})):
            directory = os.path.join(base, name)
            os.makedirs(directory)
            made[name] = Tinyproxy(directory, **kwargs)
        yield {name: proxy.port for name, proxy in made.items()}
    finally:
        for proxy in made.values():
            proxy.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def netns():
    """(client namespace, server address): the server's firewall drops TCP to 993 and nothing
    listens on 995, so the kernel refuses it. See tests/integration/netns.py."""
    with client_and_server(drop_ports=(993,)) as (client, _server, address):
        yield client, address
