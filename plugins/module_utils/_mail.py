# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Live XOAUTH2 / OAUTHBEARER logins to IMAP, POP3 and SMTP, exactly as ECE does them.

Each login is followed by one real, read-only command, because Exchange Online can accept the
authentication and refuse the session ("User is authenticated but not connected"):
IMAP EXAMINE (never SELECT: EXAMINE opens read-only and changes no \\Recent or \\Seen flag),
POP3 STAT, SMTP MAIL FROM then RSET (nothing is sent unless a test message is asked for).
Server replies are returned with the token removed and classified against Microsoft's known
replies (MICROSOFT_REPLIES), each class with its meaning and fix (MAIL_CLASSES).
"""

import base64
import email.utils
import re
import socket
import ssl
import threading
import time

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors, _probe

PROTOCOLS = ('imap', 'pop3', 'smtp')
MECHANISMS = ('xoauth2', 'oauthbearer')

# The mail classes: what each means and what to do, the one place for these texts (_errors.ERROR_CLASSES
# only names the classes; a login's message carries the meaning and the fix from here).
MAIL_CLASSES = {
    'smtp_auth_disabled': (
        'SMTP AUTH (client submission) is disabled for this mailbox, or for the whole tenant without a mailbox '
        'override (535 5.7.139)',
        'enable it for the mailbox: Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false '
        '(or tenant-wide: Set-TransportConfig -SmtpClientAuthenticationDisabled $false); TAC checklist item 6'),
    'basic_auth_blocked': (
        'the server refused basic authentication (550 5.7.30): the client did not use OAuth2',
        'configure the mailbox in ECE for OAuth2 (XOAUTH2), not a password'),
    'not_connected': (
        'the token was accepted but Exchange has no mailbox session for this login: no Exchange Online licence, '
        'a mailbox not provisioned, or a shared-mailbox login under the wrong name',
        'assign a licence with an EXCHANGE_S_* plan (checklist item 7); for the shared-account model log in with '
        'the mailbox address and hold FullAccess on it (item 8)'),
    'mailbox_unavailable': (
        'the mailbox store is not available (430 4.2.0 STOREDRV): the mailbox is being provisioned or moved',
        'retry later; if it persists, check the mailbox in the Exchange admin center'),
    # Send As is checked when the message is submitted, not at MAIL FROM: Exchange answers 250 2.1.0 Sender OK and
    # refuses after DATA with 554 5.2.252 SendAsDenied; <account> not allowed to send as <sender>;
    # STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied (older: 554 5.2.0 STOREDRV...),
    # or 550 5.7.60 SMTP; Client does not have permissions to send as this sender. FullAccess does not give it.
    # https://github.com/nextcloud/mail/pull/13668 https://github.com/gophish/gophish/issues/2900
    # https://github.com/MicrosoftDocs/OfficeDocs-Support/issues/1187 https://pastebin.com/wtU9XT6T
    'send_as_denied': (
        'the account ECE signs in with may not send as this sender (Send As is checked when the message is '
        'submitted: 554 5.2.252 SendAsDenied, 554 5.2.0 SendAsDeniedException or 550 5.7.60); FullAccess does not '
        'include it',
        'grant Send As to the account on the sender\'s mailbox: Add-RecipientPermission -Identity <sender> '
        '-Trustee <account> -AccessRights SendAs (or send from the account\'s own address)'),
    # 550 5.1.8 Access denied, bad outbound sender: the account exceeded the outbound sending limits or the outbound
    # spam policy and is on the Restricted entities page; it may still receive.
    # https://learn.microsoft.com/en-us/microsoft-365/security/office-365-security/removing-user-from-restricted-users-portal-after-spam
    'sender_blocked': (
        'Exchange Online has restricted the account from sending (550 5.1.8 Access denied, bad outbound sender): it '
        'went over the outbound sending limits or the outbound spam policy, often because it is compromised; it can '
        'still receive',
        'secure the account first (it may be compromised), then unblock it: Microsoft Defender portal > Email & '
        'collaboration > Review > Restricted entities, or Remove-BlockedSenderAddress -SenderAddress <account>'),
    # The server does not list the SASL mechanism (EHLO AUTH, IMAP CAPABILITY AUTH=, POP3 CAPA SASL): the login is
    # not tried. Exchange Online lists XOAUTH2 on all three:
    # https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
    'auth_unsupported': (
        'the mail server does not offer the OAuth2 SASL mechanism (XOAUTH2): it is not Exchange Online, or '
        'something in between (a TLS-inspecting proxy, a relay, an on-premises server) answers instead',
        'point ECE at the cloud\'s Exchange Online hosts (outlook.office365.com and smtp.office365.com in the '
        'public cloud) and let its connections through without TLS inspection; on-premises Exchange needs '
        'OAuth for IMAP/POP/SMTP set up to offer XOAUTH2'),
    'auth_failed': (
        'the server refused the token: wrong audience or scope, expired, issued to another user, IMAP/POP disabled '
        'for the mailbox, or no FullAccess on a shared mailbox',
        'check the token with token_acquire (aud https://outlook.office.com or outlook.office365.com, scp with the '
        'protocol\'s scope, upn of the mailbox or a FullAccess delegate), the mailbox\'s ImapEnabled / PopEnabled, '
        'and Get-MailboxPermission; TAC checklist items 3, 5, 6 and 8'),
    'followup_failed': (
        'the login succeeded but the read-only command after it (EXAMINE, STAT, MAIL FROM) was refused',
        'read the server\'s reply: a folder that does not exist (folder), a sender the login may not use, or a '
        'mailbox still being provisioned'),
}
MAIL_ERROR_CLASSES = tuple(MAIL_CLASSES)

# Microsoft's replies (and the lab's Dovecot wording of the same refusals), most specific first:
# (regular expression, class of MAIL_CLASSES, what this wording says beyond the class's meaning, or None).
# Send As and the sending block come before STOREDRV: Exchange's Send As refusal is itself a STOREDRV.Submission
# exception and is no "retry later".
MICROSOFT_REPLIES = (
    (r'SmtpClientAuthentication is disabled for the Tenant', 'smtp_auth_disabled',
     'here: disabled for the tenant, and the mailbox does not override it'),
    (r'SmtpClientAuthentication is disabled for the Mailbox', 'smtp_auth_disabled', 'here: disabled on the mailbox'),
    (r'5\.7\.30|Basic authentication is not supported', 'basic_auth_blocked', None),
    (r'User is authenticated but not connected', 'not_connected', None),
    (r'SendAsDenied|5\.2\.252|5\.7\.60\b|not have permissions? to send as', 'send_as_denied', None),
    (r'5\.1\.8\b|bad outbound sender', 'sender_blocked', None),
    (r'STOREDRV|4\.2\.0', 'mailbox_unavailable', None),
    (r'5\.7\.3\b|5\.7\.8\b|AUTHENTICATE failed|Authentication fail|AUTHENTICATIONFAILED|unsuccessful',
     'auth_failed', None),
)


def classify_reply(text):
    """(class, meaning, fix) of a server reply, or None when no known reply matches."""
    for pattern, error_class, note in MICROSOFT_REPLIES:
        if re.search(pattern, text or '', re.IGNORECASE):
            meaning, fix = MAIL_CLASSES[error_class]
            return error_class, ('%s; %s' % (meaning, note)) if note else meaning, fix
    return None


def class_facts(error_class):
    """(meaning, fix) of a mail class of MAIL_CLASSES, or None."""
    return MAIL_CLASSES.get(error_class)


def sasl_initial(mechanism, login, token, host=None, port=None):
    """The SASL initial response for XOAUTH2 (Google/Microsoft) or OAUTHBEARER (RFC 7628)."""
    if mechanism == 'oauthbearer':
        parts = ['n,a=%s,' % login]
        if host:
            parts.append('host=%s' % host)
        if port:
            parts.append('port=%d' % port)
        parts.append('auth=Bearer %s' % token)
        return '\x01'.join(parts) + '\x01\x01'
    return 'user=%s\x01auth=Bearer %s\x01\x01' % (login, token)


def redact(text, secrets):
    """TEXT with every secret and its base64 forms removed."""
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            text = text.replace(form, '********')
    return text


class MailError(Exception):
    """A login or follow-up ended; error class, detail, and the server's (redacted) reply."""

    def __init__(self, error_class, detail=None, reply=None):
        super(MailError, self).__init__(error_class)
        self.error_class = error_class
        self.detail = detail
        self.reply = reply


