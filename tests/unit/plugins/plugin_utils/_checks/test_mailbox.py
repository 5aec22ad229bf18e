# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Mailbox checks: by address; the protocols ECE uses travel with the mailbox; SMTP AUTH and FullAccess judged here."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import mailbox

from .observations import SALES, SUPPORT, SVC, finding, healthy, judge, login_results, not_passing, refused_token


LICENCE_READ_OK = {'ok': True, 'source': 'licenseDetails', 'status': 200, 'error_class': None}


def _settings(document, address):
    return [m for m in document['tenant']['mailbox_settings']['mailboxes'] if m['address'] == address][0]


def test_pop_declared_and_disabled_fails_even_with_imap_enabled():
    document = healthy()
    document['mailboxes'][SUPPORT]['protocols'] = ['pop3', 'smtp']
    _settings(document, SUPPORT)['pop_enabled'] = False
    findings = judge(document)
    result = finding(findings, 'MBX-PROTOCOLS', SUPPORT)
    assert result['status'] == 'fail' and 'POP3 is disabled' in result['detail']
    assert '-PopEnabled $true' in result['remediation'] and SUPPORT in result['remediation']
    assert finding(findings, 'MBX-LOGIN-IMAP', SUPPORT)['status'] == 'skip', 'ECE does not use IMAP for it'


def test_imap_disabled_with_pop_unused_fails():
    document = healthy()
    document['mailboxes'][SUPPORT]['protocols'] = ['imap', 'smtp']
    _settings(document, SUPPORT)['imap_enabled'] = False
    assert finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)['status'] == 'fail'


def test_a_login_that_differs_from_the_address_is_joined_by_address():
    document = healthy()
    document['mailboxes'][SUPPORT]['login'] = 'ece-support@contoso.onmicrosoft.com'
    document['tenant']['mailbox_protocols']['results'] = (
        login_results(SUPPORT, 'ece-support@contoso.onmicrosoft.com', {}) + login_results(SALES, SALES, {}))
    findings = judge(document)
    assert not_passing(findings) == {}
    for check_id in ('MBX-PROTOCOLS', 'MBX-SMTP-AUTH', 'MBX-FULLACCESS', 'MBX-LOGIN-IMAP'):
        assert finding(findings, check_id, SUPPORT)['status'] == 'pass'


def test_effective_smtp_auth_mailbox_setting_over_tenant():
    document = healthy()
    document['tenant']['mailbox_settings']['transport_config']['smtp_client_authentication_disabled'] = True
    _settings(document, SUPPORT)['smtp_client_authentication_disabled'] = False
    findings = judge(document)
    assert finding(findings, 'MBX-SMTP-AUTH', SUPPORT)['status'] == 'pass'
    assert finding(findings, 'MBX-SMTP-AUTH', SALES)['status'] == 'fail'


def test_smtp_auth_is_the_setting_of_the_account_that_signs_in_not_of_the_shared_mailbox():
    """Was: sales@'s own setting was judged, though ECE signs in to SMTP as svc@ (the delegate): SMTP AUTH on for the
    shared mailbox and off for the delegate passed, and Exchange answered 5.7.139 (nextcloud/mail #13668)."""
    document = healthy()
    document['tenant']['mailbox_settings']['transport_config']['smtp_client_authentication_disabled'] = True
    _settings(document, SALES)['smtp_client_authentication_disabled'] = False
    result = finding(judge(document), 'MBX-SMTP-AUTH', SALES)
    assert (result['status'], result['evidence']['signs_in']) == ('fail', SVC)
    assert result['detail'] == ('SMTP AUTH is disabled for %s (the account ECE signs in to SMTP with for %s) by the '
                                'tenant setting (535 5.7.139)' % (SVC, SALES))
    assert 'Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false' % SVC in result['remediation']
    _settings(document, SVC)['smtp_client_authentication_disabled'] = False
    result = finding(judge(document), 'MBX-SMTP-AUTH', SALES)
    assert result['status'] == 'pass' and result['detail'].startswith('SMTP AUTH enabled for %s (the account' % SVC)
    _settings(document, SVC)['exists'] = False
    result = finding(judge(document), 'MBX-SMTP-AUTH', SALES)
    assert result['status'] == 'fail' and 'Exchange holds no mailbox for it' in result['detail']


def test_smtp_auth_that_could_not_be_read_is_an_error_not_a_pass():
    document = healthy()
    document['tenant']['mailbox_settings']['transport_config'] = None
    assert finding(judge(document), 'MBX-SMTP-AUTH', SUPPORT)['status'] == 'error'


def test_full_access_minus_deny():
    document = healthy()
    _settings(document, SALES)['full_access'].append({'user': SVC, 'access_rights': ['FullAccess'], 'deny': True})
    result = finding(judge(document), 'MBX-FULLACCESS', SALES)
    assert result['status'] == 'fail' and 'a Deny entry' in result['detail']
    assert result['remediation'].startswith('Add-MailboxPermission -Identity %s -User %s' % (SALES, SVC))
    _settings(document, SALES)['full_access'] = []
    assert 'no grant' in finding(judge(document), 'MBX-FULLACCESS', SALES)['detail']


def test_no_mailbox_in_exchange_fails_licence_and_the_settings_checks_wait():
    document = healthy()
    _settings(document, SUPPORT)['exists'] = False
    document['tenant']['tenant_info']['users'][0]['licences'] = []
    findings = judge(document)
    assert finding(findings, 'MBX-LICENCE', SUPPORT)['status'] == 'fail'
    assert finding(findings, 'MBX-PROTOCOLS', SUPPORT)['blocked_by'] == 'MBX-LICENCE'


