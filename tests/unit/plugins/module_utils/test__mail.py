# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The XOAUTH2 dialogues over real socket pairs, Microsoft's replies, and redaction."""

import ast
import gc
import json
import base64
import os
import socket
import threading
import time
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors, _mail, _probe
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils._tls_servers import (
    GARBAGE, SMTP_EHLO_PLAIN, SMTP_STARTTLS_GO, Certs, MailServer, overlap)

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
                                    'assign a licence with an EXCHANGE_S_* plan',
                                    'Add-RecipientPermission -Identity <sender> -Trustee <account> -AccessRights SendAs',
                                    'Remove-BlockedSenderAddress -SenderAddress <account>', 'point ECE at the cloud',
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


# What Exchange Online answers before the login: the SASL mechanisms (IMAP CAPABILITY, POP3 CAPA).
IMAP_CAPA = (b'* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE '
             b'NAMESPACE LITERAL+\r\na0 OK CAPABILITY completed.\r\n')
POP3_CAPA = b'+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n'
CAPA = {'imap': IMAP_CAPA, 'pop3': POP3_CAPA}


def _dialogue(protocol, script, timeout=2.0, capa=True, **extra):
    """Run a dialogue against a socket pair whose far end answers each client line from SCRIPT (after the
    greeting, the capability reply that offers XOAUTH2 unless CAPA is false; that command is left out of the
    lines returned)."""
    inserted = capa and protocol in CAPA and len(script) > 1
    if inserted:
        script = [script[0], CAPA[protocol]] + list(script[1:])
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
    return result, error, received[1:] if inserted else received


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
        b'', b'250-smtp.office365.com\r\n250 AUTH XOAUTH2\r\n', b'334 \r\n', b'235 2.7.0 OK\r\n', b'250 2.1.0 OK\r\n',
        b'250 2.1.5 OK\r\n',
        b'354 go\r\n'] + [b''] * 7 + [b'250 2.0.0 OK <abc123@DM6PR01.prod.outlook.com> [Hostname=DM6PR01]\r\n'],
        send_test_message=True, test_recipient='admin@contoso.com')
    assert error is None, error and error.reply
    assert result['test_message']['queue_id'] == 'abc123@DM6PR01.prod.outlook.com'


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.sampled_from(['imap', 'pop3', 'smtp']))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_replies_never_raise_anything_unexpected(replies, protocol):
    _result, error, _received = _dialogue(protocol, [replies[0]] + [r + b'\r\n' for r in replies[1:]], timeout=0.1)
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
    server.sendall(b'* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n+ \r\na1 NO Login denied by policy\r\n')
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
    server.sendall(b'* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n+ \r\na1 NO AUTHENTICATE failed.\r\n')
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


# -- the login path through real TLS servers on 127.0.0.1 (the tests' own certificates) ----------------------------

SASL = _mail._b64(_mail.sasl_initial('xoauth2', 'support@contoso.com', TOKEN))
IMAP_OK = [b'+ \r\n', b'a1 OK AUTHENTICATE completed.\r\n', b'* 3 EXISTS\r\n* 0 RECENT\r\na2 OK [READ-ONLY] EXAMINE completed.\r\n']
POP3_OK = [b'+ \r\n', b'+OK User successfully authenticated.\r\n', b'+OK 7 5120\r\n']
EHLO_TLS = b'250-outlook.office365.com Hello\r\n250-SIZE 157286400\r\n250 AUTH LOGIN XOAUTH2\r\n'
SMTP_OK = [EHLO_TLS, b'334 \r\n', b'235 2.7.0 Authentication successful\r\n', b'250 2.1.0 Sender OK\r\n',
           b'250 2.0.0 Resetting\r\n']
SCRIPTS = {'imap': IMAP_OK, 'pop3': POP3_OK, 'smtp': SMTP_OK}
PORTS = {'imap': 993, 'pop3': 995, 'smtp': 587}


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    return Certs(str(tmp_path_factory.mktemp('mail-certs')))


def _server(protocol, certs, replies=None, case='good', capa=True, **kwargs):
    """A scripted server; IMAP and POP3 first answer the capability command with XOAUTH2 (unless CAPA is false)."""
    replies = SCRIPTS[protocol] if replies is None else replies
    if capa and protocol in CAPA:
        replies = [CAPA[protocol]] + list(replies)
    return MailServer(protocol, certs.pair(case), replies, **kwargs)


def _login(server, certs, token=TOKEN, mechanism='xoauth2', timeout=3.0, login_name='support@contoso.com', address=None,
           **settings):
    settings.setdefault('ca_path', certs.ca)
    return _mail.login(server.protocol, '127.0.0.1', server.port, login_name, token, mechanism, settings, timeout,
                       address=address)


def _token_seen(lines):
    return any(TOKEN in line or SASL in line or 'planted' in line for line in lines)


# kills: the TLS connect (each line of _connect_tls), the dialogues' commands and the success path of login
@pytest.mark.parametrize('protocol, plain, received, followup', [
    ('imap', [], ['a0 CAPABILITY', 'a1 AUTHENTICATE XOAUTH2', SASL, 'a2 EXAMINE "INBOX"', 'a3 LOGOUT'],
     {'command': 'EXAMINE INBOX', 'reply': 'a2 OK [READ-ONLY] EXAMINE completed.', 'ok': True, 'messages': 3}),
    ('pop3', [], ['CAPA', 'AUTH XOAUTH2', SASL, 'STAT', 'QUIT'],
     {'command': 'STAT', 'reply': '+OK 7 5120', 'ok': True, 'messages': 7}),
    ('smtp', ['EHLO preflight.invalid', 'STARTTLS'],
     ['EHLO preflight.invalid', 'AUTH XOAUTH2', SASL, 'MAIL FROM:<support@contoso.com>', 'RSET', 'QUIT'],
     {'command': 'MAIL FROM:<support@contoso.com>', 'reply': '250 2.1.0 Sender OK', 'ok': True}),
])
def test_tls_login_succeeds_on_each_protocol_through_a_real_tls_server(certs, protocol, plain, received, followup):
    with _server(protocol, certs) as server:
        result = _login(server, certs)
    assert (server.plain, server.received) == (plain, received)
    assert result['tls'].pop('version').startswith('TLSv1.') and result['tls'].pop('cipher')
    assert isinstance(result.pop('elapsed_ms'), int)
    assert result == {
        'address': 'support@contoso.com', 'login': 'support@contoso.com', 'protocol': protocol, 'host': '127.0.0.1',
        'port': server.port, 'server_address': '127.0.0.1', 'connected': True, 'authenticated': True,
        'mail_from': 'support@contoso.com' if protocol == 'smtp' else None,
        'mechanisms_offered': {'imap': ['PLAIN', 'XOAUTH2'], 'pop3': ['PLAIN', 'XOAUTH2'],
                               'smtp': ['LOGIN', 'XOAUTH2']}[protocol],
        'tls': {'verified': True, 'hostname_match': True}, 'auth_reply': SCRIPTS[protocol][-3 if protocol == 'smtp' else -2]
        .decode().strip(), 'followup': followup, 'ok': True, 'error_class': None, 'meaning': None, 'reply': None,
        'message': '%s 127.0.0.1:%d as support@contoso.com: authenticated, %s OK' % (
            protocol.upper(), server.port, followup['command'])}