def _connect_tls(host, port, protocol, settings, deadline, result):
    """TCP, and TLS either at once (IMAP, POP3) or after STARTTLS (SMTP); returns (socket, lines)."""
    target = {'host': host, 'port': port, 'protocol': protocol,
              'mode': 'starttls' if protocol == 'smtp' else 'tls', 'server_name': settings.get('server_name')}
    probe_result = _probe.new_result(target, settings)
    sock = _probe._connect(_probe._resolve(host, port, deadline, probe_result), deadline, probe_result)
    lines = _probe._Line(sock, deadline)
    if protocol == 'smtp':
        _probe.greet(lines, 'smtp', probe_result)
        if not _probe.starttls_offered('smtp', probe_result['capabilities']):
            raise _probe.ProbeError('starttls_unsupported', 'EHLO does not list STARTTLS')
        _probe.request_starttls(lines, 'smtp')
    sock = _probe._handshake(sock, target, settings, deadline, probe_result, verify=True)
    if probe_result['tls']['hostname_match'] is False:
        raise _probe.ProbeError('cert_hostname', 'the certificate does not name %s' % probe_result['tls']['server_name'])
    result['tls'] = {k: probe_result['tls'][k] for k in ('version', 'cipher', 'verified', 'hostname_match')}
    result['server_address'] = probe_result['address']
    result['connected'] = True
    return sock, _probe._Line(sock, deadline), probe_result


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def _require_mechanism(protocol, mechanism, offered, result):
    """Record the mechanisms the server offers; raise auth_unsupported (the token is never sent) when MECHANISM
    is not among them. Exchange Online offers XOAUTH2 in EHLO after STARTTLS (250-AUTH LOGIN XOAUTH2:
    https://github.com/jstedfast/MailKit/issues/1770), in IMAP CAPABILITY before the login (AUTH=PLAIN AUTH=XOAUTH2:
    https://github.com/zone-eu/wildduck/pull/943, https://github.com/jstedfast/MailKit/issues/2016) and in POP3 CAPA
    (SASL PLAIN XOAUTH2: https://github.com/kisli/vmime/issues/267); not OAUTHBEARER.
    """
    result['mechanisms_offered'] = [m.upper() for m in offered]
    if mechanism.upper() not in result['mechanisms_offered']:
        raise MailError('auth_unsupported', 'the server offers %s (%s), not %s' % (
            ', '.join(result['mechanisms_offered']) or 'no SASL mechanism',
            {'imap': 'CAPABILITY AUTH=', 'pop3': 'CAPA SASL', 'smtp': 'EHLO AUTH'}[protocol], mechanism.upper()))


