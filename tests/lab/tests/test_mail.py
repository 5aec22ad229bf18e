# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dovecot as Exchange Online: XOAUTH2 logins with the issuer's tokens, and each scenario's refusal."""

import base64
import email
import imaplib
import os
import poplib
import smtplib
import time

import jwt
import pytest

from ece_lab.identity import SigningKey


def _sink_messages(run_dir):
    sink = os.path.join(run_dir, "sink")
    return {name: os.path.join(sink, name) for name in os.listdir(sink) if name.endswith(".eml")}


def test_healthy_end_to_end_msal_token_three_protocols_and_a_message_arrives(use_scenario):
    s = use_scenario("healthy")
    token = s.refresh("support")["access_token"]
    assert s.lab.imap_examine("support@contoso.example", token) == ("examine", True, "0")
    assert s.lab.pop3_stat("support@contoso.example", token)[:2] == ("stat", True)
    before = set(_sink_messages(s.run_dir))
    subject = "preflight lab %f" % time.time()
    assert s.lab.smtp_auth("support@contoso.example", token, send_to="support@contoso.example",
                           subject=subject) == ("send", True, "accepted")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not set(_sink_messages(s.run_dir)) - before:
        time.sleep(0.05)
    new = sorted(set(_sink_messages(s.run_dir)) - before)
    assert len(new) == 1
    with open(_sink_messages(s.run_dir)[new[0]], "rb") as handle:
        message = email.message_from_bytes(handle.read())
    assert message["Subject"] == subject and message["X-Lab-Rcpt-To"] == "support@contoso.example"


def test_shared_mailbox_opens_with_the_delegates_token_over_imap_and_pop_not_smtp(use_scenario):
    s = use_scenario("healthy")
    token = s.refresh("ece-service")["access_token"]
    assert s.lab.imap_examine("sales@contoso.example", token)[:2] == ("examine", True)
    assert s.lab.pop3_stat("sales@contoso.example", token)[:2] == ("stat", True)
    # SMTP AUTH as the shared mailbox with the delegate's token: Exchange's 535 5.7.3, FullAccess or not
    # (https://github.com/nextcloud/mail/issues/13667, https://github.com/jstedfast/MailKit/issues/1770).
    stage, ok, reply = s.lab.smtp_auth("sales@contoso.example", token)
    assert (stage, ok) == ("auth", False) and "5.7.3 Authentication unsuccessful" in reply
    # The delegate signs in as itself.
    assert s.lab.smtp_auth("ece.service@contoso.example", token)[:2] == ("auth", True)
    # ... and a delegate's token opens nothing it holds no grant on.
    assert s.lab.imap_examine("support@contoso.example", token)[:2] == ("auth", False)


def _submit(s, account, token, sender, recipient="support@contoso.example"):
    """AUTH XOAUTH2 as ACCOUNT, MAIL FROM SENDER, one message: the (code, reply) of MAIL FROM and of the message."""
    with smtplib.SMTP(s.lab.host, s.lab.ports["submission"], timeout=10) as smtp:
        smtp.ehlo("ece-lab-client")
        smtp.starttls(context=s.lab.tls_context())
        smtp.ehlo("ece-lab-client")
        code, _reply = smtp.docmd("AUTH", "XOAUTH2")
        code, reply = smtp.docmd(base64.b64encode(s.lab.xoauth2(account, token).encode()).decode())
        assert code == 235, reply
        mail_from = smtp.docmd("MAIL FROM:<%s>" % sender)
        assert smtp.docmd("RCPT TO:<%s>" % recipient)[0] == 250
        try:
            sent = smtp.data(b"Subject: send as\r\n\r\nlab\r\n")
        except smtplib.SMTPDataError as exc:
            sent = (exc.smtp_code, exc.smtp_error)
        return mail_from, (sent[0], sent[1].decode())


