# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The error classes the probes report, each with its meaning and its fix, and the one map from
an exception to its class.

One place for these facts: port_probe, url_reach, the msal and mail modules, their PowerShell
twins' contract tests and the checks all read them from here. A probe never raises for an
unreachable target: it records one of these classes and a message that names the host, the port
(or the URL), the cause and the fix.
"""

import errno
import re
import socket
import ssl

from ansible_collections.ece_o365.preflight.plugins.module_utils import _proxy

# class: (what it means, what to do)
ERROR_CLASSES = {
    'dns': (
        'the name does not resolve',
        'check the host name and the DNS servers this host uses (and the proxy, if DNS only works through it)'),
    'refused': (
        'the connection was refused (a RST: nothing listens, or a firewall rejects)',
        'check the port and any firewall between this host and the target'),
    'timeout': (
        'no answer in time (packets dropped by a firewall, or a server too slow)',
        'open the port outbound on this host\'s firewalls, or raise the timeout if the server is slow'),
    'reset': (
        'the connection was reset or closed by the peer mid-conversation',
        'a firewall, proxy or IPS may be cutting the connection; test from another host to compare'),
    'unreachable': (
        'no route to the address (network or host unreachable)',
        'check this host\'s routes and its default gateway'),
    'tls_handshake': (
        'the TLS handshake failed (protocol or cipher mismatch, or a non-TLS answer)',
        'check that the port speaks TLS and that TLS 1.2 or newer is allowed on this host'),
    'cert_untrusted': (
        'the certificate chain does not verify against the trust store',
        'a TLS-inspecting proxy or a missing intermediate: add the right CA to the trust store, '
        'or exempt Microsoft 365 from TLS inspection'),
    'cert_hostname': (
        'the certificate does not name the host that was asked for',
        'connect by the name the certificate carries (e.g. outlook.office365.com), or fix DNS/SNI'),
    'cert_expired': (
        'the certificate has expired or is not yet valid',
        'check this host\'s clock first; else the server (or an intercepting proxy) presents a stale certificate'),
    'starttls_unsupported': (
        'the server did not offer or accept STARTTLS/STLS',
        'the port is wrong for STARTTLS, or something between rewrites the session (SMTP fix-up, proxy)'),
    'protocol': (
        'the server answered something other than the protocol expected',
        'check that the port is the service named (e.g. 587 for SMTP submission) and nothing intercepts it'),
    'proxy': (
        'the proxy refused or failed the CONNECT tunnel',
        'check the proxy address and that it allows CONNECT to this host and port (and its credentials)'),
    'proxy_dns': (
        'the proxy\'s own name does not resolve',
        'check the proxy host name (the proxy option, or HTTPS_PROXY / https_proxy in the environment) and the '
        'DNS servers this host uses'),
    'proxy_unreachable': (
        'the proxy refused or did not answer the TCP connection (nothing listens on its port, it is down, or a '
        'firewall is in between)',
        'check the proxy address and port (the proxy option, or HTTPS_PROXY / https_proxy), that the proxy runs, '
        'and that this host may connect to it'),
    'http_status': (
        'the HTTP status was not one of those expected',
        'read the status and body: a proxy block page, a wrong URL, or the service refusing'),
    'deadline': (
        'the probe did not finish before the call\'s overall deadline',
        'raise the overall deadline or probe fewer targets per call'),
    # Microsoft identity and Graph (token_acquire, tenant_info).
    'aadsts': (
        'Microsoft Entra ID refused the token request with an AADSTS error',
        'read the AADSTS code\'s meaning and fix reported with it (aadsts.meaning, aadsts.fix)'),
    # AADSTS50000 (HTTP 500, error server_error) or temporarily_unavailable: Microsoft's own sign-in service failed,
    # retried by the one retry policy (_throttle) within the deadline. Not the tenant's configuration, never a wrong
    # secret. https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS50000
    # TokenIssuanceError; temporarily_unavailable: "Retry the request").
    'entra_outage': (
        "Microsoft Entra ID's sign-in service failed to issue a token (AADSTS50000 / HTTP 5xx server_error), "
        'also after retries: an outage at Microsoft, not this tenant\'s configuration',
        'retry later and check the Microsoft 365 service health (admin center > Health > Service health); if it '
        'persists, open a support ticket with the correlation id'),
    'unauthorized': (
        'the service refused the access token (HTTP 401: expired, wrong audience or wrong tenant)',
        'use a token acquired for this service (e.g. https://graph.microsoft.com/.default) and this tenant'),
    'forbidden': (
        'the access token lacks a permission the call needs (HTTP 403)',
        'add the application permission named in the result to the app registration and grant admin consent'),
    'throttled': (
        'the service kept answering 429 or 503 (throttled or unavailable) until the deadline',
        'run again later, raise the deadline, or read fewer objects per run'),
    # Mail logins (mailbox_protocols). What each of Microsoft's replies means and its fix are held once, in
    # _mail.MAIL_CLASSES; a login's message carries them. These entries only name the class.
    'auth_failed': (
        'the mail server refused the OAuth2 login (XOAUTH2)',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'not_connected': (
        'the mail server accepted the token but opened no mailbox session',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'smtp_auth_disabled': (
        'the SMTP server refused AUTH because SMTP AUTH is disabled (535 5.7.139)',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'basic_auth_blocked': (
        'the mail server refused basic authentication (550 5.7.30)',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'mailbox_unavailable': (
        'the mailbox store was not available (4.2.0 STOREDRV)',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'send_as_denied': (
        'the SMTP server refused the sender address (5.2.252 SendAsDenied)',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'sender_blocked': (
        'Exchange Online refused to send for this account (550 5.1.8 bad outbound sender)',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'auth_unsupported': (
        'the mail server does not offer the OAuth2 SASL mechanism (XOAUTH2)',
        'read the meaning and fix the login result gives (the mechanisms the server offers)'),
    'followup_failed': (
        'the login succeeded but the read-only command after it was refused',
        'read the meaning and fix the login result gives with the server\'s reply'),
    'no_token': (
        'no access token for this mailbox: none was given and none could be acquired',
        'give access_token, or refresh_token (or client credentials) with the authentication options; the '
        'token\'s own error class and message are in tokens[]'),
}


def describe(error_class, where, detail=None):
    """One-line message naming where (host:port or URL), the cause, the detail and the fix."""
    meaning, fix = ERROR_CLASSES[error_class]
    text = '%s: %s' % (where, meaning)
    if detail:
        text += ' (%s)' % detail
    return '%s. Fix: %s.' % (text, fix)


ERROR_CLASS_NAMES = tuple(sorted(ERROR_CLASSES))

DETAIL_CHARS = 300  # characters of an exception's text kept in a detail

# Exception classes of requests and urllib3, known by name so that this module imports neither.
_PROXY_ERRORS = ('ProxyError', 'InvalidProxyURL', 'ProxySchemeUnknown', 'ProxySchemeUnsupported')
_NAME_ERRORS = ('NameResolutionError',)
_CONNECT_TIMEOUTS = ('ConnectTimeout', 'ConnectTimeoutError')
_TIMEOUTS = _CONNECT_TIMEOUTS + ('Timeout', 'ReadTimeout', 'ReadTimeoutError', 'TimeoutError')
_RESETS = ('RemoteDisconnected', 'IncompleteRead', 'ChunkedEncodingError', 'ProtocolError')
_NOT_HTTP = ('BadStatusLine', 'LineTooLong', 'UnknownProtocol', 'HTTPException')
_DEADLINES = ('DeadlineExceeded',)
_UNREACHABLE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL)
# The last resort for exceptions that carry their cause only as text (msal, wrapped errors).
_TEXT_CLASSES = (
    ('cert_expired', ('certificate has expired', 'certificate is not yet valid')),
    ('cert_hostname', ('hostname mismatch', "doesn't match", 'does not match', 'IP address mismatch')),
    ('cert_untrusted', ('CERTIFICATE_VERIFY_FAILED', 'self-signed certificate', 'self signed certificate',
                        'unable to get local issuer certificate')),
    ('dns', ('NameResolutionError', 'Name or service not known', 'nodename nor servname', 'getaddrinfo failed',
             'Temporary failure in name resolution', 'No address associated')),
    ('refused', ('Connection refused', 'ConnectionRefusedError')),
    ('unreachable', ('Network is unreachable', 'No route to host')),
    ('reset', ('Connection reset', 'RemoteDisconnected', 'Connection aborted', 'BrokenPipe', 'EOF occurred')),
    ('timeout', ('timed out', 'Timeout')),
)
_PASSWORD_IN_URL = re.compile(r'(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/@]*@')


def chain(exc, limit=30):
    """EXC and every exception it wraps (urllib3 reasons, causes, contexts, exceptions in args)."""
    seen, queue, found = set(), [exc], []
    while queue and len(found) < limit:
        current = queue.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        queue.extend([getattr(current, 'reason', None), current.__cause__, current.__context__])
        queue.extend(a for a in getattr(current, 'args', ()) if isinstance(a, BaseException))
    return found


def _named(item, names):
    return any(cls.__name__ in names for cls in type(item).__mro__)


def text(exc):
    """One line of an exception's text, bounded, any password in a URL replaced by ********."""
    value = getattr(exc, 'strerror', None) if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) else None
    value = str(value or exc).strip() or type(exc).__name__
    value = re.sub(r'\s+', ' ', value)
    return _PASSWORD_IN_URL.sub(r'\g<head>********@', value)[:DETAIL_CHARS]


