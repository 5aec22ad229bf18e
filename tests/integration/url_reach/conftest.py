# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers for url_reach: HTTPS servers with each certificate case (Python ssl + http.server
in threads), servers that misbehave on purpose, tinyproxy (with and without basic auth),
mitmproxy (a real TLS-intercepting proxy) and the lab's Entra-like issuer.

Everything listens on 127.0.0.1, on free ports; every process a fixture starts, it stops.
"""

import json
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from certs import TestCerts  # tests/integration/conftest.py puts these on sys.path
from proxies import Mitmproxy, Tinyproxy, bundle, free_port
from servers import RawServer, hold

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SCENARIOS = os.path.join(REPO, "tests", "lab", "scenarios")
for _path in (os.path.dirname(HERE), os.path.join(REPO, "tests", "lab"), os.path.join(REPO, ".build", "collections")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

DISCOVERY = {"issuer": "https://login.example/00000000-1111-2222-3333-444444444444/v2.0",
             "token_endpoint": "https://login.example/00000000-1111-2222-3333-444444444444/oauth2/v2.0/token"}


class Handler(BaseHTTPRequestHandler):
    """GET / HEAD / OPTIONS: JSON discovery-like body, a Date header offset by the server's skew."""

    protocol_version = "HTTP/1.1"

    def _reply(self, body=True):
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/discovery")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/drip"):  # headers at once, then one body byte every 0.3 s
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for dummy in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.3)
            return
        payload = json.dumps(DISCOVERY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self):  # noqa: N802 (http.server's names)
        self._reply()

    def do_HEAD(self):  # noqa: N802
        self._reply(body=False)

    def do_OPTIONS(self):  # noqa: N802
        self._reply()

    def date_time_string(self, timestamp=None):
        return formatdate((timestamp or time.time()) + self.server.skew, usegmt=True)

    def log_message(self, *args):  # quiet
        pass


class Server(ThreadingHTTPServer):
    """An HTTP(S) server on 127.0.0.1; TLS is wrapped per connection, in the connection's thread."""

    daemon_threads = True

    def __init__(self, context=None, skew=0.0):
        super().__init__(("127.0.0.1", 0), Handler)
        self.context, self.skew, self.requests = context, skew, []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def finish_request(self, request, client_address):
        request.settimeout(10)
        if self.context is not None:
            request = self.context.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):  # a client refusing our certificate is expected
        pass

    def close(self):
        self.shutdown()
        self.server_close()


def server_context(certs, case):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs.pair(case))
    return context


@pytest.fixture(scope="session")
def reach_certs():
    directory = tempfile.mkdtemp(prefix="url-reach-certs-")
    yield TestCerts(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def https_servers(reach_certs):
    """{case: Server} for good, expired, wrong_host and self_signed, plus 'skewed' (good, Date 10 min ahead)."""
    servers = {case: Server(server_context(reach_certs, case)) for case in TestCerts.CASES}
    servers["skewed"] = Server(server_context(reach_certs, "good"), skew=600.0)
    yield servers
    for server in servers.values():
        server.close()


@pytest.fixture(scope="session")
def silent_server():
    """Accepts connections and never says a word (until the client goes)."""
    server = RawServer(hold)
    yield server
    server.close()


@pytest.fixture(scope="session")
def closing_server():
    """Reads the client's first bytes (its TLS ClientHello) and closes: a handshake cut short."""
    def cut(conn, stopped):
        conn.settimeout(2)
        conn.recv(1024)
    server = RawServer(cut)
    yield server
    server.close()


@pytest.fixture(scope="session")
def garbage_server():
    """Answers anything with bytes that are not HTTP."""
    def garbage(conn, stopped):
        conn.settimeout(2)
        conn.recv(4096)
        conn.sendall(b"\x00\x01SSH-2.0-not-http\r\n\r\n")
    server = RawServer(garbage)
    yield server
    server.close()


@pytest.fixture
def refused_port():
    return free_port()


@pytest.fixture(scope="session")
def proxy_dir():
    directory = tempfile.mkdtemp(prefix="url-reach-proxies-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def tinyproxy(proxy_dir):
    proxy = Tinyproxy(proxy_dir)
    yield proxy
    proxy.close()


PROXY_USER, PROXY_PASSWORD = "ece", "pr0xy-Pa55-planted"


@pytest.fixture(scope="session")
def tinyproxy_auth(proxy_dir):
    proxy = Tinyproxy(proxy_dir, basic_auth=(PROXY_USER, PROXY_PASSWORD))
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def reach_lab(request):
    """The lab serving the healthy tenant: the integration session's shared lab (tests/integration/conftest.py)
    when there is one, else one started here the way tests/lab/tests/conftest.py does."""
    try:
        yield request.getfixturevalue("lab")
        return
    except pytest.FixtureLookupError:
        pass
    from ece_lab import control
    base = tempfile.mkdtemp(prefix="url-reach-lab-")
    os.chmod(base, 0o755)  # Dovecot's mail processes (user dovecot) must reach the run directory
    run_dir = os.path.join(base, "run")
    state = control.up(os.path.join(SCENARIOS, "healthy.yml"), run_dir)
    yield state
    control.down(run_dir)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def mitmproxy(proxy_dir, reach_certs, reach_lab):
    """mitmdump trusting, upstream, the test CA and the lab CA (so it can re-sign both)."""
    upstream = bundle(os.path.join(proxy_dir, "upstream-cas.pem"), reach_certs.ca, reach_lab["ca"])
    proxy = Mitmproxy(proxy_dir, upstream)
    yield proxy
    proxy.close()


@pytest.fixture
def reach():
    """reach(timeout=..., **params) -> (outcome, seconds): _http.reach with a clean environment."""
    from ansible_collections.ece_o365.preflight.plugins.module_utils import _http

    def run(environ=None, **params):
        start = time.monotonic()
        outcome = _http.reach(params, environ=environ if environ is not None else {})
        return outcome, time.monotonic() - start
    return run
