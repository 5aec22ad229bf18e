# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Networks that misbehave, met by every module as Ansible runs it (a process of its own): a name that
does not exist, a firewall that drops or rejects (nftables in a network namespace), connections
reset by the peer, a proxy that wants credentials (tinyproxy) and a TLS-intercepting proxy
(mitmproxy). Each case asserts its error class and a bound on the process's whole run."""

import os
import ssl
import subprocess
import sys
import tempfile

import pytest

import _coverage
import _module_run
from _coverage import Case
from _issuer import MisbehavingIssuer
from certs import TestCerts
from netns import client_and_server
from proxies import Mitmproxy, Tinyproxy, stop
from servers import RawServer, hold, reset_now

BOUND = _module_run.BOUND
NOWHERE = "preflight-test.invalid"  # RFC 6761: .invalid never resolves
DROPPED, REJECTED = (993, 587, 443), 995
PROXY_USER, PROXY_PASSWORD = "ece", "pr0xy-Pa55-reliability"


def _meeting(condition, expect, *rows):
    """One Case per (id, subject) of ROWS: the same CONDITION met by each subject, the same EXPECTed class."""
    return [Case(case_id, "networks", condition, subject, expect, BOUND) for case_id, subject in rows]


PROXY = "port_probe tls/https via CONNECT"
COVERAGE = (
    _meeting("DNS name that does not exist", "dns",
             ("dns-tcp-imap", "port_probe tcp/imap"), ("dns-tls-pop3", "port_probe tls/pop3"),
             ("dns-starttls-smtp", "port_probe starttls/smtp"), ("dns-url-reach", "url_reach https"),
             ("dns-token-acquire", "token_acquire"), ("dns-tenant-info", "tenant_info"),
             ("dns-mailbox-imap", "mailbox_protocols imap"))
    + _meeting("packets dropped by a firewall (nftables drop)", "timeout",
               ("dropped-tcp-imap", "port_probe tcp/imap"), ("dropped-tls-imap", "port_probe tls/imap"),
               ("dropped-starttls-smtp", "port_probe starttls/smtp"), ("dropped-url-reach", "url_reach https"),
               ("dropped-token-acquire", "token_acquire"), ("dropped-mailbox-imap", "mailbox_protocols imap"))
    + _meeting("firewall rejects with a TCP reset (nftables reject)", "refused",
               ("rejected-tcp-pop3", "port_probe tcp/pop3"), ("rejected-tls-pop3", "port_probe tls/pop3"),
               ("rejected-url-reach", "url_reach https"), ("rejected-token-acquire", "token_acquire"),
               ("rejected-mailbox-pop3", "mailbox_protocols pop3"))
    + _meeting("connection reset by the peer after the accept (RST)", "reset",
               ("reset-tcp-imap", "port_probe tcp/imap"), ("reset-tls-https", "port_probe tls/https"),
               ("reset-url-reach", "url_reach https"), ("reset-token-acquire", "token_acquire"),
               ("reset-mailbox-imap", "mailbox_protocols imap"))
    + _meeting("proxy requires authentication (tinyproxy BasicAuth, 407)", "proxy",
               ("proxy-auth-url-reach", "url_reach https"), ("proxy-auth-port-probe", PROXY),
               ("proxy-auth-token-acquire", "token_acquire"))
    + _meeting("TLS-intercepting proxy (mitmproxy), its CA not trusted", "cert_untrusted",
               ("intercepted-url-reach", "url_reach https"), ("intercepted-port-probe", PROXY),
               ("intercepted-token-acquire", "token_acquire"))
)


# -- the networks --------------------------------------------------------------------------------

LISTENER = ("import socket, time\nsock = socket.socket()\nsock.bind(('0.0.0.0', %d))\nsock.listen(8)\n"
            "time.sleep(300)\n" % REJECTED)


