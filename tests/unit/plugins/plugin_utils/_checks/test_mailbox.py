# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Mailbox checks: by address; the protocols ECE uses travel with the mailbox; SMTP AUTH and FullAccess judged here."""

from .observations import SALES, SUPPORT, SVC, finding, healthy, judge, login_results, not_passing


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
                                     ('MBX-LOGIN-POP3', SUPPORT): 'skip', ('MBX-LOGIN-SMTP', SUPPORT): 'skip'}


def test_a_failed_login_shows_the_reply_and_its_own_fix():
    document = healthy()
    results = document['tenant']['mailbox_protocols']['results']
    smtp = [r for r in results if r['address'] == SALES and r['protocol'] == 'smtp'][0]
    smtp.update(ok=False, error_class='auth_failed', message='535 5.7.139 Authentication unsuccessful',
                fix='Set-CASMailbox')
    result = finding(judge(document), 'MBX-LOGIN-SMTP', SALES)
    assert result['status'] == 'fail' and result['remediation'] == 'Set-CASMailbox'