def certificate_class(exc):
    """cert_expired, cert_hostname or cert_untrusted for an ssl.SSLCertVerificationError."""
    code = getattr(exc, 'verify_code', None)
    if code in (9, 10):  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
        return 'cert_expired'
    if code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
        return 'cert_hostname'
    return 'cert_untrusted'


def _transport(items):
    """(class, the exception that says it) for a failure of the connection itself, or (None, None)."""
    for item in items:
        if isinstance(item, socket.gaierror) or _named(item, _NAME_ERRORS):
            return 'dns', item
    for item in items:
        if isinstance(item, ConnectionRefusedError):
            return 'refused', item
    for item in items:
        if isinstance(item, OSError) and getattr(item, 'errno', None) in _UNREACHABLE:
            return 'unreachable', item
    for item in items:
        # urllib3 2 makes NewConnectionError (refused, unreachable) a ConnectTimeoutError: not a timeout.
        if _named(item, ('NewConnectionError',)):
            continue
        if isinstance(item, (socket.timeout, TimeoutError)) or _named(item, _TIMEOUTS):
            return 'timeout', item
    for item in items:
        # A reply that is not HTTP (http.client's BadStatusLine...), which urllib3 wraps in a ProtocolError.
        if _named(item, _NOT_HTTP) and not _named(item, ('RemoteDisconnected', 'IncompleteRead')):
            return 'protocol', item
    for item in items:
        if isinstance(item, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)) or _named(item, _RESETS):
            return 'reset', item
    return None, None