def _listen_in(namespace):
    """A listener on the rejected port inside NAMESPACE: the reset comes from the firewall, not from an
    empty port."""
    process = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c", LISTENER])
    for _attempt in range(100):
        out = subprocess.run(["ip", "netns", "exec", namespace, "ss", "-Hltn", "sport = :%d" % REJECTED],
                             capture_output=True, text=True, timeout=10, check=False)
        if out.stdout.strip():
            return process
        if process.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"], check=False)
    stop(process)
    raise RuntimeError("the listener on %d in %s did not start" % (REJECTED, namespace))


@pytest.fixture(scope="module")
def world():
    """The namespaces with their firewall, a resetting server, an HTTPS server and the issuer behind the
    proxies, tinyproxy with BasicAuth and mitmproxy, the test CA."""
    directory = tempfile.mkdtemp(prefix="reliability-networks-")
    certs = TestCerts(directory)
    made = []
    with client_and_server(drop_ports=DROPPED, reject_ports=(REJECTED,)) as (client, server, address):
        listener = _listen_in(server)
        try:
            resetter = RawServer(reset_now)
            made.append(resetter)
            https = RawServer(_tls_holder(certs))
            made.append(https)
            issuer = MisbehavingIssuer(certs.pair("good"))
            made.append(issuer)
            proxy_dir = os.path.join(directory, "tinyproxy")
            os.makedirs(proxy_dir)
            tinyproxy = Tinyproxy(proxy_dir, basic_auth=(PROXY_USER, PROXY_PASSWORD))
            made.append(tinyproxy)
            mitm = Mitmproxy(directory, certs.ca)
            made.append(mitm)
            yield {"namespace": client, "address": address, "ca": certs.ca, "reset": resetter.port,
                   "https": https.port, "issuer": issuer, "tinyproxy": tinyproxy.url, "mitm": mitm.url}
        finally:
            for thing in reversed(made):
                thing.close()
            stop(listener)


def _tls_holder(certs):
    """A TLS server with the good certificate that holds the connection (what the proxies connect to)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs.pair("good"))
    return lambda conn, stopped: hold(context.wrap_socket(conn, server_side=True), stopped)


# -- what each case runs -------------------------------------------------------------------------

def _nowhere(service):
    return "%s.%s" % (service, NOWHERE)


def _in_namespace(build, port):
    """BUILD(host, port, namespace=...) against the server namespace's address, run from the client one."""
    return lambda world: build(world["address"], port, namespace=world["namespace"])


def _https(host, port):
    return "https://%s:%d/v2.0/.well-known/openid-configuration" % (host, port)


def _authority(host, port=None):
    return "https://%s%s/contoso.example" % (host, ":%d" % port if port else "")


def _through(proxy, build):
    """BUILD(world, proxy URL) for the proxy named PROXY."""
    return lambda world: build(world, world[proxy])