# kills: the certificate host-name check of _connect_tls (hostname_match is False), and verify=True
@pytest.mark.parametrize('protocol', ['imap', 'pop3', 'smtp'])
@pytest.mark.parametrize('case, error_class', [('wrong_host', 'cert_hostname'), ('untrusted', 'cert_untrusted'),
                                               ('expired', 'cert_expired')])
def test_a_certificate_for_another_host_untrusted_or_expired_is_refused_and_no_token_is_sent(certs, protocol, case,
                                                                                             error_class):
    with _server(protocol, certs, case=case) as server:
        result = _login(server, certs)
    assert (result['ok'], result['error_class'], result['connected'], result['authenticated']) == (
        False, error_class, False, False)
    assert result['tls'] is None and result['auth_reply'] is None and result['followup'] is None
    assert result['message'].startswith('%s 127.0.0.1:%d as support@contoso.com: %s' % (
        protocol.upper(), server.port, _errors.ERROR_CLASSES[error_class][0]))
    assert server.received == [] and not _token_seen(server.plain + server.received)
    assert server.plain == (['EHLO preflight.invalid', 'STARTTLS'] if protocol == 'smtp' else [])
    if case == 'wrong_host':
        assert server.connections[0].tls, 'the handshake completed: the name check refused it, not the chain'
        assert '(the certificate does not name 127.0.0.1)' in result['message']


# kills: 'server_name': settings.get('server_name') in _connect_tls
def test_the_certificate_is_checked_against_the_server_name_given_not_the_address(certs):
    with _server('imap', certs, case='server_name_only') as server:
        named = _login(server, certs, server_name='outlook.office365.com')
    with _server('imap', certs, case='server_name_only') as server:
        unnamed = _login(server, certs)
    assert named['ok'] and named['tls']['hostname_match'] is True
    assert unnamed['error_class'] == 'cert_hostname' and server.received == []


# kills: the STARTTLS offer check and the STARTTLS request of _connect_tls
@pytest.mark.parametrize('ehlo, starttls, plain', [
    (b'250-outlook.office365.com Hello\r\n250 AUTH LOGIN XOAUTH2\r\n', SMTP_STARTTLS_GO, ['EHLO preflight.invalid']),
    (SMTP_EHLO_PLAIN, b'454 4.7.0 TLS not available due to local problem\r\n', ['EHLO preflight.invalid', 'STARTTLS']),
])
def test_smtp_without_starttls_is_starttls_unsupported_and_no_token_is_sent(certs, ehlo, starttls, plain):
    with _server('smtp', certs, ehlo_plain=ehlo, starttls_reply=starttls) as server:
        result = _login(server, certs)
    assert (result['error_class'], result['connected']) == ('starttls_unsupported', False)
    assert ('EHLO does not list STARTTLS' in result['message']) is (starttls == SMTP_STARTTLS_GO)
    assert server.plain == plain and server.received == [] and not server.connections[0].tls


# kills: the EHLO name (settings ehlo_name, both EHLOs)
def test_smtp_says_the_ehlo_name_given_before_and_after_starttls(certs):
    with _server('smtp', certs) as server:
        result = _login(server, certs, ehlo_name='ece.contoso.com', sender='sales@contoso.com')
    assert result['ok'] and server.plain[0] == 'EHLO ece.contoso.com' and server.received[0] == 'EHLO ece.contoso.com'
    assert server.received[3] == 'MAIL FROM:<sales@contoso.com>'


def _echo(prefix):
    """A reply that repeats the token, its base64 and the SASL line the client sent: a server must not leak it."""
    return lambda line: ('%s %s %s %s\r\n' % (prefix, TOKEN, base64.b64encode(TOKEN.encode()).decode(), SASL)).encode()


ECHO_SCRIPTS = {
    'imap ok': ('imap', [b'+ \r\n', _echo('a1 OK'), lambda line: b'* 1 EXISTS\r\n' + _echo('a2 OK')(line)], True),
    'imap refused': ('imap', [b'+ \r\n', _echo('a1 NO')], False),
    'imap examine refused': ('imap', [b'+ \r\n', _echo('a1 OK'), _echo('a2 NO')], False),
    'pop3 ok': ('pop3', [b'+ \r\n', _echo('+OK'), lambda line: b'+OK 1 20 ' + _echo('')(line)], True),
    'pop3 refused': ('pop3', [b'+ \r\n', _echo('-ERR')], False),
    'pop3 stat refused': ('pop3', [b'+ \r\n', _echo('+OK'), _echo('-ERR')], False),
    'smtp ok with a test message': ('smtp', [EHLO_TLS, b'334 \r\n', _echo('235 2.7.0'), _echo('250 2.1.0'),
                                             _echo('250 2.1.5'), b'354 go ahead\r\n', _echo('250 2.0.0 queued as Q1')],
                                    True),
    'smtp refused': ('smtp', [EHLO_TLS, b'334 \r\n', _echo('535 5.7.3')], False),
    'smtp mail from refused': ('smtp', [EHLO_TLS, b'334 \r\n', _echo('235 2.7.0'), _echo('550 5.7.60')], False),
    'smtp message refused': ('smtp', [EHLO_TLS, b'334 \r\n', _echo('235 2.7.0'), _echo('250 2.1.0'),
                                      _echo('250 2.1.5'), b'354 go ahead\r\n', _echo('554 5.6.0')], False),
}


