# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Identity checks: the app registration as Graph shows it, judged here; the token ECE stored; the accounts."""

import pytest

from .observations import SALES, SUPPORT, SVC, finding, healthy, judge, not_passing


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