def test_send_as_is_checked_at_submission_not_at_mail_from(use_scenario):
    s = use_scenario("exchange-send-as-missing")
    token = s.refresh("ece-service")["access_token"]
    before = set(_sink_messages(s.run_dir))
    mail_from, sent = _submit(s, "ece.service@contoso.example", token, "sales@contoso.example")
    assert mail_from == (250, b"2.1.0 Sender OK"), "Exchange accepts MAIL FROM and checks Send As after DATA"
    assert sent == (554, "5.2.252 SendAsDenied; ece.service@contoso.example not allowed to send as "
                         "sales@contoso.example; STOREDRV.Submission.Exception:SendAsDeniedException."
                         "MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with "
                         "message [BeginDiagnosticData]Cannot submit message.")
    assert set(_sink_messages(s.run_dir)) == before, "nothing was delivered"
    # Its own address needs no grant.
    assert _submit(s, "ece.service@contoso.example", token, "ece.service@contoso.example")[1][0] == 250


def test_send_as_granted_in_the_tenant_file_lets_the_delegate_send_as_the_shared_mailbox(use_scenario):
    s = use_scenario("healthy")  # sales@: send_as [ece.service@]
    token = s.refresh("ece-service")["access_token"]
    assert _submit(s, "ece.service@contoso.example", token, "sales@contoso.example")[1][0] == 250
    # ... and only that one: support@ grants it nothing.
    assert _submit(s, "ece.service@contoso.example", token, "support@contoso.example")[1][0] == 554


def _mechanisms(s):
    """What each service offers: IMAP CAPABILITY AUTH=, POP3 CAPA SASL, SMTP EHLO AUTH after STARTTLS."""
    with imaplib.IMAP4_SSL(s.lab.host, s.lab.ports["imaps"], ssl_context=s.lab.tls_context(), timeout=10) as imap:
        imap_mechs = sorted(c[5:] for c in imap.capabilities if c.startswith("AUTH="))
    pop = poplib.POP3_SSL(s.lab.host, s.lab.ports["pop3s"], context=s.lab.tls_context(), timeout=10)
    try:
        pop_mechs = sorted(pop.capa().get("SASL", []))
    finally:
        pop.quit()
    with smtplib.SMTP(s.lab.host, s.lab.ports["submission"], timeout=10) as smtp:
        smtp.ehlo("x")
        smtp.starttls(context=s.lab.tls_context())
        smtp.ehlo("x")
        smtp_mechs = sorted(smtp.esmtp_features.get("auth", "").upper().split())
    return imap_mechs, pop_mechs, smtp_mechs


def test_lab_switch_makes_dovecot_stop_and_start_offering_xoauth2(use_scenario):
    s = use_scenario("mail-xoauth2-not-offered")
    assert _mechanisms(s) == (["LOGIN", "PLAIN"], ["LOGIN", "PLAIN"], ["LOGIN", "PLAIN"])
    s = use_scenario("healthy")
    assert _mechanisms(s) == (["OAUTHBEARER", "XOAUTH2"], ["OAUTHBEARER", "XOAUTH2"], ["OAUTHBEARER", "XOAUTH2"])


def test_banners_and_capabilities_look_like_exchange(use_scenario):
    s = use_scenario("healthy")
    with imaplib.IMAP4_SSL(s.lab.host, s.lab.ports["imaps"], ssl_context=s.lab.tls_context(), timeout=10) as imap:
        assert b"The Microsoft Exchange IMAP4 service is ready." in imap.welcome
        assert "AUTH=XOAUTH2" in imap.capabilities and "AUTH=OAUTHBEARER" in imap.capabilities


def test_oauthbearer_is_accepted_too(use_scenario):
    s = use_scenario("healthy")
    token = s.refresh("support")["access_token"]
    payload = "n,a=support@contoso.example,\x01auth=Bearer %s\x01\x01" % token
    with imaplib.IMAP4_SSL(s.lab.host, s.lab.ports["imaps"], ssl_context=s.lab.tls_context(), timeout=10) as imap:
        status, _data = imap.authenticate("OAUTHBEARER", lambda _challenge: payload.encode())
        assert status == "OK"


def _mint(s, **override):
    with open(s.lab.state["signing_key"], "rb") as handle:
        key = SigningKey(handle.read())
    from ece_lab.identity import Issuer
    issuer = Issuer(s.tenant, key, s.lab.state["login_url"])
    return issuer.mint(override, user="support@contoso.example", app_key="ece-mail")


