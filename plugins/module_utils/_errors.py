# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The error classes the network probes report, each with its meaning and its fix.

One place for these facts: port_probe, url_reach, their PowerShell twins' contract tests and
the checks all read them from here. A probe never raises for an unreachable target: it
records one of these classes and a message that names the host, the port, the cause and the fix.
"""

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
    'http_status': (
        'the HTTP status was not one of those expected',
        'read the status and body: a proxy block page, a wrong URL, or the service refusing'),
    'assertion': (
        'a JMESPath assertion on the JSON body did not hold',
        'read the body: the endpoint answered, but not with what the preflight expects'),
    'deadline': (
        'the probe did not finish before the call\'s overall deadline',
        'raise the overall deadline or probe fewer targets per call'),
    # Microsoft identity and Graph (token_acquire, tenant_info).
    'aadsts': (
        'Microsoft Entra ID refused the token request with an AADSTS error',
        'read the AADSTS code\'s meaning and fix reported with it (aadsts.meaning, aadsts.fix)'),
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
