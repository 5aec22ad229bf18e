# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Identity checks: the app registration as Graph shows it, judged here; the token ECE stored; the accounts."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

from .observations import SALES, SUPPORT, SVC, TODAY, finding, healthy, judge, not_passing, refused_token


def _app(document):
    return document['tenant']['tenant_info']['application']


def test_redirect_uri_matched_on_the_controller_from_the_raw_uris():
    document = healthy()
    _app(document)['redirect_uris']['web'] = ['https://old-ece.contoso.com/cb']
    result = finding(judge(document), 'APP-REDIRECT-URI', 'tenant')
    assert result['status'] == 'fail' and 'old-ece.contoso.com' in result['detail']
    _app(document)['redirect_uris']['web'] = ['https://ECE.contoso.com:443/system/oauth']
    assert finding(judge(document), 'APP-REDIRECT-URI', 'tenant')['status'] == 'pass'


def test_consent_gaps_are_computed_from_the_grants():
    document = healthy()
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = ['IMAP.AccessAsUser.All', 'offline_access']
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['status'] == 'fail' and result['evidence']['not_consented'] == ['SMTP.Send']
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = 'IMAP.AccessAsUser.All SMTP.Send offline_access'
    assert finding(judge(document), 'APP-CONSENT', 'tenant')['status'] == 'pass', 'a space-separated scope string'


def test_a_grant_for_one_principal_is_not_admin_consent():
    document = healthy()
    _app(document)['service_principal']['delegated_grants'][0]['consent_type'] = 'Principal'
    assert finding(judge(document), 'APP-CONSENT', 'tenant')['status'] == 'fail'


@pytest.mark.parametrize('end, status', [('2026-11-27T00:00:00Z', 'fail'), ('2026-12-20T00:00:00Z', 'warn'),
                                         ('2027-06-01T00:00:00Z', 'pass')])
def test_secret_expiry_is_computed_from_the_end_dates_against_today(end, status):
    document = healthy()
    _app(document)['secrets'] = [{'display_name': 'old', 'end': '2025-01-01T00:00:00Z'}, {'display_name': 's', 'end': end}]
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['status'] == status


def test_no_app_registration_fails_and_what_needs_it_waits():
    document = healthy()
    _app(document).update(found=False)
    findings = judge(document)
    assert finding(findings, 'APP-REGISTRATION', 'tenant')['status'] == 'fail'
    assert finding(findings, 'APP-CONSENT', 'tenant')['blocked_by'] == 'APP-REGISTRATION'


def test_permissions_requested():
    document = healthy()
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': 'SMTP.Send'},
                                              {'type': 'delegated', 'name': 'offline_access'}]
    assert not_passing(judge(document)) == {('APP-PERMISSIONS', 'tenant'): 'fail'}


def test_token_owner_refresh_and_lifetime_by_address():
    document = healthy()
    tokens = document['tenant']['mailbox_protocols']['tokens']
    tokens[0]['token_owner'] = 'jdoe@contoso.com'
    tokens[1]['lifetime_seconds'] = 86400
    findings = judge(document)
    assert not_passing(findings) == {('TOKEN-OWNER', SUPPORT): 'fail', ('TOKEN-LIFETIME', SALES): 'warn'}
    tokens[0].update(acquired=False, message='AADSTS700082: expired', aadsts={'code': 'AADSTS700082', 'fix': 'Generate'})
    refresh = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert refresh['status'] == 'fail' and refresh['remediation'] == 'Generate', 'the AADSTS code\'s own fix, once'


def test_token_facts_missing_for_a_mailbox_is_an_error():
    document = healthy()
    del document['tenant']['mailbox_protocols']['tokens'][1]
    assert finding(judge(document), 'TOKEN-REFRESH', SALES)['status'] == 'error'


def test_user_accounts_of_the_mailbox_and_the_shared_account():
    document = healthy()
    document['tenant']['tenant_info']['users'][2]['enabled'] = False  # svc@, the shared account of sales@
    result = finding(judge(document), 'USER-ACCOUNT', SALES)
    assert result['status'] == 'fail' and '%s is disabled' % SVC in result['detail']


def test_a_token_that_is_not_from_the_stored_refresh_token_proves_nothing_about_it():
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0]['source'] = 'client_credentials'
    result = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert result['status'] == 'error' and 'no refresh token was given' in result['detail']


