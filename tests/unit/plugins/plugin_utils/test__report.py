# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import xml.etree.ElementTree as ET

import jsonschema

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _report

from ._checks.observations import healthy, judge


NET_PORT_993 = 'NET-PORT-993 %s' % _checks.by_id()['NET-PORT-993'].title


def _report_for(**breaks):
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][2].update(
        ok=False, error_class='timeout', message='m365:993 timed out <script>alert(1)</script>')
    findings = judge(document, waivers=breaks.get('waivers'))
    summary = _checks.summarize(findings)
    return _report.build(findings, summary, _checks.drift(findings, None), {'svc1': {'roles': ['services']}},
                         {'checks': []}, '2026-11-28T21:00:00Z')


def test_json_validates_against_its_schema():
    report = json.loads(_report.to_json(_report_for()))
    jsonschema.validate(report, _report.REPORT_SCHEMA)
    assert report['schema_version'] == _checks.SCHEMA_VERSION and report['summary']['passed_gate'] is False
    broken = dict(report, findings=[dict(report['findings'][0], status='maybe')])
    try:
        jsonschema.validate(broken, _report.REPORT_SCHEMA)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError('the schema must refuse an unknown status')


def test_junit_has_one_case_per_check_and_subject_and_parses():
    report = _report_for()
    root = ET.fromstring(_report.to_junit(report))
    cases = root.findall('.//testcase')
    assert len(cases) == len(report['findings'])
    failures = [c for c in cases if c.find('failure') is not None]
    assert [c.get('name') for c in failures] == [NET_PORT_993]
    assert 'ece_o365_skip_checks: [NET-PORT-993]' in failures[0].find('failure').text


def test_waived_finding_is_skipped_in_junit_and_marked_in_markdown():
    report = _report_for(waivers=[{'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'change window',
                                   'expires': '2999-01-01'}])
    assert report['summary']['passed_gate'] is True
    root = ET.fromstring(_report.to_junit(report))
    assert root.find(".//testcase[@name='%s']/skipped" % NET_PORT_993) \
        is not None
    assert 'waived until 2999-01-01' in _report.to_markdown(report)


def test_html_and_markdown_escape_what_servers_said():
    report = _report_for()
    assert '<script>' not in _report.to_html(report) and '&lt;script&gt;' in _report.to_html(report)
    assert '<script>' not in _report.to_markdown(report)


def test_summary_table_names_the_variable_to_skip():
    table = _report.summary_table(_report_for())
    assert ' 1. FAIL  NET-PORT-993' in table and 'skip: ece_o365_skip_checks: [NET-PORT-993]' in table
    assert table.splitlines()[-1].startswith('preflight: ') and 'gate FAILED' in table


def test_write_every_format(tmp_path):
    paths = _report.write(_report_for(), str(tmp_path), list(_report.WRITERS))
    assert sorted(paths) == ['html', 'json', 'junit', 'markdown']
    names = ('preflight.json', 'preflight-junit.xml', 'preflight.md', 'preflight.html')
    assert all((tmp_path / name).exists() for name in names)


def test_every_format_says_what_the_gate_covers():
    findings = judge(healthy())
    coverage = {'ece_hosts': 3, 'judged_hosts': ['app1'], 'limited_out': ['svc1', 'app2'],
                'tenant': 'not read: the tenant host localhost was not in this run'}
    summary = _checks.summarize(findings, coverage=coverage)
    report = _report.build(findings, summary, _checks.drift(findings, None), {}, {}, '2026-11-28T21:00:00Z')
    line = 'covers: 1 of 3 ECE host(s) (limited out: svc1, app2); tenant not read'
    assert line in _report.summary_table(report)
    assert 'Covers: 1 of 3 ECE host(s) (limited out: svc1, app2)' in _report.to_markdown(report)
    assert 'limited out: svc1, app2' in _report.to_html(report)