def _imap_mechanisms(lines, banner):
    """The AUTH= mechanisms of the greeting's [CAPABILITY ...] code, else of a CAPABILITY command (Exchange's
    greeting has none)."""
    words, mechanisms = _probe.parse_imap_capabilities(banner)
    if words:
        return mechanisms
    lines.send('a0 CAPABILITY')
    untagged, tagged = _probe.imap_untagged_until_tagged(lines, 'a0')
    if not tagged.upper().startswith('A0 OK'):
        raise MailError('protocol', 'CAPABILITY was refused', _probe._printable(tagged, 200))
    for line in untagged:
        words, mechanisms = _probe.parse_imap_capabilities(line)
        if words:
            return mechanisms
    return []


def _imap(lines, login, token, mechanism, settings, result):
    banner = lines.readline()
    if not banner.upper().startswith('* OK'):
        raise MailError('protocol', 'not an IMAP greeting', _probe._printable(banner))
    _require_mechanism('imap', mechanism, _imap_mechanisms(lines, banner), result)
    lines.send('a1 AUTHENTICATE %s' % mechanism.upper())
    reply = lines.readline()
    if reply.startswith('+'):
        lines.send(_b64(sasl_initial(mechanism, login, token, settings.get('host'), settings.get('port'))))
        reply = lines.readline()
        if reply.startswith('+'):  # an error challenge (RFC 7628): answer empty, read the verdict
            lines.send('')
            reply = lines.readline()
    reply = _imap_verdict(lines, reply, 'a1')
    result['auth_reply'] = reply
    if not reply.upper().startswith('A1 OK'):
        raise MailError('auth_failed', 'AUTHENTICATE %s was refused' % mechanism.upper(), reply)
    result['authenticated'] = True
    mailbox = settings.get('folder') or 'INBOX'
    lines.send('a2 EXAMINE "%s"' % mailbox.replace('"', ''))
    untagged, tagged = _probe.imap_untagged_until_tagged(lines, 'a2')
    exists = [int(m.group(1)) for m in (re.match(r'\* (\d+) EXISTS', u) for u in untagged) if m]
    result['followup'] = {'command': 'EXAMINE %s' % mailbox, 'reply': tagged,
                          'ok': tagged.upper().startswith('A2 OK'), 'messages': exists[0] if exists else None}
    if not result['followup']['ok']:
        raise MailError('followup_failed', 'EXAMINE %s was refused' % mailbox, tagged)
    _probe.say_goodbye(lines, 'imap', tag='a3')


