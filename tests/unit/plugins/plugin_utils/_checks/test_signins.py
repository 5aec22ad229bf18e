# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Sign-in checks: what Entra recorded of ECE's own tokens (signin_activity), judged without any ECE secret."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts

from .observations import SALES, SUPPORT, SVC, finding, healthy, judge

READ_AT = '2026-11-28T12:00:00Z'
SIGNINS = ('ENTRA-SIGNIN-OWNER', 'ENTRA-SIGNIN-ERRORS', 'ENTRA-TOKEN-IDLE', 'ENTRA-SIGNIN-SOURCE')


def ok():
    return {'outcome': 'ok', 'status': None, 'code': None, 'error_class': None, 'permission': None, 'message': None}


def account(address, last='2026-11-28T11:00:00Z', ip='10.0.0.11', failures=(), user_last='2026-11-28T11:00:00Z'):
    failures = list(failures)
    counts = {}
    for f in failures:
        counts.setdefault(f['error_code'], {'error_code': f['error_code'], 'failure_reason': f['failure_reason'],
                                            'count': 0, 'last': f['time']})['count'] += 1
    return {'address': address, 'id': 'id-' + address, 'user_principal_name': address, 'exists': True,
            'sign_ins': len(failures) + (1 if last else 0),
            'last_success': {'time': last, 'ip_address': ip, 'interactive': False} if last else None,
            'failures': failures, 'failure_counts': list(counts.values()),
            'refresh_addresses': [{'ip_address': ip, 'count': 1 + len(failures), 'ok': 1, 'last': last}] if last else [],
            'sign_in_activity': {'last_sign_in': None, 'last_non_interactive_sign_in': user_last,
                                 'last_successful_sign_in': user_last},
            'read': ok()}


def failure(time, code=50173, reason='revoked'):
    return {'time': time, 'error_code': code, 'failure_reason': reason, 'ip_address': '10.0.0.11', 'interactive': False}


def document(accounts=None, other_users=(), egress=('10.0.0.11',), log=None):
    doc = healthy()
    doc['hosts']['svc1']['ece']['egress_addresses'] = list(egress)
    doc['tenant']['signin_activity'] = {
        'ok': True, 'error_class': None, 'message': 'read', 'application_id': 'ece', 'days': 30,
        'window_start': '2026-10-29T12:00:00Z', 'read_at': READ_AT, 'sign_ins_read': 4,
        'read': {'sign_ins': log or ok(), 'sign_in_activity': ok()},
        'accounts': accounts if accounts is not None else [account(SUPPORT), account(SVC)],
        'other_users': list(other_users), 'errors': [], 'token': {'acquired': True}}
    doc['tenant']['read_signins'] = True
    assert _contract.validate(doc) == [], _contract.validate(doc)
    return doc


def of(findings):
    return dict(((f['id'], f['subject']), f['status']) for f in findings if f['id'] in SIGNINS)


def test_the_family_sits_after_identity_and_the_thresholds_are_held_once():
    families = [c.family for c in _checks.CATALOGUE]
    assert families.index('signins') > max(i for i, f in enumerate(families) if f == 'identity')
    assert (_facts.TOKEN_IDLE_WARN_DAYS, _facts.TOKEN_IDLE_FAIL_DAYS) == (85, 90)
    assert all(_checks.by_id()[c].family == 'signins' for c in SIGNINS)


def test_healthy_sign_ins_pass_everywhere():
    findings = judge(document())
    assert set(of(findings).values()) == {'pass'}, of(findings)
    assert finding(findings, 'ENTRA-SIGNIN-SOURCE', SALES)['evidence']['account'] == SVC
    assert 'ece_o365_egress_addresses, as declared' in finding(findings, 'ENTRA-SIGNIN-SOURCE', SUPPORT)['detail']


def test_a_token_issued_to_the_workstation_user_fails_naming_the_user_and_the_fix():
    jdoe = {'user_id': 'id-jdoe', 'user_principal_name': 'jdoe@contoso.com', 'sign_ins': 9, 'successes': 9,
            'last': '2026-11-28T11:30:00Z', 'ip_addresses': ['10.0.0.11']}
    result = finding(judge(document(other_users=[jdoe])), 'ENTRA-SIGNIN-OWNER', 'tenant')
    assert result['status'] == 'fail' and 'jdoe@contoso.com' in result['detail']
    assert 'private browser window' in result['remediation'] and 'single sign-on' in result['remediation']
    jdoe.update(successes=0)
    result = finding(judge(document(other_users=[jdoe])), 'ENTRA-SIGNIN-OWNER', 'tenant')
    assert result['status'] == 'pass' and 'failed attempts only by jdoe@contoso.com' in result['detail']


def test_failures_since_the_last_success_fail_with_the_aadsts_meaning_and_fix():
    broken = account(SUPPORT, last='2026-11-27T12:00:00Z',
                     failures=[failure('2026-11-28T11:00:00Z'), failure('2026-11-28T10:00:00Z')])
    result = finding(judge(document([broken, account(SVC)])), 'ENTRA-SIGNIN-ERRORS', SUPPORT)
    assert result['status'] == 'fail' and 'AADSTS50173' in result['detail'] and 'revoked' in result['detail']
    assert 'AADSTS50173: ' in result['remediation'] and result['remediation'] != 'the fix of the AADSTS code'
    recovered = account(SUPPORT, failures=[failure('2026-11-20T10:00:00Z', code=700082)])
    result = finding(judge(document([recovered, account(SVC)])), 'ENTRA-SIGNIN-ERRORS', SUPPORT)
    assert result['status'] == 'warn' and 'AADSTS700082 x1' in result['detail']