# kills: the token redaction of login (the error's reply, auth_reply, followup reply, test message reply)
@pytest.mark.parametrize('name', sorted(ECHO_SCRIPTS))
def test_a_token_the_server_echoes_is_in_no_result(certs, name):
    protocol, replies, ok = ECHO_SCRIPTS[name]
    with _server(protocol, certs, replies) as server:
        result = _login(server, certs, send_test_message=True, test_recipient='admin@contoso.com')
    assert SASL in server.received, 'the token was planted'
    assert result['ok'] is ok and '********' in json.dumps(result), result
    text = json.dumps(result)
    for secret in (TOKEN, base64.b64encode(TOKEN.encode()).decode(), SASL, 'planted-token-value'):
        assert secret not in text, (secret, text)


# kills: `if not match: raise MailError('followup_failed', 'STAT was refused', stat)` in _pop3
@pytest.mark.parametrize('stat, error_class', [
    (b'-ERR Mailbox is locked by another session\r\n', 'followup_failed'),
    (b'-ERR User is authenticated but not connected.\r\n', 'not_connected'),
    (b'+OK\r\n', 'followup_failed'),
])
def test_a_pop3_stat_refusal_is_not_a_successful_login(certs, stat, error_class):
    with _server('pop3', certs, POP3_OK[:2] + [stat]) as server:
        result = _login(server, certs)
    assert (result['ok'], result['authenticated'], result['error_class']) == (False, True, error_class)
    assert result['followup'] == {'command': 'STAT', 'reply': stat.decode().strip(), 'ok': False, 'messages': None}
    assert result['reply'] == stat.decode().strip() and 'QUIT' not in server.received
    assert result['message'].startswith('POP3 127.0.0.1:%d as support@contoso.com: ' % server.port)
    assert 'Fix: ' in result['message'] and result['meaning'] == _mail.MAIL_CLASSES[error_class][0]


SMTP_AUTH_DISABLED = ('535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. '
                      'Visit https://aka.ms/smtp_auth_disabled for more information.')


# kills: `if code != 235: raise MailError('auth_failed', ...)` in _smtp (SMTP AUTH refused, 535 5.7.139)
def test_smtp_auth_disabled_535_5_7_139_is_a_refused_login_with_its_class_and_fix(certs):
    replies = [EHLO_TLS, b'334 \r\n', SMTP_AUTH_DISABLED.encode() + b'\r\n', b'250 2.1.0 Sender OK\r\n', b'250 2.0.0 OK\r\n']
    with _server('smtp', certs, replies) as server:
        result = _login(server, certs)
    assert (result['ok'], result['authenticated'], result['error_class']) == (False, False, 'smtp_auth_disabled')
    assert result['auth_reply'] == result['reply'] == SMTP_AUTH_DISABLED and result['followup'] is None
    assert server.received == ['EHLO preflight.invalid', 'AUTH XOAUTH2', SASL], 'no MAIL FROM after a refusal'
    meaning, fix = _mail.MAIL_CLASSES['smtp_auth_disabled']
    assert result['meaning'] == '%s; here: disabled for the tenant, and the mailbox does not override it' % meaning
    assert result['message'] == 'SMTP 127.0.0.1:%d as support@contoso.com: %s: %s. Fix: %s.' % (
        server.port, SMTP_AUTH_DISABLED, result['meaning'], fix)


# kills: 'followup_failed' in the classes whose reply is classified (login), and the EXAMINE check
def test_imap_authenticated_but_not_connected_through_tls_is_not_connected(certs):
    replies = IMAP_OK[:2] + [b'a2 BAD User is authenticated but not connected.\r\n']
    with _server('imap', certs, replies) as server:
        result = _login(server, certs, address='sales@contoso.com')
    assert (result['ok'], result['authenticated'], result['error_class']) == (False, True, 'not_connected')
    assert result['followup'] == {'command': 'EXAMINE INBOX', 'reply': 'a2 BAD User is authenticated but not connected.',
                                  'ok': False, 'messages': None}
    assert result['message'] == ('IMAP 127.0.0.1:%d as support@contoso.com (mailbox sales@contoso.com): a2 BAD User is '
                                 'authenticated but not connected.: %s. Fix: %s.' % ((server.port,) + _mail.MAIL_CLASSES[
                                     'not_connected']))
    assert 'a3 LOGOUT' not in server.received


# kills: the error-challenge answers (RFC 7628) of each dialogue, and host/port in the OAUTHBEARER response
@pytest.mark.parametrize('protocol, replies', [
    ('imap', [b'* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER\r\na0 OK done\r\n', b'+ \r\n',
              b'+ eyJzdGF0dXMiOiI0MDEifQ==\r\n', b'a1 NO AUTHENTICATE failed.\r\n']),
    ('pop3', [b'+OK\r\nSASL XOAUTH2 OAUTHBEARER\r\n.\r\n', b'+ \r\n', b'+ eyJzdGF0dXMiOiI0MDEifQ==\r\n',
              b'-ERR Authentication failure\r\n']),
    ('smtp', [b'250-outlook.office365.com Hello\r\n250 AUTH XOAUTH2 OAUTHBEARER\r\n', b'334 \r\n',
              b'334 eyJzdGF0dXMiOiI0MDEifQ==\r\n', b'535 5.7.3 Authentication unsuccessful\r\n']),
])
def test_oauthbearer_error_challenge_is_answered_empty_and_the_refusal_is_auth_failed(certs, protocol, replies):
    with _server(protocol, certs, replies, capa=False) as server:
        result = _login(server, certs, mechanism='oauthbearer')
    sent = server.received[-2] if protocol != 'smtp' else server.received[2]
    assert base64.b64decode(sent).decode() == 'n,a=support@contoso.com,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer %s\x01\x01' % (
        server.port, TOKEN)
    assert server.received[-1] == '' and 'OAUTHBEARER' in server.received[-3 if protocol != 'smtp' else 1]
    assert (result['ok'], result['authenticated'], result['error_class']) == (False, False, 'auth_failed')


