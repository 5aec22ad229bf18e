# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Identity checks: the app registration as Graph shows it, judged here; the token ECE stored; the accounts."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

from .observations import SALES, SUPPORT, SVC, TODAY, finding, healthy, judge, not_passing, refreshed, refused_token


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
    assert result['status'] == 'fail' and result['evidence']['not_consented'] == ['POP.AccessAsUser.All', 'SMTP.Send']
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = (
        'IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send offline_access')
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
    tokens[0].update(token_owner='jdoe@contoso.com', oid='id-jdoe')
    tokens[1]['expires_in'] = 86400
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


@pytest.mark.parametrize('uris, status, detail', [
    ({'web': ['https://ece.contoso.com/cb'], 'spa': [], 'public_client': []}, 'pass',
     'redirect URI on ece.contoso.com: https://ece.contoso.com/cb'),
    # was: pass (only the host was compared); ECE is a web app with a secret: a SPA or public-client URI is not its own
    ({'web': [], 'spa': ['https://ece.contoso.com/spa'], 'public_client': []}, 'fail',
     'the redirect URI on ece.contoso.com is registered for the Single-page application platform, not Web: ECE is a '
     'web app that redeems the code with a client secret (https://ece.contoso.com/spa)'),
    ({'web': [], 'spa': [], 'public_client': ['https://ece.contoso.com/pc']}, 'fail',
     'the redirect URI on ece.contoso.com is registered for the Mobile and desktop applications platform, not Web: '
     'ECE is a web app that redeems the code with a client secret (https://ece.contoso.com/pc)'),
    # was: pass; Entra accepts http:// only for localhost
    ({'web': ['http://ece.contoso.com/cb'], 'spa': [], 'public_client': []}, 'fail',
     'the redirect URI on ece.contoso.com uses http://, not https:// (http://ece.contoso.com/cb): Entra accepts http '
     'only for localhost'),
    ({'web': ['http://ece.contoso.com/cb', 'https://ECE.contoso.com/x'], 'spa': ['https://ece.contoso.com/s']}, 'pass',
     'redirect URI on ece.contoso.com: https://ECE.contoso.com/x'),
    ({'web': ['https://ece.contoso.com.evil.example/cb'], 'spa': [], 'public_client': []}, 'fail', None),
    ({}, 'fail', None),
])
def test_redirect_uri_must_be_web_https_on_the_external_url_host(uris, status, detail):
    document = healthy()
    _app(document)['redirect_uris'] = uris
    result = finding(judge(document), 'APP-REDIRECT-URI', 'tenant')
    assert result['status'] == status
    if detail:
        assert result['detail'] == detail
    else:
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
def test_permissions_requested_table_when_no_mailbox_is_declared(names, status, detail):
    document = healthy()
    document['mailboxes'] = {}
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': n} for n in names]
    result = finding(judge(document), 'APP-PERMISSIONS', 'tenant')
    assert (result['status'], result['detail']) == (status, detail)
    assert result['evidence'] == {'delegated': sorted(names)}


@pytest.mark.parametrize('names, status, detail', [
    (('IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access'), 'pass',
     'requests what the mailboxes use: IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send, offline_access'),
    # was: pass (IMAP "or" POP); sales@ is read over POP too, and its refresh would ask for POP
    (('IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access'), 'fail',
     'the app does not request POP.AccessAsUser.All (needed by %s)' % SALES),
    (('POP.AccessAsUser.All', 'SMTP.Send', 'offline_access'), 'fail',
     'the app does not request IMAP.AccessAsUser.All (needed by %s, %s)' % (SALES, SUPPORT)),
    (('IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send'), 'fail',
     'the app does not request offline_access (needed by %s, %s)' % (SALES, SUPPORT)),
])
def test_permissions_judged_against_what_the_declared_mailboxes_use(names, status, detail):
    document = healthy()
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': n} for n in names]
    result = finding(judge(document), 'APP-PERMISSIONS', 'tenant')
    assert (result['status'], result['detail']) == (status, detail)
    assert result['evidence']['needed']['SMTP.Send'] == [SALES, SUPPORT]


def test_permissions_a_mailbox_read_over_imap_only_needs_no_pop():
    document = healthy()
    document['mailboxes'][SALES]['protocols'] = ['imap', 'smtp']
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': n} for n in
                                              ('IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access')]
    assert finding(judge(document), 'APP-PERMISSIONS', 'tenant')['status'] == 'pass'