@pytest.mark.parametrize('user_last, status', [
    ('2026-09-04T12:00:00Z', 'warn'),   # 85 days before READ_AT
    ('2026-08-30T12:00:00Z', 'fail'),   # 90 days
    ('2026-10-01T12:00:00Z', 'warn'),   # 58 days: no ECE sign-in for a month is itself suspect
])
def test_idle_days_past_the_log_come_from_sign_in_activity(user_last, status):
    idle = account(SUPPORT, last=None, user_last=user_last)
    result = finding(judge(document([idle, account(SVC)])), 'ENTRA-TOKEN-IDLE', SUPPORT)
    assert result['status'] == status, result
    assert 'cannot be later' in result['detail'] and result['code'] == 'AADSTS700082'


def test_a_recent_success_in_the_log_is_the_idle_time():
    result = finding(judge(document()), 'ENTRA-TOKEN-IDLE', SUPPORT)
    assert result['status'] == 'pass' and result['evidence']['idle_days'] == 0.0


def test_refreshes_from_elsewhere_warn_and_no_declared_egress_skips_naming_the_variable():
    result = finding(judge(document(egress=['10.0.0.99'])), 'ENTRA-SIGNIN-SOURCE', SUPPORT)
    assert result['status'] == 'warn' and '10.0.0.11' in result['detail'] and 'original issuance' in result['detail']
    result = finding(judge(document(egress=[])), 'ENTRA-SIGNIN-SOURCE', SUPPORT)
    assert result['status'] == 'skip' and 'ece_o365_egress_addresses' in result['detail']


def test_a_tenant_without_premium_is_an_error_never_a_pass():
    refused = {'outcome': 'not_licensed', 'status': 403, 'code': 'Authentication_RequestFromNonPremiumTenantOrB2CTenant',
               'error_class': 'forbidden', 'permission': 'AuditLog.Read.All and Directory.Read.All', 'message': 'no'}
    doc = document(log=refused)
    for entry in doc['tenant']['signin_activity']['accounts']:
        entry['read'] = dict(refused)
        entry['sign_in_activity'] = None
    findings = judge(doc)
    assert set(of(findings).values()) == {'error'}, of(findings)
    assert 'P1 or P2' in finding(findings, 'ENTRA-SIGNIN-OWNER', 'tenant')['detail']
    forbidden = dict(refused, outcome='forbidden', code='Authorization_RequestDenied')
    result = finding(judge(document(log=forbidden)), 'ENTRA-SIGNIN-ERRORS', SUPPORT)
    assert result['status'] == 'error' and 'AuditLog.Read.All' in result['detail']


def test_reading_them_is_a_choice_and_not_running_them_is_not_a_pass():
    doc = document()
    doc['tenant']['read_signins'] = False
    assert set(of(judge(doc)).values()) == {'skip'}
    assert 'ece_o365_read_signins' in finding(judge(doc), 'ENTRA-TOKEN-IDLE', SUPPORT)['detail']
    doc['tenant']['read_signins'] = True
    doc['tenant']['signin_activity'] = None
    assert set(of(judge(doc)).values()) == {'error'}  # TENANT-READ passes: nothing else blocks the gate


def test_no_ece_tokens_skips_the_token_and_login_checks_naming_the_variable_and_the_tenant_read_passes():
    doc = document()
    doc['tenant']['ece_tokens'] = 'none'
    doc['tenant']['mailbox_protocols'] = None
    findings = judge(doc)
    waiting = [f for f in findings if f['id'].startswith(('TOKEN-REFRESH', 'TOKEN-OWNER', 'TOKEN-LIFETIME', 'MBX-LOGIN'))
               and f['scope'] == 'mailbox']
    assert waiting and all(f['status'] == 'skip' and 'ece_o365_ece_tokens: none' in f['detail'] and
                           not f['blocked_by'] for f in waiting), waiting
    assert finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['status'] == 'pass'
    assert set(of(findings).values()) == {'pass'}
    doc['tenant']['ece_tokens'] = 'stored'  # not supplied without saying so: an error, never a silent skip
    assert finding(judge(doc), 'PREFLIGHT-TENANT-READ', 'tenant')['status'] == 'error'


def test_a_refused_graph_token_is_the_tenant_read_s_failure_and_the_sign_in_checks_wait_for_it():
    """An outage or a refused secret stops the whole read (entra-token-outage): one blocking finding, not four errors."""
    doc = document()
    doc['tenant']['signin_activity']['token'] = {'acquired': False, 'message': 'AADSTS50000: outage'}
    findings = judge(doc)
    read = finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'fail' and 'signin_activity: AADSTS50000: outage' in read['detail']
    for check_id in ('ENTRA-SIGNIN-OWNER', 'ENTRA-SIGNIN-ERRORS', 'ENTRA-TOKEN-IDLE', 'ENTRA-SIGNIN-SOURCE'):
        for result in (f for f in findings if f['id'] == check_id):
            assert (result['status'], result['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ'), check_id