# kills: the timeout path of login (deadline = started + timeout) and the socket close in login's finally
def test_a_server_that_says_nothing_after_tls_is_timeout_within_the_timeout(certs):
    started = time.monotonic()
    with _server('imap', certs, [], greeting=b'') as server:
        result = _login(server, certs, timeout=0.5)
        closed = server.connections[0]
    assert result['error_class'] == 'timeout' and result['connected'] is True and result['ok'] is False
    assert result['reply'] is None and result['meaning'] is None and result['auth_reply'] is None
    assert time.monotonic() - started < 2.5 and closed.received == []


# kills: `except (ssl.SSLError, OSError)` in login (login never raises) and the refused connection's class
def test_bytes_that_are_no_tls_record_and_a_closed_port_are_classified_never_raised(certs):
    with _server('imap', certs, [], greeting=GARBAGE) as server:
        garbage = _login(server, certs)
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    port = closed.getsockname()[1]
    closed.close()
    refused = _mail.login('imap', '127.0.0.1', port, 'support@contoso.com', TOKEN, 'xoauth2', {}, 2.0)
    assert garbage['error_class'] == 'tls_handshake' and garbage['connected'] and not garbage['ok']
    assert refused['error_class'] == 'refused' and not refused['connected']
    assert refused['message'].startswith('IMAP 127.0.0.1:%d as support@contoso.com: %s' % (
        port, _errors.ERROR_CLASSES['refused'][0]))


class _Clock(object):
    """time for _mail: the real clock, plus JUMP seconds from the second reading on; records every reading."""

    def __init__(self, jump):
        self.jump = jump
        self.readings = []

    def monotonic(self):
        value = time.monotonic() + (self.jump if self.readings else 0.0)
        self.readings.append(value)
        return value


# kills: the arithmetic of elapsed_ms
def test_elapsed_ms_is_the_login_time_in_milliseconds(certs, monkeypatch):
    clock = _Clock(12.3456)
    monkeypatch.setattr(_mail, 'time', clock)
    with _server('pop3', certs) as server:
        result = _login(server, certs)
    assert result['ok'] and len(clock.readings) == 2
    assert result['elapsed_ms'] == int(round((clock.readings[1] - clock.readings[0]) * 1000))
    assert 12345 <= result['elapsed_ms'] < 30000


# kills: login_all's work (the call, its arguments, the merge of job settings), the results' order
def test_login_all_logs_in_every_job_through_tls_in_the_jobs_order(certs):
    with _server('imap', certs) as imap, _server('pop3', certs) as pop3, _server('smtp', certs) as smtp:
        jobs = [dict(protocol=s.protocol, host='127.0.0.1', port=s.port, address='sales@contoso.com',
                     login='svc@contoso.com', token=TOKEN, mechanism='xoauth2', timeout=3.0,
                     settings={'sender': 'sales@contoso.com'}) for s in (smtp, imap, pop3)]
        results = _mail.login_all(jobs, {'ca_path': certs.ca, 'folder': 'Support'}, 10.0)
    assert [(r['protocol'], r['port'], r['ok'], r['address'], r['login']) for r in results] == [
        (s.protocol, s.port, True, 'sales@contoso.com', 'svc@contoso.com') for s in (smtp, imap, pop3)]
    assert 'MAIL FROM:<sales@contoso.com>' in smtp.received and 'a2 EXAMINE "Support"' in imap.received
    assert 'sender' not in jobs[0] and jobs[0]['settings'] == {'sender': 'sales@contoso.com'}


def _jobs(server, count, timeout=3.0):
    return [dict(protocol=server.protocol, host='127.0.0.1', port=server.port, address='m%d@contoso.com' % index,
                 login='m%d@contoso.com' % index, token=TOKEN, mechanism='xoauth2', timeout=timeout)
            for index in range(count)]


# kills: the semaphore of login_all (concurrency, at least 1)
@pytest.mark.parametrize('concurrency, meet, most', [(2, 2, 2), (1, 0, 1), (0, 0, 1)])
def test_login_all_runs_at_most_concurrency_logins_at_once(certs, concurrency, meet, most):
    with _server('pop3', certs, meet=meet) as server:
        results = _mail.login_all(_jobs(server, 2), {'ca_path': certs.ca}, 10.0, concurrency=concurrency)
    assert [r['ok'] for r in results] == [True, True]
    assert overlap(server.connections) == most


# kills: the call deadline of login_all (the join's bound, the check before a login starts, daemon threads); and
# the bug it had: the stuck login, ending after the call returned, replaced its deadline result in the returned list
def test_login_all_returns_at_its_deadline_with_the_logins_not_done_as_deadline(certs):
    before = set(threading.enumerate())
    with _server('imap', certs, silent=True) as stuck, _server('imap', certs) as fine:
        jobs = _jobs(stuck, 1, timeout=4.0) + _jobs(fine, 1)
        started = time.monotonic()
        results = _mail.login_all(jobs, {'ca_path': certs.ca}, 0.6)
        took = time.monotonic() - started
        alive = [t for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.current_thread()]
        late = [t for t in threading.enumerate() if t not in before and t.name.endswith('(work)')]
    for thread in late:  # the server closed: the stuck login ends now, after login_all returned
        thread.join(2.0)
    assert took < 1.5, took
    assert [r['error_class'] for r in results] == ['deadline', None] and results[1]['ok']
    assert results[0]['message'] == _errors.describe('deadline', 'IMAP 127.0.0.1:%d as m0@contoso.com' % stuck.port)
    assert alive == [], 'a login stuck past the deadline must not keep the module alive'


# -- each alternative of each reply pattern, alone -------------------------------------------------------------------