def test_an_application_permission_is_not_a_delegated_one():
    document = healthy()
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': 'IMAP.AccessAsUser.All'},
                                              {'type': 'delegated', 'name': 'POP.AccessAsUser.All'},
                                              {'type': 'delegated', 'name': 'offline_access'},
                                              {'type': 'application', 'name': 'SMTP.Send'}]
    assert finding(judge(document), 'APP-PERMISSIONS', 'tenant')['detail'] == (
        'the app does not request SMTP.Send (needed by %s, %s)' % (SALES, SUPPORT))


def test_consent_only_for_the_mail_permissions_and_a_service_principal_is_needed():
    document = healthy()
    grants = _app(document)['service_principal']['delegated_grants']
    grants[0]['scopes'] = ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access']
    result = finding(judge(document), 'APP-CONSENT', 'tenant')  # openid requested, not consented: not mail
    assert (result['status'], result['detail']) == ('pass', 'the mail permissions each account uses are consented: '
                                                            '%s by admin consent, %s by admin consent' % (SUPPORT, SVC))
    assert result['evidence']['not_consented'] == []
    assert result['evidence']['accounts'][SVC] == {
        'needed': ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access'],
        'admin': ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access'], 'own': [],
        'not_consented': [], 'object_id': 'id-' + SVC, 'mailboxes': [SALES]}
    grants.append({'consent_type': 'Principal', 'principal_id': 'id-someone-else', 'scopes': ['SMTP.Send']})
    grants[0]['scopes'] = ['IMAP.AccessAsUser.All']
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['detail'] == ('no consent (admin, or the account\'s own) for %s: SMTP.Send, offline_access; %s: '
                                'POP.AccessAsUser.All, SMTP.Send, offline_access (AADSTS65001 follows)' % (SUPPORT, SVC))
    _app(document)['service_principal'] = {'found': False}
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert (result['status'], result['detail']) == ('fail', 'the app has no service principal in the tenant: nobody '
                                                            'consented to it')


def test_consent_passed_when_nothing_mail_related_was_consented_now_fails():
    """Was: pass. Only what the app requests by name was compared, so an app requesting only openid, with only
    openid consented, passed APP-CONSENT while every mailbox's refresh would get AADSTS65001."""
    document = healthy()
    _app(document)['required_permissions'] = [{'type': 'delegated', 'name': 'openid'}]
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = ['openid']
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['status'] == 'fail' and result['evidence']['not_consented'] == [
        'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access']


def test_per_user_consent_counts_for_that_account_only_by_object_id():
    document = healthy()
    grants = _app(document)['service_principal']['delegated_grants']
    grants[0]['scopes'] = ['IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access']  # admin: no POP
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['status'] == 'fail' and result['detail'].startswith(
        'no consent (admin, or the account\'s own) for %s: POP.AccessAsUser.All' % SVC)
    grants.append({'consent_type': 'Principal', 'principal_id': 'id-' + SUPPORT, 'resource': 'Microsoft Graph',
                   'scopes': 'POP.AccessAsUser.All'})
    assert finding(judge(document), 'APP-CONSENT', 'tenant')['status'] == 'fail', 'another user\'s consent'
    grants.append({'consent_type': 'Principal', 'principal_id': ('id-' + SVC).upper(), 'resource': 'Microsoft Graph',
                   'scopes': 'POP.AccessAsUser.All'})
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['status'] == 'pass', 'was: fail, only tenant-wide grants counted'
    assert result['detail'].endswith('%s by admin consent, %s by admin and its own consent' % (SUPPORT, SVC))
    assert result['evidence']['accounts'][SVC]['own'] == ['POP.AccessAsUser.All']


