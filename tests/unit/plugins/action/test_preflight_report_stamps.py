# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""preflight_report's stamps (collection version, inventory), audit history and printed table (issue 13, item 4)."""

import datetime
import json
from unittest import mock

from ansible_collections.ece_o365.preflight.plugins.action import preflight_report
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _report

from ansible_collections.ece_o365.preflight.tests.unit.plugins.action.test_preflight_report import _vars, run

PLAY = ['ece-svc01', 'ece-app01', 'ece-app02', 'localhost']


def test_the_reports_are_stamped_with_the_version_the_inventory_and_the_audit_history(tmp_path):
    (tmp_path / 'history').mkdir()
    (tmp_path / 'history' / 'preflight-2026-11-26.json').write_text(json.dumps(
        {'summary': {'counts': {'fail': 2, 'error': 1}, 'waived': 1}}))
    (tmp_path / 'history' / 'preflight-2026-11-27.json').write_text('{torn')  # left out, not fatal
    (tmp_path / 'history' / 'notes.json').write_text('{}')
    task_vars = dict(_vars(PLAY), inventory_file='/srv/ece/inventory.yml')
    result = run({'gate': False, 'today': '2026-11-28', 'report_dir': str(tmp_path), 'audit': True}, task_vars)
    report = json.loads((tmp_path / 'preflight.json').read_text())
    assert report['run']['collection_version'] == _report.collection_version() != 'unknown'
    assert report['run']['inventory'] == '/srv/ece/inventory.yml'
    assert report['run']['audit_history'] == [{'date': '2026-11-26', 'failures': 3, 'waived': 1},
                                              {'date': '2026-11-28', 'failures': 0, 'waived': 0}]
    page = (tmp_path / 'preflight.html').read_text()
    assert 'inventory <strong id="inventory">/srv/ece/inventory.yml</strong>' in page and '<svg class="chart"' in page
    assert result['table'].splitlines()[-1].startswith('reports: %s' % (tmp_path / 'preflight.json'))


def test_the_inventory_falls_back_to_the_sources_given():
    assert preflight_report._inventory_name({'ansible_inventory_sources': ['/a/hosts', '/b/extra.yml']}) == \
        '/a/hosts, /b/extra.yml'
    assert preflight_report._inventory_name({}) == 'unknown'


def test_an_audit_history_without_a_directory_is_today_alone(tmp_path):
    summary = {'counts': {'fail': 1, 'error': 0}, 'waived': 1}
    assert preflight_report._audit_history(str(tmp_path / 'none'), datetime.date(2026, 11, 28), summary) == [
        {'date': '2026-11-28', 'failures': 1, 'waived': 1}]


def test_show_table_prints_the_table_as_lines_and_only_when_asked():
    with mock.patch.object(preflight_report, 'display') as display:
        result = run({'gate': False, 'today': '2026-11-28'}, _vars(PLAY))
        display.display.assert_not_called()
        result = run({'gate': False, 'today': '2026-11-28', 'show_table': True}, _vars(PLAY))
    display.banner.assert_called_once_with('ECE OAUTH2 MAIL PREFLIGHT')
    display.display.assert_called_once_with(result['table'])
    assert result['table'].splitlines()[-1] == 'reports: none written (set ece_o365_report_dir)'