# (reply, class): each reply matches exactly one alternative of all of MICROSOFT_REPLIES' patterns.
ONE_ALTERNATIVE_EACH = [
    ('535 5.7.139 SmtpClientAuthentication is disabled for the Tenant.', 'smtp_auth_disabled'),
    ('535 5.7.139 SmtpClientAuthentication is disabled for the Mailbox.', 'smtp_auth_disabled'),
    ('550 5.7.30 Client not permitted', 'basic_auth_blocked'),
    ('550 Basic authentication is not supported for Client Submission', 'basic_auth_blocked'),
    ('a2 BAD User is authenticated but not connected.', 'not_connected'),
    ('a2 NO STOREDRV.Submission.Exception:MapiExceptionNotFound', 'mailbox_unavailable'),
    ('430 4.2.0 Mailbox temporarily unavailable', 'mailbox_unavailable'),
    ('554 SendAsDenied; the login may not send as this sender', 'send_as_denied'),
    ('554 5.2.252 Sender not allowed', 'send_as_denied'),
    ('550 5.7.60 Denied', 'send_as_denied'),
    ('550 Client does not have permissions to send as this sender', 'send_as_denied'),
    ('550 5.1.8 Denied', 'sender_blocked'),
    ('550 Access denied, bad outbound sender', 'sender_blocked'),
    ('535 5.7.3 Denied', 'auth_failed'),
    ('535 5.7.8 Bad credentials', 'auth_failed'),
    ('a1 NO AUTHENTICATE failed.', 'auth_failed'),
    ('-ERR Authentication failure: unknown user name or bad password.', 'auth_failed'),
    ('a1 NO [AUTHENTICATIONFAILED] Invalid credentials', 'auth_failed'),
    ('535 Login unsuccessful', 'auth_failed'),
]


def _alternatives():
    return [(alternative, error_class) for pattern, error_class, _note in _mail.MICROSOFT_REPLIES
            for alternative in pattern.split('|')]


# kills: every alternative of every pattern of MICROSOFT_REPLIES, deleted or changed, and the pattern order
@pytest.mark.parametrize('reply, error_class', ONE_ALTERNATIVE_EACH)
def test_each_alternative_of_each_reply_pattern_classifies_a_reply_alone(reply, error_class):
    import re
    matching = [alt for alt, _cls in _alternatives() if re.search(alt, reply, re.IGNORECASE)]
    assert len(matching) == 1, ('the reply must match one alternative only', matching)
    assert _mail.classify_reply(reply)[0] == error_class


def test_the_table_of_replies_covers_every_alternative():
    import re
    covered = {alt for alt, _cls in _alternatives() for reply, _c in ONE_ALTERNATIVE_EACH if re.search(alt, reply, re.I)}
    assert covered == {alt for alt, _cls in _alternatives()}


# kills: re.IGNORECASE, `text or ''`, the \b after 5.7.3 and 5.7.8, the notes of the two SMTP AUTH wordings
def test_replies_are_matched_in_any_case_and_enhanced_codes_whole():
    assert _mail.classify_reply('a2 bad user is authenticated but not connected')[0] == 'not_connected'
    assert _mail.classify_reply(None) is None and _mail.classify_reply('') is None
    assert _mail.classify_reply('550 5.7.38 some other refusal') is None
    assert _mail.classify_reply('550 5.7.80 some other refusal') is None
    meaning, fix = _mail.MAIL_CLASSES['smtp_auth_disabled']
    assert _mail.classify_reply(ONE_ALTERNATIVE_EACH[1][0]) == ('smtp_auth_disabled', meaning + '; here: disabled on the mailbox', fix)
    assert _mail.classify_reply('535 5.7.3 Denied') == ('auth_failed',) + _mail.MAIL_CLASSES['auth_failed']
    assert _mail.class_facts('send_as_denied') == _mail.MAIL_CLASSES['send_as_denied'] and _mail.class_facts('x') is None


# kills: the parts of the OAUTHBEARER response (no host, no port) and where()
def test_sasl_without_host_or_port_and_where_names_the_mailbox_only_when_it_differs():
    assert _mail.sasl_initial('oauthbearer', 'a@b', 'T') == 'n,a=a@b,\x01auth=Bearer T\x01\x01'
    assert _mail.where('imap', 'h', 993) == 'IMAP h:993'
    assert _mail.where('pop3', 'h', 995, 'a@b', 'a@b') == 'POP3 h:995 as a@b'
    assert _mail.where('smtp', 'h', 587, 'a@b', 'c@d') == 'SMTP h:587 as a@b (mailbox c@d)'
    assert _mail.redact('x  y', ['', None]) == 'x  y' and _mail.redact('aTb', ['T']) == 'a********b'


# -- the dialogues' edges (socket pairs) ------------------------------------------------------------------------------

# kills: the greeting checks of _imap and _pop3 (upper-cased for IMAP), before any token is sent
@pytest.mark.parametrize('protocol, script, ok', [
    ('imap', [b'* BYE not now\r\n'], False),
    ('pop3', [b'-ERR not now\r\n'], False),
    ('imap', [b'* ok ready\r\n', b'a1 NO no XOAUTH2 here\r\n'], True),
])
def test_a_greeting_that_is_not_ok_is_a_protocol_error_and_no_token_is_sent(protocol, script, ok):
    _result, error, received = _dialogue(protocol, script)
    assert error.error_class == ('auth_failed' if ok else 'protocol') and TOKEN.encode() not in b''.join(received)
    assert received == ([b'a1 AUTHENTICATE XOAUTH2\r'] if ok else [])


# kills: the continuation checks of each dialogue (a refusal of the mechanism sends no token)
@pytest.mark.parametrize('protocol, script', [
    ('imap', [b'* OK ready\r\n', b'a1 BAD mechanism not supported\r\n']),
    ('pop3', [b'+OK ready\r\n', b'-ERR mechanism not supported\r\n']),
    ('smtp', [b'', EHLO_TLS, b'504 5.7.4 Unrecognized authentication type\r\n']),
])
def test_a_refused_mechanism_is_auth_failed_without_the_token(protocol, script):
    result, error, received = _dialogue(protocol, script)
    assert error.error_class == 'auth_failed' and not result['authenticated'] and len(received) == len(script) - 1
    assert result['auth_reply'] == script[-1].decode().strip()


# kills: _imap_verdict (untagged lines before the verdict, a tagged NO/BAD, the tag's case)
@pytest.mark.parametrize('verdict, error_class', [
    (b'* CAPABILITY IMAP4rev1\r\nA1 ok done\r\n', None), (b'a1 NO AUTHENTICATE failed.\r\n', 'auth_failed'),
    (b'a1 BAD invalid\r\n', 'auth_failed'), (b'a9 OK other tag\r\n', 'protocol'), (b'a1 OKAY\r\n', 'protocol')])
