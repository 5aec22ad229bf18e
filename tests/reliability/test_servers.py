# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Servers that misbehave, met by every module as Ansible runs it (a process of its own): mail and
HTTPS servers that are slow, endless, garbled, cut mid-handshake, missing an intermediate, refusing
STARTTLS, or failing during the XOAUTH2 login, and a token endpoint that throttles, fails, answers
HTML or never answers. Each case asserts its error class and a bound on the process's whole run."""

import ssl
import tempfile

import pytest

import _coverage
import _module_run
from _coverage import Case
from _issuer import MisbehavingIssuer
from certs import TestCerts
from servers import HOSTILE, close_all, garbage, hold, read_tls_record, reset_now, serve_all

BOUND = _module_run.BOUND
SECRET = _module_run.SECRET


def _meeting(condition, expect, *rows, **bound):
    """One Case per (id, subject) of ROWS: the same CONDITION met by each subject, the same EXPECTed class."""
    return [Case(case_id, "servers", condition, subject, expect, bound.get("bound", BOUND))
            for case_id, subject in rows]


COVERAGE = (
    _meeting("SMTP banner one byte a second", "timeout",
             ("slow-banner-tcp-smtp", "port_probe tcp/smtp"), ("slow-banner-starttls-smtp", "port_probe starttls/smtp"),
             ("slow-banner-mailbox-smtp", "mailbox_protocols smtp"))
    + _meeting("capability lines without end", "protocol",
               ("endless-capabilities-tcp-imap", "port_probe tcp/imap"),
               ("endless-capabilities-starttls-imap", "port_probe starttls/imap"),
               ("endless-ehlo-starttls-smtp", "port_probe starttls/smtp (EHLO)"),
               ("endless-capabilities-mailbox-imap", "mailbox_protocols imap (after AUTHENTICATE XOAUTH2)"))
    + _meeting("binary garbage instead of a banner", "protocol",
               ("garbage-tcp-imap", "port_probe tcp/imap"), ("garbage-tcp-pop3", "port_probe tcp/pop3"),
               ("garbage-tcp-smtp", "port_probe tcp/smtp"))
    + _meeting("binary garbage instead of a TLS handshake", "tls_handshake",
               ("garbage-tls-imap", "port_probe tls/imap"), ("garbage-url-reach-https", "url_reach https"),
               ("garbage-mailbox-pop3", "mailbox_protocols pop3"))
    + _meeting("binary garbage in answer to AUTHENTICATE XOAUTH2", "protocol",
               ("garbage-mailbox-imap-auth", "mailbox_protocols imap"))
    + _meeting("TLS handshake cut halfway", "tls_handshake",
               ("tls-cut-tls-imap", "port_probe tls/imap"), ("tls-cut-tls-pop3", "port_probe tls/pop3"),
               ("tls-cut-starttls-smtp", "port_probe starttls/smtp"), ("tls-cut-url-reach", "url_reach https"),
               ("tls-cut-token-acquire", "token_acquire (token endpoint)"),
               ("tls-cut-mailbox-imap", "mailbox_protocols imap"), ("tls-cut-mailbox-smtp", "mailbox_protocols smtp"))
    + _meeting("certificate chain missing its intermediate", "cert_untrusted",
               ("missing-intermediate-tls-https", "port_probe tls/https"),
               ("missing-intermediate-tls-imap", "port_probe tls/imap"),
               ("missing-intermediate-url-reach", "url_reach https"),
               ("missing-intermediate-token-acquire", "token_acquire"),
               ("missing-intermediate-mailbox-imap", "mailbox_protocols imap"))
    + _meeting("STARTTLS (STLS) advertised, then refused", "starttls_unsupported",
               ("starttls-refused-smtp", "port_probe starttls/smtp (454)"),
               ("starttls-refused-imap", "port_probe starttls/imap (NO)"),
               ("starttls-refused-pop3", "port_probe starttls/pop3 (-ERR)"),
               ("starttls-refused-mailbox-smtp", "mailbox_protocols smtp (454)"))
    + _meeting("no answer to AUTHENTICATE XOAUTH2", "timeout", ("auth-silent-mailbox-imap", "mailbox_protocols imap"))
    + _meeting("connection reset (RST) after AUTH XOAUTH2", "reset",
               ("auth-reset-mailbox-pop3", "mailbox_protocols pop3"))
    + _meeting("connection closed after AUTH XOAUTH2", "reset", ("auth-closed-mailbox-smtp", "mailbox_protocols smtp"))
    + _meeting("AUTHENTICATE XOAUTH2 refused in words Microsoft does not use", "auth_failed",
               ("auth-refused-unknown-words-mailbox-imap", "mailbox_protocols imap"))
    + _meeting("token endpoint answers 429 with Retry-After: 120", "throttled",
               ("token-429-retry-after-120", "token_acquire"), ("token-429-mailbox", "mailbox_protocols imap"),
               ("token-429-tenant-info", "tenant_info"))
    + _meeting("token endpoint answers 429 with Retry-After: 1 once, then a token", "ok",
               ("token-429-once-retried", "token_acquire"), bound=BOUND + 1)
    # A 5xx from the token endpoint is Microsoft's outage (entra_outage, retried), never the tenant's configuration.
    + _meeting("token endpoint answers 500 with an AADSTS body", "entra_outage", ("token-500", "token_acquire"))
    + _meeting("token endpoint answers 200 with HTML instead of JSON", "protocol", ("token-html", "token_acquire"))
    + _meeting("token endpoint never answers", "timeout",
               ("token-never", "token_acquire"), ("token-never-tenant-info", "tenant_info"))
)