def _imap_verdict(lines, reply, tag):
    """The tagged verdict after REPLY and any untagged data (CAPABILITY), bounded like port_probe's reads:
    a server sending untagged lines without end, or no IMAP at all, is a protocol error, not a refusal."""
    for _count in range(_probe.MAX_LINES):
        if not reply.startswith('* '):
            break
        reply = lines.readline()
    else:
        raise MailError('protocol', 'more than %d untagged lines and no verdict' % _probe.MAX_LINES)
    if not re.match(r'%s (OK|NO|BAD)\b' % tag, reply, re.IGNORECASE):
        raise MailError('protocol', 'not an IMAP reply', _probe._printable(reply, 200))  # reply: redacted later
    return reply


def _pop3(lines, login, token, mechanism, settings, result):
    banner = lines.readline()
    if not banner.startswith('+OK'):
        raise MailError('protocol', 'not a POP3 greeting', _probe._printable(banner))
    lines.send('CAPA')
    status = lines.readline()
    if not status.startswith(('+OK', '-ERR')):
        raise MailError('protocol', 'not a POP3 reply to CAPA', _probe._printable(status, 200))
    # A server without CAPA (-ERR) lists no SASL mechanism: nothing says it takes XOAUTH2.
    offered = _probe.parse_pop3_capa(_probe.pop3_multiline(lines))[1] if status.startswith('+OK') else []
    _require_mechanism('pop3', mechanism, offered, result)
    # Microsoft requires the two-step form: AUTH XOAUTH2, then the token after the "+" continuation.
    lines.send('AUTH %s' % mechanism.upper())
    reply = lines.readline()
    if reply.startswith('+') and not reply.startswith('+OK'):
        lines.send(_b64(sasl_initial(mechanism, login, token, settings.get('host'), settings.get('port'))))
        reply = lines.readline()
        if reply.startswith('+') and not reply.startswith('+OK'):
            lines.send('')
            reply = lines.readline()
    result['auth_reply'] = reply
    if not reply.startswith(('+OK', '-ERR')):
        raise MailError('protocol', 'not a POP3 reply', _probe._printable(reply, 200))
    if not reply.startswith('+OK'):
        raise MailError('auth_failed', 'AUTH %s was refused' % mechanism.upper(), reply)
    result['authenticated'] = True
    lines.send('STAT')
    stat = lines.readline()
    match = re.match(r'\+OK (\d+) (\d+)', stat)
    result['followup'] = {'command': 'STAT', 'reply': stat, 'ok': bool(match),
                          'messages': int(match.group(1)) if match else None}
    if not match:
        raise MailError('followup_failed', 'STAT was refused', stat)
    _probe.say_goodbye(lines, 'pop3')


def _smtp_command(lines, text, texts_out=None):
    lines.send(text)
    code, texts = _probe.smtp_reply(lines)
    if texts_out is not None:
        texts_out.extend(texts)
    return code, '%d %s' % (code, ' '.join(texts))