def test_imap_verdict_after_untagged_lines(verdict, error_class):
    result, error, _received = _dialogue('imap', [b'* OK ready\r\n', b'+ \r\n', verdict, b'a2 OK EXAMINE\r\n'])
    assert (error.error_class if error else None) == error_class
    assert result['authenticated'] is (error_class is None)
    assert result['followup'] == (None if error else {'command': 'EXAMINE INBOX', 'reply': 'a2 OK EXAMINE', 'ok': True,
                                                      'messages': None})


# kills: the folder of EXAMINE (quotes removed), the EXISTS count, a refused EXAMINE
def test_imap_examines_the_folder_given_and_counts_its_messages():
    result, error, received = _dialogue('imap', [
        b'* OK ready\r\n', b'+ \r\n', b'a1 OK\r\n', b'* FLAGS ()\r\n* 42 EXISTS\r\n* 1 EXISTS\r\na2 OK\r\n'],
        folder='Support "Queue"')
    assert error is None and received[2] == b'a2 EXAMINE "Support Queue"\r'
    assert result['followup'] == {'command': 'EXAMINE Support "Queue"', 'reply': 'a2 OK', 'ok': True, 'messages': 42}
    result, error, received = _dialogue('imap', [b'* OK\r\n', b'+ \r\n', b'a1 OK\r\n', b'a2 NO [NONEXISTENT] no folder\r\n'])
    assert error.error_class == 'followup_failed' and error.detail == 'EXAMINE INBOX was refused'
    assert not result['followup']['ok'] and len(received) == 3


# kills: POP3's '+OK' at once after AUTH, and a reply that is neither +OK nor -ERR
@pytest.mark.parametrize('script, error_class, authenticated', [
    ([b'+OK\r\n', b'+OK no continuation\r\n', b'+OK 2 10\r\n'], None, True),
    ([b'+OK\r\n', b'+ \r\n', b'+OK\r\n', b'+OK 2 10\r\n'], None, True),
    ([b'+OK\r\n', b'+ \r\n', b'-ERR [AUTH] no\r\n'], 'auth_failed', False),
    ([b'+OK\r\n', b'+ \r\n', b'* OK imap\r\n'], 'protocol', False),
])
def test_pop3_auth_replies(script, error_class, authenticated):
    result, error, _received = _dialogue('pop3', script)
    assert (error.error_class if error else None) == error_class and result['authenticated'] is authenticated
    if not error:
        assert result['followup'] == {'command': 'STAT', 'reply': '+OK 2 10', 'ok': True, 'messages': 2}


SMTP_AUTHENTICATED = [b'', EHLO_TLS, b'334 \r\n', b'235 2.7.0 OK\r\n']


# kills: EHLO after STARTTLS refused, MAIL FROM refused, the test message's RCPT TO, DATA and reply checks
@pytest.mark.parametrize('tail, error_class, detail', [
    ([], 'protocol', 'EHLO after STARTTLS was refused'),
    ([b'550 5.7.60 SMTP; Client does not have permissions to send as this sender\r\n'], 'followup_failed',
     'MAIL FROM was refused'),
    ([b'250 OK\r\n', b'550 5.1.1 unknown recipient\r\n'], 'followup_failed', 'RCPT TO was refused'),
    ([b'250 OK\r\n', b'251 will forward\r\n', b'451 4.3.0 no DATA now\r\n'], 'followup_failed', 'DATA was refused'),
    ([b'250 OK\r\n', b'250 OK\r\n', b'354 go\r\n'] + [b''] * 7 + [b'554 5.6.0 rejected\r\n'], 'followup_failed',
     'the test message was refused'),
])
def test_smtp_refusals_after_the_login(tail, error_class, detail):
    script = [b'', b'500 no\r\n'] if not tail else SMTP_AUTHENTICATED + tail
    result, error, _received = _dialogue('smtp', script, send_test_message=True, test_recipient='admin@contoso.com')
    assert (error.error_class, error.detail) == (error_class, detail)
    if detail == 'the test message was refused':
        assert result['test_message'] == {'recipient': 'admin@contoso.com', 'reply': '554 5.6.0 rejected', 'accepted': False,
                                          'queue_id': None}
    if detail == 'MAIL FROM was refused':
        assert result['followup']['ok'] is False and result['authenticated']


# kills: the test message (its headers, the "queued as" form) and send_test_message without a recipient
def test_smtp_test_message_queued_as_and_no_message_without_a_recipient():
    result, error, received = _dialogue('smtp', SMTP_AUTHENTICATED + [
        b'250 OK\r\n', b'250 OK\r\n', b'354 go\r\n'] + [b''] * 7 + [b'250 2.0.0 Ok: queued as 4Xyz12\r\n', b'221 bye\r\n'],
        send_test_message=True, test_recipient='admin@contoso.com', sender='sales@contoso.com')
    assert error is None and result['test_message'] == {'recipient': 'admin@contoso.com', 'accepted': True,
                                                        'reply': '250 2.0.0 Ok: queued as 4Xyz12', 'queue_id': '4Xyz12'}
    assert received[3:5] == [b'MAIL FROM:<sales@contoso.com>\r', b'RCPT TO:<admin@contoso.com>\r']
    assert received[6:9] == [b'From: <sales@contoso.com>\r', b'To: <admin@contoso.com>\r',
                             b'Subject: ece_o365.preflight SMTP test\r'] and received[-2] == b'.\r'
    assert received[-1] == b'QUIT\r'
    result, error, received = _dialogue('smtp', SMTP_AUTHENTICATED + [b'250 OK\r\n', b'250 reset\r\n', b'221 bye\r\n'],
                                        send_test_message=True)
    assert error is None and 'test_message' not in result and received[-2:] == [b'RSET\r', b'QUIT\r']


# kills: the socket close in login's finally (an unclosed socket is a ResourceWarning when it is collected)
@pytest.mark.parametrize('replies', [IMAP_OK, [b'+ \r\n', b'a1 NO AUTHENTICATE failed.\r\n']])
def test_login_closes_its_socket_whatever_the_outcome(certs, replies):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with _server('imap', certs, replies) as server:
            result = _login(server, certs)
        del result
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# kills: MAIL_ERROR_CLASSES (the reliability suite's vocabulary of mail classes) and MailError's message
def test_mail_error_classes_and_the_mail_errors_text():
    assert _mail.MAIL_ERROR_CLASSES == tuple(_mail.MAIL_CLASSES) and 'smtp_auth_disabled' in _mail.MAIL_ERROR_CLASSES
    error = _mail.MailError('auth_failed', 'AUTH XOAUTH2 was refused', '535 5.7.3')
    assert (str(error), error.args, error.detail, error.reply) == ('auth_failed', ('auth_failed',),
                                                                   'AUTH XOAUTH2 was refused', '535 5.7.3')