# kills: APP-REGISTRATION 'fail' -> 'pass' (a client id with no app registration behind it would pass)
def test_kills_app_registration_fail_to_pass_a_missing_registration_fails_and_blocks():
    document = healthy()
    _app(document).update(found=False, display_name=None)
    findings = judge(document)
    result = finding(findings, 'APP-REGISTRATION', 'tenant')
    assert (result['status'], result['detail']) == ('fail', 'no app registration with application id app in the tenant')
    assert result['evidence'] == {'app_id': 'app', 'display_name': None, 'sign_in_audience': None}
    assert _checks.summarize(findings)['blocking'] == 1
    for waiting in ('APP-REDIRECT-URI', 'APP-PERMISSIONS', 'APP-CONSENT', 'APP-SECRET-EXPIRY'):
        assert (finding(findings, waiting, 'tenant')['status'], finding(findings, waiting, 'tenant')['blocked_by']) == (
            'skip', 'APP-REGISTRATION')
    assert finding(judge(healthy()), 'APP-REGISTRATION', 'tenant')['detail'] == 'app registration ECE (app)'


def test_an_app_registration_not_read_is_an_error_or_waits_for_tenant_read():
    document = healthy()
    document['tenant']['tenant_info']['application'] = None
    findings = judge(document)
    for check_id in ('APP-REGISTRATION', 'APP-CONSENT'):
        result = finding(findings, check_id, 'tenant')
        assert result['status'] == 'error' and 'no app registration was read' in result['detail']
    document['tenant']['tenant_info']['application'] = {'found': None, 'app_id': 'app'}
    document['tenant']['tenant_info']['errors'] = [{'message': 'GET /applications: 403'}]
    findings = judge(document)
    result = finding(findings, 'APP-REGISTRATION', 'tenant')
    assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')


def test_the_own_graph_token_refused_makes_the_app_checks_wait_for_tenant_read_not_blame_the_client_id():
    """Was: 'ece_o365_ece_app_client_id is empty' on every app check when the preflight's own secret was wrong."""
    document = healthy()
    document['tenant']['tenant_info'] = refused_token('tenant_info', 'AADSTS7000215: Invalid client secret provided')
    findings = judge(document)
    for check_id in ('APP-REGISTRATION', 'APP-REDIRECT-URI', 'APP-PERMISSIONS', 'APP-CONSENT', 'APP-SECRET-EXPIRY'):
        result = finding(findings, check_id, 'tenant')
        assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')
        assert 'client_id is empty' not in result['detail'] and 'Graph token was refused' in result['detail']


@pytest.mark.parametrize('uris, status', [
    ({'web': [], 'spa': ['https://ece.contoso.com/spa'], 'public_client': []}, 'pass'),
    ({'web': [], 'spa': [], 'public_client': ['https://ece.contoso.com/pc']}, 'pass'),
    ({'web': ['https://ece.contoso.com.evil.example/cb'], 'spa': [], 'public_client': []}, 'fail'),
    ({}, 'fail'),
])
def test_redirect_uri_of_any_kind_on_the_external_url_host(uris, status):
    document = healthy()
    _app(document)['redirect_uris'] = uris
    result = finding(judge(document), 'APP-REDIRECT-URI', 'tenant')
    assert result['status'] == status
    if status == 'fail':
        assert result['detail'].startswith('no redirect URI of the app uses ece.contoso.com')
    assert result['evidence']['external_url'] == 'https://ece.contoso.com'


def test_redirect_uri_details_name_the_hosts():
    document = healthy()
    _app(document)['redirect_uris'] = {'web': ['https://b.contoso.com/x', 'https://a.contoso.com/y', 'not a url']}
    result = finding(judge(document), 'APP-REDIRECT-URI', 'tenant')
    assert result['detail'] == ('no redirect URI of the app uses ece.contoso.com (ECE\'s External URL host); '
                                'registered: a.contoso.com, b.contoso.com, not a url')
    _app(document)['redirect_uris'] = {}
    assert finding(judge(document), 'APP-REDIRECT-URI', 'tenant')['detail'].endswith('registered: none')
    ok = finding(judge(healthy()), 'APP-REDIRECT-URI', 'tenant')
    assert ok['detail'] == 'redirect URI on ece.contoso.com: https://ece.contoso.com/cb'
    assert ok['evidence']['matching'] == ['https://ece.contoso.com/cb']


def test_redirect_uri_without_an_external_url_is_an_error():
    document = healthy()
    document['tenant']['external_url'] = ''
    result = finding(judge(document), 'APP-REDIRECT-URI', 'tenant')
    assert result['status'] == 'error' and 'ece_o365_ece_external_url is not set' in result['detail']