def _smtp(lines, login, token, mechanism, settings, result):
    ehlo = []
    code, _reply = _smtp_command(lines, 'EHLO %s' % (settings.get('ehlo_name') or 'preflight.invalid'), ehlo)
    if code != 250:
        raise MailError('protocol', 'EHLO after STARTTLS was refused', _reply)
    _require_mechanism('smtp', mechanism, _probe.parse_ehlo(ehlo)[1], result)
    # AUTH without an initial response and the token after 334: long tokens break one-line AUTH.
    code, reply = _smtp_command(lines, 'AUTH %s' % mechanism.upper())
    if code == 334:
        code, reply = _smtp_command(lines, _b64(sasl_initial(mechanism, login, token, settings.get('host'),
                                                             settings.get('port'))))
        if code == 334:
            code, reply = _smtp_command(lines, '')
    result['auth_reply'] = reply
    if code != 235:
        raise MailError('auth_failed', 'AUTH %s was refused' % mechanism.upper(), reply)
    result['authenticated'] = True
    # The shared-account model as a client does it: AUTH as the account whose token this is, MAIL FROM the
    # mailbox it sends for; Exchange checks Send As when the message is submitted (after DATA), not here.
    sender = settings.get('sender') or login
    result['mail_from'] = sender
    code, reply = _smtp_command(lines, 'MAIL FROM:<%s>' % sender)
    result['followup'] = {'command': 'MAIL FROM:<%s>' % sender, 'reply': reply, 'ok': code == 250}
    if code != 250:
        raise MailError('followup_failed', 'MAIL FROM was refused', reply)
    recipient = settings.get('test_recipient')
    if not settings.get('send_test_message') or not recipient:
        _smtp_command(lines, 'RSET')
        _probe.say_goodbye(lines, 'smtp')
        return
    code, reply = _smtp_command(lines, 'RCPT TO:<%s>' % recipient)
    if code not in (250, 251):
        raise MailError('followup_failed', 'RCPT TO was refused', reply)
    code, reply = _smtp_command(lines, 'DATA')
    if code != 354:
        raise MailError('followup_failed', 'DATA was refused', reply)
    message = ('From: <%s>\r\nTo: <%s>\r\nSubject: ece_o365.preflight SMTP test\r\nDate: %s\r\n'
               'Message-ID: %s\r\n\r\nSent by ece_o365.preflight mailbox_protocols to prove SMTP OAuth2 '
               'end to end.\r\n.' % (sender, recipient, email.utils.formatdate(), email.utils.make_msgid('preflight')))
    code, reply = _smtp_command(lines, message)
    # "queued as <id>" (Postfix-style) or Exchange's "250 2.0.0 OK <message-id> [Hostname=...]"
    queue = re.search(r'queued as\s+(\S+)|OK\s+<([^>]+)>', reply)
    result['test_message'] = {'recipient': recipient, 'reply': reply, 'accepted': code == 250,
                              'queue_id': (queue.group(1) or queue.group(2)) if queue else None}
    if code != 250:
        raise MailError('followup_failed', 'the test message was refused', reply)
    _probe.say_goodbye(lines, 'smtp')


DIALOGUES = {'imap': _imap, 'pop3': _pop3, 'smtp': _smtp}


def new_result(login, protocol, host, port, address=None, mail_from=None):
    """A login result before the login: ADDRESS is the mailbox's (its one key), LOGIN the name signed in with,
    MAIL_FROM the SMTP sender (None for IMAP and POP3), mechanisms_offered the server's SASL list once read."""
    return {'address': address or login, 'login': login, 'protocol': protocol, 'host': host, 'port': port,
            'mail_from': mail_from if protocol == 'smtp' else None, 'mechanisms_offered': None,
            'server_address': None, 'connected': False, 'authenticated': False, 'tls': None, 'auth_reply': None,
            'followup': None, 'ok': False, 'error_class': None, 'meaning': None, 'reply': None, 'message': None,
            'elapsed_ms': None}


def where(protocol, host, port, login_name=None, address=None):
    """How a message names a login: protocol, server, login name, and the mailbox when it is another."""
    text = '%s %s:%s' % (protocol.upper(), host, port)
    if login_name:
        text += ' as %s' % login_name
    if address and address != login_name:
        text += ' (mailbox %s)' % address
    return text


def _fill(fix, account, sender):
    """A fix with the <account> and <sender> of this login in place."""
    fix = fix.replace('<account>', account or '<account>')
    return fix.replace('<sender>', sender) if sender else fix


