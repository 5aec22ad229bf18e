# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain clients for a running lab: requests, msal, imaplib, poplib, smtplib.

What ECE and a tester would do by hand, with the two adjustments a local issuer needs: the lab
CA as the only trust anchor (msal gets its own session, since REQUESTS_CA_BUNDLE would override
``verify=``), and msal's port-less userrealm URL sent to the lab's port.
"""

import base64
import email.message
import imaplib
import poplib
import smtplib
import ssl

import msal
import requests

from .control import default_run_dir, read_state

TIMEOUT = 10


class LabSession(requests.Session):
    """requests.Session that trusts only the lab CA and maps msal's userrealm call to the lab."""

    def __init__(self, state):
        super().__init__()
        self.trust_env = False  # ignore REQUESTS_CA_BUNDLE and proxies set on this machine
        self.verify = state["ca"]
        self.proxies = {}
        self._userrealm_from = "https://%s/common/userrealm/" % state["host"]
        self._userrealm_to = "%s/common/userrealm/" % state["login_url"]

    def request(self, method, url, *args, **kwargs):
        if url.startswith(self._userrealm_from):
            url = self._userrealm_to + url[len(self._userrealm_from):]
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)


class Lab:
    """A handle on a running lab, read from its state.json."""

    def __init__(self, run_dir=None, tenant=None):
        self.state = read_state(run_dir or default_run_dir())
        if self.state is None:
            raise RuntimeError("no lab state in %s: run 'lab up' first" % (run_dir or default_run_dir()))
        self.tenant = tenant
        self.session = LabSession(self.state)
        self.host = self.state["host"]
        self.ports = self.state["ports"]

    def tls_context(self):
        return ssl.create_default_context(cafile=self.state["ca"])

    # -- Entra ---------------------------------------------------------------------------
    def msal_app(self, client_id, secret=None, authority=None):
        common = dict(authority=authority or self.state["authority"], http_client=self.session,
                      instance_discovery=False)
        if secret is None:
            return msal.PublicClientApplication(client_id, **common)
        return msal.ConfidentialClientApplication(client_id, client_credential=secret, **common)

    def app_token(self, client_id, secret, resource):
        return self.msal_app(client_id, secret).acquire_token_for_client(scopes=[resource + "/.default"])

    # -- Graph and the Exchange admin API --------------------------------------------------
    def graph(self, path, token):
        return self.session.get(self.state["graph_url"] + path, headers={"Authorization": "Bearer " + token})

    def exchange(self, cmdlet, token, tenant=None, **parameters):
        url = "%s/adminapi/beta/%s/InvokeCommand" % (self.state["exchange_url"], tenant or self.state["tenant_id"])
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        return self.session.post(url, json=body, headers={"Authorization": "Bearer " + token})

    # -- mail, exactly as ECE logs in --------------------------------------------------------
    @staticmethod
    def xoauth2(user, token):
        return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)

    def imap_examine(self, user, token, mailbox="INBOX"):
        """AUTHENTICATE XOAUTH2 then EXAMINE (read-only). Returns (stage, ok, reply text)."""
        with imaplib.IMAP4_SSL(self.host, self.ports["imaps"], ssl_context=self.tls_context(), timeout=TIMEOUT) as imap:
            try:
                imap.authenticate("XOAUTH2", lambda _challenge: self.xoauth2(user, token).encode())
            except imaplib.IMAP4.error as exc:
                return "auth", False, str(exc)
            status, data = imap.select(mailbox, readonly=True)
            return "examine", status == "OK", (data[0] or b"").decode()

    def pop3_stat(self, user, token):
        pop = poplib.POP3_SSL(self.host, self.ports["pop3s"], context=self.tls_context(), timeout=TIMEOUT)
        try:
            try:
                pop._shortcmd("AUTH XOAUTH2")
                reply = pop._shortcmd(base64.b64encode(self.xoauth2(user, token).encode()).decode())
                if reply.startswith(b"+ ") or reply == b"+":  # the server's error challenge: answer it empty (RFC 7628)
                    pop._shortcmd("")
            except poplib.error_proto as exc:
                return "auth", False, exc.args[0].decode()
            count, size = pop.stat()
            return "stat", True, "%d messages, %d bytes" % (count, size)
        finally:
            pop.close()

    def smtp_auth(self, user, token, send_to=None, subject="ece_o365 preflight lab test", mail_from=None):
        """EHLO, STARTTLS, EHLO, AUTH XOAUTH2 as USER (token after 334); optionally send one message from
        MAIL_FROM (default USER: a shared mailbox's delegate signs in as itself and sends as the shared address)."""
        with smtplib.SMTP(self.host, self.ports["submission"], timeout=TIMEOUT) as smtp:
            smtp.ehlo("ece-lab-client")
            smtp.starttls(context=self.tls_context())
            smtp.ehlo("ece-lab-client")
            code, reply = smtp.docmd("AUTH", "XOAUTH2")
            if code == 334:
                code, reply = smtp.docmd(base64.b64encode(self.xoauth2(user, token).encode()).decode())
                if code == 334:  # the server's error challenge: answer it empty, as RFC 7628 says
                    code, reply = smtp.docmd("")
            if code != 235:
                return "auth", False, "%d %s" % (code, reply.decode())
            if not send_to:
                smtp.rset()
                return "auth", True, "%d %s" % (code, reply.decode())
            message = email.message.EmailMessage()
            message["From"], message["To"], message["Subject"] = mail_from or user, send_to, subject
            message.set_content("Sent by the ece_o365.preflight lab to prove SMTP XOAUTH2 end to end.\n")
            try:
                smtp.send_message(message)
            except smtplib.SMTPException as exc:
                return "send", False, str(exc)
            return "send", True, "accepted"