def test_exchange_foundation_gives_no_mailbox():
    document = healthy()
    document['tenant']['mailbox_settings'] = None
    document['tenant']['tenant_info']['users'][0]['licences'] = [
        {'sku': 'FLOW_FREE', 'service_plans': [{'name': 'EXCHANGE_S_FOUNDATION', 'status': 'Success'}]}]
    document['tenant']['mailbox_protocols']['results'] = login_results(
        SUPPORT, SUPPORT, {'imap': 'auth_failed', 'pop3': 'auth_failed', 'smtp': 'auth_failed'})
    result = finding(judge(document), 'MBX-LICENCE', SUPPORT)
    assert result['status'] != 'pass'


def test_a_refused_token_makes_the_logins_wait_for_token_refresh():
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0].update(acquired=False, message='AADSTS700082: expired')
    findings = judge(document)
    assert not_passing(findings) == {('TOKEN-REFRESH', SUPPORT): 'fail', ('TOKEN-OWNER', SUPPORT): 'skip',
                                     ('TOKEN-LIFETIME', SUPPORT): 'skip', ('MBX-LOGIN-IMAP', SUPPORT): 'skip',
                                     ('MBX-LOGIN-SMTP', SUPPORT): 'skip'}


def test_a_failed_login_shows_the_reply_and_its_own_fix():
    document = healthy()
    results = document['tenant']['mailbox_protocols']['results']
    smtp = [r for r in results if r['address'] == SALES and r['protocol'] == 'smtp'][0]
    smtp.update(ok=False, error_class='auth_failed', message='535 5.7.139 Authentication unsuccessful',
                fix='Set-CASMailbox')
    result = finding(judge(document), 'MBX-LOGIN-SMTP', SALES)
    assert result['status'] == 'fail' and result['remediation'] == 'Set-CASMailbox'


# kills: an SMTP AUTH setting that could not be read passing (neither the mailbox's nor the tenant's was read)
@pytest.mark.parametrize('transport_config', [None, {}, {'smtp_client_authentication_disabled': None}])
def test_kills_smtp_auth_not_read_is_an_error_not_a_pass(transport_config):
    document = healthy()
    document['tenant']['mailbox_settings']['transport_config'] = transport_config
    findings = judge(document)
    result = finding(findings, 'MBX-SMTP-AUTH', SUPPORT)
    assert (result['status'], result['detail']) == (
        'error', 'not read: neither the mailbox\'s nor the tenant\'s SmtpClientAuthenticationDisabled was read')
    assert _checks.summarize(findings)['passed_gate'] is False
    _settings(document, SUPPORT)['smtp_client_authentication_disabled'] = False  # the mailbox's own setting decides
    result = finding(judge(document), 'MBX-SMTP-AUTH', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', 'SMTP AUTH enabled (from the mailbox setting)')
    assert result['evidence'] == {'smtp_auth_enabled': True, 'source': 'mailbox', 'mailbox_setting': False,
                                  'tenant_setting': None, 'signs_in': SUPPORT}


@pytest.mark.parametrize('own, tenant, status, source', [
    (None, False, 'pass', 'tenant'), (None, True, 'fail', 'tenant'), (True, False, 'fail', 'mailbox'),
    (False, True, 'pass', 'mailbox'), (True, None, 'fail', 'mailbox')])
def test_effective_smtp_auth_table(own, tenant, status, source):
    document = healthy()
    document['tenant']['mailbox_settings']['transport_config']['smtp_client_authentication_disabled'] = tenant
    _settings(document, SUPPORT)['smtp_client_authentication_disabled'] = own
    result = finding(judge(document), 'MBX-SMTP-AUTH', SUPPORT)
    assert (result['status'], result['evidence']['source']) == (status, source)
    assert result['detail'] == {'pass': 'SMTP AUTH enabled (from the %s setting)' % source,
                                'fail': 'SMTP AUTH is disabled for %s by the %s setting (535 5.7.139)' % (
                                    SUPPORT, source)}[status]


def test_smtp_auth_not_applicable_when_ece_does_not_send_from_the_mailbox():
    document = healthy()
    document['mailboxes'][SUPPORT]['protocols'] = ['imap']
    _settings(document, SUPPORT)['exists'] = False  # no wait on MBX-LICENCE either: it does not apply
    result = finding(judge(document), 'MBX-SMTP-AUTH', SUPPORT)
    assert (result['status'], result['blocked_by']) == ('skip', None)
    assert result['detail'] == 'ECE does not send from %s (ece_o365_mailboxes[].protocols)' % SUPPORT


def test_settings_are_joined_by_address_or_mailbox_whatever_the_case():
    document = healthy()
    _settings(document, SUPPORT)['address'] = SUPPORT.upper()
    assert finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)['status'] == 'pass'
    sales = _settings(document, SALES)
    document['tenant']['mailbox_settings']['mailboxes'] = [sales]
    result = finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: mailbox_settings returned nothing for %s'
                                                    % SUPPORT)
    by_mailbox = dict(sales, mailbox=SALES.upper())
    del by_mailbox['address']
    document['tenant']['mailbox_settings']['mailboxes'] = [by_mailbox]
    assert mailbox.settings(_checks.Context(document), SALES)[0] is by_mailbox


