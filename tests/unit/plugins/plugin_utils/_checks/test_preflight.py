# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PREFLIGHT-HOST-REACHABLE and PREFLIGHT-TENANT-READ: ordinary checks that the others wait for."""

from .observations import SUPPORT, finding, healthy, judge, not_passing


def test_an_unreachable_host_fails_reachable_and_its_other_checks_wait_for_it():
    document = healthy()
    document['hosts']['app1'].update(reached=False, unreachable_reason='ssh: connect timed out', port_probe=None,
                                     url_reach=None)
    findings = judge(document)
    assert finding(findings, 'PREFLIGHT-HOST-REACHABLE', 'app1')['status'] == 'fail'
    others = [f for f in findings if f['subject'] == 'app1' and f['id'] != 'PREFLIGHT-HOST-REACHABLE']
    assert others and set(f['status'] for f in others) == {'skip'}
    assert set(f['blocked_by'] for f in others) == {'PREFLIGHT-HOST-REACHABLE'}


def test_a_probe_that_did_not_run_on_a_reached_host_is_an_error():
    document = healthy()
    document['hosts']['app2']['url_reach'] = None
    bad = not_passing(judge(document))
    assert bad == {('NET-URL-ENDPOINTS', 'app2'): 'error', ('NET-TLS-INTERCEPT', 'app2'): 'error',
                   ('NET-CLOCK-SKEW', 'app2'): 'error'}


def test_a_tenant_the_preflight_cannot_read_fails_and_what_needs_the_read_waits():
    document = healthy()
    document['tenant']['mailbox_settings'] = {
        'transport_config': None, 'errors': [{'message': 'POST /adminapi/...: 403. Needs Exchange.ManageAsApp'}],
        'mailboxes': [{'address': SUPPORT, 'exists': None}]}
    findings = judge(document)
    assert finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['status'] == 'fail'
    assert 'Exchange.ManageAsApp' in finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['detail']
    assert finding(findings, 'MBX-SMTP-AUTH', SUPPORT)['blocked_by'] == 'PREFLIGHT-TENANT-READ'
    assert finding(findings, 'MBX-LICENCE', SUPPORT)['status'] == 'pass', 'an Exchange plan is provisioned'


def test_the_preflight_app_not_configured_is_an_error_not_a_silent_skip():
    document = healthy()
    document['tenant']['tenant_info'] = None
    document['tenant']['mailbox_settings'] = None
    findings = judge(document)
    read = finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'error' and 'ece_o365_preflight_client_id is empty' in read['detail']
    assert finding(findings, 'APP-CONSENT', 'tenant')['status'] == 'skip'
    assert finding(findings, 'MBX-LOGIN-IMAP', SUPPORT)['status'] == 'pass', 'the logins are read all the same'


def test_a_tenant_task_that_failed_fails_tenant_read_naming_it_and_the_hosts_are_judged():
    document = healthy()
    document['tenant'] = {'ran': True, 'left_out': False, 'host': 'localhost',
                          'failed_tasks': ["localhost: ECE's app registration (Microsoft Graph): MODULE FAILURE"]}
    findings = judge(document)
    read = finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'fail' and 'MODULE FAILURE' in read['detail']
    assert all(f['status'] == 'pass' for f in findings if f['subject'] in document['hosts'])
