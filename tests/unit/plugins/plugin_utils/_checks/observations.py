# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A healthy fleet and tenant, in the observation contract's shape (docs/contract.md), for the judge's tests.

Each test breaks one fact and asserts which finding changes; healthy() validates against the contract,
so the tests cannot drift from what the probes return.
"""

import copy
import datetime

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

TODAY = datetime.date(2026, 11, 28)
SUPPORT, SALES, SVC = 'support@contoso.com', 'sales@contoso.com', 'svc@contoso.com'
MICROSOFT_ISSUER = 'countryName=US,organizationName=Microsoft Corporation,commonName=Microsoft Azure RSA TLS Issuing CA 03'


def target(purpose, port, protocol, error_class=None, mechanisms=('XOAUTH2',)):
    return {'name': 'm365:%d' % port, 'host': 'outlook.office365.com', 'port': port, 'purpose': purpose,
            'protocol': protocol, 'mode': 'tls', 'ok': error_class is None, 'error_class': error_class,
            'message': 'outlook.office365.com:%d: %s' % (port, 'connected' if error_class is None else
                                                         'no answer in time (dropped). Fix: open the port'),
            'auth_mechanisms': list(mechanisms), 'elapsed_ms': 5.0, 'proxy': None}


def url(purpose='oidc_discovery', status=200, body=None, issuer=MICROSOFT_ISSUER, skew=1.5, expect=None):
    return {'name': 'OIDC', 'url': 'https://login.microsoftonline.com/tid/v2.0/.well-known/openid-configuration',
            'purpose': purpose, 'ok': True, 'error_class': None, 'message': None, 'status': status,
            'expect': expect if expect is not None else {'status': [200], 'assertions': ["contains(issuer, 'tid')"]},
            'json': body if body is not None else {'issuer': 'https://login.microsoftonline.com/tid/v2.0'},
            'tls': {'chain': [{'subject': 'CN=login.microsoftonline.com', 'issuer': issuer,
                               'sha256_fingerprint': 'AA' * 32}]},
            'clock_skew_seconds': skew, 'headers': {}, 'proxy': None}


def refreshed(address, host='svc1', aadsts=None, error_class=None):
    """One mailbox's refresh from a services server (filter token_refresh_facts), refused when AADSTS is given."""
    where = '%s (no proxy)' % host
    record = {'address': address, 'host': host, 'refreshed_on': where, 'source': 'services_server', 'proxy': None,
              'status': 200, 'acquired': True, 'ok': True, 'error_class': None, 'aadsts': None,
              'message': 'refreshed from %s' % where, 'token_owner': address, 'expires_in': 3599}
    if aadsts or error_class:
        record.update(status=400 if aadsts else None, acquired=False, ok=False, error_class=error_class or 'aadsts',
                      aadsts={'code': aadsts, 'fix': 'fix for AADSTS%s' % aadsts} if aadsts else None,
                      message='refresh from %s: refused (%s)' % (where, aadsts or error_class))
    return record


def host(roles):
    # Cisco TAC's checklist (the default network model): every ECE server reaches all four paths.
    targets = [target('token_endpoint', 443, 'https', mechanisms=()), target('smtp_submission', 587, 'smtp'),
               target('imap', 993, 'imap'), target('pop3', 995, 'pop3')]
    return {'roles': roles, 'reached': True, 'unreachable_reason': None, 'failed_tasks': [],
            'port_probe': {'results': targets}, 'url_reach': {'results': [url()]},
            # The services server redeems each stored refresh token, as ECE does (TOKEN-REFRESH-SERVER).
            'token_refresh': [refreshed(SUPPORT), refreshed(SALES)] if 'services' in roles else None,
            'ece': {'version': '12.6(1)', 'installed_es': 'ES1', 'es_to_install': '', 'known_latest_es': '',
                    'external_url': 'https://ece.contoso.com', 'admin_login_fqdn': 'ece.contoso.com',
                    'mail_protocols': ['imap', 'pop3', 'smtp'],
                    # the addresses its traffic to Microsoft leaves from, as declared (ENTRA-SIGNIN-SOURCE)
                    'egress_addresses': ['10.0.0.11'] if 'services' in roles else []}}


def _user(name, enabled=True):
    """A users[] entry of tenant_info (SPEC of issue 12): found by its mail, its object id, its licences as read."""
    return {'name': name, 'address': name, 'exists': True, 'id': 'id-' + name, 'enabled': enabled,
            'user_principal_name': name, 'display_name': name.split('@')[0], 'mail': name, 'user_type': 'Member',
            'resolved_by': 'mail', 'proxy_addresses': [name],
            'licences': [{'sku': 'ENTERPRISEPACK', 'sku_id': '6fd2c87f-b296-42f0-b197-1e91e994b900', 'service_plans': [
                {'name': 'EXCHANGE_S_ENTERPRISE', 'id': 'efb87545-963c-4e0d-99df-69c6916d9eb0', 'status': 'Success'}]}],
            'licence_read': {'ok': True, 'source': 'licenseDetails', 'error_class': None, 'message': None,
                             'status': 200}}