def test_consent_only_by_the_account_itself_and_its_object_id_unread():
    document = healthy()
    grants = _app(document)['service_principal']['delegated_grants']
    grants[0] = {'consent_type': 'Principal', 'principal_id': 'id-' + SVC,
                 'scopes': ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access']}
    grants.append(dict(grants[0], principal_id='id-' + SUPPORT))
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert result['detail'] == ('the mail permissions each account uses are consented: %s by its own consent, %s by '
                                'its own consent' % (SUPPORT, SVC))
    document['tenant']['tenant_info']['users'][2].update(id=None)
    for entry in document['tenant']['mailbox_settings']['mailboxes'][1:]:  # sales@, and svc@'s own (role account)
        entry['external_directory_object_id'] = None
    result = finding(judge(document), 'APP-CONSENT', 'tenant')
    assert (result['status'], result['detail']) == ('error', 'not read: the object id of %s, so its own consent cannot '
                                                             'be told from another user\'s' % SVC)


def test_a_partial_consent_that_covers_what_the_mailboxes_use_passes():
    """The app requests POP too, admin consented IMAP, SMTP and offline_access: the mailboxes use no POP."""
    document = healthy()
    document['mailboxes'][SALES]['protocols'] = ['imap', 'smtp']
    _app(document)['service_principal']['delegated_grants'][0]['scopes'] = [
        'IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access']
    assert finding(judge(document), 'APP-CONSENT', 'tenant')['status'] == 'pass'


@pytest.mark.parametrize('end, status, days', [
    ('2026-11-27', 'fail', -1), ('2026-11-28', 'warn', 0), ('2026-12-28', 'warn', 30), ('2026-12-29', 'pass', 31)])
def test_secret_expiry_edges_today_and_the_warning_window(end, status, days):
    document = healthy()
    _app(document)['secrets'] = [{'display_name': 's', 'hint': 'ab', 'end': end + 'T10:00:00Z'},
                                 {'display_name': 'bad', 'end': 'never'}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['evidence']['days_left']) == (status, days)
    assert result['evidence']['secrets'][0] == {'display_name': 's', 'hint': 'ab', 'end': end + 'T10:00:00Z',
                                                'in_use': None}
    narrower = finding(judge(document, options={'secret_warn_days': 29}), 'APP-SECRET-EXPIRY', 'tenant')
    assert narrower['status'] == {-1: 'fail', 0: 'warn', 30: 'pass', 31: 'pass'}[days]


UNKNOWN = '; which secret ECE holds is unknown (ECE\'s secret was not given), so the newest is judged'


def test_secret_expiry_details():
    document = healthy()
    _app(document)['secrets'] = [{'end': '2026-10-01T00:00:00Z'}, {'end': '2026-11-01T00:00:00Z'}]
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'every client secret has expired (the last on 2026-11-01; AADSTS7000222 follows)' + UNKNOWN)
    _app(document)['secrets'] = [{'end': '2026-12-08T00:00:00Z'}]
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'the last client secret expires in 10 day(s)' + UNKNOWN)
    _app(document)['secrets'] = [{'end': '2028-01-01T00:00:00Z', 'in_use': None}]
    assert finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'a client secret is valid for 399 more day(s)' + UNKNOWN)
    assert finding(judge(healthy()), 'APP-SECRET-EXPIRY', 'tenant')['detail'] == (
        'the client secret ECE holds (hint abc) is valid for 399 more day(s)')


@pytest.mark.parametrize('ece_end, status, detail', [
    # was: pass ("a client secret is valid"), judged on the newest secret whichever ECE holds
    ('2026-11-20T00:00:00Z', 'fail', 'the client secret ECE holds (hint abc) expired on 2026-11-20 (AADSTS7000222 '
                                     'follows)'),
    ('2026-12-08T00:00:00Z', 'warn', 'the client secret ECE holds (hint abc) expires in 10 day(s)'),
    ('2027-12-31T00:00:00Z', 'pass', 'the client secret ECE holds (hint abc) is valid for 398 more day(s)'),
])
def test_secret_expiry_judges_the_secret_ece_uses_not_the_newest(ece_end, status, detail):
    document = healthy()
    _app(document)['secrets'] = [{'display_name': 'new', 'hint': 'xyz', 'end': '2029-01-01T00:00:00Z', 'in_use': False},
                                 {'display_name': 'ece', 'hint': 'abc', 'end': ece_end, 'in_use': True}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['detail']) == (status, detail)


def test_secret_expiry_fails_when_no_secret_of_the_app_is_the_one_ece_holds():
    """Was: pass. ECE's secret was deleted, or belongs to another app: every secret read is in_use False."""
    document = healthy()
    _app(document)['secrets'] = [{'display_name': 'a', 'hint': 'xyz', 'end': '2029-01-01T00:00:00Z', 'in_use': False},
                                 {'display_name': 'b', 'hint': 'Q~1', 'end': '2028-01-01T00:00:00Z', 'in_use': False}]
    _app(document)['certificates'] = [{'end': '2030-01-01'}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['detail']) == (
        'fail', 'none of the app\'s 2 client secret(s) is the one ECE holds (hints Q~1, xyz): it was deleted, or it '
                'belongs to another app (AADSTS7000215 follows)')
    assert result['remediation'] == 'Certificates & secrets > New client secret on this app (app), and put its value ' \
        'in ECE'