@pytest.mark.parametrize('names, status, detail', [
    (('POP.AccessAsUser.All', 'SMTP.Send', 'offline_access'), 'pass',
     'requests POP.AccessAsUser.All, SMTP.Send, offline_access'),
    (('IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access', 'openid', 'User.Read'), 'pass',
     'requests IMAP.AccessAsUser.All, SMTP.Send, offline_access'),
    (('IMAP.AccessAsUser.All', 'offline_access'), 'fail', 'the app does not request SMTP.Send'),
    (('IMAP.AccessAsUser.All', 'SMTP.Send'), 'fail', 'the app does not request offline_access'),
    (('openid',), 'fail',
     'the app does not request IMAP.AccessAsUser.All or POP.AccessAsUser.All, SMTP.Send, offline_access'),
])
def test_permissions_requested_table(names, status, detail):
    document = healthy()
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': n} for n in names]
    result = finding(judge(document), 'APP-PERMISSIONS', 'tenant')
    assert (result['status'], result['detail']) == (status, detail)
    assert result['evidence'] == {'delegated': sorted(names)}


def test_an_application_permission_is_not_a_delegated_one():
    document = healthy()
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': 'IMAP.AccessAsUser.All'},
                                              {'type': 'delegated', 'name': 'offline_access'},
                                              {'type': 'application', 'name': 'SMTP.Send'}]
    assert finding(judge(document), 'APP-PERMISSIONS', 'tenant')['detail'] == 'the app does not request SMTP.Send'


def test_consent_only_for_the_mail_permissions_and_a_service_principal_is_needed():
    document = healthy()
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = [
        'IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access']  # openid requested, not consented: not mail
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert (result['status'], result['detail']) == ('pass', 'admin consent covers the mail permissions')
    assert result['evidence'] == {'admin_consented_scopes': ['IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access'],
                                  'not_consented': []}
    _app(document)['service_principal']['delegated_grants'].append(
        {'consent_type': 'Principal', 'scopes': ['SMTP.Send']})
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = ['IMAP.AccessAsUser.All']
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['detail'] == 'no admin consent for SMTP.Send, offline_access (AADSTS65001 follows)'
    _app(document)['service_principal'] = {'found': False}
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert (result['status'], result['detail']) == ('fail', 'the app has no service principal in the tenant: nobody '
                                                            'consented to it')


@pytest.mark.parametrize('end, status, days', [
    ('2026-11-27', 'fail', -1), ('2026-11-28', 'warn', 0), ('2026-12-28', 'warn', 30), ('2026-12-29', 'pass', 31)])
def test_secret_expiry_edges_today_and_the_warning_window(end, status, days):
    document = healthy()
    _app(document)['secrets'] = [{'display_name': 's', 'hint': 'ab', 'end': end + 'T10:00:00Z'},
                                 {'display_name': 'bad', 'end': 'never'}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['evidence']['days_left']) == (status, days)
    assert result['evidence']['secrets'][0] == {'display_name': 's', 'hint': 'ab', 'end': end + 'T10:00:00Z'}
    narrower = finding(judge(document, options={'secret_warn_days': 29}), 'APP-SECRET-EXPIRY', 'tenant')
    assert narrower['status'] == {-1: 'fail', 0: 'warn', 30: 'pass', 31: 'pass'}[days]


def test_secret_expiry_details():
    document = healthy()
    _app(document)['secrets'] = [{'end': '2026-10-01T00:00:00Z'}, {'end': '2026-11-01T00:00:00Z'}]
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'every client secret has expired (the last on 2026-11-01; AADSTS7000222 follows)')
    _app(document)['secrets'] = [{'end': '2026-12-08T00:00:00Z'}]
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'the last client secret expires in 10 day(s)')
    assert finding(judge(healthy()), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'a client secret is valid for 399 more day(s)')


def test_no_secret_fails_unless_a_certificate_authenticates():
    document = healthy()
    _app(document)['secrets'] = [{'end': None}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['detail']) == ('fail', 'the app has no client secret (ECE needs one to redeem its '
                                                            'tokens)')
    _app(document)['certificates'] = [{'end': '2030-01-01'}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['evidence']['certificates']) == ('pass', 1)


# kills: TOKEN-LIFETIME made never to fail (the code's rule: from 60 min - 300 s to 90 min + 300 s)
@pytest.mark.parametrize('lifetime, verdict', [
    (3299, 'fail'), (3300, 'pass'), (4200, 'pass'), (5700, 'pass'), (5701, 'fail'), (86400, 'fail'), (600, 'fail')])
