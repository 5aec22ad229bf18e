# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Mailbox checks: by address; the protocols ECE uses travel with the mailbox; SMTP AUTH and FullAccess judged here."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import mailbox

from .observations import SALES, SUPPORT, SVC, finding, healthy, judge, login_results, not_passing


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
    _settings(document, SALES)['smtp_client_authentication_disabled'] = False
    findings = judge(document)
    assert finding(findings, 'MBX-SMTP-AUTH', SUPPORT)['status'] == 'fail'
    assert finding(findings, 'MBX-SMTP-AUTH', SALES)['status'] == 'pass'


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
                                  'tenant_setting': None}


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
    for check_id in ('MBX-PROTOCOLS', 'MBX-SMTP-AUTH', 'MBX-FULLACCESS'):
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