def test_no_secret_fails_unless_a_certificate_authenticates():
    document = healthy()
    _app(document)['secrets'] = [{'end': None}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['detail']) == ('fail', 'the app has no client secret (ECE needs one to redeem its '
                                                            'tokens)')
    _app(document)['certificates'] = [{'end': '2030-01-01'}]
    result = finding(judge(document), 'APP-SECRET-EXPIRY', 'tenant')
    assert (result['status'], result['evidence']['certificates']) == ('pass', 1)


# kills: TOKEN-LIFETIME made never to fail. Entra back-dates iat by 300 s, so exp - iat is judged less 300 s, at
# the real edges (60 and 90 minutes, 60 s slack for the time expires_in took to arrive).
@pytest.mark.parametrize('lifetime, verdict', [
    (3839, 'fail'), (3840, 'pass'), (3900, 'pass'), (4200, 'pass'), (5760, 'pass'), (5761, 'fail'), (86400, 'fail'),
    (600, 'fail')])
def test_kills_token_lifetime_never_failing_both_edges(lifetime, verdict):
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    token['lifetime_seconds'] = lifetime
    del token['expires_in']
    context = _checks.Context(document, {'today': TODAY})
    assert _checks.by_id()['TOKEN-LIFETIME'].judge(context, SUPPORT)[0] == verdict
    result = finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)
    assert result['status'] == {'fail': 'warn', 'pass': 'pass'}[verdict], 'a warning check: its failure is a warn'
    assert result['evidence'] == {'lifetime_seconds': lifetime - 300, 'basis': 'exp - iat - 300',
                                  'expected': [3600, 5400]}
    if verdict == 'fail':
        assert result['detail'] == ('access tokens live %d s (exp - iat - 300), outside Entra\'s 60-90 minutes: a token '
                                    'lifetime policy applies' % (lifetime - 300))
        assert _checks.summarize(judge(document), fail_on_warn=True)['blocking'] == 1


@pytest.mark.parametrize('expires_in, verdict', [(3539, 'fail'), (3540, 'pass'), (3599, 'pass'), (5460, 'pass'),
                                                 (5461, 'fail')])
def test_token_lifetime_judges_expires_in_first_at_the_real_edge(expires_in, verdict):
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    token.update(expires_in=expires_in, lifetime_seconds=expires_in + 300)
    context = _checks.Context(document, {'today': TODAY})
    assert _checks.by_id()['TOKEN-LIFETIME'].judge(context, SUPPORT)[0] == verdict


def test_a_policy_of_55_minutes_passed_the_old_tolerance_and_now_warns():
    """Was: pass (exp - iat = 3600 s was read as 60 minutes, 300 s of tolerance). Entra back-dates iat by 5 minutes:
    exp - iat = 3600 s is a 55-minute token, which only a token lifetime policy gives."""
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    token.update(lifetime_seconds=3600, expires_in=None)
    assert finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)['status'] == 'warn'
    token.update(lifetime_seconds=3900)  # Microsoft's own sample: a 60-minute token
    assert finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)['status'] == 'pass'


def test_token_lifetime_from_expires_in_and_not_observed_is_an_error():
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    del token['lifetime_seconds']
    token['expires_in'] = 3599
    assert finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)['detail'] == 'access token lifetime 3599 s (expires_in)'
    del token['expires_in']
    result = finding(judge(document), 'TOKEN-LIFETIME', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: the token\'s lifetime was not observed')


