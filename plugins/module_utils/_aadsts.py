# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The one catalogue of Microsoft Entra ID (AADSTS) error codes, and the parser of Entra's error bodies.

Entra's token endpoint answers a refused request with a JSON body (``error``,
``error_description`` = ``AADSTS<code>: <Microsoft's text>`` plus trace lines, ``error_codes``,
``trace_id``, ``correlation_id``, ``error_uri``); msal hands that body back as a dict. The
codes are cryptic: this catalogue gives each one a one-line meaning and a fix that names the
item of the Cisco TAC checklist for ECE OAuth2 mail where one applies. docs/identity.md holds
the same table and a unit test keeps the two in sync.
"""

import json
import re

# The TAC checklist items (docs: README.md, "What it covers") an AADSTS fix can point at.
CHECKLIST = {
    2: "ECE's External URL and the redirect URI",
    3: 'the Entra app registration (redirect URI, delegated permissions, consent, client secret)',
    4: 'token lifetimes (refresh tokens die after 90 days unused)',
    5: 'the token was generated for the mailbox account',
    9: 'the network path to Microsoft',
}

# The fix that most expired or revoked grants share.
REGENERATE = "generate ECE's token again for the mailbox account"

# code: (Entra's short name or None where Microsoft gives none, what it means, what to do, TAC checklist item or None).
# Names and meanings follow Microsoft's table:
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
# (source: MicrosoftDocs/entra-docs, docs/identity-platform/reference-error-codes.md).
CATALOGUE = {
    50011: (
        'InvalidReplyTo',
        'the redirect URI sent does not match any redirect URI registered on the app',
        "register ECE's External URL callback (https://<External URL host>/system/oauth2/callback) as a Web "
        "redirect URI, or correct ECE's External URL so both name the same FQDN",
        2),
    50034: (
        'UserAccountNotFound',
        'the user account does not exist in this tenant',
        'sign in with the mailbox (or shared) account as it exists in this tenant; check the tenant id and the UPN',
        5),
    50053: (
        'IdsLocked',
        'the account is locked after too many failed sign-ins, or sign-in came from a blocked IP address',
        'wait for the lockout to end or have an administrator unlock the account; stop the client retrying '
        'a wrong password',
        5),
    50057: (
        'UserDisabled',
        'the user account is disabled (sign-in blocked: accountEnabled is false)',
        'enable the account in Entra ID (accountEnabled) if this account is meant to sign in; for a shared mailbox '
        'whose sign-in is blocked, as Microsoft recommends, generate the token as a delegate with FullAccess (and '
        'Send As) on it, not as the shared mailbox',
        5),
    50076: (
        'UserStrongAuthClientAuthNRequired',
        'multi-factor authentication is required, which a non-interactive grant cannot satisfy',
        'generate the token interactively (ECE token generation) with MFA, or exclude the mailbox account from '
        'the MFA policy for this app as your security policy allows',
        5),
    50079: (
        'UserStrongAuthEnrollmentRequired',
        'the user must register for multi-factor authentication first',
        'sign in interactively as the mailbox account once and complete MFA registration',
        5),
    50126: (
        'InvalidUserNameOrPassword',
        'the user name or password is wrong',
        'check the user name and password of the account (a federated account cannot use the password grant)',
        5),
    50173: (
        'FreshTokenNeeded',
        # A confidential client's refresh token survives the user changing the password, not an administrator's reset
        # in the Entra admin center nor a revocation (https://learn.microsoft.com/en-us/entra/identity-platform/
        # refresh-tokens, the revocation table).
        'the grant was revoked after the token was issued: an administrator reset the password or sessions were '
        'revoked',
        REGENERATE + " (ECE: Partition > Apps > Email > token)",
        4),
    50194: (
        'InvalidAuthorityForSingleTenantApp',
        'the app is single-tenant but the request used the /common or /organizations endpoint',
        'use the tenant-specific authority (https://login.microsoftonline.com/<tenant id>) or make the app '
        'multi-tenant',
        3),
    53003: (
        'BlockedByConditionalAccess',
        'a Conditional Access policy blocked token issuance',
        'read the sign-in log entry for this request and exclude the ECE app or mailbox account from the '
        'blocking policy, or meet its conditions (location, device)',
        None),
    65001: (
        'DelegationDoesNotExist',
        'neither an administrator (for all users) nor this user has consented to a permission the request asked for',
        "grant consent for the delegated permissions the request asked for (scopes_requested: only those of the "
        "protocols each mailbox uses, and offline_access) in Entra ID > App registrations > API permissions > Grant "
        "admin consent, or have the mailbox account consent when it generates ECE's token",
        3),
    70008: (
        'ExpiredOrRevokedGrant',
        'the authorization code or refresh token has expired or was revoked',
        REGENERATE,
        4),
    70011: (
        'InvalidScope',
        'a requested scope is not valid for the resource',
        'request the documented mail scopes (https://outlook.office.com/IMAP.AccessAsUser.All, '
        '.../POP.AccessAsUser.All, .../SMTP.Send) or <resource>/.default for app-only tokens',
        3),
    70043: (
        'BadTokenDueToSignInFrequency',
        'the refresh token expired because of a Conditional Access sign-in frequency policy',
        "generate ECE's token again, and exclude the ECE app from the sign-in frequency policy or lengthen it",
        4),
    81012: (
        'DesktopSsoMismatchBetweenTokenUpnAndChosenUpn',
        'the user trying to sign in is different from the user signed in to the device (seamless single sign-on)',
        'generate the token in a private browser window signed in as the mailbox account, not through the '
        "workstation user's Kerberos single sign-on",
        5),
    90002: (
        'InvalidTenantName',
        'the tenant was not found (wrong tenant id or domain, or the wrong cloud)',
        'use the Directory (tenant) ID from the app registration\'s overview page and the cloud it lives in',
        3),
    500011: (
        'InvalidResourceServicePrincipalNotFound',
        'the resource named in the scope does not exist in this tenant',
        'check the scope\'s resource host (https://outlook.office.com for mail, https://graph.microsoft.com for '
        'Graph) and the cloud; the tenant needs Exchange Online',
        3),
    700016: (
        'UnauthorizedClient_DoesNotMatchRequest',
        'no application with this client id exists in this tenant',
        "copy the Application (client) ID of ECE's app registration and the tenant it is registered in",
        3),
    700022: (
        'InvalidMultipleResourcesScope',
        'the requested scopes name more than one resource',
        'request scopes of one resource per token (all https://outlook.office.com/... for mail)',
        3),
    700082: (
        'ExpiredOrRevokedGrantInactiveToken',
        'the refresh token expired after 90 days without use',
        REGENERATE + ", and keep ECE's retriever using it",
        4),
    7000215: (
        'InvalidClientSecretProvided',
        'the client secret sent is wrong (often the secret\'s ID was copied instead of its value)',
        "copy the client secret's Value (shown once, at creation) into ECE, or create a new secret",
        3),
    7000218: (
        # Microsoft's table gives this code no short name: only "The request body must contain the following
        # parameter: 'client_assertion' or 'client_secret'." (InvalidClientPublicClientWithCredential is 700025.)
        None,
        'the request carried neither a client secret nor a client assertion (certificate), which this app requires',
        'configure the client secret (or certificate) in ECE; allow public client flows on the app registration only '
        'if a public client is intended',
        3),
    7000222: (
        'InvalidClientSecretExpiredKeysProvided',
        'the client secret has expired',
        "create a new client secret on the app registration, put its value in ECE, and note its expiry date",
        3),
    9002313: (
        'InvalidRequest',
        'the request is malformed: typically the refresh token is not one this app issued, or was truncated',
        "use the refresh token ECE stored for this app, complete and unchanged, or generate ECE's token again",
        4),
    700025: (
        'InvalidClientPublicClientWithCredential',
        'the app is a public client, so the request must not carry a client secret or client assertion',
        'send no client secret for this app, or turn off "Allow public client flows" if ECE is meant to use a secret',
        3),
    50000: (
        'TokenIssuanceError',
        "there is an issue with Microsoft's sign-in service (HTTP 500 server_error), not with this tenant's "
        "configuration",
        'retry later and check the Microsoft 365 service health (admin center > Health > Service health); open a '
        'support ticket with the correlation id if it persists',
        None),
    # Further codes the lab and real tenants produce.
    28000: (
        'InvalidScopeMultipleResources',
        'the requested scopes name more than one resource',
        'request scopes of one resource per token',
        3),
    70003: (
        'UnsupportedGrantType',
        'the grant type is not supported for this request',
        'use client_credentials, refresh_token or password as documented',
        None),
    1002012: (
        'InvalidScopeForClientCredentials',
        'a client credentials request must ask for <resource>/.default',
        'request e.g. https://graph.microsoft.com/.default or https://outlook.office365.com/.default',
        3),
    700024: (
        'ClientAssertionNotWithinValidTimeRange',
        'the client assertion (certificate credential) is expired or not yet valid',
        "check this host's clock (NTP); the assertion must be signed within its validity window",
        None),
    700027: (
        'ClientAssertionSignatureInvalid',
        'the certificate credential was not accepted: its key is not registered on the app, or has expired',
        'upload the certificate (public key) to the app registration, or renew an expired one',
        3),
}

# Bounds: a body bigger than this is not an Entra error body; texts are cut to this many characters.
MAX_BODY = 65536
MAX_TEXT = 1000
_CODE = re.compile(r'AADSTS(\d{1,9})')


def _text(value):
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    if not isinstance(value, str):
        return None
    return value[:MAX_TEXT]


def _as_dict(body):
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body[:MAX_BODY].decode('utf-8', 'replace')
    if isinstance(body, str):
        body = body[:MAX_BODY]
        try:
            parsed = json.loads(body)
        except ValueError:
            return {'error_description': body}
        return parsed if isinstance(parsed, dict) else None
    return None


def _codes(data, description):
    codes = []
    raw = data.get('error_codes')
    if isinstance(raw, (list, tuple)):
        for item in raw[:20]:
            if isinstance(item, bool):
                continue
            if isinstance(item, str) and item.isdecimal() and len(item) <= 9:  # isdigit() holds for '²', int() fails
                item = int(item)
            if isinstance(item, int) and 0 < item < 10 ** 9:
                codes.append(item)
    if not codes and description:
        codes = [int(c) for c in _CODE.findall(description)[:20]]
    return codes


def parse(body):
    """Entra's error facts from BODY (msal's result dict, the JSON text, or plain text), or None.

    Never raises, whatever BODY is. The result: code (the first AADSTS code, an int or None),
    codes, oauth_error (the OAuth2 error, e.g. invalid_grant), suberror, message (the first line of Microsoft's own text),
    trace_id, correlation_id, timestamp, error_uri, and from the catalogue: name, meaning, fix,
    checklist_item (an int or None) and known.
    """
    data = _as_dict(body)
    if not data:
        return None
    description = _text(data.get('error_description'))
    error = _text(data.get('error'))
    codes = _codes(data, description or '')
    if not codes and not error:
        return None
    first_line = None
    if description:
        first_line = description.replace('\r\n', '\n').split('\n', 1)[0].strip() or None
    code = codes[0] if codes else None
    entry = CATALOGUE.get(code)
    facts = {
        'code': code,
        'codes': codes,
        'oauth_error': error,
        'suberror': _text(data.get('suberror')),
        'message': first_line,
        'trace_id': _text(data.get('trace_id')),
        'correlation_id': _text(data.get('correlation_id')),
        'timestamp': _text(data.get('timestamp')),
        'error_uri': _text(data.get('error_uri')),
        'known': entry is not None,
        'name': entry[0] if entry else None,
        'meaning': entry[1] if entry else None,
        'fix': entry[2] if entry else None,
        'checklist_item': entry[3] if entry else None,
    }
    if entry is None and code is not None:
        facts['fix'] = ('look the code up at https://login.microsoftonline.com/error?code=%s and in the sign-in '
                        'logs (Entra ID > Sign-in logs, by the correlation id)' % code)
    return facts


def summary(facts):
    """One line for a finding: code, meaning, suberror, Microsoft's text and the fix with its checklist item."""
    if not facts:
        return None
    parts = []
    if facts['code'] is not None:
        parts.append('AADSTS%d' % facts['code'])
    elif facts['oauth_error']:
        parts.append(facts['oauth_error'])
    if facts['meaning']:
        parts.append(facts['meaning'])
    text = ': '.join(parts)
    if facts.get('suberror'):  # Entra's refinement of the error (consent_required, bad_token, basic_action, ...)
        text += ' (suberror: %s)' % facts['suberror']
    if facts['message']:
        text += ' (Microsoft: "%s")' % facts['message']
    if facts['fix']:
        text += '. Fix: %s' % facts['fix']
        if facts['checklist_item']:
            text += ' [TAC checklist item %d: %s]' % (facts['checklist_item'], CHECKLIST[facts['checklist_item']])
    return text + '.'
