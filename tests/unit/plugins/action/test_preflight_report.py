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


@pytest.mark.parametrize('facts, variable', [
    ({'ece_o365_observations': ['not', 'a', 'mapping']}, 'ece_o365_observations'),
    ({'ece_o365_tenant_observations': True}, 'ece_o365_tenant_observations'),
    ({'ece_o365_tenant_observations': {'tenant': 'text'}}, 'ece_o365_tenant_observations.tenant'),
    ({'ece_o365_tenant_observations': {'mailboxes': 5}}, 'ece_o365_tenant_observations.mailboxes'),
])
def test_observations_of_the_wrong_type_fail_naming_the_variable_and_host(facts, variable):
    """Regression (reliability suite, inputs): dict(list), True.get() and sorted(5) raised out of run()."""
    task_vars = {'hostvars': {'ece-svc01': dict(facts, group_names=['ece_services'])},
                 'ansible_play_hosts_all': ['ece-svc01'], 'ansible_play_hosts': ['ece-svc01']}
    with pytest.raises(AnsibleActionFail) as excinfo:
        run({'gate': False}, task_vars)
    assert '%s on ece-svc01 must be a mapping' % variable in excinfo.value.message


def test_a_good_run_still_judges():
    task_vars = {'hostvars': {'ece-svc01': {'group_names': ['ece_services'], 'ece_o365_observations': {}}},
                 'ansible_play_hosts_all': ['ece-svc01'], 'ansible_play_hosts': ['ece-svc01']}
    result = run({'gate': False, 'today': '2026-12-01'}, task_vars)
    assert result['changed'] is False and result['findings'] and 'failed' not in result


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