# kills: the 200 characters kept of a reply that is no IMAP or POP3 verdict
@pytest.mark.parametrize('protocol, greeting', [('imap', b'* OK ready\r\n'), ('pop3', b'+OK ready\r\n')])
def test_a_long_reply_that_is_no_verdict_is_kept_to_200_characters(protocol, greeting):
    _result, error, _received = _dialogue(protocol, [greeting, b'+ \r\n', b'x' * 300 + b'\r\n'])
    assert error.error_class == 'protocol' and error.reply == 'x' * 200


# kills: the mechanisms the module offers
def test_both_sasl_mechanisms_are_offered():
    assert _mail.MECHANISMS == ('xoauth2', 'oauthbearer') and _mail.PROTOCOLS == ('imap', 'pop3', 'smtp')


def _raising(exc):
    def dialogue(*_args):
        raise exc
    return dialogue


# kills: login's map of what a dialogue raises (a socket timeout; a class outside the vocabulary)
@pytest.mark.parametrize('exc, error_class, message', [
    (socket.timeout('timed out'), 'timeout', _errors.describe('timeout', 'IMAP 127.0.0.1:%d as support@contoso.com',
                                                              'no reply before the timeout')),
    (_mail.MailError('no_such_class', 'odd', 'a1 NO odd'), 'no_such_class',
     'IMAP 127.0.0.1:%d as support@contoso.com: odd (a1 NO odd)'),
])
def test_what_a_dialogue_raises_becomes_a_result(certs, monkeypatch, exc, error_class, message):
    monkeypatch.setitem(_mail.DIALOGUES, 'imap', _raising(exc))
    with _server('imap', certs) as server:
        result = _login(server, certs)
    assert (result['ok'], result['error_class']) == (False, error_class)
    assert result['message'] == message.replace('%d', str(server.port))


# kills: the check that a login waiting for its turn has time left (none starts after the call's deadline)
def test_login_all_starts_no_login_after_its_deadline(certs):
    before = set(threading.enumerate())
    with _server('imap', certs, silent=True) as stuck, _server('imap', certs) as later:
        jobs = _jobs(stuck, 1, timeout=1.0) + _jobs(later, 1)
        results = _mail.login_all(jobs, {'ca_path': certs.ca}, 0.4, concurrency=1)
        for thread in [t for t in threading.enumerate() if t not in before and t.name.endswith('(work)')]:
            thread.join(3.0)  # the stuck login times out; the second job has its turn, after the deadline
        connections = len(later.connections)
    assert [r['error_class'] for r in results] == ['deadline', 'deadline'] and connections == 0


# -- issue 12: Exchange's refusals at submission, in Microsoft's published words -----------------------------------
# Each reply is one a real tenant returned (the address next to it). Under the old order of MICROSOFT_REPLIES
# (STOREDRV before SendAsDenied, no 5.7.60 and no 5.1.8) the first two were "mailbox_unavailable, retry later"
# and the last two were not recognised at all.
PUBLISHED_REFUSALS = [
    # https://github.com/gophish/gophish/issues/2900
    ('554 5.2.252 SendAsDenied; delightgx46@outlook.com not allowed to send as security@sfb.com; '
     'STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to '
     'a permanent exception with message [BeginDiagnosticData]Cannot submit message. 0.35250:1F009983, '
     '1.36674:0A000000', 'send_as_denied'),
    # https://github.com/MicrosoftDocs/OfficeDocs-Support/issues/1187
    ('554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process '
     'message due to a permanent exception with message Cannot submit message.', 'send_as_denied'),
    # https://pastebin.com/wtU9XT6T (an Exchange Online submission log)
    ('550 5.7.60 SMTP; Client does not have permissions to send as this sender '
     '[BY2PR1001MB1094.namprd10.prod.outlook.com]', 'send_as_denied'),
    # https://learn.microsoft.com/en-us/microsoft-365/security/office-365-security/removing-user-from-restricted-users-portal-after-spam
    ('550 5.1.8 Access denied, bad outbound sender', 'sender_blocked'),
    # https://github.com/jstedfast/MailKit/issues/1770 (XOAUTH2 as a shared mailbox with a delegate's token)
    ('535 5.7.3 Authentication unsuccessful [AM0PR02CA0134.eurprd02.prod.outlook.com 2024-07-11T11:46:49.042Z '
     '08DCA18218166FB4]', 'auth_failed'),
    # a real store outage stays "retry later"
    ('430 4.2.0 STOREDRV.ClientSubmit; mailbox database offline', 'mailbox_unavailable'),
]


@pytest.mark.parametrize('reply, error_class', PUBLISHED_REFUSALS)
def test_microsofts_published_refusals_at_submission_get_their_own_class(reply, error_class):
    assert _mail.classify_reply(reply)[0] == error_class


def test_send_as_is_matched_before_the_storedrv_retry_later_pattern():
    classes = [cls for _pattern, cls, _note in _mail.MICROSOFT_REPLIES]
    assert classes.index('send_as_denied') < classes.index('mailbox_unavailable')
    assert classes.index('sender_blocked') < classes.index('mailbox_unavailable')
    assert 'retry' not in _mail.MAIL_CLASSES['send_as_denied'][1]
    assert 'Restricted entities' in _mail.MAIL_CLASSES['sender_blocked'][1]


SEND_AS_DENIED = (b'554 5.2.252 SendAsDenied; svc@contoso.com not allowed to send as sales@contoso.com; '
                  b'STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process '
                  b'message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.\r\n')


