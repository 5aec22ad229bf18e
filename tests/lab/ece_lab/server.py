# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's Python process: the three HTTPS stand-ins and the SMTP sink Dovecot relays to.

Reads everything from the run directory's state.json. SIGHUP reloads the tenant file named
there (``lab switch``); SIGTERM stops it.

The sink is where Exchange Online's transport checks live: Dovecot's submission service relays
each authenticated session to it and, trusting it, names the signed-in account in XCLIENT LOGIN=.
Like Exchange, the sink accepts any MAIL FROM (250 2.1.0 Sender OK) and checks Send As when the
message is submitted, after DATA.
"""

import itertools
import json
import os
import signal
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from . import httpd
from .identity import Issuer, SigningKey
from .tenant import load


# Exchange Online's refusal of a sender the account may not send as, after DATA; MAIL FROM was accepted.
# https://github.com/gophish/gophish/issues/2900 https://github.com/nextcloud/mail/pull/13668
# https://github.com/MicrosoftDocs/OfficeDocs-Support/issues/1187
SEND_AS_DENIED = ("554 5.2.252 SendAsDenied; %s not allowed to send as %s; "
                  "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process "
                  "message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.")
SENDER_OK = "250 2.1.0 Sender OK"


class SinkSMTP(SMTP):
    """aiosmtpd with Postfix's XCLIENT, which Dovecot's submission relay sends to a trusted relay: the session
    records LOGIN= (the account that signed in)."""

    async def smtp_XCLIENT(self, arg):
        fields = dict(item.split("=", 1) for item in (arg or "").split() if "=" in item)
        self.session.xclient_login = fields.get("LOGIN")
        await self.push("220 %s ESMTP" % self.hostname)


class SinkController(Controller):
    def factory(self):
        return SinkSMTP(self.handler, **self.SMTP_kwargs)


class SinkHandler:
    """Stores every message Dovecot's submission service relays, one .eml file each, after Exchange's Send As
    check: the signed-in account (XCLIENT LOGIN=) must be the sender's mailbox or hold Send As on it."""

    def __init__(self, directory, lab=None):
        self.directory = directory
        self.lab = lab
        self._counter = itertools.count(1)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # ENHANCEDSTATUSCODES: Dovecot then passes the sink's enhanced codes (2.1.0, 5.2.252) through unchanged.
        return responses[:-1] + ["250-ENHANCEDSTATUSCODES", "250-XCLIENT ADDR PORT PROTO HELO LOGIN SESSION TTL "
                                 "TIMEOUT"] + responses[-1:]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return SENDER_OK

    async def handle_DATA(self, server, session, envelope):
        account = getattr(session, "xclient_login", None)
        tenant = self.lab.tenant if self.lab is not None else None
        if tenant is not None and account and not tenant.may_send_as(account, envelope.mail_from):
            return SEND_AS_DENIED % (account, envelope.mail_from)
        name = "%d-%04d.eml" % (time.time() * 1000, next(self._counter))
        header = "X-Lab-Mail-From: %s\r\nX-Lab-Rcpt-To: %s\r\n" % (envelope.mail_from, ", ".join(envelope.rcpt_tos))
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "wb") as handle:
            handle.write(header.encode() + envelope.original_content)
        os.replace(tmp, os.path.join(self.directory, name))
        return "250 2.0.0 OK queued as LAB%s" % name.split(".")[0].replace("-", "")


class _Lab:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        with open(os.path.join(run_dir, "state.json"), encoding="utf-8") as handle:
            self.state = json.load(handle)
        with open(self.state["signing_key"], "rb") as handle:
            self.key = SigningKey(handle.read())
        self.log = open(os.path.join(run_dir, "logs", "http.log"), "a", encoding="utf-8")
        self.tenant = None
        self.servers = []

    def load(self):
        with open(os.path.join(self.run_dir, "state.json"), encoding="utf-8") as handle:
            self.state = json.load(handle)
        tenant = load(self.state["tenant_file"])
        issuer = Issuer(tenant, self.key, self.state["login_url"])
        if not self.servers:
            self.servers = httpd.serve(tenant, issuer, self.state["host"], self.state["ports"],
                                       self.state["cert"], self.state["key"], self.log)
        else:  # swap the tenant under the running listeners
            for server in self.servers:
                app = server.RequestHandlerClass.app
                app.tenant = tenant
                app.issuer = issuer
        self.tenant = tenant
        self.log.write("loaded tenant %s\n" % tenant.path)
        self.log.flush()


def main(run_dir):
    lab = _Lab(run_dir)
    lab.load()
    sink = SinkController(SinkHandler(os.path.join(run_dir, "sink"), lab), hostname=lab.state["host"],
                          port=lab.state["ports"]["sink"])
    sink.start()
    stop = threading.Event()
    reload_wanted = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload_wanted.set())
    while not stop.wait(0.2):
        if reload_wanted.is_set():
            reload_wanted.clear()
            try:
                lab.load()
            except Exception as exc:  # keep serving the previous tenant; say why
                lab.log.write("reload failed: %s\n" % exc)
                lab.log.flush()
    sink.stop()
    for server in lab.servers:
        server.shutdown()
        server.server_close()