def test_a_mailbox_exchange_could_not_read_waits_for_tenant_read():
    document = healthy()
    _settings(document, SALES)['exists'] = None
    document['tenant']['mailbox_settings']['errors'] = [{'message': 'Get-CASMailbox sales@: 500'}]
    findings = judge(document)
    for check_id in ('MBX-PROTOCOLS', 'MBX-FULLACCESS'):  # MBX-SMTP-AUTH reads svc@'s, which was read
        result = finding(findings, check_id, SALES)
        assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')
    assert finding(findings, 'MBX-LICENCE', SALES)['detail'].startswith('an Exchange Online plan is provisioned')


def test_protocols_enabled_details_fix_and_unread_switches():
    result = finding(judge(healthy()), 'MBX-PROTOCOLS', SALES)
    assert (result['detail'], result['evidence']) == ('IMAP, POP3 enabled, as ECE uses', {
        'imap_enabled': True, 'pop_enabled': True, 'used': ['imap', 'pop3']})
    document = healthy()
    document['mailboxes'][SUPPORT]['protocols'] = ['imap', 'pop3', 'smtp']
    _settings(document, SUPPORT)['imap_enabled'] = False
    result = finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)
    assert result['detail'] == 'IMAP is disabled on %s, and ECE uses it for this mailbox' % SUPPORT
    assert result['remediation'] == 'Set-CASMailbox -Identity %s -ImapEnabled $true' % SUPPORT
    _settings(document, SUPPORT).update(imap_enabled=None, pop_enabled=None)
    result = finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: the IMAP and POP3 switch of %s' % SUPPORT)
    document['mailboxes'][SUPPORT]['protocols'] = ['smtp']
    result = finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)
    assert (result['status'], result['blocked_by']) == ('skip', None)
    assert result['detail'] == 'ECE uses neither IMAP nor POP for %s (ece_o365_mailboxes[].protocols)' % SUPPORT


@pytest.mark.parametrize('grants, status, why', [
    ([{'user': SVC.upper(), 'access_rights': ['FullAccess'], 'deny': False}], 'pass', None),
    ([{'user': SVC, 'deny': False}], 'pass', None),
    ([{'user': SVC, 'access_rights': ['ReadPermission'], 'deny': False}], 'fail', 'no grant'),
    ([{'user': SVC, 'access_rights': ['FullAccess'], 'deny': False},
      {'user': SVC, 'access_rights': ['FullAccess'], 'deny': True}], 'fail', 'a Deny entry'),
    ([{'user': 'NT AUTHORITY\\SELF', 'access_rights': ['FullAccess'], 'deny': False}], 'fail', 'no grant'),
])
def test_full_access_table(grants, status, why):
    document = healthy()
    _settings(document, SALES)['full_access'] = grants
    result = finding(judge(document), 'MBX-FULLACCESS', SALES)
    assert result['status'] == status
    if why:
        assert result['detail'] == '%s may not open %s (%s)' % (SVC, SALES, why)
    else:
        assert result['detail'] == '%s holds FullAccess on %s' % (SVC, SALES)


