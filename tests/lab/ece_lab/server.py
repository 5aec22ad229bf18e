# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's Python process: the three HTTPS stand-ins and the SMTP sink Dovecot relays to.

Reads everything from the run directory's state.json. SIGHUP reloads the tenant file named
there (``lab switch``); SIGTERM stops it.
"""

import itertools
import json
import os
import signal
import threading
import time

from aiosmtpd.controller import Controller

from . import httpd
from .identity import Issuer, SigningKey
from .tenant import load


class SinkHandler:
    """Stores every message Dovecot's submission service relays, one .eml file each."""

    def __init__(self, directory):
        self.directory = directory
        self._counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
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
    sink = Controller(SinkHandler(os.path.join(run_dir, "sink")), hostname=lab.state["host"],
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