def test_token_refresh_details_and_fixes():
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    ok = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert (ok['detail'], ok['evidence']) == (
        'ECE\'s stored refresh token redeemed from the controller (localhost), not a services server', {
            'source': 'refresh_token', 'acquired': True, 'error_class': None, 'token_owner': SUPPORT,
            'refreshed_on': None})
    token.pop('source')
    assert finding(judge(document), 'TOKEN-REFRESH', SUPPORT)['status'] == 'pass', 'no source said: the refresh token'
    token.update(acquired=False, error_class='aadsts')
    refused = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert (refused['status'], refused['detail']) == (
        'fail', 'no token for %s (refreshed from the controller (localhost), not a services server)' % SUPPORT)
    assert refused['remediation'] == _checks.by_id()['TOKEN-REFRESH'].remediation and 'aadsts' not in refused['evidence']
    token.update(message='AADSTS50173: password changed',
                 aadsts={'code': 'AADSTS50173', 'name': 'n', 'meaning': 'm', 'fix': 'sign in again', 'extra': 'x'})
    refused = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert refused['detail'].startswith('AADSTS50173: password changed (refreshed from the controller')
    assert refused['remediation'] == 'sign in again'
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
    ({'token_owner': None, 'oid': None, 'upn': SUPPORT.upper()}, 'pass'),
    ({'token_owner': None, 'oid': None, 'preferred_username': SUPPORT}, 'pass'),
    ({'token_owner': None, 'oid': None, 'unique_name': SUPPORT}, 'pass'),
    ({'token_owner': None, 'oid': None, 'preferred_username': 'jdoe@contoso.com'}, 'fail'),
    ({'token_owner': None, 'oid': None}, 'error'),
    ({'token_owner': None, 'oid': None, 'token_kind': 'app-only'}, 'error'),
    ({'token_kind': 'app-only'}, 'error'),
])
def test_token_owner_read_from_any_claim_and_an_app_only_token_is_an_error(claims, status):
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0].update(claims)
    result = finding(judge(document), 'TOKEN-OWNER', SUPPORT)
    assert result['status'] == status
    if status == 'fail':
        assert result['detail'].startswith('the token for %s belongs to jdoe@contoso.com, not %s' % (SUPPORT, SUPPORT))
    if status == 'error':
        assert result['detail'] == {
            None: 'not read: the token names no user (no oid, upn, preferred_username or unique_name claim)',
            'app-only': 'not read: the token is app-only (roles, no scp): it belongs to no user'}[claims.get('token_kind')]


def test_a_token_without_upn_but_with_an_oid_is_not_app_only():
    """Was: 'an app-only token' (error) for a delegated v1 token without upn (guests): the oid decides."""
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0].update(token_owner=None, token_kind='delegated')
    result = finding(judge(document), 'TOKEN-OWNER', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', 'the token belongs to object id id-%s' % SUPPORT)


def test_token_owner_compares_object_ids_not_names():
    """Was: fail ('wrong user (Kerberos SSO)') when the token's upn is not the address ECE was given for the account,
    although both are one user (a hybrid tenant: the mailbox address is not the UPN)."""
    document = healthy()
    users = document['tenant']['tenant_info']['users']
    users[0].update(user_principal_name='s.upport@contoso.onmicrosoft.com', resolved_by='mail')
    document['tenant']['mailbox_protocols']['tokens'][0]['token_owner'] = 's.upport@contoso.onmicrosoft.com'
    result = finding(judge(document), 'TOKEN-OWNER', SUPPORT)
    assert (result['status'], result['evidence']['compared_by']) == ('pass', 'object id')
    assert result['detail'] == 'the token belongs to s.upport@contoso.onmicrosoft.com'
    document['tenant']['mailbox_protocols']['tokens'][0]['oid'] = 'id-jdoe'  # same name, another user
    document['tenant']['mailbox_protocols']['tokens'][0]['token_owner'] = SUPPORT
    result = finding(judge(document), 'TOKEN-OWNER', SUPPORT)
    assert result['status'] == 'fail' and 'belongs to %s, not %s' % (SUPPORT, SUPPORT) in result['detail']


def test_token_owner_by_name_when_no_object_id_was_read_knows_the_aliases():
    document = healthy()
    document['tenant']['tenant_info']['users'][0].update(user_principal_name='s.upport@contoso.onmicrosoft.com',
                                                         proxy_addresses=[SUPPORT, 'help@contoso.com'])
    document['tenant']['mailbox_protocols']['tokens'][0].update(oid=None, token_owner='help@contoso.com')
    result = finding(judge(document), 'TOKEN-OWNER', SUPPORT)
    assert (result['status'], result['evidence']['compared_by']) == ('pass', 'name')
    document['tenant']['mailbox_protocols']['tokens'][0].update(token_owner='jdoe@contoso.com')
    assert finding(judge(document), 'TOKEN-OWNER', SUPPORT)['status'] == 'fail'


def test_token_owner_of_a_shared_account_and_a_refused_token_waits():
    findings = judge(healthy())
    owner = finding(findings, 'TOKEN-OWNER', SALES)
    assert owner['detail'] == 'the token belongs to %s' % SVC
    assert owner['evidence'] == {'expected': SVC, 'token_owner': SVC, 'oid': 'id-' + SVC, 'account_id': 'id-' + SVC,
                                 'compared_by': 'object id'}
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][1]['acquired'] = False
    for check_id in ('TOKEN-OWNER', 'TOKEN-LIFETIME'):
        waiting = finding(judge(document), check_id, SALES)
        assert (waiting['status'], waiting['blocked_by']) == ('skip', 'TOKEN-REFRESH')