# -- the servers --------------------------------------------------------------------------------

class _Lines:
    """Line-at-a-time reading of a server-side connection."""

    def __init__(self, conn):
        self.conn, self.buffer = conn, b""

    def readline(self):
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")


def dialogue(greeting, answers, context=None):
    """A handler: TLS at once when CONTEXT is given, then GREETING, then for each command the answer of
    the first keyword in it (ANSWERS: (keyword, bytes with {tag} or a handler(conn, stopped))).
    A callable answer ends the dialogue its own way; an unknown command is held."""
    def handler(conn, stopped):
        if context is not None:
            conn = context.wrap_socket(conn, server_side=True)
        conn.settimeout(10)
        conn.sendall(greeting)
        lines = _Lines(conn)
        while not stopped.is_set():
            line = lines.readline()
            if line is None:
                return
            answer = next((a for keyword, a in answers if keyword in line.upper()), None)
            if answer is None:
                break
            if callable(answer):
                answer(conn, stopped)
                return
            conn.sendall(answer.replace(b"{tag}", line.split(" ")[0].encode()))
        hold(conn, stopped)
    return handler


def _endless(line):
    """A handler sending LINE without end (until the client goes, or 100000 of them)."""
    def answer(conn, stopped):
        for _count in range(100000):
            if stopped.is_set():
                return
            conn.sendall(line)
    return answer


def _then_tls(context, after):
    """Go ahead with STARTTLS, then on the TLS session do AFTER(conn, stopped)."""
    def answer(conn, stopped):
        conn.sendall(b"220 2.0.0 SMTP server ready\r\n")
        after(context, conn, stopped)
    return answer


def _cut_handshake(_context, conn, _stopped):
    """Read the ClientHello after STARTTLS, then hang up."""
    read_tls_record(conn)
    conn.close()


def _smtp_until_auth(context, conn, stopped):
    """TLS, EHLO, then the connection closes (a FIN) when AUTH XOAUTH2 comes."""
    tls = context.wrap_socket(conn, server_side=True)

    def hang_up(tls_conn, _stopped):
        tls_conn.close()
    dialogue(b"", [("EHLO", b"250-smtp.example\r\n250 AUTH XOAUTH2\r\n"), ("AUTH", hang_up)])(tls, stopped)


SMTP_GREETING = b"220 smtp.example Microsoft ESMTP MAIL Service ready\r\n"
SMTP_EHLO = b"250-smtp.example Hello\r\n250-SIZE 157286400\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
IMAP_GREETING = b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n"
POP3_GREETING = b"+OK The Microsoft Exchange POP3 service is ready.\r\n"
IMAP_CAPABILITY = ("CAPABILITY", b"* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT "
                                 b"CHILDREN IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n")
POP3_CAPA = ("CAPA", b"+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n")


