# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors


def test_every_class_has_a_meaning_and_a_fix():
    for name, (meaning, fix) in _errors.ERROR_CLASSES.items():
        assert meaning and fix and name == name.lower()


def test_message_names_where_cause_detail_and_fix():
    text = _errors.describe('timeout', 'outlook.office365.com:993', 'timed out')
    assert text.startswith('outlook.office365.com:993: no answer in time')
    assert '(timed out)' in text and 'Fix: open the port outbound' in text