BLOCKED = 'sign-in is blocked on %s, as Microsoft recommends for a shared mailbox: ECE signs in as %s' % (SALES, SVC)


@pytest.mark.parametrize('user_facts, status, detail', [
    ({'exists': False}, 'fail', '%s does not exist in the tenant (AADSTS50034)' % SVC),
    ({'enabled': False}, 'fail', '%s is disabled (AADSTS50057)' % SVC),
    ({'enabled': None}, 'pass', '%s exists, %s enabled; %s' % (SALES, SVC, BLOCKED)),
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


def test_a_shared_mailbox_with_sign_in_blocked_passes_when_reached_through_a_delegate():
    """Was: fail ('sales@ is disabled'). Microsoft recommends blocking sign-in on a shared mailbox's account."""
    result = finding(judge(healthy()), 'USER-ACCOUNT', SALES)
    assert (result['status'], result['detail']) == ('pass', '%s exists, %s enabled; %s' % (SALES, SVC, BLOCKED))
    document = healthy()
    document['tenant']['tenant_info']['users'][1]['exists'] = False
    result = finding(judge(document), 'USER-ACCOUNT', SALES)
    assert (result['status'], result['detail']) == ('fail', '%s does not exist in the tenant (AADSTS50034)' % SALES)


def test_a_mailbox_that_signs_in_as_itself_must_be_enabled_whatever_name_the_account_is_given():
    document = healthy()
    document['tenant']['tenant_info']['users'][0]['enabled'] = False
    result = finding(judge(document), 'USER-ACCOUNT', SUPPORT)
    assert (result['status'], result['detail']) == ('fail', '%s is disabled (AADSTS50057)' % SUPPORT)
    document = healthy()
    upn = 's.upport@contoso.onmicrosoft.com'
    document['mailboxes'][SUPPORT]['account'] = upn  # the same user, by its UPN: not a delegate
    document['tenant']['tenant_info']['users'].append(dict(document['tenant']['tenant_info']['users'][0], name=upn,
                                                           address=upn, resolved_by='userPrincipalName'))
    document['tenant']['tenant_info']['users'][0]['enabled'] = False
    result = finding(judge(document), 'USER-ACCOUNT', SUPPORT)
    assert (result['status'], result['detail']) == ('fail', '%s is disabled (AADSTS50057)' % SUPPORT)
    document['tenant']['tenant_info']['users'][0]['enabled'] = True
    result = finding(judge(document), 'USER-ACCOUNT', SUPPORT)
    assert result['detail'] == '%s enabled (%s is the same user)' % (SUPPORT, upn)


def test_a_mailbox_address_that_is_not_the_upn_is_found_by_its_proxy_address():
    """Was: 'does not exist' (GET /users/{address} answers 404 when the address is not the UPN). tenant_info now
    resolves by mail and proxyAddresses; and an alias read as not found is found on the user read under another name."""
    document = healthy()
    alias = 'ventas@contoso.com'
    document['mailboxes'][alias] = dict(document['mailboxes'][SALES], address=alias, login=alias, sender=alias)
    users = document['tenant']['tenant_info']['users']
    users[1]['proxy_addresses'] = [SALES, alias]
    users.append({'name': alias, 'address': alias, 'exists': False, 'id': None, 'enabled': None})
    result = finding(judge(document), 'USER-ACCOUNT', alias)
    assert result['status'] == 'pass' and result['evidence'][alias]['id'] == 'id-' + SALES


def test_user_accounts_are_joined_by_address_or_name_and_one_missing_is_an_error():
    document = healthy()
    users = document['tenant']['tenant_info']['users']
    users[0].update(name=SUPPORT.upper())
    users[0]['address'] = SUPPORT.upper()
    result = finding(judge(document), 'USER-ACCOUNT', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', '%s enabled' % SUPPORT)
    assert result['evidence'] == {SUPPORT: {'exists': True, 'enabled': True, 'id': 'id-' + SUPPORT, 'resolved_by': 'mail'}}
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


NO_CONSENT = ('no consent (admin, or the account\'s own) for %s: IMAP.AccessAsUser.All, SMTP.Send, offline_access; %s: '
              'IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send, offline_access (AADSTS65001 follows)' % (
                  SUPPORT, SVC))


@pytest.mark.parametrize('path, check_id, subject, status, detail', [
    (('tenant_info', 'token'), 'APP-REGISTRATION', 'tenant', 'pass', 'app registration ECE (app)'),
    (('mailbox_protocols', 'tokens'), 'TOKEN-REFRESH', SUPPORT, 'error',
     'not read: mailbox_protocols returned no token facts for %s' % SUPPORT),
    (('tenant_info', 'users'), 'USER-ACCOUNT', SUPPORT, 'error', 'not read: tenant_info did not read %s' % SUPPORT),
    (('tenant_info', 'application', 'required_permissions'), 'APP-PERMISSIONS', 'tenant', 'fail',
     'the app does not request IMAP.AccessAsUser.All (needed by %s, %s), POP.AccessAsUser.All (needed by %s), '
     'SMTP.Send (needed by %s, %s), offline_access (needed by %s, %s)' % (
         SALES, SUPPORT, SALES, SALES, SUPPORT, SALES, SUPPORT)),
    (('tenant_info', 'application', 'service_principal', 'delegated_grants'), 'APP-CONSENT', 'tenant', 'fail',
     NO_CONSENT),
    (('tenant_info', 'application', 'service_principal', 'delegated_grants', 0, 'scopes'), 'APP-CONSENT', 'tenant',
     'fail', NO_CONSENT),
    (('tenant_info', 'application', 'redirect_uris'), 'APP-REDIRECT-URI', 'tenant', 'fail',
     'no redirect URI of the app uses ece.contoso.com (ECE\'s External URL host); registered: none'),
    (('tenant_info', 'application', 'service_principal'), 'APP-CONSENT', 'tenant', 'fail',
     'the app has no service principal in the tenant: nobody consented to it'),
    (('tenant_info', 'application', 'secrets'), 'APP-SECRET-EXPIRY', 'tenant', 'fail',
     'the app has no client secret (ECE needs one to redeem its tokens)'),
    (('tenant_info', 'application', 'certificates'), 'APP-SECRET-EXPIRY', 'tenant', 'pass',
     'the client secret ECE holds (hint abc) is valid for 399 more day(s)'),
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


# -- where ECE refreshes: the services server (issue 16) -------------------------------------------------

def test_token_refresh_names_the_services_server_it_ran_on():
    document = healthy()
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    token.update(source='services_server', refreshed_on='svc1 through proxy http://p:3128')
    ok = finding(judge(document), 'TOKEN-REFRESH', SUPPORT)
    assert (ok['status'], ok['detail']) == ('pass', 'ECE\'s stored refresh token redeemed from svc1 through proxy '
                                                    'http://p:3128')


def test_kills_token_refresh_server_a_location_policy_on_the_services_server_alone_fails_there_only():
    """AADSTS53003 on svc1 while the controller redeems the same token: only TOKEN-REFRESH-SERVER fails, on svc1."""
    document = healthy()
    assert finding(judge(document), 'TOKEN-REFRESH-SERVER', 'svc1')['status'] == 'pass'
    document['hosts']['svc1']['token_refresh'][0] = refreshed(SUPPORT, aadsts=53003)
    findings = judge(document)
    result = finding(findings, 'TOKEN-REFRESH-SERVER', 'svc1')
    assert result['status'] == 'fail' and 'svc1 (no proxy)' in result['detail'] and '53003' in result['detail']
    assert 'only this server\'s path or location is refused' in result['detail']
    assert result['remediation'] == 'fix for AADSTS53003'
    assert not_passing(findings) == {('TOKEN-REFRESH-SERVER', 'svc1'): 'fail'}
    assert 'TOKEN-REFRESH-SERVER' not in [f['id'] for f in findings if f['subject'] in ('app1', 'app2')]


def test_token_refresh_server_a_token_refused_everywhere_is_token_refresh_s():
    document = healthy()
    document['hosts']['svc1']['token_refresh'][0] = refreshed(SUPPORT, aadsts=700082)
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    token.update(acquired=False, error_class='aadsts', aadsts={'code': 700082, 'fix': 'f'})
    findings = judge(document)
    result = finding(findings, 'TOKEN-REFRESH-SERVER', 'svc1')
    assert (result['status'], result['blocked_by']) == ('skip', 'TOKEN-REFRESH')
    assert finding(findings, 'TOKEN-REFRESH', SUPPORT)['status'] == 'fail'


def test_token_refresh_server_a_proxy_that_refuses_is_named():
    document = healthy()
    document['hosts']['svc1']['token_refresh'][1] = refreshed(SALES, error_class='proxy')
    result = finding(judge(document), 'TOKEN-REFRESH-SERVER', 'svc1')
    assert result['status'] == 'fail' and 'refused (proxy)' in result['detail']
    assert result['remediation'] == _checks.by_id()['TOKEN-REFRESH-SERVER'].remediation


@pytest.mark.parametrize('why, status', [
    ('ece_o365_refresh_on_services is false', 'skip'),
    ('no mailbox with a stored refresh token (ece_o365_mailboxes[].refresh_token)', 'error'),
    (None, 'error'),
])
def test_token_refresh_server_not_run_is_an_error_unless_the_user_chose_it(why, status):
    document = healthy()
    document['hosts']['svc1'].update(token_refresh=None, token_refresh_not_run=why)
    result = finding(judge(document), 'TOKEN-REFRESH-SERVER', 'svc1')
    assert result['status'] == status and (why or 'no token_refresh') in result['detail']


@pytest.mark.parametrize('source, label', [
    ('given', 'not ECE\'s own token: an access token the admin supplied'),
    ('password', 'not ECE\'s own token: a token from the account\'s password'),
])
def test_findings_on_a_fallback_token_say_it_is_not_ece_s_own(source, label):
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0].update(source=source, ece_token=False)
    findings = judge(document)
    for check_id in ('TOKEN-OWNER', 'TOKEN-LIFETIME', 'MBX-LOGIN-IMAP', 'MBX-LOGIN-SMTP'):
        assert label in finding(findings, check_id, SUPPORT)['detail'], check_id
    refresh = finding(findings, 'TOKEN-REFRESH', SUPPORT)
    assert refresh['status'] == 'error' and 'not ECE\'s own token' in refresh['detail']
    assert label not in finding(findings, 'TOKEN-OWNER', SALES)['detail']


# -- the identity helpers' edges (each test kills a mutant tools/mutate found alive) -----------------------------

def test_names_of_never_answers_to_none():
    from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import identity
    assert identity.names_of({'name': 'A@X', 'mail': None, 'proxy_addresses': ['SMTP:b@x', None]}) == {'a@x', 'b@x'}


def test_object_ids_and_identities_when_little_was_read():
    from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import identity
    document = healthy()
    document['tenant']['mailbox_settings']['mailboxes'] = None  # read, but no list: nothing to find, no crash
    document['tenant']['tenant_info']['users'] = []
    context = _checks.Context(document)
    assert identity.object_id(context, 'nobody@x') is None
    assert identity.same_identity(context, 'a@x', 'b@x') is None, 'different names, no ids: unknown, not the same'
    assert identity.same_identity(context, '', '') is None, 'no name is nobody'
    assert identity.same_identity(context, 'A@x', 'a@X') is True


def test_a_redirect_uri_on_another_platform_is_named_when_a_platform_list_is_absent():
    document = healthy()
    document['tenant']['tenant_info']['application']['redirect_uris'] = {'web': [], 'spa': ['https://ece.contoso.com/cb']}
    result = finding(judge(document), 'APP-REDIRECT-URI', 'tenant')
    assert result['status'] == 'fail' and 'registered for the Single-page application platform' in result['detail']


def test_a_given_token_without_ece_token_is_still_labelled_by_its_source():
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0]['source'] = 'given'  # an older record: no ece_token key
    assert 'not ECE\'s own token: an access token the admin supplied' in finding(
        judge(document), 'TOKEN-OWNER', SUPPORT)['detail']


def test_a_services_server_that_redeemed_nothing_is_an_error():
    document = healthy()
    document['hosts']['svc1']['token_refresh'] = []
    result = finding(judge(document), 'TOKEN-REFRESH-SERVER', 'svc1')
    assert (result['status'], result['detail']) == ('error', 'not read: svc1 redeemed no token (no mailbox with a refresh '
                                                             'token)')