def classify_exception(exc, where=None, proxy=None):
    """(error class of ERROR_CLASSES, detail) for an exception out of socket, ssl, requests, urllib3 or msal.

    WHERE says what the failed operation was reaching, when the caller knows it: None (the target,
    or unknown), 'proxy' (the proxy itself: its name or its TCP port) or 'tunnel' (the CONNECT
    exchange with the proxy). PROXY is the proxy URL in use, if any; the detail of a proxy class
    names it with its password replaced. Never raises.
    """
    try:
        return _classify(exc, where, proxy)
    except Exception:  # pylint: disable=broad-except  # classification must never lose the result
        return 'protocol', type(exc).__name__


def _classify(exc, where, proxy):
    items = chain(exc)
    detail = text(items[-1] if items else exc)
    named = proxy_name(proxy)
    for item in items:
        if _named(item, _DEADLINES):
            return 'deadline', text(item)
    for item in items:
        if isinstance(item, ssl.SSLCertVerificationError):
            return certificate_class(item), getattr(item, 'verify_message', None) or text(item)
    transport, cause = _transport(items)
    proxy_error = next((i for i in items if _named(i, _PROXY_ERRORS)), None)
    if where == 'proxy' or (where is None and proxy_error is not None):
        # With a proxy, the TCP connection is to the proxy: a name or a connection that fails is the proxy's.
        connect_timeout = any(_named(i, _CONNECT_TIMEOUTS) for i in items) or where == 'proxy'
        if transport == 'dns':
            return 'proxy_dns', '%scannot resolve its name (%s)' % (named, text(cause))
        if transport in ('refused', 'unreachable') or (transport == 'timeout' and connect_timeout):
            return 'proxy_unreachable', '%s%s' % (named, text(cause))
        if where == 'proxy' or not (transport == 'timeout'):
            return 'proxy', '%s%s' % (named, text(proxy_error or cause or exc))
    if where == 'tunnel':
        if transport == 'timeout':
            return 'timeout', '%sno answer to CONNECT in time' % named
        return 'proxy', '%s%s' % (named, text(cause or exc))
    ssl_error = next((i for i in items if isinstance(i, ssl.SSLError)), None)
    if ssl_error is not None:
        if isinstance(ssl_error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or 'EOF' in text(ssl_error):
            return 'tls_handshake', 'the peer closed the connection during the TLS handshake (%s)' % text(ssl_error)
        return 'tls_handshake', getattr(ssl_error, 'reason', None) or text(ssl_error)
    if transport == 'protocol':
        return 'protocol', 'not an HTTP answer: %s' % text(cause)
    if transport is not None:
        return transport, text(cause)
    if any(_named(i, ('SSLError',)) for i in items):
        return 'tls_handshake', detail
    if not isinstance(exc, (ValueError, UnicodeError)):
        joined = ' '.join('%s %s' % (type(item).__name__, item) for item in items).lower()
        for error_class, needles in _TEXT_CLASSES:
            if any(needle.lower() in joined for needle in needles):
                return error_class, detail
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and exc.errno is not None:
        return 'reset', detail  # a socket error without a more specific class: the connection failed
    return 'protocol', detail if isinstance(exc, (ValueError, UnicodeError)) else '%s: %s' % (
        type(exc).__name__, detail)


def proxy_name(proxy):
    """'proxy URL: ' with the password replaced, for a detail; '' without a proxy."""
    if not proxy:
        return ''
    return 'proxy %s: ' % _proxy.redact(proxy)