def _settings(address, account, holders=(), kind='UserMailbox', send_as=()):
    """A mailboxes[] entry of mailbox_settings: Get-CASMailbox, Get-Mailbox, Get-MailboxPermission and
    Get-RecipientPermission as read."""
    return {'address': address, 'account': account, 'exists': True, 'imap_enabled': True, 'pop_enabled': True,
            'smtp_client_authentication_disabled': None, 'recipient_type_details': kind,
            'external_directory_object_id': 'id-' + address, 'primary_smtp_address': address,
            'user_principal_name': address,
            'full_access': [{'user': 'NT AUTHORITY\\SELF', 'access_rights': ['FullAccess'], 'deny': False}]
            + [{'user': h, 'access_rights': ['FullAccess'], 'deny': False, 'is_inherited': False} for h in holders],
            'send_as': [{'trustee': 'NT AUTHORITY\\SELF', 'access_rights': ['SendAs'], 'deny': False, 'is_inherited': False}]
            + [{'trustee': t, 'access_rights': ['SendAs'], 'deny': False, 'is_inherited': False} for t in send_as]}


def _logins(address, login, failures=None, account=None, protocols=('imap', 'pop3', 'smtp')):
    """mailbox_protocols results: IMAP and POP sign in as LOGIN; SMTP signs in as the ACCOUNT (the token's owner)
    and sends MAIL FROM the mailbox."""
    failures = failures or {}
    return [{'address': address, 'login': (account or login) if p == 'smtp' else login, 'protocol': p,
             'ok': p not in failures, 'error_class': failures.get(p), 'message': '%s %s' % (p, failures.get(p) or 'ok'),
             'mechanisms_offered': ['XOAUTH2', 'OAUTHBEARER'], 'followup': {'command': 'X'},
             'mail_from': address if p == 'smtp' else None} for p in protocols]


def _token(address, account, lifetime, expires_in):
    return {'address': address, 'login': address, 'acquired': True, 'source': 'refresh_token', 'token_owner': account,
            'oid': 'id-' + account, 'token_kind': 'delegated', 'lifetime_seconds': lifetime, 'expires_in': expires_in,
            'scopes_requested': ['https://outlook.office.com/IMAP.AccessAsUser.All',
                                 'https://outlook.office.com/SMTP.Send', 'offline_access']}