def test_smtp_signs_in_as_the_account_sends_as_the_mailbox_and_send_as_is_refused_after_data(certs):
    """Exchange accepts MAIL FROM (250 2.1.0 Sender OK) and refuses the message after DATA (nextcloud/mail #13668:
    https://github.com/nextcloud/mail/pull/13668); the fix names this account and this sender."""
    replies = [EHLO_TLS, b'334 \r\n', b'235 2.7.0 Authentication successful\r\n', b'250 2.1.0 Sender OK\r\n',
               b'250 2.1.5 Recipient OK\r\n', b'354 Start mail input; end with <CRLF>.<CRLF>\r\n', SEND_AS_DENIED]
    with _server('smtp', certs, replies) as server:
        result = _login(server, certs, login_name='svc@contoso.com', address='sales@contoso.com',
                        sender='sales@contoso.com', send_test_message=True, test_recipient='admin@contoso.com')
    assert base64.b64decode(server.received[2]).startswith(b'user=svc@contoso.com\x01'), 'AUTH as the account'
    assert server.received[3] == 'MAIL FROM:<sales@contoso.com>'
    assert (result['login'], result['mail_from'], result['address']) == (
        'svc@contoso.com', 'sales@contoso.com', 'sales@contoso.com')
    assert result['authenticated'] and result['followup']['ok'] and result['test_message']['accepted'] is False
    assert (result['ok'], result['error_class']) == (False, 'send_as_denied')
    assert ('Add-RecipientPermission -Identity sales@contoso.com -Trustee svc@contoso.com -AccessRights SendAs'
            in result['message'])


def test_without_a_test_message_send_as_is_not_tried_mail_from_then_rset(certs):
    with _server('smtp', certs) as server:
        result = _login(server, certs, login_name='svc@contoso.com', address='sales@contoso.com',
                        sender='sales@contoso.com')
    assert result['ok'] and server.received[3:5] == ['MAIL FROM:<sales@contoso.com>', 'RSET']
    assert not any(line.startswith(('RCPT', 'DATA')) for line in server.received)


def test_imap_and_pop3_results_have_no_mail_from():
    assert _mail.new_result('a@x', 'imap', 'h', 1, mail_from='a@x')['mail_from'] is None
    assert _mail.new_result('a@x', 'smtp', 'h', 1, mail_from='b@x')['mail_from'] == 'b@x'
    assert _mail.new_result('a@x', 'pop3', 'h', 1)['mechanisms_offered'] is None


# -- XOAUTH2 not offered: read the mechanisms first, never send the token ------------------------------------------
@pytest.mark.parametrize('protocol, replies, offered', [
    ('imap', [b'* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\na0 OK CAPABILITY completed.\r\n'], ['PLAIN']),
    ('imap', [b'* CAPABILITY IMAP4rev1 LOGINDISABLED\r\na0 OK CAPABILITY completed.\r\n'], []),
    ('pop3', [b'+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n'], ['PLAIN', 'LOGIN']),
    ('pop3', [b'-ERR unknown command\r\n'], []),
    ('smtp', [b'250-smtp.example Hello\r\n250-SIZE 1000\r\n250 AUTH LOGIN PLAIN\r\n'], ['LOGIN', 'PLAIN']),
    ('smtp', [b'250-smtp.example Hello\r\n250 SIZE 1000\r\n'], []),
])
def test_xoauth2_not_offered_is_auth_unsupported_and_the_token_is_never_sent(certs, protocol, replies, offered):
    with _server(protocol, certs, replies, capa=False) as server:
        result = _login(server, certs)
    assert (result['ok'], result['authenticated'], result['error_class']) == (False, False, 'auth_unsupported')
    assert result['mechanisms_offered'] == offered
    assert not _token_seen(server.received) and not any('AUTH' in line.split(' ')[0:2] for line in server.received)
    assert (', '.join(offered) or 'no SASL mechanism') in result['message'] and 'not XOAUTH2' in result['message']
    assert _mail.MAIL_CLASSES['auth_unsupported'][1] in result['message'] and result['reply'] is None


def test_imap_mechanisms_from_the_greetings_capability_code_need_no_capability_command():
    result, error, received = _dialogue('imap', [
        b'* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n', b'+ \r\n', b'a1 OK AUTHENTICATE completed.\r\n',
        b'* 1 EXISTS\r\na2 OK [READ-ONLY] EXAMINE completed.\r\n', b'* BYE\r\na3 OK\r\n'], capa=False)
    assert error is None and result['mechanisms_offered'] == ['XOAUTH2']
    assert received[0].startswith(b'a1 AUTHENTICATE')


def test_imap_capability_refused_is_a_protocol_error():
    _result, error, _received = _dialogue('imap', [b'* OK ready\r\n', b'a0 BAD no\r\n'], capa=False)
    assert error.error_class == 'protocol' and 'CAPABILITY' in error.detail


def test_the_mechanisms_come_from_the_capability_line_not_an_untagged_line_before_it():
    """Kills: the first untagged line taken as CAPABILITY whatever it says (an '* OK' before it offers nothing)."""
    result, error, _received = _dialogue('imap', [
        b'* OK The Microsoft Exchange IMAP4 service is ready.\r\n',
        b'* OK [ALERT] maintenance tonight\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2\r\na0 OK CAPABILITY '
        b'completed.\r\n', b'+ \r\n', b'a1 OK AUTHENTICATE completed.\r\n',
        b'* 1 EXISTS\r\na2 OK [READ-ONLY] EXAMINE completed.\r\n', b'* BYE\r\na3 OK\r\n'], capa=False)
    assert error is None and result['authenticated'], (error, result)
    assert result['mechanisms_offered'] == ['PLAIN', 'XOAUTH2']


@pytest.mark.parametrize('protocol, mail_from', [('smtp', 'sales@contoso.com'), ('imap', None), ('pop3', None)])
def test_only_an_smtp_login_has_a_mail_from_and_it_is_the_sender(monkeypatch, protocol, mail_from):
    """Kills: mail_from set for IMAP/POP3 and left out for SMTP (the shared model: SMTP signs in as the account and
    sends as the sender)."""
    client, server = socket.socketpair()
    server.close()  # the dialogue fails at once; the result's identity facts are what this test reads
    monkeypatch.setattr(_mail, '_connect_tls', lambda *args: (client, _probe._Line(client, time.monotonic() + 2), None))
    result = _mail.login(protocol, 'h', 1, 'svc@contoso.com', TOKEN, 'xoauth2', {'sender': 'sales@contoso.com'}, 2.0,
                         address='sales@contoso.com')
    client.close()
    assert (result['login'], result['mail_from']) == ('svc@contoso.com', mail_from)
