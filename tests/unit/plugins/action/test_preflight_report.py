# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""preflight_report's argument and hostvars handling, in-process (no play)."""

from unittest import mock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.ece_o365.preflight.plugins.action import preflight_report
from ansible_collections.ece_o365.preflight.tests.unit.plugins.plugin_utils._checks.observations import (
    SALES, SUPPORT, SVC, healthy)


def run(args, task_vars=None):
    task = mock.MagicMock(spec=Task)
    task.args, task.async_val, task.check_mode, task.action = args, 0, False, 'preflight_report'
    connection = mock.MagicMock()
    connection._shell.tmpdir = '/nonexistent'  # pylint: disable=protected-access
    plugin = preflight_report.ActionModule(task, connection, None, None, None, None)
    return plugin.run(task_vars=task_vars or {'hostvars': {}, 'ansible_play_hosts_all': [], 'ansible_play_hosts': []})


def test_a_today_that_is_no_date_fails_naming_it():
    """Regression (reliability suite, inputs): datetime.date.fromisoformat('0') raised ValueError, a traceback."""
    with pytest.raises(AnsibleActionFail, match=r"today must be a date YYYY-MM-DD, got '0'"):
        run({'today': '0', 'gate': False})


GROUPS = {'ece_services': ['ece-svc01'], 'ece_application': ['ece-app01', 'ece-app02'],
          'all': ['ece-svc01', 'ece-app01', 'ece-app02']}


def _healthy_records():
    """hostvars of a healthy run, built from the judge's tests' healthy document (the contract's shape)."""
    document = healthy()
    hostvars = {}
    for name, source in (('ece-svc01', 'svc1'), ('ece-app01', 'app1'), ('ece-app02', 'app2')):
        record = document['hosts'][source]
        ece = record['ece']
        hostvars[name] = {'ece_o365_observations': {'schema_version': 2, 'port_probe': record['port_probe'],
                                                    'url_reach': record['url_reach'],
                                                    'token_refresh': record['token_refresh']},
                          'ece_o365_ece_version': ece['version'], 'ece_o365_ece_installed_es': ece['installed_es'],
                          'ece_o365_ece_external_url': ece['external_url'],
                          'ece_o365_ece_admin_login_fqdn': ece['admin_login_fqdn'],
                          'ece_o365_egress_addresses': ece['egress_addresses'],
                          'ece_o365_mailboxes': [{'address': SUPPORT, 'refresh_token': 'rt-planted-1'},
                                                 {'address': SALES, 'account': SVC, 'refresh_token': 'rt-planted-2'}]}
    tenant = document['tenant']
    hostvars['localhost'] = dict(hostvars['ece-svc01'], ece_o365_observations=None, ece_o365_tenant_observations={
        'schema_version': 2, 'host': 'localhost', 'external_url': tenant['external_url'],
        'declared_mailboxes': [{'address': SUPPORT}, {'address': SALES, 'account': SVC}],
        'tenant_info': tenant['tenant_info'], 'mailbox_settings': tenant['mailbox_settings'],
        'mailbox_protocols': tenant['mailbox_protocols'], 'signin_activity': tenant['signin_activity'],
        'read_signins': tenant['read_signins']})
    return hostvars


def _vars(play, alive=None, hostvars=None, current='ece-svc01'):
    return {'hostvars': hostvars or _healthy_records(), 'groups': GROUPS, 'ansible_play_hosts_all': play,
            'ansible_play_hosts': alive if alive is not None else play, 'inventory_hostname': current}


def test_a_full_healthy_run_passes_the_gate_and_says_what_it_covers():
    result = run({'gate': True, 'today': '2026-11-28'}, _vars(['ece-svc01', 'ece-app01', 'ece-app02', 'localhost']))
    assert 'failed' not in result, result.get('msg')
    assert [f for f in result['findings'] if f['status'] not in ('pass', 'skip')] == []
    assert result['coverage']['limited_out'] == [] and result['coverage']['tenant'] == 'read from localhost'
    assert 'covers: 3 of 3 ECE host(s); tenant read from localhost' in result['table']
    assert 'rt-planted' not in repr(result), 'no refresh token in anything the action returns'


def test_a_limited_run_without_the_tenant_host_fails_the_gate_and_names_both_halves():
    """The AWX Limit case: --limit ece-app01, the tenant fully configured. Was: 0 passed, gate PASSED."""
    result = run({'gate': True, 'today': '2026-11-28'}, _vars(['ece-app01'], current='ece-app01'))
    assert result['failed'] is True and not result['passed_gate']
    read = [f for f in result['findings'] if f['id'] == 'PREFLIGHT-TENANT-READ'][0]
    assert read['status'] == 'error' and 'localhost was not in this run' in read['detail']
    assert result['coverage']['limited_out'] == ['ece-svc01', 'ece-app02']
    assert 'covers: 1 of 3 ECE host(s) (limited out: ece-svc01, ece-app02)' in result['table']
    assert {f['subject'] for f in result['findings'] if f['scope'] == 'host'} == {'ece-app01'}
    mailbox_findings = [f for f in result['findings'] if f['scope'] == 'mailbox']
    assert {f['subject'] for f in mailbox_findings} == {SUPPORT, SALES}, 'the declared mailboxes are still named'


