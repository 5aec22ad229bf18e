# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers for port_probe: the lab's Dovecot, TLS servers with each certificate case, servers
that misbehave on purpose, tinyproxy, and two network namespaces with a firewall that drops."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from certs import TestCerts  # tests/integration/conftest.py puts these on sys.path
from netns import client_and_server
from servers import RawServer, hold


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


def _slow_banner(conn, stopped):
    for byte in b"220 slow.example ESMTP\r\n":
        if stopped.wait(1.0):
            return
        conn.sendall(bytes([byte]))


def _garbage(conn, stopped):
    conn.sendall(bytes(range(256)) * 4)
    hold(conn, stopped)


def _endless_capabilities(conn, stopped):
    conn.sendall(b"* OK IMAP ready\r\n")
    conn.recv(100)
    for _line in range(100000):
        if stopped.is_set():
            return
        conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n")


def _tls_cut_midway(conn, stopped):
    conn.recv(1024)  # the ClientHello, then hang up
    conn.close()


def _starttls_refused(conn, stopped):
    conn.sendall(b"220 mail.example ESMTP\r\n")
    conn.recv(200)
    conn.sendall(b"250-mail.example\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n")
    conn.recv(200)
    conn.sendall(b"454 4.7.0 TLS not available due to local problem\r\n")
    hold(conn, stopped)


def _starttls_absent(conn, stopped):
    conn.sendall(b"220 mail.example ESMTP\r\n")
    conn.recv(200)
    conn.sendall(b"250-mail.example\r\n250 AUTH LOGIN\r\n")
    hold(conn, stopped)


def _silent(conn, stopped):
    hold(conn, stopped)


@pytest.fixture(scope="session")
def hostile():
    """{name: port} of servers that misbehave, one way each."""
    handlers = {"slow_banner": _slow_banner, "garbage": _garbage, "endless_capabilities": _endless_capabilities,
                "tls_cut_midway": _tls_cut_midway, "starttls_refused": _starttls_refused,
                "starttls_absent": _starttls_absent, "silent": _silent}
    servers = {name: RawServer(handler) for name, handler in handlers.items()}
    yield {name: server.port for name, server in servers.items()}
    for server in servers.values():
        server.close()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Tinyproxy:
    def __init__(self, directory, basic_auth=None, connect_ports=None):
        self.port = _free_port()
        os.chmod(directory, 0o777)  # tinyproxy drops to nobody; its pid and log files live here
        config = os.path.join(directory, "tinyproxy.conf")
        lines = ["Port %d" % self.port, "Listen 127.0.0.1", "Timeout 10", "MaxClients 50",
                 "User nobody", "Group nogroup", "LogLevel Info",
                 "LogFile \"%s\"" % os.path.join(directory, "tinyproxy.log"), "Allow 127.0.0.1"]
        if basic_auth:
            lines.append("BasicAuth %s %s" % basic_auth)
        for port in connect_ports or []:
            lines.append("ConnectPort %d" % port)
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("tinyproxy did not start on port %d" % self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


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
            proxy.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def netns():
    """(client namespace, server address): the server's firewall drops TCP to 993 and nothing
    listens on 995, so the kernel refuses it. See tests/integration/netns.py."""
    with client_and_server(drop_ports=(993,)) as (client, _server, address):
        yield client, address
