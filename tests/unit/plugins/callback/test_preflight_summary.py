# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from unittest import mock

from ansible_collections.ece_o365.preflight.plugins.callback import preflight_summary


def _result(action, payload):
    result = mock.Mock()
    result._task.action = action
    result._result = payload
    return result


def test_prints_the_report_table_once_after_the_recap():
    callback = preflight_summary.CallbackModule()
    callback._display = mock.Mock()
    callback.v2_runner_on_ok(_result('ansible.builtin.debug', {'msg': 'x'}))
    callback.v2_runner_on_failed(_result('ece_o365.preflight.preflight_report', {'table': ' 1. FAIL  NET-PORT-993'}))
    callback._display.display.assert_not_called()
    callback.v2_playbook_on_stats(mock.Mock())
    callback._display.display.assert_called_once_with(' 1. FAIL  NET-PORT-993')


def test_silent_without_a_report():
    callback = preflight_summary.CallbackModule()
    callback._display = mock.Mock()
    callback.v2_playbook_on_stats(mock.Mock())
    callback._display.display.assert_not_called()


def test_the_callback_prints_the_table_that_says_waived():
    from ansible_collections.ece_o365.preflight.tests.unit.plugins.plugin_utils.test__report import (
        WAIVED_WORDS, mixed_report)
    from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _report
    table = _report.summary_table(mixed_report(), {})
    callback = preflight_summary.CallbackModule()
    callback._display = mock.Mock()
    callback.v2_runner_on_failed(_result('ece_o365.preflight.preflight_report', {'table': table}))
    callback.v2_playbook_on_stats(mock.Mock())
    printed = callback._display.display.call_args[0][0]
    assert '    ' + WAIVED_WORDS in printed.splitlines() and ' failed (1 waived)' in printed
