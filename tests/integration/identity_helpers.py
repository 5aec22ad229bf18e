# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the token_acquire and tenant_info integration tests (tests/integration/conftest.py puts
this directory on sys.path): run a module in-process against the lab, switch scenarios, write tenant
variants, an HTTP CONNECT proxy (optionally with Basic auth, optionally TLS-intercepting), and
ansible-playbook."""

import base64
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading

import pytest

from ansible.module_utils import basic
from ansible_collections.ece_o365.preflight.tests.unit.plugins.modules.utils import (
    AnsibleExitJson,
    AnsibleFailJson,
    exit_json,
    fail_json,
    patch_module_args,
)
from ece_lab import control
from ece_lab.tenant import load

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIOS = os.path.join(REPO, "tests", "lab", "scenarios")
COLLECTIONS = os.path.join(REPO, ".build", "collections")
HEALTHY = os.path.join(SCENARIOS, "healthy.yml")
GRAPH = "https://graph.microsoft.com"
EXO = "https://outlook.office365.com"


def run_module(module, args):
    """module.main() with ARGS, exit_json/fail_json raising; the result dict (failed: True on failure)."""
    saved = basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json
    basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json = exit_json, fail_json
    try:
        with patch_module_args(args):
            try:
                module.main()
            except (AnsibleExitJson, AnsibleFailJson) as exc:
                return exc.result
        raise AssertionError("the module returned without exit_json or fail_json")
    finally:
        basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json = saved


class Scenarios:
    """Switch the session lab to a scenario (a name or a file) and load its tenant; healthy again at the end."""

    def __init__(self, lab):
        self.lab = lab
        self.current = HEALTHY  # every test leaves the session lab on healthy.yml

    def use(self, name):
        path = name if name.endswith(".yml") else os.path.join(SCENARIOS, name + ".yml")
        if path != self.current:
            control.switch(path, self.lab["run_dir"])
            self.current = path
        return load(path)

    def reset(self):
        if self.current != HEALTHY:
            control.switch(HEALTHY, self.lab["run_dir"])
        self.current = HEALTHY


def variant(directory, text, name="variant"):
    """A tenant file extending healthy.yml with TEXT (YAML), written to DIRECTORY; its path."""
    path = os.path.join(str(directory), name + ".yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# a test variant of the healthy tenant\nextends: %s\n%s" % (HEALTHY, text))
    return path


def lab_auth(lab, tenant, app_key, **extra):
    """The shared auth options for one of the tenant's apps against the lab (explicit authority, lab CA)."""
    app = tenant.applications[app_key]
    args = {"authority": lab["authority"], "ca_path": lab["ca"], "client_id": app["client_id"], "timeout": 10}
    if app["secrets"]:
        args["client_secret"] = app["secrets"][0]["value"]
    args.update(extra)
    return {key: value for key, value in args.items() if value is not None}  # None: leave the option out


def certificate(directory, name, days):
    """A self-signed RSA certificate valid DAYS more (negative: expired) written as <name>.crt, <name>.key and
    <name>.pem (both); a dict of those paths and the SHA-1 thumbprint."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    paths = {}
    for kind, data in (("cert", cert_pem), ("key", key_pem), ("combined", cert_pem + key_pem)):
        paths[kind] = os.path.join(str(directory), "%s.%s" % (name, {"cert": "crt", "key": "key", "combined": "pem"}[kind]))
        with open(paths[kind], "wb") as handle:
            handle.write(data)
    paths["sha1"] = cert.fingerprint(hashes.SHA1()).hex().upper()
    return paths


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1.

    AUTH=(user, password) demands Basic proxy credentials (407 otherwise). INTERCEPT=ssl context makes
    it a TLS-inspecting proxy: it accepts the CONNECT, then answers the client's TLS handshake itself
    with its own certificate, as a corporate inspection proxy does. Records each CONNECT target and
    the credentials seen.
    """

    def __init__(self, auth=None, intercept=None):
        self.auth = auth
        self.intercept = intercept
        self.connects = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        if self.auth:
            return "http://%s:%s@127.0.0.1:%d" % (self.auth[0], self.auth[1], self.port)
        return "http://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        upstream = None
        try:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
            credentials = None
            if headers.get("proxy-authorization", "").startswith("Basic "):
                credentials = base64.b64decode(headers["proxy-authorization"][6:]).decode("utf-8", "replace")
            self.connects.append({"method": method, "target": target, "credentials": credentials})
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self.auth and credentials != "%s:%s" % self.auth:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                             b"Content-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            if self.intercept is not None:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                tls = self.intercept.wrap_socket(conn, server_side=True)
                tls.close()
                return
            upstream = socket.create_connection((host, int(port)), timeout=10)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(conn, upstream)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            conn.close()
            if upstream is not None:
                upstream.close()

    def _pipe(self, left, right):
        sockets = [left, right]
        while not self.stopped.is_set():
            readable, _writable, _errored = select.select(sockets, [], [], 0.5)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (right if sock is left else left).sendall(data)

    def close(self):
        self.stopped.set()
        self.sock.close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ansible_playbook(playbook, *flags, extra_env=None, timeout=180):
    """Run ansible-playbook with the local connection and this Python; the completed process."""
    program = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.access(program, os.X_OK):
        program = shutil.which("ansible-playbook")
    if not program:
        pytest.fail("ansible-playbook is missing: tools/bootstrap.sh installs ansible-core into .venv")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false")
    env.update(extra_env or {})
    return subprocess.run([program, "-c", "local", "-i", "localhost,"] + list(flags) + [str(playbook)],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def dumps(result):
    return json.dumps(result, sort_keys=True, default=str)


@pytest.fixture
def scenarios(lab):
    """Scenarios on the session lab; back on healthy.yml after the test."""
    switcher = Scenarios(lab)
    yield switcher
    switcher.reset()


@pytest.fixture(scope="session")
def intercepting_proxy(tmp_path_factory):
    """A TLS-inspecting proxy whose certificate comes from a CA the lab's clients do not trust."""
    from certs import TestCerts  # beside this file
    certs = TestCerts(str(tmp_path_factory.mktemp("inspection-ca")))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs.pair("good"))
    proxy = ConnectProxy(intercept=context)
    yield proxy
    proxy.close()