@pytest.mark.parametrize("override", [
    {"exp": int(time.time()) - 60},                                   # expired
    {"aud": "https://graph.microsoft.com"},                            # a Graph token, not a mail token
    {"iss": "https://sts.windows.net/3f1a7c52-8e0b-4d1c-9a57-5b2e6d8c4a10/"},  # another issuer
])
def test_tokens_dovecot_must_refuse(use_scenario, override):
    s = use_scenario("healthy")
    assert s.lab.imap_examine("support@contoso.example", _mint(s, **override))[:2] == ("auth", False)


def test_office365_audience_is_accepted_and_a_foreign_signature_is_not(use_scenario):
    s = use_scenario("healthy")
    assert s.lab.imap_examine("support@contoso.example",
                              _mint(s, aud="https://outlook.office365.com"))[:2] == ("examine", True)
    genuine = s.refresh("support")["access_token"]
    lab_kid = jwt.get_unverified_header(genuine)["kid"]
    claims = jwt.decode(genuine, options={"verify_signature": False})
    # Same claims and key id, signed by a key the lab never published.
    forged = jwt.encode(claims, SigningKey.generate().private_pem, algorithm="RS256", headers={"kid": lab_kid})
    assert s.lab.imap_examine("support@contoso.example", forged)[:2] == ("auth", False)


def test_unlicensed_mailbox_is_authenticated_but_not_connected(use_scenario):
    s = use_scenario("no-exchange-licence")
    token = s.refresh("support")["access_token"]  # Entra still issues the token
    stage, ok, reply = s.lab.imap_examine("support@contoso.example", token)
    assert (stage, ok) == ("auth", False) and "User is authenticated but not connected." in reply


def test_imap_disabled_refuses_imap_only(use_scenario):
    s = use_scenario("imap-disabled")
    token = s.refresh("support")["access_token"]
    stage, ok, reply = s.lab.imap_examine("support@contoso.example", token)
    assert not ok and "AUTHENTICATE failed." in reply
    assert s.lab.pop3_stat("support@contoso.example", token)[:2] == ("stat", True)
    assert s.lab.smtp_auth("support@contoso.example", token)[:2] == ("auth", True)


def test_smtp_auth_disabled_for_the_tenant(use_scenario):
    s = use_scenario("smtp-auth-disabled-tenant")
    token = s.refresh("support")["access_token"]
    stage, ok, reply = s.lab.smtp_auth("support@contoso.example", token)
    assert not ok and "SmtpClientAuthentication is disabled for the Tenant" in reply
    assert s.lab.imap_examine("support@contoso.example", token)[:2] == ("examine", True)


def test_mailbox_smtp_setting_overrides_the_tenant(use_scenario):
    s = use_scenario("smtp-auth-tenant-off-mailbox-on")
    assert s.lab.smtp_auth("support@contoso.example", s.refresh("support")["access_token"])[:2] == ("auth", True)
    token = s.refresh("ece-service")["access_token"]
    stage, ok, reply = s.lab.smtp_auth("ece.service@contoso.example", token)
    assert not ok and "disabled for the Tenant" in reply
    # As the shared mailbox (SMTP AUTH at the tenant's setting, off) Exchange names SMTP AUTH first, not 5.7.3.
    assert "disabled for the Tenant" in s.lab.smtp_auth("sales@contoso.example", token)[2]


def test_shared_account_without_fullaccess_is_refused(use_scenario):
    s = use_scenario("shared-no-fullaccess")
    token = s.refresh("ece-service")["access_token"]
    stage, ok, reply = s.lab.imap_examine("sales@contoso.example", token)
    assert not ok and stage == "auth"
    assert s.lab.smtp_auth("sales@contoso.example", token)[:2] == ("auth", False)
    # the delegate's own mailbox still works: the token is fine, the grant is missing
    assert s.lab.imap_examine("ece.service@contoso.example", token)[:2] == ("examine", True)


def test_wrong_owner_token_opens_the_workstation_users_mailbox_not_the_target(use_scenario):
    s = use_scenario("token-wrong-owner")
    token = s.refresh("support")["access_token"]
    assert s.lab.imap_examine("support@contoso.example", token)[:2] == ("auth", False)
    assert s.lab.imap_examine("jdoe@contoso.example", token)[:2] == ("examine", True)
