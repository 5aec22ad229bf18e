# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PREFLIGHT-HOST-REACHABLE and PREFLIGHT-TENANT-READ: ordinary checks that the others wait for."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

from .observations import SUPPORT, finding, healthy, judge, not_passing, refused_token


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


# kills: PREFLIGHT-HOST-REACHABLE 'fail' -> 'pass' (a host whose probe task failed would pass, its other checks
# skip, and it would pass the gate with nothing judged)
@pytest.mark.parametrize('broken, detail, evidence', [
    ({'failed_tasks': ['svc1: port_probe: MODULE FAILURE', 'svc1: url_reach: timeout']},
     'a probe task failed on this host: svc1: port_probe: MODULE FAILURE; svc1: url_reach: timeout',
     {'failed_tasks': ['svc1: port_probe: MODULE FAILURE', 'svc1: url_reach: timeout']}),
    ({'reached': False, 'unreachable_reason': 'ssh: no route'}, 'Ansible could not reach this host: ssh: no route',
     {'reason': 'ssh: no route'}),
    ({'reached': False, 'unreachable_reason': None}, 'Ansible could not reach this host: unreachable', {'reason': None}),
])
def test_kills_host_reachable_fail_to_pass_a_host_not_fully_probed_fails_and_blocks(broken, detail, evidence):
    document = healthy()
    document['hosts']['svc1'].update(broken)
    findings = judge(document)
    reach = finding(findings, 'PREFLIGHT-HOST-REACHABLE', 'svc1')
    assert (reach['status'], reach['detail'], reach['evidence']) == ('fail', detail, evidence)
    summary = _checks.summarize(findings)
    assert summary['passed_gate'] is False and summary['blocking'] == 1
    others = [f for f in findings if f['subject'] == 'svc1' and f['id'] != 'PREFLIGHT-HOST-REACHABLE']
    assert len(others) == 11 and set((f['status'], f['blocked_by']) for f in others) == {
        ('skip', 'PREFLIGHT-HOST-REACHABLE')}
    assert finding(judge(healthy()), 'PREFLIGHT-HOST-REACHABLE', 'svc1')['detail'] == 'reached; every probe ran'


def test_a_host_record_without_reached_is_not_reached():
    document = healthy()
    del document['hosts']['app1']['reached']
    assert finding(_checks.judge(document), 'PREFLIGHT-HOST-REACHABLE', 'app1')['status'] == 'fail'


# kills: the refusal of the preflight's own token (tenant_info/mailbox_settings 'token' with acquired false) not
# reported by PREFLIGHT-TENANT-READ
@pytest.mark.parametrize('module', ['tenant_info', 'mailbox_settings'])
def test_kills_own_token_refused_is_reported_by_tenant_read(module):
    document = healthy()
    document['tenant'][module] = refused_token(module, 'AADSTS7000215: Invalid client secret provided')
    findings = judge(document)
    read = finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'fail'
    assert read['detail'] == '%s: AADSTS7000215: Invalid client secret provided' % module
    assert read['evidence'] == [{'module': 'tenant_info', 'errors': 0}, {'module': 'mailbox_settings', 'errors': 0}]
    assert _checks.summarize(findings)['passed_gate'] is False


def test_own_token_acquired_or_not_said_is_no_failure():
    document = healthy()
    document['tenant']['tenant_info']['token'] = {'acquired': None, 'message': 'odd'}
    del document['tenant']['mailbox_settings']['token']
    read = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')
    assert (read['status'], read['detail']) == ('pass', 'Graph and the Exchange admin API answered every read')


def test_tenant_read_names_every_read_that_failed_and_counts_them():
    document = healthy()
    document['tenant']['tenant_info']['errors'] = [{'message': 'GET /users/x: 403'}, {'message': 'GET /apps: 404'}]
    document['tenant']['mailbox_settings']['errors'] = [{'message': 'Get-CASMailbox: 500'}]
    read = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'fail'
    assert read['detail'] == ('tenant_info: GET /users/x: 403; tenant_info: GET /apps: 404; '
                              'mailbox_settings: Get-CASMailbox: 500')
    assert read['evidence'] == [{'module': 'tenant_info', 'errors': 2}, {'module': 'mailbox_settings', 'errors': 1}]
    assert read['remediation'] == _checks.by_id()['PREFLIGHT-TENANT-READ'].remediation


def test_a_failed_tenant_task_fails_with_its_own_fix():
    document = healthy()
    document['tenant']['failed_tasks'] = ['localhost: tenant_info: boom', 'localhost: mailbox_settings: bang']
    read = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['detail'] == ('a tenant task failed, so the tenant and the mailboxes were not judged: '
                              'localhost: tenant_info: boom; localhost: mailbox_settings: bang')
    assert read['evidence'] == {'failed_tasks': document['tenant']['failed_tasks']}
    assert read['remediation'] == 'read the task\'s message above: it names the host and the cause'


@pytest.mark.parametrize('tenant, detail', [
    ({'ran': False, 'left_out': False}, 'not read: the tenant role did not run in this run: no tenant observations '
     'were recorded. Run the tenant play too (its host, localhost, must be in the run'),
    ({'ran': False, 'left_out': False, 'host': 'ctl01', 'why_not': 'ctl01 was unreachable'},
     'not read: the tenant role did not run in this run: ctl01 was unreachable. Run the tenant play too (its host, '
     'ctl01, must be in the run'),
])
def test_the_tenant_not_read_is_an_error_naming_why_and_the_host(tenant, detail):
    document = healthy()
    document['tenant'] = tenant
    read = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'error' and read['detail'].startswith(detail)


def test_the_tenant_left_out_is_a_skip_without_a_wait():
    document = healthy()
    document['tenant'] = {'ran': True, 'left_out': True}
    read = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')
    assert (read['status'], read['blocked_by'], read['detail']) == (
        'skip', None, 'left out of this run by ece_o365_check_tenant: false')


@pytest.mark.parametrize('unread, mailboxes, status, named', [
    ('tenant_info', True, 'error', 'ece_o365_preflight_client_id is empty'),
    ('tenant_info', False, 'error', 'ece_o365_preflight_client_id is empty'),
    ('mailbox_settings', True, 'error', 'ece_o365_preflight_client_id is empty'),
    ('mailbox_settings', False, 'pass', None),
    ('mailbox_protocols', True, 'error', 'mailbox_protocols (ece_o365_ece_app_client_id is empty)'),
    ('mailbox_protocols', False, 'pass', None),
])
def test_a_tenant_read_that_did_not_run_is_an_error_only_when_something_needs_it(unread, mailboxes, status, named):
    document = healthy()
    document['tenant'][unread] = None
    if not mailboxes:
        document['mailboxes'] = {}
    read = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == status
    if named:
        assert read['detail'].startswith('not read: ') and named in read['detail']
        assert read['detail'].endswith('Configure it (docs/identity.md), or skip the checks that need it with '
                                       'ece_o365_skip_checks')


def test_both_unread_halves_are_named():
    document = healthy()
    document['tenant']['mailbox_settings'] = None
    document['tenant']['mailbox_protocols'] = None
    detail = finding(judge(document), 'PREFLIGHT-TENANT-READ', 'tenant')['detail']
    assert 'is not configured); mailbox_protocols (ece_o365_ece_app_client_id is empty). Configure' in detail
