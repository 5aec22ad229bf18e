# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
name: preflight_summary
type: aggregate
short_description: Print the preflight's findings once, after the play recap
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - After the play recap, prints one numbered table of every failing, erroring and warning finding that
    M(ece_o365.preflight.preflight_report) returned, each with its fix and the exact variable that skips
    or waives it, then one line with the counts and the gate's verdict.
  - Prints nothing when no preflight_report task ran.
requirements:
  - Enable it, for example C(ANSIBLE_CALLBACKS_ENABLED=ece_o365.preflight.preflight_summary) or
    C(callbacks_enabled) in C(ansible.cfg).
"""

from ansible.plugins.callback import CallbackBase

REPORT_ACTIONS = ('ece_o365.preflight.preflight_report', 'preflight_report')


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'ece_o365.preflight.preflight_summary'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._tables = []

    def _remember(self, result):
        if result._task.action in REPORT_ACTIONS and result._result.get('table'):
            self._tables.append(result._result['table'])

    def v2_runner_on_ok(self, result):
        self._remember(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._remember(result)  # a failed gate still carries its table

    def v2_playbook_on_stats(self, stats):
        for table in self._tables:
            self._display.banner('ECE OAUTH2 MAIL PREFLIGHT')
            self._display.display(table)
