# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The XOAUTH2 dialogues over real socket pairs, Microsoft's replies, and redaction."""

import ast
import base64
import os
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors, _mail, _probe

TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.planted-token-value.sig'


@pytest.mark.parametrize('reply, error_class', [
    ('535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit '
     'https://aka.ms/smtp_auth_disabled for more information.', 'smtp_auth_disabled'),
    ('535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.',
     'smtp_auth_disabled'),
    ('535 5.7.3 Authentication unsuccessful', 'auth_failed'),
    ('550 5.7.30 Basic authentication is not supported for Client Submission.', 'basic_auth_blocked'),
    ('a2 BAD User is authenticated but not connected.', 'not_connected'),
    ('a1 NO AUTHENTICATE failed.', 'auth_failed'),
    ('-ERR Authentication failure: unknown user name or bad password.', 'auth_failed'),
    ('430 4.2.0 STOREDRV.ClientSubmit; mailbox database offline', 'mailbox_unavailable'),
    ('554 5.2.252 SendAsDenied; sales@contoso.com not allowed to send as support@contoso.com', 'send_as_denied'),
])
def test_microsoft_replies_are_classified(reply, error_class):
    assert _mail.classify_reply(reply)[0] == error_class


def test_a_reply_gets_its_class_meaning_and_fix_from_the_one_table():
    error_class, meaning, fix = _mail.classify_reply('535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication '
                                                     'is disabled for the Tenant.')
    assert meaning.startswith(_mail.MAIL_CLASSES['smtp_auth_disabled'][0]) and 'for the tenant' in meaning
    assert fix == _mail.MAIL_CLASSES['smtp_auth_disabled'][1]
    assert set(cls for _pattern, cls, _note in _mail.MICROSOFT_REPLIES) <= set(_mail.MAIL_CLASSES)
    assert set(_mail.MAIL_CLASSES) <= set(_errors.ERROR_CLASSES), 'every mail class is one of the vocabulary'


MODULE_UTILS = os.path.dirname(os.path.abspath(_mail.__file__))


def files_saying(phrase):
    """The module utils (file names) with a string literal that holds PHRASE (adjacent literals joined)."""
    found = set()
    for name in sorted(os.listdir(MODULE_UTILS)):
        if not name.endswith('.py'):
            continue
        with open(os.path.join(MODULE_UTILS, name), encoding='utf-8') as handle:
            tree = ast.parse(handle.read())
        if any(isinstance(node, ast.Constant) and isinstance(node.value, str) and phrase in node.value
               for node in ast.walk(tree)):
            found.add(name)
    return found


@pytest.mark.parametrize('phrase', ['-SmtpClientAuthenticationDisabled $false', 'Set-TransportConfig',
                                    'assign a licence with an EXCHANGE_S_* plan', 'grant Send As on the mailbox',
                                    'configure the mailbox in ECE for OAuth2'])
def test_fix_texts_are_held_once(phrase):
    """The Exchange/SMTP/IMAP fixes live in _mail.MAIL_CLASSES only, once each."""
    assert files_saying(phrase) == {'_mail.py'}
    holders = [cls for cls, (meaning, fix) in _mail.MAIL_CLASSES.items() if phrase in meaning + fix]
    assert len(holders) == 1, holders


def test_unknown_reply_is_not_guessed():
    assert _mail.classify_reply('250 OK') is None


def test_sasl_initial_responses():
    assert _mail.sasl_initial('xoauth2', 'a@b', 'T') == 'user=a@b\x01auth=Bearer T\x01\x01'
    assert _mail.sasl_initial('oauthbearer', 'a@b', 'T', 'h', 993) == 'n,a=a@b,\x01host=h\x01port=993\x01auth=Bearer T\x01\x01'


def test_redact_removes_the_token_and_its_base64():
    text = 'echo %s and %s' % (TOKEN, base64.b64encode(TOKEN.encode()).decode())
    assert TOKEN not in _mail.redact(text, [TOKEN]) and 'planted' not in _mail.redact(text, [TOKEN])