def test_full_access_own_account_needs_no_grant():
    document = healthy()
    _settings(document, SUPPORT)['full_access'] = []
    document['mailboxes'][SUPPORT]['account'] = SUPPORT.upper()
    result = finding(judge(document), 'MBX-FULLACCESS', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', '%s uses its own account' % SUPPORT)
    document = healthy()
    _settings(document, SALES)['exists'] = False
    assert finding(judge(document), 'MBX-FULLACCESS', SALES)['blocked_by'] == 'MBX-LICENCE'


def test_licence_from_exchange_first():
    document = healthy()
    document['tenant']['tenant_info']['users'][0]['licences'] = []
    result = finding(judge(document), 'MBX-LICENCE', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', 'Exchange Online holds the mailbox')
    assert result['evidence'] == {'exchange_plans': [], 'mailbox_exists': True, 'licence_read': LICENCE_READ_OK}
    _settings(document, SUPPORT)['exists'] = False
    document['tenant']['tenant_info']['users'][0]['licences'] = healthy()['tenant']['tenant_info']['users'][0]['licences']
    result = finding(judge(document), 'MBX-LICENCE', SUPPORT)
    assert result['status'] == 'fail', 'Exchange holds no mailbox whatever the licence says'
    assert result['detail'].startswith('%s has no provisioned Exchange Online plan and Exchange holds no mailbox' % SUPPORT)


def _without_exchange(document, plans, failures=None):
    document['tenant']['mailbox_settings'] = None
    document['tenant']['tenant_info']['users'][0]['licences'] = [{'sku': 'SKU', 'service_plans': plans}]
    document['tenant']['mailbox_protocols']['results'] = login_results(SUPPORT, SUPPORT, failures or {}) + \
        login_results(SALES, SALES, {})
    return finding(judge(document), 'MBX-LICENCE', SUPPORT)


def test_licence_without_the_exchange_admin_api():
    result = _without_exchange(healthy(), [{'name': 'EXCHANGE_S_STANDARD', 'status': 'Success'},
                                           {'name': 'EXCHANGE_S_FOUNDATION', 'status': 'Success'},
                                           {'name': 'TEAMS1', 'status': 'Success'}])
    assert (result['status'], result['detail']) == ('pass', 'an Exchange Online plan is provisioned (EXCHANGE_S_STANDARD)')
    assert result['evidence'] == {'exchange_plans': [{'name': 'EXCHANGE_S_STANDARD', 'status': 'Success', 'sku': 'SKU'}],
                                  'mailbox_exists': None, 'licence_read': LICENCE_READ_OK}
    every = {'imap': 'auth_failed', 'pop3': 'auth_failed', 'smtp': 'auth_failed'}
    result = _without_exchange(healthy(), [{'name': 'EXCHANGE_S_ENTERPRISE', 'status': 'Disabled'}],
                               {'imap': 'auth_failed', 'smtp': 'auth_failed'})
    assert (result['status'], result['detail']) == (
        'pass', 'a POP3 login succeeded, so Exchange holds the mailbox (a shared mailbox needs no licence)')
    result = _without_exchange(healthy(), [{'name': 'EXCHANGE_S_FOUNDATION', 'status': 'Success'}], every)
    assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ'), 'TENANT-READ is an error'
    assert result['detail'].startswith('not judged: no Exchange plan for %s, and the Exchange admin API was not read' %
                                       SUPPORT)


def test_licence_when_exchange_could_not_read_the_mailbox_falls_back_to_the_plans():
    document = healthy()
    _settings(document, SUPPORT)['exists'] = None
    document['tenant']['tenant_info']['users'][0]['licences'] = []
    document['tenant']['mailbox_settings']['errors'] = [{'message': 'Get-CASMailbox: 500'}]
    result = finding(judge(document), 'MBX-LICENCE', SUPPORT)
    assert result['detail'].startswith('a IMAP login succeeded') and result['evidence']['mailbox_exists'] is None
    document['tenant']['mailbox_settings']['mailboxes'] = []
    assert finding(judge(document), 'MBX-LICENCE', SUPPORT)['detail'].startswith('a IMAP login succeeded')


@pytest.mark.parametrize('check_id, protocol', [('MBX-LOGIN-IMAP', 'imap'), ('MBX-LOGIN-POP3', 'pop3'),
                                                ('MBX-LOGIN-SMTP', 'smtp')])
def test_each_login_is_judged_from_its_own_result(check_id, protocol):
    document = healthy()
    document['mailboxes'][SUPPORT]['protocols'] = ['imap', 'pop3', 'smtp']
    document['tenant']['mailbox_protocols']['results'] = (
        login_results(SUPPORT, SUPPORT, {protocol: 'auth_failed'}) + login_results(SALES, SALES, {}, SVC))
    findings = judge(document)
    failing = dict((k, v) for k, v in not_passing(findings).items())
    assert failing == {(check_id, SUPPORT): 'fail'}
    result = finding(findings, check_id, SUPPORT)
    assert result['detail'] == '%s auth_failed' % protocol and result['remediation'] == _checks.by_id()[check_id].remediation
    assert result['evidence'] == {'login': SUPPORT, 'host': None, 'port': None, 'authenticated': None,
                                  'error_class': 'auth_failed', 'reply': None, 'followup': 'X',
                                  'mail_from': SUPPORT if protocol == 'smtp' else None,
                                  'mechanisms_offered': ['XOAUTH2', 'OAUTHBEARER']}
    assert finding(findings, check_id, SALES)['detail'] == '%s ok' % protocol


def test_a_login_not_tried_is_an_error_and_an_undeclared_protocol_a_skip():
    document = healthy()
    document['mailboxes'][SUPPORT]['protocols'] = ['imap', 'pop3', 'smtp']
    document['tenant']['mailbox_protocols']['results'] = [
        r for r in login_results(SUPPORT, SUPPORT, {}) if r['protocol'] != 'pop3'] + login_results(SALES.upper(), SALES, {})
    findings = judge(document)
    result = finding(findings, 'MBX-LOGIN-POP3', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: no POP3 login was tried for %s' % SUPPORT)
    assert finding(findings, 'MBX-LOGIN-POP3', SALES)['status'] == 'pass', 'joined by address whatever the case'
    document['mailboxes'][SUPPORT]['protocols'] = ['imap', 'smtp']
    result = finding(judge(document), 'MBX-LOGIN-POP3', SUPPORT)
    assert (result['status'], result['blocked_by'], result['detail']) == (
        'skip', None, 'ECE does not use POP3 for %s (ece_o365_mailboxes[].protocols)' % SUPPORT)


def test_null_parts_of_mailbox_settings_are_read_as_empty_not_a_crash():
    document = healthy()
    document['tenant']['mailbox_settings']['mailboxes'] = None
    result = finding(judge(document), 'MBX-PROTOCOLS', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: mailbox_settings returned nothing for %s'
                                                    % SUPPORT)
    document = healthy()
    _settings(document, SALES)['full_access'] = None
    result = finding(judge(document), 'MBX-FULLACCESS', SALES)
    assert (result['status'], result['detail']) == ('fail', '%s may not open %s (no grant)' % (SVC, SALES))
    _settings(document, SALES)['full_access'] = [{'user': None, 'access_rights': ['FullAccess'], 'deny': False}]
    result = finding(judge(document), 'MBX-FULLACCESS', SALES)
    assert result['status'] == 'fail' and 'none' not in result['evidence']['full_access'], 'a nameless grant is no one'


@pytest.mark.parametrize('licences', [None, [{'sku': 'X', 'service_plans': None}],
                                      [{'sku': 'X', 'service_plans': [{'name': None, 'status': 'Success'}]}]])
def test_null_licences_or_plans_give_no_plan_and_a_login_still_tells(licences):
    document = healthy()
    document['tenant']['mailbox_settings'] = None
    document['tenant']['tenant_info']['users'][0]['licences'] = licences
    result = finding(judge(document), 'MBX-LICENCE', SUPPORT)
    assert (result['status'], result['evidence']['exchange_plans']) == ('pass', [])
    assert result['detail'].startswith('a IMAP login succeeded')


def test_licence_with_neither_exchange_nor_logins_read_waits_for_tenant_read():
    document = healthy()
    document['tenant']['mailbox_settings'] = None
    document['tenant']['mailbox_protocols'] = None
    document['tenant']['tenant_info']['users'][0]['licences'] = []
    findings = judge(document)
    assert finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['status'] == 'error'
    result = finding(findings, 'MBX-LICENCE', SUPPORT)
    assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')
    document['tenant']['mailbox_protocols'] = {'results': None, 'tokens': []}
    assert finding(judge(document), 'MBX-LICENCE', SUPPORT)['blocked_by'] == 'PREFLIGHT-TENANT-READ'
    document['tenant']['mailbox_protocols'] = {'results': [dict(r, address=None) for r in login_results(
        SUPPORT, SUPPORT, {})], 'tokens': []}
    assert finding(judge(document), 'MBX-LICENCE', SUPPORT)['blocked_by'] == 'PREFLIGHT-TENANT-READ'


def test_null_login_results_are_not_a_login_and_a_null_followup_is_none():
    document = healthy()
    document['tenant']['mailbox_protocols']['results'] = None
    result = finding(judge(document), 'MBX-LOGIN-SMTP', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: no SMTP login was tried for %s' % SUPPORT)
    document = healthy()
    results = document['tenant']['mailbox_protocols']['results']
    results[0]['address'] = None  # support@'s IMAP login, unjoinable
    results[1]['followup'] = None  # its SMTP login
    findings = judge(document)
    imap = finding(findings, 'MBX-LOGIN-IMAP', SUPPORT)
    assert (imap['status'], imap['detail']) == ('error', 'not read: no IMAP login was tried for %s' % SUPPORT)
    assert finding(findings, 'MBX-LOGIN-SMTP', SUPPORT)['evidence']['followup'] is None


# -- issue 12: identities by object id, Send As, licences by mailbox plan, the known cause of a refused login ----

def test_full_access_granted_to_the_account_under_its_upn_is_the_account():
    """Was: fail ('no grant'). Exchange shows the trustee by UPN; ECE was given the account by its mail address."""
    document = healthy()
    upn = 'svc.account@contoso.onmicrosoft.com'
    document['tenant']['tenant_info']['users'][2].update(user_principal_name=upn)
    _settings(document, SALES)['full_access'][1]['user'] = upn
    result = finding(judge(document), 'MBX-FULLACCESS', SALES)
    assert (result['status'], result['detail']) == ('pass', '%s holds FullAccess on %s (as %s)' % (SVC, SALES, upn))
    _settings(document, SALES)['full_access'].append({'user': upn.upper(), 'access_rights': ['FullAccess'],
                                                      'deny': True})
    assert 'a Deny entry' in finding(judge(document), 'MBX-FULLACCESS', SALES)['detail']


def test_full_access_the_account_is_the_mailbox_itself_by_object_id():
    """Was: fail ('no grant'): the account was given by its UPN, the mailbox by its address, one user."""
    document = healthy()
    upn = 's.upport@contoso.onmicrosoft.com'
    document['mailboxes'][SUPPORT]['account'] = upn
    document['tenant']['tenant_info']['users'].append(dict(document['tenant']['tenant_info']['users'][0], name=upn,
                                                           address=upn, resolved_by='userPrincipalName'))
    _settings(document, SUPPORT)['full_access'] = []
    result = finding(judge(document), 'MBX-FULLACCESS', SUPPORT)
    assert (result['status'], result['detail']) == ('pass', '%s uses its own account' % SUPPORT)
    document['tenant']['tenant_info']['users'].pop()  # the UPN unread: the Exchange admin API's object id tells
    _settings(document, SUPPORT)['user_principal_name'] = upn
    assert finding(judge(document), 'MBX-FULLACCESS', SUPPORT)['status'] == 'pass'


def test_send_as_in_the_healthy_shared_model_and_not_applicable_when_the_account_sends_as_itself():
    findings = judge(healthy())
    result = finding(findings, 'MBX-SENDAS', SALES)
    assert (result['status'], result['detail']) == ('pass', '%s holds Send As on %s' % (SVC, SALES))
    assert result['evidence'] == {'account': SVC, 'account_id': 'id-' + SVC, 'sender': SALES, 'send_as': [SVC],
                                  'denied': []}
    own = finding(findings, 'MBX-SENDAS', SUPPORT)
    assert (own['status'], own['blocked_by'], own['detail']) == (
        'skip', None, '%s sends as itself (MAIL FROM %s): no Send As needed' % (SUPPORT, SUPPORT))


def test_send_as_missing_fails_although_full_access_is_held():
    """Was: no check at all (a pass: MAIL FROM + RSET is accepted; Exchange refuses the message at submission)."""
    document = healthy()
    _settings(document, SALES)['send_as'] = [{'trustee': 'NT AUTHORITY\\SELF', 'access_rights': ['SendAs'],
                                              'deny': False}]
    result = finding(judge(document), 'MBX-SENDAS', SALES)
    assert result['status'] == 'fail'
    assert result['detail'] == ('%s may not send as %s (no Send As grant; its FullAccess does not let it send): '
                                'Exchange refuses the message when it is submitted (554 5.2.252 SendAsDenied)' % (
                                    SVC, SALES))
    assert result['remediation'] == 'Add-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs' % (SALES, SVC)
    assert _checks.summarize(judge(document))['passed_gate'] is False


@pytest.mark.parametrize('send_as, status, why', [
    ([{'trustee': 'svc.account@contoso.onmicrosoft.com', 'access_rights': ['SendAs'], 'deny': False}], 'pass', None),
    ([{'trustee': SVC, 'access_rights': ['SendAs'], 'deny': False},
      {'trustee': SVC, 'access_rights': ['SendAs'], 'deny': True}], 'fail', 'a Deny entry'),
    ([{'trustee': SVC, 'access_rights': ['ReadPermission'], 'deny': False}], 'fail', 'no Send As grant'),
    ([{'trustee': 'jdoe@contoso.com', 'access_rights': ['SendAs'], 'deny': False}], 'fail', 'no Send As grant'),
    ([{'trustee': None, 'access_rights': ['SendAs'], 'deny': False}], 'fail', 'no Send As grant'),
])
def test_send_as_table_trustees_resolved_to_the_account(send_as, status, why):
    document = healthy()
    document['tenant']['tenant_info']['users'][2]['user_principal_name'] = 'svc.account@contoso.onmicrosoft.com'
    _settings(document, SALES).update(send_as=send_as, full_access=[])
    result = finding(judge(document), 'MBX-SENDAS', SALES)
    assert result['status'] == status
    if why:
        assert result['detail'].startswith('%s may not send as %s (%s):' % (SVC, SALES, why))


def test_send_as_not_read_is_an_error_and_no_smtp_is_not_applicable():
    document = healthy()
    _settings(document, SALES)['send_as'] = None
    result = finding(judge(document), 'MBX-SENDAS', SALES)
    assert (result['status'], result['detail']) == (
        'error', 'not read: the Send As entries of %s (Get-RecipientPermission) were not read' % SALES)
    assert _checks.summarize(judge(document))['passed_gate'] is False, 'never a pass'
    document['mailboxes'][SALES]['protocols'] = ['imap']
    result = finding(judge(document), 'MBX-SENDAS', SALES)
    assert (result['status'], result['detail']) == ('skip', 'ECE does not send from %s (ece_o365_mailboxes[].protocols)'
                                                    % SALES)


def test_send_as_for_a_sender_that_is_another_mailbox():
    document = healthy()
    document['mailboxes'][SUPPORT]['sender'] = SALES  # support@ sends MAIL FROM sales@, as itself
    result = finding(judge(document), 'MBX-SENDAS', SUPPORT)
    assert result['status'] == 'fail' and result['remediation'] == (
        'Add-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs' % (SALES, SUPPORT))
    document['mailboxes'][SUPPORT]['sender'] = 'noreply@contoso.com'
    result = finding(judge(document), 'MBX-SENDAS', SUPPORT)
    assert (result['status'], result['detail']) == ('error', 'not read: mailbox_settings returned nothing for the '
                                                             'sender noreply@contoso.com')


def test_licence_a_plan_counts_by_its_id_and_foundation_never():
    result = _without_exchange(healthy(), [{'name': None, 'id': 'EFB87545-963C-4E0D-99DF-69C6916D9EB0',
                                            'status': 'Success'}])
    assert result['status'] == 'pass' and result['evidence']['exchange_plans'][0]['status'] == 'Success'
    every = {'imap': 'auth_failed', 'pop3': 'auth_failed', 'smtp': 'auth_failed'}
    result = _without_exchange(healthy(), [{'name': 'EXCHANGE_S_FOUNDATION', 'id': '113feb6c-3fe4-4440-bddc-54d774bf0318',
                                            'status': 'Success'}], every)
    assert result['status'] == 'skip' and result['evidence'] == {}


@pytest.mark.parametrize('status', ['PendingProvisioning', 'PendingInput', 'PendingActivation'])
def test_licence_pending_is_its_own_finding_not_assign_a_licence(status):
    """Was: 'no provisioned Exchange Online plan' with the fix 'assign a licence'."""
    every = {'imap': 'not_connected', 'pop3': 'not_connected', 'smtp': 'auth_failed'}
    result = _without_exchange(healthy(), [{'name': 'EXCHANGE_S_ENTERPRISE', 'status': status}], every)
    assert result['status'] == 'fail'
    assert result['detail'] == ('pending: %s has the mailbox plan EXCHANGE_S_ENTERPRISE in status %s, not Success: the '
                                'plan is assigned but not active for the user yet, so it gives no mailbox' % (SUPPORT, status))
    assert result['remediation'].startswith('check the user in the Microsoft 365 admin center')
    document = healthy()
    _settings(document, SUPPORT)['exists'] = False
    document['tenant']['tenant_info']['users'][0]['licences'][0]['service_plans'][0]['status'] = status
    result = finding(judge(document), 'MBX-LICENCE', SUPPORT)
    assert result['detail'].endswith('so it gives no mailbox, and Exchange holds no mailbox yet')
    assert 'assign a licence' not in result['remediation']


def test_a_refused_licence_read_is_its_own_finding_and_does_not_take_user_account_down():
    document = healthy()
    document['tenant']['mailbox_settings'] = None
    user = document['tenant']['tenant_info']['users'][0]
    user.update(licences=None, licence_read={'ok': False, 'source': None, 'error_class': 'forbidden', 'status': 403,
                                             'message': 'Authorization_RequestDenied'})
    document['tenant']['mailbox_protocols']['results'] = login_results(
        SUPPORT, SUPPORT, {'imap': 'not_connected', 'smtp': 'auth_failed'}, protocols=('imap', 'smtp')) + \
        login_results(SALES, SALES, {}, SVC)
    findings = judge(document)
    result = finding(findings, 'MBX-LICENCE', SUPPORT)
    assert (result['status'], result['detail']) == (
        'fail', 'the licence read of %s was refused (403 Authorization_RequestDenied), and the Exchange admin API could '
                'not tell whether it holds a mailbox either: nothing read says whether %s has one' % (SUPPORT, SUPPORT))
    assert 'Exchange.ManageAsApp' in result['remediation'] and 'User.Read.All' in result['remediation']
    assert result['evidence']['licence_read'] == {'ok': False, 'source': None, 'status': 403, 'error_class': 'forbidden'}
    assert finding(findings, 'USER-ACCOUNT', SUPPORT)['status'] == 'pass'
    document = healthy()  # Exchange tells: the refused licence read does not matter
    document['tenant']['tenant_info']['users'][0].update(licences=None, licence_read={'ok': False, 'status': 403})
    assert finding(judge(document), 'MBX-LICENCE', SUPPORT)['status'] == 'pass'


def _refuse(document, address, protocol, error_class='auth_failed', reply='535 5.7.3 Authentication unsuccessful'):
    for result in document['tenant']['mailbox_protocols']['results']:
        if result['address'] == address and result['protocol'] == protocol:
            result.update(ok=False, error_class=error_class, reply=reply, fix='the generic fix',
                          message='the server refused the token: wrong audience or scope, expired, issued to another '
                                  'user, IMAP/POP disabled for the mailbox, or no FullAccess on a shared mailbox')
    return document


def test_a_refused_login_names_the_protocol_disabled_on_the_mailbox():
    """Was: the generic list ('wrong audience or scope, expired, ..., or no FullAccess') though POP is known off."""
    document = _refuse(healthy(), SALES, 'pop3', reply='-ERR Authentication failure')
    _settings(document, SALES)['pop_enabled'] = False
    result = finding(judge(document), 'MBX-LOGIN-POP3', SALES)
    assert (result['status'], result['detail']) == (
        'fail', 'POP3 login refused (-ERR Authentication failure); this run already knows why: POP3 is disabled on the '
                'mailbox (see MBX-PROTOCOLS)')
    assert result['remediation'] == 'Set-CASMailbox -Identity %s -PopEnabled $true' % SALES
    assert result['evidence']['known_causes'] == ['MBX-PROTOCOLS']
    imap = finding(judge(_refuse(document, SALES, 'imap')), 'MBX-LOGIN-IMAP', SALES)
    assert imap['remediation'] == 'the generic fix', 'IMAP is enabled: POP being off explains nothing about it'


def test_a_refused_login_names_the_missing_full_access_and_send_as():
    document = _refuse(_refuse(healthy(), SALES, 'imap', error_class='not_connected',
                               reply='NO User is authenticated but not connected'), SALES, 'smtp',
                       error_class='send_as_denied', reply='554 5.2.252 SendAsDenied')
    _settings(document, SALES).update(full_access=[], send_as=[])
    findings = judge(document)
    imap = finding(findings, 'MBX-LOGIN-IMAP', SALES)
    assert imap['detail'] == ('IMAP login refused (NO User is authenticated but not connected); this run already '
                              'knows why: %s may not open %s (no grant) (see MBX-FULLACCESS)' % (SVC, SALES))
    assert imap['remediation'] == ('Add-MailboxPermission -Identity %s -User %s -AccessRights FullAccess '
                                   '-AutoMapping $false' % (SALES, SVC))
    smtp = finding(findings, 'MBX-LOGIN-SMTP', SALES)
    assert smtp['detail'].startswith('SMTP login refused (554 5.2.252 SendAsDenied); this run already knows why: %s may '
                                     'not send as %s (no Send As grant)' % (SVC, SALES))
    assert smtp['detail'].endswith('(see MBX-SENDAS)') and smtp['evidence']['known_causes'] == ['MBX-SENDAS']


def test_a_refused_login_names_smtp_auth_off_consent_and_the_licence_together():
    document = _refuse(healthy(), SUPPORT, 'smtp')
    _settings(document, SUPPORT)['smtp_client_authentication_disabled'] = True
    document['tenant']['tenant_info']['application']['service_principal']['delegated_grants'][0]['scopes'] = [
        'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'offline_access']
    result = finding(judge(document), 'MBX-LOGIN-SMTP', SUPPORT)
    assert result['evidence']['known_causes'] == ['MBX-SMTP-AUTH', 'APP-CONSENT']
    assert result['detail'].endswith('SMTP AUTH is disabled for %s by the mailbox setting (535 5.7.139) (see '
                                     'MBX-SMTP-AUTH); SMTP.Send is not consented for %s (see APP-CONSENT)' % (
                                         SUPPORT, SUPPORT))
    assert result['remediation'].count('; ') >= 1 and 'Grant admin consent' in result['remediation']


def test_a_refused_login_without_a_known_cause_or_for_a_network_reason_keeps_its_own_message():
    document = _refuse(healthy(), SALES, 'imap')
    result = finding(judge(document), 'MBX-LOGIN-IMAP', SALES)
    assert result['detail'].startswith('the server refused the token') and result['remediation'] == 'the generic fix'
    assert 'known_causes' not in result['evidence']
    document = _refuse(healthy(), SALES, 'imap', error_class='timeout', reply=None)
    _settings(document, SALES)['imap_enabled'] = False
    result = finding(judge(document), 'MBX-LOGIN-IMAP', SALES)
    assert result['remediation'] == 'the generic fix', 'a timeout is not explained by IMAP being disabled'


def test_reads_refused_as_a_whole_are_blocked_by_the_tenant_read_not_errors_of_their_own():
    """Was (fleet scenario entra-token-outage): every user and mailbox check an error 'not read', beside
    PREFLIGHT-TENANT-READ's failure that already says why."""
    document = healthy()
    document['tenant']['tenant_info'] = refused_token('tenant_info', 'AADSTS50000: outage')
    document['tenant']['mailbox_settings'] = refused_token('mailbox_settings', 'AADSTS50000: outage')
    findings = judge(document)
    for check_id in ('USER-ACCOUNT', 'MBX-LICENCE', 'MBX-PROTOCOLS', 'MBX-SMTP-AUTH', 'MBX-FULLACCESS'):
        result = finding(findings, check_id, SALES)
        assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ'), result


def test_a_refused_send_as_or_transport_read_is_blocked_by_the_tenant_read():
    document = healthy()
    sales = [m for m in document['tenant']['mailbox_settings']['mailboxes'] if m['address'] == SALES][0]
    sales.update(send_as=None, send_as_read={'ok': False, 'error_class': 'forbidden', 'message': '401'})
    document['tenant']['mailbox_settings']['errors'] = [{'error_class': 'forbidden', 'message': '401 Get-RecipientPermission'}]
    result = finding(judge(document), 'MBX-SENDAS', SALES)
    assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')
    sales.pop('send_as_read')
    document['tenant']['mailbox_settings']['errors'] = []
    assert finding(judge(document), 'MBX-SENDAS', SALES)['status'] == 'error', 'not read, and no reason: an error'
    document = healthy()
    document['tenant']['mailbox_settings']['transport_config'] = {
        'smtp_client_authentication_disabled': None, 'ok': False, 'error_class': 'forbidden', 'message': '401'}
    document['tenant']['mailbox_settings']['errors'] = [{'error_class': 'forbidden', 'message': '401 Get-TransportConfig'}]
    result = finding(judge(document), 'MBX-SMTP-AUTH', SUPPORT)
    assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')


def test_a_refused_login_names_the_wrong_token_owner_and_a_missing_store_names_the_licence():
    document = healthy()
    token = [t for t in document['tenant']['mailbox_protocols']['tokens'] if t['address'] == SUPPORT][0]
    token.update(oid='id-someone-else', token_owner='jdoe@contoso.com')
    document['tenant']['mailbox_protocols']['results'] = [
        dict(r, ok=False, error_class='auth_failed', reply='NO AUTHENTICATE failed.') if r['address'] == SUPPORT else r
        for r in document['tenant']['mailbox_protocols']['results']]
    result = finding(judge(document), 'MBX-LOGIN-IMAP', SUPPORT)
    assert result['status'] == 'fail' and 'this run already knows why' in result['detail'] and \
        '(see TOKEN-OWNER)' in result['detail'], result['detail']
    document = healthy()
    _settings(document, SUPPORT)['exists'] = False
    for user_ in document['tenant']['tenant_info']['users']:
        if user_['name'] == SUPPORT:
            user_['licences'] = []
    document['tenant']['mailbox_protocols']['results'] = [
        dict(r, ok=False, error_class='mailbox_unavailable', reply='525 5.7.13 MailboxNotFound')
        if r['address'] == SUPPORT and r['protocol'] == 'smtp' else r
        for r in document['tenant']['mailbox_protocols']['results']]
    result = finding(judge(document), 'MBX-LOGIN-SMTP', SUPPORT)
    assert '(see MBX-LICENCE)' in result['detail'], result['detail']


def test_a_server_without_xoauth2_keeps_its_own_message_whatever_else_is_known():
    """Kills: auth_unsupported explained by a known cause (the token owner's) - the server never saw the token."""
    document = healthy()
    token = [t for t in document['tenant']['mailbox_protocols']['tokens'] if t['address'] == SUPPORT][0]
    token.update(oid='id-someone-else', token_owner='jdoe@contoso.com')
    document['tenant']['mailbox_protocols']['results'] = [
        dict(r, ok=False, error_class='auth_unsupported', message='the server offers PLAIN, not XOAUTH2')
        if r['address'] == SUPPORT and r['protocol'] == 'imap' else r
        for r in document['tenant']['mailbox_protocols']['results']]
    result = finding(judge(document), 'MBX-LOGIN-IMAP', SUPPORT)
    assert (result['status'], result['detail']) == ('fail', 'the server offers PLAIN, not XOAUTH2')


def test_a_fullaccess_grant_shown_by_the_primary_address_resolves_through_mail():
    """Kills: a grant named by the user's mail (not its UPN, not a proxy address read) not recognised."""
    document = healthy()
    svc = [u for u in document['tenant']['tenant_info']['users'] if u['name'] == SVC][0]
    svc.update(user_principal_name='svc@contoso.onmicrosoft.com', mail='ece.svc@contoso.com', proxy_addresses=[],
               name='svc@contoso.onmicrosoft.com', address='svc@contoso.onmicrosoft.com')
    sales = _settings(document, SALES)
    sales['full_access'][1]['user'] = 'ECE.SVC@contoso.com'
    document['mailboxes'][SALES]['account'] = 'svc@contoso.onmicrosoft.com'
    result = finding(judge(document), 'MBX-FULLACCESS', SALES)
    assert result['status'] == 'pass', result