def test_leaving_the_tenant_out_knowingly_passes_on_the_hosts_and_says_so():
    result = run({'gate': True, 'today': '2026-11-28', 'check_tenant': False}, _vars(['ece-app01'], current='ece-app01'))
    assert 'failed' not in result and result['passed_gate']
    assert 'tenant left out (ece_o365_check_tenant: false)' in result['table']


def test_a_host_whose_record_breaks_the_contract_is_not_judged_and_blocks():
    hostvars = _healthy_records()
    del hostvars['ece-app02']['ece_o365_observations']['port_probe']['results'][0]['purpose']
    result = run({'gate': False, 'today': '2026-11-28'},
                 _vars(['ece-svc01', 'ece-app01', 'ece-app02', 'localhost'], hostvars=hostvars))
    reach = [f for f in result['findings'] if (f['id'], f['subject']) == ('PREFLIGHT-HOST-REACHABLE', 'ece-app02')][0]
    assert reach['status'] == 'fail' and 'results[0]: purpose is missing' in reach['detail']
    assert not result['passed_gate']


def test_an_unreachable_host_is_reported_not_lost():
    result = run({'gate': False, 'today': '2026-11-28'},
                 _vars(['ece-svc01', 'ece-app01', 'ece-app02', 'localhost'],
                       alive=['ece-svc01', 'ece-app01', 'localhost']))
    reach = [f for f in result['findings'] if (f['id'], f['subject']) == ('PREFLIGHT-HOST-REACHABLE', 'ece-app02')][0]
    assert reach['status'] == 'fail' and not result['passed_gate']


@pytest.mark.parametrize('args, extra, message', [
    ({'skip': ['NET-PORT-9999']}, {}, 'ece_o365_skip_checks: unknown check id(s): NET-PORT-9999'),
    ({'waivers': [{'id': 'NET-PORT-993', 'reason': 'x', 'expires': 'soon'}]}, {}, 'ece_o365_waivers[0] (NET-PORT-993)'),
    ({}, {'ece_o365_mailboxes': [{'login': 'x@contoso.com'}]}, 'ece_o365_mailboxes[0]: address must be'),
    ({}, {'ece_o365_mailboxes': [{'address': 'a@contoso.com', 'protocols': ['imap', 'ews']}]}, 'protocols must be'),
    ({}, {'ece_o365_mailboxes': [{'address': 'a@contoso.com'}, {'address': 'A@contoso.com'}]}, 'declared twice'),
    ({}, {'ece_o365_ece_version': '12.6'}, 'ece-svc01: ece_o365_ece_version is a release such as "12.6(1)"'),
    ({}, {'ece_o365_imap_port': 'imaps'}, 'ece-svc01: ece_o365_imap_port must be a port number'),
])
def test_validate_only_refuses_bad_inputs_naming_the_variable(args, extra, message):
    hostvars = _healthy_records()
    hostvars['ece-svc01'].update(extra)
    with pytest.raises(AnsibleActionFail) as excinfo:
        run(dict(args, validate_only=True), _vars(['ece-svc01', 'ece-app01', 'ece-app02'], hostvars=hostvars))
    assert message in excinfo.value.message
    assert 'rt-planted' not in excinfo.value.message


def test_validate_only_judges_nothing():
    result = run({'validate_only': True}, _vars(['ece-svc01']))
    assert 'findings' not in result and 'the run\'s inputs are valid' in result['msg']


@pytest.mark.parametrize('facts, variable', [
    ({'ece_o365_observations': ['not', 'a', 'mapping']}, 'ece_o365_observations'),
    ({'ece_o365_tenant_observations': True}, 'ece_o365_tenant_observations'),
])
def test_observations_of_the_wrong_type_fail_naming_the_variable_and_host(facts, variable):
    """Regression (reliability suite, inputs): dict(list), True.get() and sorted(5) raised out of run()."""
    task_vars = {'hostvars': {'ece-svc01': facts}, 'groups': {'ece_services': ['ece-svc01']},
                 'ansible_play_hosts_all': ['ece-svc01'], 'ansible_play_hosts': ['ece-svc01']}
    with pytest.raises(AnsibleActionFail) as excinfo:
        run({'gate': False}, task_vars)
    assert '%s on ece-svc01 must be a mapping' % variable in excinfo.value.message