def _dialogue(protocol, script, timeout=2.0, **extra):
    """Run a dialogue against a socket pair whose far end answers each client line from SCRIPT."""
    client, server = socket.socketpair()
    received = []

    def serve():
        server.settimeout(timeout + 1)
        buffer = b''
        try:
            greeting, replies = script[0], list(script[1:])
            server.sendall(greeting)
            while replies:
                while b'\n' not in buffer:
                    chunk = server.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b'\n', 1)
                received.append(line)
                server.sendall(replies.pop(0))
        except OSError:
            pass
        finally:
            server.close()

    thread = threading.Thread(target=serve)
    thread.start()
    result = _mail.new_result('support@contoso.com', protocol, 'h', 1)
    error = None
    try:
        _mail.DIALOGUES[protocol](_probe._Line(client, time.monotonic() + timeout), 'support@contoso.com', TOKEN,
                                  'xoauth2', dict(extra), result)
    except (_mail.MailError, _probe.ProbeError) as exc:
        error = exc
    finally:
        client.close()
        thread.join()
    return result, error, received


def test_imap_success_uses_examine_never_select():
    result, error, received = _dialogue('imap', [
        b'* OK The Microsoft Exchange IMAP4 service is ready.\r\n', b'+ \r\n',
        b'a1 OK AUTHENTICATE completed.\r\n',
        b'* 12 EXISTS\r\n* 0 RECENT\r\na2 OK [READ-ONLY] EXAMINE completed.\r\n', b'* BYE\r\na3 OK\r\n'])
    assert error is None and result['authenticated'] and result['followup']['messages'] == 12
    commands = [line.rstrip(b'\r').split(b' ')[1] for line in received if line.startswith(b'a')]
    assert commands == [b'AUTHENTICATE', b'EXAMINE', b'LOGOUT'] and b'SELECT' not in b' '.join(received)
    assert base64.b64decode(received[1]).startswith(b'user=support@contoso.com\x01auth=Bearer ')


def test_imap_authenticated_but_not_connected_is_caught_by_the_followup():
    result, error, _received = _dialogue('imap', [
        b'* OK ready\r\n', b'+ \r\n', b'a1 OK AUTHENTICATE completed.\r\n',
        b'a2 BAD User is authenticated but not connected.\r\n'])
    assert result['authenticated'] and error.error_class == 'followup_failed'
    assert _mail.classify_reply(error.reply)[0] == 'not_connected'


def test_pop3_two_step_auth_and_error_challenge():
    result, error, received = _dialogue('pop3', [
        b'+OK The Microsoft Exchange POP3 service is ready.\r\n', b'+ \r\n', b'+ eyJzdGF0dXMiOiI0MDEifQ==\r\n',
        b'-ERR Authentication failure: unknown user name or bad password.\r\n'])
    assert error.error_class == 'auth_failed' and 'Authentication failure' in error.reply
    assert received[0] == b'AUTH XOAUTH2\r' and received[2] == b'\r', 'the error challenge is answered empty'


def test_smtp_sends_nothing_by_default():
    result, error, received = _dialogue('smtp', [
        b'', b'250-smtp.office365.com\r\n250 AUTH LOGIN XOAUTH2\r\n', b'334 \r\n', b'235 2.7.0 Authentication successful\r\n',
        b'250 2.1.0 Sender OK\r\n', b'250 2.0.0 Resetting\r\n'])
    assert error is None and result['followup']['ok']
    commands = [line.split(b' ')[0].rstrip(b'\r') for line in received]
    assert commands[0] == b'EHLO' and commands[1] == b'AUTH' and commands[3] == b'MAIL'
    assert commands[4] == b'RSET' and b'DATA' not in commands and b'RCPT' not in commands


def test_smtp_test_message_reports_the_queue_id():
    result, error, received = _dialogue('smtp', [
        b'', b'250 AUTH XOAUTH2\r\n', b'334 \r\n', b'235 2.7.0 OK\r\n', b'250 2.1.0 OK\r\n', b'250 2.1.5 OK\r\n',
        b'354 go\r\n'] + [b''] * 7 + [b'250 2.0.0 OK <abc123@DM6PR01.prod.outlook.com> [Hostname=DM6PR01]\r\n'],
        send_test_message=True, test_recipient='admin@contoso.com')
    assert error is None, error and error.reply
    assert result['test_message']['queue_id'] == 'abc123@DM6PR01.prod.outlook.com'


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.sampled_from(['imap', 'pop3', 'smtp']))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_replies_never_raise_anything_unexpected(replies, protocol):
    _result, error, _received = _dialogue(protocol, [replies[0]] + [r + b'\r\n' for r in replies[1:]], timeout=0.2)
    assert error is None or isinstance(error, (_mail.MailError, _probe.ProbeError))