# support@ uses its own account and the default protocols (IMAP and SMTP); sales@ is a shared mailbox (sign-in
# blocked, as Microsoft recommends) that ECE reaches as svc@ (FullAccess and Send As), over IMAP, POP and SMTP.
TENANT = {
    'ran': True, 'left_out': False, 'host': 'localhost', 'why_not': None, 'failed_tasks': [],
    'external_url': 'https://ece.contoso.com',
    'tenant_info': {
        'application': {
            'found': True, 'app_id': 'app', 'display_name': 'ECE',
            'redirect_uris': {'web': ['https://ece.contoso.com/cb'], 'spa': [], 'public_client': []},
            'required_permissions': [{'type': 'delegated', 'name': n} for n in
                                     ('IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access',
                                      'openid')],
            'secrets': [{'key_id': 'k1', 'display_name': 's', 'hint': 'abc', 'start': '2026-01-01T00:00:00Z',
                         'end': '2028-01-01T00:00:00Z', 'in_use': True}], 'certificates': [],
            'service_principal': {'found': True, 'delegated_grants': [
                {'consent_type': 'AllPrincipals', 'principal_id': None, 'resource': 'Microsoft Graph',
                 'scopes': ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access', 'openid']}]},
        },
        'users': [_user(SUPPORT), _user(SALES, enabled=False), _user(SVC)],
        'errors': [],
        'token': {'source': 'acquired', 'acquired': True, 'ok': True, 'error_class': None, 'message': None},
    },
    'mailbox_settings': {
        'transport_config': {'smtp_client_authentication_disabled': False},
        'mailboxes': [_settings(SUPPORT, SUPPORT),
                      _settings(SALES, SVC, holders=[SVC], kind='SharedMailbox', send_as=[SVC]),
                      # svc@ signs in to SMTP for sales@: its own SMTP AUTH setting is the one Exchange applies.
                      dict(_settings(SVC, SVC), role='account')],
        'errors': [],
        'token': {'source': 'acquired', 'acquired': True, 'ok': True, 'error_class': None, 'message': None},
    },
    'mailbox_protocols': {
        'results': _logins(SUPPORT, SUPPORT, protocols=('imap', 'smtp')) + _logins(SALES, SALES, account=SVC),
        'tokens': [_token(SUPPORT, SUPPORT, 4200, 3899), _token(SALES, SVC, 3900, 3599)],
    },
}


def _signin_account(address):
    """signin_activity's entry for ADDRESS: ECE refreshed it an hour before the read, from svc1's egress address."""
    last = '2026-11-28T11:00:00Z'
    return {'address': address, 'id': 'id-' + address, 'user_principal_name': address, 'exists': True, 'sign_ins': 24,
            'last_success': {'time': last, 'ip_address': '10.0.0.11', 'interactive': False},
            'failures': [], 'failure_counts': [],
            'refresh_addresses': [{'ip_address': '10.0.0.11', 'count': 24, 'ok': 24, 'last': last}],
            'sign_in_activity': {'last_sign_in': None, 'last_non_interactive_sign_in': last,
                                 'last_successful_sign_in': last},
            'read': {'outcome': 'ok', 'status': None, 'code': None, 'error_class': None, 'permission': None,
                     'message': None}}


# Entra's record of ECE's sign-ins (signin_activity, docs/signin-logs.md): the accounts ECE holds tokens for.
TENANT['signin_activity'] = {
    'ok': True, 'error_class': None, 'message': 'read', 'application_id': 'ece-app', 'days': 30,
    'window_start': '2026-10-29T12:00:00Z', 'read_at': '2026-11-28T12:00:00Z', 'sign_ins_read': 48,
    'read': {'sign_ins': {'outcome': 'ok'}, 'sign_in_activity': {'outcome': 'ok'}},
    'accounts': [_signin_account(SUPPORT), _signin_account(SVC)], 'other_users': [], 'errors': [],
    'token': {'source': 'acquired', 'acquired': True, 'ok': True}}
TENANT['read_signins'] = True
MAILBOXES = {
    SUPPORT: {'address': SUPPORT, 'login': SUPPORT, 'account': SUPPORT, 'sender': SUPPORT,
              'protocols': list(_contract.DEFAULT_MAIL_PROTOCOLS)},
    SALES: {'address': SALES, 'login': SALES, 'account': SVC, 'sender': SALES, 'protocols': ['imap', 'pop3', 'smtp']},
}


def healthy():
    document = {'schema_version': _contract.SCHEMA_VERSION,
                'hosts': {'svc1': host(['services']), 'app1': host(['application']), 'app2': host(['application'])},
                'tenant': copy.deepcopy(TENANT), 'mailboxes': copy.deepcopy(MAILBOXES)}
    assert _contract.validate(document) == [], _contract.validate(document)
    return document


def judge(document, **kwargs):
    options = dict({'today': TODAY}, **kwargs.pop('options', {}))
    return _checks.judge(document, options=options, **kwargs)


def statuses(findings):
    return dict(((f['id'], f['subject']), f['status']) for f in findings)


# The skips the healthy design itself implies: support@ is read over IMAP only and sends as itself.
HEALTHY_SKIPS = (('MBX-LOGIN-POP3', SUPPORT), ('MBX-SENDAS', SUPPORT))


def not_passing(findings):
    """{(id, subject): status} of every finding that is not a pass (skips included, but for HEALTHY_SKIPS when they
    are the skips of the healthy design: not applicable, waiting for nothing)."""
    return dict(((f['id'], f['subject']), f['status']) for f in findings if f['status'] != 'pass' and not (
        (f['id'], f['subject']) in HEALTHY_SKIPS and f['status'] == 'skip' and not f.get('blocked_by')))


def finding(findings, check_id, subject):
    return [f for f in findings if (f['id'], f['subject']) == (check_id, subject)][0]


def login_results(address, login, failures, account=None, protocols=('imap', 'pop3', 'smtp')):
    return _logins(address, login, failures, account, protocols)


def user_entry(name, **facts):
    """A users[] entry of tenant_info for NAME, with FACTS over the healthy ones."""
    return dict(_user(name), **facts)


def settings_entry(address, account, **facts):
    return dict(_settings(address, account), **facts)


def refused_token(module, message):
    """The result a tenant module returns when the preflight's own app-only token was refused (no reads made)."""
    token = {'source': 'acquired', 'acquired': False, 'ok': False, 'error_class': 'aadsts', 'message': message}
    if module == 'tenant_info':
        return {'ok': False, 'error_class': 'aadsts', 'message': 'no Graph token: %s' % message, 'application': None,
                'users': [], 'errors': [], 'token': token}
    return {'ok': False, 'error_class': 'aadsts', 'message': 'no Exchange admin API token: %s' % message,
            'transport_config': None, 'mailboxes': [], 'errors': [], 'token': token}