def test_kills_token_lifetime_never_failing_both_edges(lifetime, verdict):
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0]['lifetime_seconds'] = lifetime
    context = _checks.Context(document, {'today': TODAY})
    assert _checks.by_id()['TOKEN-LIFETIME'].judge(context, SUPPORT)[0] == verdict
    result = finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)
    assert result['status'] == {'fail': 'warn', 'pass': 'pass'}[verdict], 'a warning check: its failure is a warn'
    assert result['evidence'] == {'lifetime_seconds': lifetime, 'expected': [3600, 5400]}
    if verdict == 'fail':
        assert result['detail'] == ('access tokens live %d s, outside Entra\'s 60-90 minutes: a token lifetime policy '
                                    'applies' % lifetime)
        assert _checks.summarize(judge(document), fail_on_warn=True)['blocking'] == 1


def test_token_lifetime_from_expires_in_and_not_observed_is_an_error():
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    del token['lifetime_seconds']
    token['expires_in'] = 3599
    assert finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)['detail'] == 'access token lifetime 3599 s'
    del token['expires_in']
    result = finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: the token\'s lifetime was not observed')


def test_token_refresh_details_and_fixes():
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    ok = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert (ok['detail'], ok['evidence']) == ('token redeemed (refresh_token)', {
        'source': 'refresh_token', 'acquired': True, 'error_class': None, 'token_owner': SUPPORT})
    token.pop('source')
    assert finding(judge(document), 'TOKEN-REFRESH', SUPPORT)['status'] == 'pass', 'no source said: the refresh token'
    token.update(acquired=False, error_class='aadsts')
    refused = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert (refused['status'], refused['detail']) == ('fail', 'no token for %s' % SUPPORT)
    assert refused['remediation'] == _checks.by_id()['TOKEN-REFRESH'].remediation and 'aadsts' not in refused['evidence']
    token.update(message='AADSTS50173: password changed',
                 aadsts={'code': 'AADSTS50173', 'name': 'n', 'meaning': 'm', 'fix': 'sign in again', 'extra': 'x'})
    refused = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert refused['detail'] == 'AADSTS50173: password changed' and refused['remediation'] == 'sign in again'
    assert refused['evidence']['aadsts'] == {'code': 'AADSTS50173', 'name': 'n', 'meaning': 'm', 'fix': 'sign in again'}


def test_token_facts_are_joined_by_address_whatever_the_case():
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0]['address'] = SUPPORT.upper()
    assert finding(judge(document), 'TOKEN-REFRESH', SUPPORT)['status'] == 'pass'
    document['tenant']['mailbox_protocols']['tokens'][0]['address'] = None
    result = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: mailbox_protocols returned no token facts for %s'
                                                    % SUPPORT)


@pytest.mark.parametrize('claims, status', [
    ({'token_owner': None, 'upn': SUPPORT.upper()}, 'pass'),
    ({'token_owner': None, 'preferred_username': SUPPORT}, 'pass'),
    ({'token_owner': None, 'preferred_username': 'jdoe@contoso.com'}, 'fail'),
    ({'token_owner': None}, 'error'),
])
def test_token_owner_read_from_any_claim_and_an_app_only_token_is_an_error(claims, status):
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0].update(claims)
    result = finding(judge(document), 'TOKEN-OWNER', SUPPORT)
    assert result['status'] == status
    if status == 'fail':
        assert result['detail'].startswith('the token for %s belongs to jdoe@contoso.com, not %s' % (SUPPORT, SUPPORT))
    if status == 'error':
        assert result['detail'] == 'not read: the token does not say whose it is (an app-only token)'


def test_token_owner_of_a_shared_account_and_a_refused_token_waits():
    findings = judge(healthy())
    owner = finding(findings, 'TOKEN-OWNER', SALES)
    assert owner['detail'] == 'the token belongs to %s' % SVC
    assert owner['evidence'] == {'expected': SVC, 'token_owner': SVC}
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][1]['acquired'] = False
    for check_id in ('TOKEN-OWNER', 'TOKEN-LIFETIME'):
        waiting = finding(judge(document), check_id, SALES)
        assert (waiting['status'], waiting['blocked_by']) == ('skip', 'TOKEN-REFRESH')