def test_imap_untagged_lines_without_end_after_authenticate_are_a_protocol_error_not_a_timeout():
    endless = b'* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n' * (_probe.MAX_LINES + 5)
    started = time.monotonic()
    _result, error, _received = _dialogue('imap', [b'* OK ready\r\n', b'+ \r\n', endless], timeout=2.0)
    assert error.error_class == 'protocol' and 'untagged lines' in error.detail
    assert time.monotonic() - started < 1.5, 'stopped by the line bound, not by the timeout'


@pytest.mark.parametrize('protocol, script, detail', [
    ('imap', [b'* OK ready\r\n', b'+ \r\n', b'\x00\x01\xfe garbage \xff\r\n'], 'not an IMAP reply'),
    ('pop3', [b'+OK ready\r\n', b'+ \r\n', b'\x00\x01\xfe garbage \xff\r\n'], 'not a POP3 reply'),
])
def test_garbage_in_answer_to_the_token_is_a_protocol_error_not_a_refusal(protocol, script, detail):
    _result, error, _received = _dialogue(protocol, script)
    assert error.error_class == 'protocol' and detail in error.detail


def test_a_refusal_in_unknown_words_still_gets_the_meaning_and_the_fix(monkeypatch):
    client, server = socket.socketpair()
    server.sendall(b'* OK ready\r\n+ \r\na1 NO Login denied by policy\r\n')
    monkeypatch.setattr(_mail, '_connect_tls', lambda *args: (client, _probe._Line(client, time.monotonic() + 2), None))
    try:
        result = _mail.login('imap', 'h', 993, 'support@contoso.com', TOKEN, 'xoauth2', {}, 2.0)
    finally:
        server.close()
    assert result['error_class'] == 'auth_failed' and result['ok'] is False
    assert 'Login denied by policy' in result['message'] and result['reply'] == 'a1 NO Login denied by policy'
    assert result['message'].startswith('IMAP h:993 as support@contoso.com: ')
    assert result['address'] == result['login'] == 'support@contoso.com' and 'error' not in result
    assert _mail.class_facts('auth_failed')[1] in result['message'] and 'Fix: ' in result['message']


def test_login_results_carry_the_mailbox_address_beside_the_login(monkeypatch):
    client, server = socket.socketpair()
    server.sendall(b'* OK ready\r\n+ \r\na1 NO AUTHENTICATE failed.\r\n')
    monkeypatch.setattr(_mail, '_connect_tls', lambda *args: (client, _probe._Line(client, time.monotonic() + 2), None))
    try:
        result = _mail.login('imap', 'h', 993, 'svc@contoso.com', TOKEN, 'xoauth2', {}, 2.0, address='sales@contoso.com')
    finally:
        server.close()
    assert (result['address'], result['login'], result['error_class']) == (
        'sales@contoso.com', 'svc@contoso.com', 'auth_failed')
    assert result['message'].startswith('IMAP h:993 as svc@contoso.com (mailbox sales@contoso.com): ')
    assert result['meaning'] == _mail.MAIL_CLASSES['auth_failed'][0] and _mail.MAIL_CLASSES['auth_failed'][1] in \
        result['message']


def test_logins_not_started_before_the_deadline_are_class_deadline_with_their_address():
    jobs = [dict(protocol='smtp', host='h', port=587, address='sales@contoso.com', login='svc@contoso.com',
                 token=TOKEN, mechanism='xoauth2', timeout=1.0)]
    result = _mail.login_all(jobs, {}, 0.0)[0]
    assert (result['address'], result['error_class'], result['ok']) == ('sales@contoso.com', 'deadline', False)
    assert result['message'].startswith('SMTP h:587 as svc@contoso.com (mailbox sales@contoso.com): ')