def _handlers(certs):
    good, orphan = (ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) for _count in range(2))
    good.load_cert_chain(*certs.pair("good"))
    orphan.load_cert_chain(*certs.pair("missing_intermediate"))
    handlers = dict(HOSTILE)
    handlers.update({
        "missing_intermediate": lambda conn, stopped: hold(orphan.wrap_socket(conn, server_side=True), stopped),
        "endless_ehlo": dialogue(SMTP_GREETING, [("EHLO", _endless(b"250-SIZE 157286400\r\n"))]),
        "imap_starttls_refused": dialogue(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n", [
            ("CAPABILITY", b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=XOAUTH2\r\n{tag} OK CAPABILITY completed.\r\n"),
            ("STARTTLS", b"{tag} NO [UNAVAILABLE] TLS is not available right now\r\n")]),
        "pop3_stls_refused": dialogue(POP3_GREETING, [
            ("CAPA", b"+OK\r\nSTLS\r\nSASL XOAUTH2\r\nUSER\r\n.\r\n"), ("STLS", b"-ERR TLS is not available\r\n")]),
        "smtp_tls_cut": dialogue(SMTP_GREETING, [("EHLO", SMTP_EHLO), ("STARTTLS", _then_tls(good, _cut_handshake))]),
        # The client reads the mechanisms first (CAPABILITY / CAPA, as Exchange answers them), then misbehaves.
        "imap_auth_silent": dialogue(IMAP_GREETING, [IMAP_CAPABILITY, ("AUTHENTICATE", hold)], good),
        "imap_auth_endless": dialogue(IMAP_GREETING, [
            IMAP_CAPABILITY, ("AUTHENTICATE", _endless(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n"))], good),
        "imap_auth_garbage": dialogue(IMAP_GREETING, [IMAP_CAPABILITY, ("AUTHENTICATE", garbage)], good),
        "imap_auth_refused": dialogue(IMAP_GREETING, [IMAP_CAPABILITY, ("AUTHENTICATE", b"+ \r\n"),
                                                      ("", b"a1 NO Login denied by policy\r\n")], good),
        "pop3_auth_reset": dialogue(POP3_GREETING, [POP3_CAPA, ("AUTH", reset_now)], good),
        "smtp_auth_closed": dialogue(SMTP_GREETING, [("EHLO", SMTP_EHLO),
                                                     ("STARTTLS", _then_tls(good, _smtp_until_auth))]),
    })
    return handlers


@pytest.fixture(scope="module")
def world():
    """Every server of this file, the test CA and the misbehaving issuer."""
    directory = tempfile.mkdtemp(prefix="reliability-servers-")
    certs = TestCerts(directory)
    servers = serve_all(_handlers(certs))
    issuer = MisbehavingIssuer(certs.pair("good"))
    yield {"ports": {name: server.port for name, server in servers.items()}, "ca": certs.ca, "issuer": issuer}
    issuer.close()
    close_all(servers)


# -- what each case runs -------------------------------------------------------------------------

def _probe(server, mode, protocol):
    return lambda world: _module_run.port_probe("127.0.0.1", world["ports"][server], mode, protocol,
                                                ca_path=world["ca"])


def _reach(server):
    return lambda world: _module_run.url_reach("https://127.0.0.1:%d/v2.0/.well-known/openid-configuration" % (
        world["ports"][server]), ca_path=world["ca"])


def _token(behaviour=None, server=None):
    """token_acquire against the misbehaving issuer (BEHAVIOUR) or a hostile SERVER as the authority."""
    def spec(world):
        authority = world["issuer"].authority(behaviour) if behaviour else \
            "https://127.0.0.1:%d/contoso.example" % world["ports"][server]
        return _module_run.token_acquire(authority, ca_path=world["ca"])
    return spec


def _tenant_info(behaviour):
    return lambda world: _module_run.tenant_info(world["issuer"].authority(behaviour), ca_path=world["ca"])


def _mailbox(server, protocol, behaviour=None):
    """mailbox_protocols logging in with PROTOCOL to SERVER; with BEHAVIOUR, its token comes from the issuer."""
    def spec(world):
        authority = world["issuer"].authority(behaviour) if behaviour else None
        return _module_run.mailbox_protocols("127.0.0.1", world["ports"][server], protocol, authority,
                                             ca_path=world["ca"])
    return spec


SPECS = {
    "slow-banner-tcp-smtp": _probe("slow_banner", "tcp", "smtp"),
    "slow-banner-starttls-smtp": _probe("slow_banner", "starttls", "smtp"),
    "slow-banner-mailbox-smtp": _mailbox("slow_banner", "smtp"),
    "endless-capabilities-tcp-imap": _probe("endless_capabilities", "tcp", "imap"),
    "endless-capabilities-starttls-imap": _probe("endless_capabilities", "starttls", "imap"),
    "endless-ehlo-starttls-smtp": _probe("endless_ehlo", "starttls", "smtp"),
    "endless-capabilities-mailbox-imap": _mailbox("imap_auth_endless", "imap"),
    "garbage-tcp-imap": _probe("garbage", "tcp", "imap"),
    "garbage-tcp-pop3": _probe("garbage", "tcp", "pop3"),
    "garbage-tcp-smtp": _probe("garbage", "tcp", "smtp"),
    "garbage-tls-imap": _probe("garbage", "tls", "imap"),
    "garbage-url-reach-https": _reach("garbage"),
    "garbage-mailbox-pop3": _mailbox("garbage", "pop3"),
    "garbage-mailbox-imap-auth": _mailbox("imap_auth_garbage", "imap"),
    "tls-cut-tls-imap": _probe("tls_cut_midway", "tls", "imap"),
    "tls-cut-tls-pop3": _probe("tls_cut_midway", "tls", "pop3"),
    "tls-cut-starttls-smtp": _probe("smtp_tls_cut", "starttls", "smtp"),
    "tls-cut-url-reach": _reach("tls_cut_midway"),
    "tls-cut-token-acquire": _token(server="tls_cut_midway"),
    "tls-cut-mailbox-imap": _mailbox("tls_cut_midway", "imap"),
    "tls-cut-mailbox-smtp": _mailbox("smtp_tls_cut", "smtp"),
    "missing-intermediate-tls-https": _probe("missing_intermediate", "tls", "https"),
    "missing-intermediate-tls-imap": _probe("missing_intermediate", "tls", "imap"),
    "missing-intermediate-url-reach": _reach("missing_intermediate"),
    "missing-intermediate-token-acquire": _token(server="missing_intermediate"),
    "missing-intermediate-mailbox-imap": _mailbox("missing_intermediate", "imap"),
    "starttls-refused-smtp": _probe("starttls_refused", "starttls", "smtp"),
    "starttls-refused-imap": _probe("imap_starttls_refused", "starttls", "imap"),
    "starttls-refused-pop3": _probe("pop3_stls_refused", "starttls", "pop3"),
    "starttls-refused-mailbox-smtp": _mailbox("starttls_refused", "smtp"),
    "auth-silent-mailbox-imap": _mailbox("imap_auth_silent", "imap"),
    "auth-reset-mailbox-pop3": _mailbox("pop3_auth_reset", "pop3"),
    "auth-closed-mailbox-smtp": _mailbox("smtp_auth_closed", "smtp"),
    "auth-refused-unknown-words-mailbox-imap": _mailbox("imap_auth_refused", "imap"),
    "token-429-retry-after-120": _token("throttled"),
    "token-429-once-retried": _token("throttled-once"),
    "token-429-mailbox": _mailbox("silent", "imap", behaviour="throttled"),
    "token-429-tenant-info": _tenant_info("throttled"),
    "token-500": _token("error500"),
    "token-html": _token("html"),
    "token-never": _token("never"),
    "token-never-tenant-info": _tenant_info("never"),
}


@pytest.fixture(scope="module")
def runs(request, world):
    """{case id: Run}: the module processes of the selected cases, run concurrently once."""
    return _module_run.run_selected(request, COVERAGE, SPECS, world)


def test_every_case_has_a_spec():
    _module_run.assert_one_spec_per_case(COVERAGE, SPECS)


@pytest.mark.parametrize("case", COVERAGE, ids=_coverage.ids(COVERAGE))
def test_server_misbehaves(case, runs):
    result = _module_run.check(case, runs[case.id])
    if case.id == "token-429-once-retried":
        assert [r["status"] for r in result["requests"]].count(429) == 1 and result["acquired"] is True
    if case.id.startswith("token-429") and case.expect == "throttled":
        assert "Retry-After: 120" in _module_run.targets(runs[case.id].spec["module"], result)[0][1]
    assert SECRET not in runs[case.id].stdout, "the client secret leaked into the result"


def test_the_issuer_saw_each_token_request(world, runs):
    """The token cases reached the issuer's token endpoint (not stopped earlier by a wrong setting)."""
    posts = world["issuer"].posts
    used = {runs[case_id].spec["args"].get("authority", "").rsplit("/", 1)[-1] for case_id in runs}
    for behaviour in used & {"throttled", "throttled-once", "error500", "html", "never"}:
        assert posts.get(behaviour), "no token request reached %s (%s)" % (behaviour, posts)