@pytest.mark.parametrize('user_facts, status, detail', [
    ({'exists': False}, 'fail', '%s does not exist in the tenant (AADSTS50034)' % SVC),
    ({'enabled': None}, 'pass', '%s enabled, %s enabled' % (SALES, SVC)),
    ({'exists': None}, 'skip', None),
])
def test_user_account_of_the_shared_account(user_facts, status, detail):
    document = healthy()
    document['tenant']['tenant_info']['users'][2].update(user_facts)
    document['tenant']['tenant_info']['errors'] = [{'message': 'GET /users/svc: 500'}] if status == 'skip' else []
    result = finding(judge(document), 'USER-ACCOUNT', SALES)
    assert result['status'] == status
    if detail:
        assert result['detail'] == detail
    else:
        assert result['blocked_by'] == 'PREFLIGHT-TENANT-READ'


def test_user_accounts_are_joined_by_address_or_name_and_one_missing_is_an_error():
    document = healthy()
    users = document['tenant']['tenant_info']['users']
    users[0].update(name=SUPPORT.upper())
    users[0]['address'] = SUPPORT.upper()
    result = finding(judge(document), 'USER-ACCOUNT', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', '%s enabled' % SUPPORT)
    assert result['evidence'] == {SUPPORT: {'exists': True, 'enabled': True}}
    del users[2]
    missing = finding(judge(document), 'USER-ACCOUNT', SALES)
    assert (missing['status'], missing['detail']) == ('error', 'not read: tenant_info did not read %s' % SVC)


def _null(document, path):
    """Set the last key of PATH (a tuple of keys and indexes from the tenant record) to None."""
    part = document['tenant']
    for key in path[:-1]:
        part = part[key]
    part[path[-1]] = None
    return document


@pytest.mark.parametrize('path, check_id, subject, status, detail', [
    (('tenant_info', 'token'), 'APP-REGISTRATION', 'tenant', 'pass', 'app registration ECE (app)'),
    (('mailbox_protocols', 'tokens'), 'TOKEN-REFRESH', SUPPORT, 'error',
     'not read: mailbox_protocols returned no token facts for %s' % SUPPORT),
    (('tenant_info', 'users'), 'USER-ACCOUNT', SUPPORT, 'error', 'not read: tenant_info did not read %s' % SUPPORT),
    (('tenant_info', 'application', 'required_permissions'), 'APP-PERMISSIONS', 'tenant', 'fail',
     'the app does not request IMAP.AccessAsUser.All or POP.AccessAsUser.All, SMTP.Send, offline_access'),
    (('tenant_info', 'application', 'service_principal', 'delegated_grants'), 'APP-CONSENT', 'tenant', 'fail',
     'no admin consent for IMAP.AccessAsUser.All, SMTP.Send, offline_access (AADSTS65001 follows)'),
    (('tenant_info', 'application', 'service_principal', 'delegated_grants', 0, 'scopes'), 'APP-CONSENT', 'tenant',
     'fail', 'no admin consent for IMAP.AccessAsUser.All, SMTP.Send, offline_access (AADSTS65001 follows)'),
    (('tenant_info', 'application', 'redirect_uris'), 'APP-REDIRECT-URI', 'tenant', 'fail',
     'no redirect URI of the app uses ece.contoso.com (ECE\'s External URL host); registered: none'),
    (('tenant_info', 'application', 'service_principal'), 'APP-CONSENT', 'tenant', 'fail',
     'the app has no service principal in the tenant: nobody consented to it'),
    (('tenant_info', 'application', 'secrets'), 'APP-SECRET-EXPIRY', 'tenant', 'fail',
     'the app has no client secret (ECE needs one to redeem its tokens)'),
    (('tenant_info', 'application', 'certificates'), 'APP-SECRET-EXPIRY', 'tenant', 'pass',
     'a client secret is valid for 399 more day(s)'),
])
def test_a_null_part_of_the_tenant_record_is_read_as_empty_not_a_crash(path, check_id, subject, status, detail):
    result = finding(judge(_null(healthy(), path)), check_id, subject)
    assert (result['status'], result['detail']) == (status, detail)


def test_no_application_and_no_token_facts_is_the_client_id_not_configured():
    document = healthy()
    document['tenant']['tenant_info'].update(application=None, token=None)
    result = finding(judge(document), 'APP-REGISTRATION', 'tenant')
    assert (result['status'], result['detail']) == (
        'error', 'not read: no app registration was read (ece_o365_ece_app_client_id is empty)')


def test_null_secrets_with_a_certificate_pass_and_null_certificates_count_none():
    document = healthy()
    _app(document).update(secrets=None, certificates=[{'end': '2030-01-01'}])
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['status'] == 'pass'
    _app(document).update(certificates=None)
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['evidence']) == ('fail', {'secrets': [], 'certificates': 0})