def test_a_report_dir_that_is_a_file_fails_naming_it(tmp_path):
    """Regression (reliability suite, inputs): os.makedirs raised FileExistsError out of run(), a traceback."""
    occupied = tmp_path / 'reports'
    occupied.write_text('a file, not a directory')
    with pytest.raises(AnsibleActionFail) as excinfo:
        run({'gate': False, 'report_dir': str(occupied)})
    assert excinfo.value.message.startswith('preflight_report: cannot write the reports to report_dir %s' % occupied)


@pytest.mark.parametrize('value', [float('inf'), float('-inf')])
def test_an_infinite_number_fails_naming_the_option(value):
    """Regression (reliability suite, inputs): ansible-core's check_type_int raised OverflowError on
    secret_warn_days: .inf out of run(), a traceback (nan it reports itself)."""
    with pytest.raises(AnsibleActionFail, match=r'^preflight_report: secret_warn_days: not a finite number'):
        run({'gate': False, 'secret_warn_days': value})


ALL = ['ece-svc01', 'ece-app01', 'ece-app02', 'localhost']


def _found(result, check_id, subject):
    return [f for f in result['findings'] if (f['id'], f['subject']) == (check_id, subject)][0]


def test_a_tenant_host_in_the_run_but_unreachable_is_named_and_blocks():
    hostvars = _healthy_records()
    del hostvars['localhost']['ece_o365_tenant_observations']  # its play failed before the tenant role recorded
    result = run({'gate': True, 'today': '2026-11-28'}, _vars(ALL, alive=ALL[:3], hostvars=hostvars))
    read = _found(result, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'error'
    assert 'the tenant host localhost was unreachable, or a task failed on it outside the tenant role' in read['detail']
    assert result['coverage']['tenant'] == ('not read: the tenant host localhost was unreachable, or a task failed on '
                                            'it outside the tenant role')
    assert result['failed'] is True and result['msg'].startswith('The preflight gate failed: 1 blocking finding(s).')


def test_a_tenant_host_in_the_run_where_the_tenant_role_did_not_run_is_named():
    hostvars = _healthy_records()
    del hostvars['localhost']['ece_o365_tenant_observations']
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    read = _found(result, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'error' and 'the tenant role did not run on localhost' in read['detail']
    assert 'failed' not in result and result['passed_gate'] is False, 'gate: false reports without failing the task'


def test_the_tenant_record_of_another_host_of_the_run_is_read_and_a_stale_one_is_not():
    hostvars = _healthy_records()
    hostvars['ece-app01']['ece_o365_tenant_observations'] = hostvars['localhost'].pop('ece_o365_tenant_observations')
    result = run({'gate': True, 'today': '2026-11-28', 'tenant_host': 'ece-app01'},
                 _vars(ALL[:3], hostvars=hostvars))
    assert 'failed' not in result, result.get('msg')
    assert result['coverage']['tenant'] == 'read from ece-app01'
    stale = run({'gate': False, 'today': '2026-11-28', 'tenant_host': 'ece-app01'},
                _vars(['ece-svc01'], hostvars=hostvars))
    assert stale['coverage']['tenant'] == ('not read: the tenant host ece-app01 was not in this run (a --limit or an '
                                           'AWX Limit left it out)')


def test_check_tenant_false_skips_the_tenant_and_the_mailboxes_without_waits():
    result = run({'gate': True, 'today': '2026-11-28', 'check_tenant': False}, _vars(ALL))
    tenant_side = [f for f in result['findings'] if f['scope'] in ('tenant', 'mailbox')]
    assert len(tenant_side) == 7 + 15 * 2, 'the tenant checks once, the mailbox checks per declared mailbox'
    assert set((f['status'], f['blocked_by']) for f in tenant_side) == {('skip', None)}
    assert all(f['detail'] == 'left out of this run by ece_o365_check_tenant: false' for f in tenant_side)
    assert result['coverage']['tenant'] == 'left out (ece_o365_check_tenant: false)'
    assert [f for f in result['findings'] if f['status'] != 'pass' and f['scope'] not in ('tenant', 'mailbox')] == []


def test_a_tenant_record_breaking_the_contract_is_not_judged_and_blocks():
    hostvars = _healthy_records()
    hostvars['localhost']['ece_o365_tenant_observations']['mailbox_settings']['mailboxes'][0].pop('address')
    result = run({'gate': True, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    read = _found(result, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'fail'
    assert 'the tenant record does not follow the observation contract (schema version 2' in read['detail']
    assert 'mailbox_settings.mailboxes[0]: address is missing' in read['detail']
    assert _found(result, 'MBX-SMTP-AUTH', SUPPORT)['blocked_by'] == 'PREFLIGHT-TENANT-READ'
    assert _found(result, 'NET-PORT-993', 'ece-svc01')['status'] == 'pass', 'the hosts are judged all the same'
    assert result['failed'] is True


def test_a_host_of_the_run_without_observations_fails_reachable():
    hostvars = _healthy_records()
    hostvars['ece-app02']['ece_o365_observations'] = None
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    reach = _found(result, 'PREFLIGHT-HOST-REACHABLE', 'ece-app02')
    assert (reach['status'], reach['detail']) == (
        'fail', 'a probe task failed on this host: no observations were recorded (the network role did not run on '
                'this host)')
    assert result['summary']['blocking'] == 1


def test_a_host_recorded_unreachable_names_the_reason():
    hostvars = _healthy_records()
    hostvars['ece-app02']['ece_o365_observations'] = {'schema_version': 2, 'unreachable': True,
                                                      'unreachable_reason': 'ssh: Connection timed out'}
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    reach = _found(result, 'PREFLIGHT-HOST-REACHABLE', 'ece-app02')
    assert reach['detail'] == 'Ansible could not reach this host: ssh: Connection timed out'
    lost = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, alive=['ece-svc01', 'ece-app01', 'localhost']))
    assert _found(lost, 'PREFLIGHT-HOST-REACHABLE', 'ece-app02')['detail'] == (
        'Ansible could not reach this host: unreachable, or a task failed on it (see the play output)')
    assert _found(lost, 'PREFLIGHT-HOST-REACHABLE', 'ece-app02')['status'] == 'fail' and not lost['passed_gate']


def test_a_probe_that_was_skipped_is_not_read_and_failed_tasks_are_kept_as_text():
    hostvars = _healthy_records()
    hostvars['ece-app01']['ece_o365_observations']['url_reach'] = {'skipped': True, 'changed': False}
    hostvars['ece-svc01']['ece_o365_observations']['failed_tasks'] = 'port_probe: MODULE FAILURE'
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    assert _found(result, 'NET-URL-ENDPOINTS', 'ece-app01')['status'] == 'error'
    assert _found(result, 'PREFLIGHT-HOST-REACHABLE', 'ece-svc01')['detail'] == (
        'a probe task failed on this host: port_probe: MODULE FAILURE')


def test_the_declared_mail_protocols_of_a_host_decide_its_ports_in_the_per_role_model():
    hostvars = _healthy_records()
    hostvars['ece-svc01']['ece_o365_mail_protocols'] = ['imap', 'smtp']
    del hostvars['ece-svc01']['ece_o365_observations']['port_probe']['results'][3]  # no pop3 target probed
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    assert _found(result, 'NET-PORT-995', 'ece-svc01')['status'] == 'error', 'the TAC checklist wants 995 anyway'
    for name in ALL:
        hostvars.setdefault(name, {})['ece_o365_network_model'] = 'per_role'
    result = run({'gate': True, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    assert 'failed' not in result, result.get('msg')
    assert _found(result, 'NET-PORT-995', 'ece-svc01')['status'] == 'skip'
    hostvars['ece-svc01']['ece_o365_mail_protocols'] = ['imap', 'pop3', 'smtp']
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))
    assert _found(result, 'NET-PORT-995', 'ece-svc01')['status'] == 'error', 'declared but not probed'


def test_a_network_model_that_is_not_known_is_refused_by_name():
    hostvars = _healthy_records()
    hostvars['ece-svc01']['ece_o365_network_model'] = 'strict'
    with pytest.raises(AnsibleActionFail, match=r"ece-svc01: ece_o365_network_model must be one of checklist, "
                                                r"per_role, got 'strict'"):
        run({'gate': True, 'today': '2026-11-28'}, _vars(ALL, hostvars=hostvars))


def test_the_coverage_of_a_limited_run():
    result = run({'gate': False, 'today': '2026-11-28'}, _vars(['ece-app02', 'localhost']))
    assert result['coverage'] == {'ece_hosts': 3, 'judged_hosts': ['ece-app02'],
                                  'limited_out': ['ece-svc01', 'ece-app01'], 'tenant': 'read from localhost'}
    assert result['passed_gate'] is True and result['summary']['coverage'] == result['coverage']


def test_validate_only_counts_what_it_validated_and_reads_no_observation():
    hostvars = _healthy_records()
    hostvars['ece-svc01']['ece_o365_observations'] = ['would', 'fail', 'if', 'read']
    result = run({'validate_only': True, 'skip': ['NET-PORT-995', 'ECE-VERSION'], 'tags': ['network']},
                 _vars(ALL, hostvars=hostvars))
    # network: 8 NET- checks, TOKEN-REFRESH-SERVER and ENTRA-SIGNIN-SOURCE, less NET-PORT-995
    assert result['msg'] == 'the run\'s inputs are valid: 9 check(s) chosen, 1 disabled, 2 mailbox(es)'
    assert result['changed'] is False and 'failed' not in result