def login(protocol, host, port, login_name, token, mechanism, settings, timeout, address=None):
    """One login to ADDRESS's mailbox as LOGIN_NAME; always returns a result (never raises), token-free."""
    result = new_result(login_name, protocol, host, port, address,
                        mail_from=(settings.get('sender') or login_name) if protocol == 'smtp' else None)
    started = time.monotonic()
    deadline = started + timeout
    where_text = where(protocol, host, port, login_name, result['address'])
    dialogue_settings = dict(settings, host=host, port=port)
    # The token, and the SASL response that carries it (its base64 is not the token's): a server may echo either.
    secrets = [token, _b64(sasl_initial(mechanism, login_name, token, host, port))]
    sock = None
    try:
        try:
            sock, lines, _probe_result = _connect_tls(host, port, protocol, dialogue_settings, deadline, result)
            DIALOGUES[protocol](lines, login_name, token, mechanism, dialogue_settings, result)
        except _probe.ProbeError as exc:
            raise MailError(exc.error_class, exc.detail)
        except (socket.timeout, TimeoutError):
            raise MailError('timeout', 'no reply before the timeout')
        except (ssl.SSLError, OSError) as exc:  # the one exception-to-class map of every module
            raise MailError(*_errors.classify_exception(exc))
    except MailError as exc:
        reply = redact(exc.reply or '', secrets)
        known = classify_reply(reply) if exc.error_class in ('auth_failed', 'followup_failed') else None
        result['error_class'] = exc.error_class
        if known:
            result['error_class'], result['meaning'], fix = known
            result['message'] = '%s: %s: %s. Fix: %s.' % (where_text, reply.strip(), result['meaning'],
                                                          _fill(fix, login_name, result['mail_from']))
        elif exc.error_class in MAIL_CLASSES:
            # A refusal in words Microsoft does not use (or none): still the class's meaning and fix.
            result['meaning'], fix = MAIL_CLASSES[exc.error_class]
            result['message'] = '%s: %s: %s%s. Fix: %s.' % (
                where_text, exc.detail, result['meaning'], ' (%s)' % reply.strip() if reply.strip() else '',
                _fill(fix, login_name, result['mail_from']))
        elif exc.error_class in _errors.ERROR_CLASSES:
            result['message'] = _errors.describe(exc.error_class, where_text, exc.detail)
        else:
            result['message'] = '%s: %s (%s)' % (where_text, exc.detail, reply.strip())
        result['reply'] = reply or None
    else:
        result['ok'] = True
        result['message'] = '%s: authenticated, %s OK' % (where_text, result['followup']['command'])
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
    if result['auth_reply']:
        result['auth_reply'] = redact(result['auth_reply'], secrets)
    for key in ('followup', 'test_message'):
        if result.get(key):
            result[key]['reply'] = redact(result[key]['reply'], secrets)
    result['elapsed_ms'] = int(round((time.monotonic() - started) * 1000))
    return result


def login_all(jobs, settings, deadline_seconds, concurrency=16):
    """Run LOGIN for each job dict (protocol, host, port, address, login, token, mechanism, timeout, and
    settings of its own, e.g. sender) concurrently; the results in the jobs' order."""
    results = [None] * len(jobs)
    semaphore = threading.Semaphore(max(1, concurrency))
    call_deadline = time.monotonic() + deadline_seconds

    def work(index, job):
        with semaphore:
            if time.monotonic() < call_deadline:
                results[index] = login(job['protocol'], job['host'], job['port'], job['login'], job['token'],
                                       job['mechanism'], dict(settings, **job.get('settings', {})), job['timeout'],
                                       address=job.get('address'))

    threads = []
    for index, job in enumerate(jobs):
        thread = threading.Thread(target=work, args=(index, job))
        thread.daemon = True  # a login stuck past the deadline must not keep the module alive
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, call_deadline - time.monotonic()))
    done = []  # a new list: a login that ends after the deadline must not replace its result in the caller's
    for index, job in enumerate(jobs):
        result = results[index]
        if result is None:
            result = new_result(job['login'], job['protocol'], job['host'], job['port'], job.get('address'),
                                mail_from=job.get('settings', {}).get('sender') or job['login'])
            result['error_class'] = 'deadline'
            result['message'] = _errors.describe('deadline', where(job['protocol'], job['host'], job['port'],
                                                                   job['login'], result['address']))
        done.append(result)
    return done
