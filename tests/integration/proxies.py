# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real proxies for the integration and reliability tests: tinyproxy (HTTP CONNECT, optionally with
Basic auth or a ConnectPort rule) and mitmdump (mitmproxy, a real TLS-intercepting proxy).

Both listen on 127.0.0.1 on a free port; close() stops the process the object started.
"""

import os
import shutil
import socket
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port, process=None, seconds=15.0, what="server"):
    """Return once 127.0.0.1:PORT accepts; raise (naming WHAT) when PROCESS exits or SECONDS pass."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError("%s exited with %s before listening on %d" % (what, process.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on 127.0.0.1:%d within %.0f s" % (what, port, seconds))


def stop(process):
    """Terminate PROCESS, killing it when it does not go within 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class Tinyproxy:
    """tinyproxy in the foreground. BASIC_AUTH=(user, password) demands credentials (407 without,
    401 when wrong); CONNECT_PORTS limits CONNECT to those ports (403 otherwise); without it, any port."""

    def __init__(self, directory, basic_auth=None, connect_ports=None):
        self.port = free_port()
        config = os.path.join(directory, "tinyproxy-%d.conf" % self.port)
        lines = ["Port %d" % self.port, "Listen 127.0.0.1", "Timeout 15", "MaxClients 50", "LogLevel Info",
                 "Allow 127.0.0.1", "DisableViaHeader Yes"]
        self.user, self.password = basic_auth or (None, None)
        if basic_auth:
            lines.append("BasicAuth %s %s" % basic_auth)
        for port in connect_ports or []:
            lines.append("ConnectPort %d" % port)
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        binary = shutil.which("tinyproxy", path=os.environ.get("PATH", "") + ":/usr/bin:/usr/sbin")
        if binary is None:
            pytest.fail("tinyproxy is not installed: tools/bootstrap.sh installs it as root "
                        "(apt-get install tinyproxy)")
        self.log = open(os.path.join(directory, "tinyproxy-%d.log" % self.port), "wb")
        self.process = subprocess.Popen([binary, "-d", "-c", config], stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.port, self.process, what="tinyproxy")
        self.url = "http://127.0.0.1:%d" % self.port

    def close(self):
        stop(self.process)
        self.log.close()


def mitmdump_binary():
    for candidate in (os.environ.get("PREFLIGHT_MITMDUMP"), os.path.join(REPO, ".venv-mitm", "bin", "mitmdump"),
                      shutil.which("mitmdump")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("mitmdump is missing: tools/bootstrap.sh installs mitmproxy into .venv-mitm")
    return None


class Mitmproxy:
    """mitmdump as a TLS-intercepting proxy; its CA (made at first start) is confdir/mitmproxy-ca-cert.pem.
    UPSTREAM_CA: the bundle it trusts for the servers behind it (so it re-signs them instead of failing)."""

    def __init__(self, directory, upstream_ca):
        self.port = free_port()
        self.confdir = os.path.join(directory, "mitmproxy")
        os.makedirs(self.confdir, exist_ok=True)
        self.log = open(os.path.join(directory, "mitmdump.log"), "wb")
        self.process = subprocess.Popen(
            [mitmdump_binary(), "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
             "--set", "confdir=%s" % self.confdir, "--set", "ssl_verify_upstream_trusted_ca=%s" % upstream_ca,
             "--set", "termlog_verbosity=warn", "--set", "flow_detail=0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.port, self.process, seconds=30, what="mitmdump")
        self.ca = os.path.join(self.confdir, "mitmproxy-ca-cert.pem")
        self.url = "http://127.0.0.1:%d" % self.port

    def close(self):
        stop(self.process)
        self.log.close()


def bundle(path, *pems):
    """Write the PEM files PEMS, concatenated, to PATH; return PATH."""
    with open(path, "wb") as out:
        for pem in pems:
            with open(pem, "rb") as handle:
                out.write(handle.read())
    return path