M = _module_run
SPECS = {
    "dns-tcp-imap": lambda world: M.port_probe(_nowhere("imap"), 993, "tcp", "imap"),
    "dns-tls-pop3": lambda world: M.port_probe(_nowhere("pop3"), 995, "tls", "pop3"),
    "dns-starttls-smtp": lambda world: M.port_probe(_nowhere("smtp"), 587, "starttls", "smtp"),
    "dns-url-reach": lambda world: M.url_reach(_https(_nowhere("login"), 443)),
    "dns-token-acquire": lambda world: M.token_acquire(_authority(_nowhere("login"))),
    "dns-tenant-info": lambda world: M.tenant_info(_authority(_nowhere("login"))),
    "dns-mailbox-imap": lambda world: M.mailbox_protocols(_nowhere("outlook"), 993, "imap"),
    "dropped-tcp-imap": _in_namespace(lambda h, p, **k: M.port_probe(h, p, "tcp", "imap", **k), 993),
    "dropped-tls-imap": _in_namespace(lambda h, p, **k: M.port_probe(h, p, "tls", "imap", **k), 993),
    "dropped-starttls-smtp": _in_namespace(lambda h, p, **k: M.port_probe(h, p, "starttls", "smtp", **k), 587),
    "dropped-url-reach": _in_namespace(lambda h, p, **k: M.url_reach(_https(h, p), **k), 443),
    "dropped-token-acquire": _in_namespace(lambda h, p, **k: M.token_acquire(_authority(h, p), **k), 443),
    "dropped-mailbox-imap": _in_namespace(lambda h, p, **k: M.mailbox_protocols(h, p, "imap", **k), 993),
    "rejected-tcp-pop3": _in_namespace(lambda h, p, **k: M.port_probe(h, p, "tcp", "pop3", **k), REJECTED),
    "rejected-tls-pop3": _in_namespace(lambda h, p, **k: M.port_probe(h, p, "tls", "pop3", **k), REJECTED),
    "rejected-url-reach": _in_namespace(lambda h, p, **k: M.url_reach(_https(h, p), **k), REJECTED),
    "rejected-token-acquire": _in_namespace(lambda h, p, **k: M.token_acquire(_authority(h, p), **k), REJECTED),
    "rejected-mailbox-pop3": _in_namespace(lambda h, p, **k: M.mailbox_protocols(h, p, "pop3", **k), REJECTED),
    "reset-tcp-imap": lambda world: M.port_probe("127.0.0.1", world["reset"], "tcp", "imap"),
    "reset-tls-https": lambda world: M.port_probe("127.0.0.1", world["reset"], "tls", "https"),
    "reset-url-reach": lambda world: M.url_reach(_https("127.0.0.1", world["reset"])),
    "reset-token-acquire": lambda world: M.token_acquire(_authority("127.0.0.1", world["reset"])),
    "reset-mailbox-imap": lambda world: M.mailbox_protocols("127.0.0.1", world["reset"], "imap"),
    "proxy-auth-url-reach": _through("tinyproxy", lambda world, proxy: M.url_reach(
        _https("127.0.0.1", world["https"]), proxy=proxy, ca_path=world["ca"])),
    "proxy-auth-port-probe": _through("tinyproxy", lambda world, proxy: M.port_probe(
        "127.0.0.1", world["https"], "tls", "https", proxy=proxy, ca_path=world["ca"])),
    "proxy-auth-token-acquire": _through("tinyproxy", lambda world, proxy: M.token_acquire(
        world["issuer"].authority("html"), proxy=proxy, ca_path=world["ca"])),
    "intercepted-url-reach": _through("mitm", lambda world, proxy: M.url_reach(
        _https("127.0.0.1", world["https"]), proxy=proxy, ca_path=world["ca"])),
    "intercepted-port-probe": _through("mitm", lambda world, proxy: M.port_probe(
        "127.0.0.1", world["https"], "tls", "https", proxy=proxy, ca_path=world["ca"])),
    "intercepted-token-acquire": _through("mitm", lambda world, proxy: M.token_acquire(
        world["issuer"].authority("html"), proxy=proxy, ca_path=world["ca"])),
}


@pytest.fixture(scope="module")
def runs(request, world):
    """{case id: Run}: the module processes of the selected cases, run concurrently once."""
    return _module_run.run_selected(request, COVERAGE, SPECS, world)


def test_every_case_has_a_spec():
    _module_run.assert_one_spec_per_case(COVERAGE, SPECS)


@pytest.mark.parametrize("case", COVERAGE, ids=_coverage.ids(COVERAGE))
def test_network_misbehaves(case, runs):
    outcome = runs[case.id]
    _module_run.check(case, outcome)
    assert PROXY_PASSWORD not in outcome.stdout and _module_run.SECRET not in outcome.stdout
    if case.id.startswith("proxy-auth"):
        assert "407" in outcome.stdout, "the proxy's answer is named"
    if case.id.startswith("intercepted"):
        assert "mitmproxy" in outcome.stdout or case.id == "intercepted-token-acquire", \
            "the intercepting issuer is shown"
