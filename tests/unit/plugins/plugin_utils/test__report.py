# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os
import re
import xml.etree.ElementTree as ET

import jsonschema

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _report

from ._checks.observations import SALES, SUPPORT, healthy, judge


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
    assert 'FAIL, waived (change window, expires 2999-01-01)' in _report.to_markdown(report)
    assert '0 failed' not in _report.summary_table(report) and '1 failed (1 waived)' in _report.summary_table(report)


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


# -- a run with a waived failure, a failure, errors, a warning, skips and passes (issue 13, item 4 and 7) -----

WAIVER = {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'change window', 'expires': '2999-01-01'}
WAIVED_WORDS = 'waived (change window, expires 2999-01-01)'


def mixed_report(history=None):
    """svc1's 993 dropped (waived), app1's 587 dropped (fails), app1's clock 200 s off (warn), app2's url_reach
    not recorded (errors), support@'s POP3 and Send As not used (skips); everything else passes."""
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][2].update(ok=False, error_class='timeout', message='993 dropped')
    document['hosts']['app1']['port_probe']['results'][1].update(ok=False, error_class='timeout', message='587 dropped')
    document['hosts']['app1']['url_reach']['results'][0]['clock_skew_seconds'] = 200
    document['hosts']['app2']['url_reach'] = None
    findings = judge(document, waivers=[WAIVER])
    summary = _checks.summarize(findings)
    run = {'checks': [], 'collection_version': '9.8.7', 'inventory': '/srv/ece/inventory.yml'}
    if history is not None:
        run['audit_history'] = history
    hosts = dict((name, {'roles': h['roles'], 'reached': True}) for name, h in document['hosts'].items())
    return _report.build(findings, summary, _checks.drift(findings, None), hosts, run, '2026-11-28T21:00:00Z')


def test_junit_counts_agree_with_the_cases_as_junitparser_counts_them():
    import junitparser
    report = mixed_report()
    statuses = [(f['status'], _report.waived(f)) for f in report['findings']]
    assert ('fail', True) in statuses and ('fail', False) in statuses and ('warn', False) in statuses
    assert ('error', False) in statuses and ('pass', False) in statuses and ('skip', False) in statuses
    xml = junitparser.JUnitXml.fromstring(_report.to_junit(report))
    expected = {'failures': sum(1 for s, w in statuses if s in ('fail', 'warn') and not w),
                'errors': sum(1 for s, w in statuses if s == 'error' and not w),
                'skipped': sum(1 for s, w in statuses if s == 'skip' or w)}
    assert expected == {'failures': 2, 'errors': 3, 'skipped': 3}
    counted = dict(tests=0, failures=0, errors=0, skipped=0)
    for suite in xml:
        as_written = dict(tests=suite.tests, failures=suite.failures, errors=suite.errors, skipped=suite.skipped)
        cases = list(suite)
        recount = dict(tests=len(cases), failures=0, errors=0, skipped=0)
        for case in cases:
            for result in case.result:
                key = {junitparser.Failure: 'failures', junitparser.Error: 'errors',
                       junitparser.Skipped: 'skipped'}[type(result)]
                recount[key] += 1
        assert as_written == recount, suite.name
        for key in counted:
            counted[key] += recount[key]
    root = ET.fromstring(_report.to_junit(report))
    assert dict((k, int(root.get(k))) for k in counted) == counted == dict(expected, tests=len(report['findings']))
    xml.update_statistics()  # junitparser's own totals from the cases
    assert (xml.failures, xml.errors, xml.skipped, xml.tests) == (2, 3, 3, len(report['findings']))
    waived_case = root.find(".//testsuite[@name='svc1']/testcase[@name='%s']/skipped" % NET_PORT_993)
    assert waived_case.get('message') == 'FAIL ' + WAIVED_WORDS


def test_a_waived_failure_is_said_to_be_waived_everywhere():
    report = mixed_report()
    counts = report['summary']['counts']
    assert counts['fail'] == 2 and report['summary']['waived'] == 1
    table = _report.summary_table(report, {})
    assert 'preflight: %d passed, 2 failed (1 waived), 1 warnings, 3 errors, 2 skipped; gate FAILED' % counts['pass'] \
        in table.splitlines()
    head = [line for line in table.splitlines() if 'NET-PORT-993' in line and line[:3].strip().rstrip('.').isdigit()]
    assert head and head[0].endswith('svc1 [waived]') and '    ' + WAIVED_WORDS in table.splitlines()
    markdown = _report.to_markdown(report)
    assert 'FAIL, %s' % WAIVED_WORDS in markdown and '2 failed (1 waived)' in markdown and ', 1 waived).' in markdown
    page = _report.to_html(report)
    assert WAIVED_WORDS in page and '2 failed (1 waived)' in page and '>FAIL (waived)</a>' in page  # svc1's cell
    assert '1 blocking finding(s), 1 waived' not in page and '4 blocking finding(s), 1 waived' in page


def test_a_waived_cell_of_the_matrix_says_so():
    report = mixed_report()
    rows = dict((row['subject'], dict((c['family'], c) for c in row['cells'])) for row in _report.matrix(report))
    assert rows['svc1']['network']['label'] == 'FAIL (waived)' and rows['svc1']['network']['waived']
    assert rows['app1']['network']['label'] == 'FAIL' and rows['app2']['network']['label'] == 'ERROR'
    assert rows['tenant']['network']['label'] == 'n/a' and rows['svc1']['preflight']['label'] == 'PASS'


def test_matrix_rows_are_hosts_then_tenant_then_mailboxes_and_columns_the_families():
    report = mixed_report()
    rows = _report.matrix(report)
    assert [r['subject'] for r in rows] == ['app1', 'app2', 'svc1', 'tenant', SALES, SUPPORT]
    assert [r['kind'] for r in rows] == ['ECE host'] * 3 + ['tenant', 'mailbox', 'mailbox']
    assert all([c['family'] for c in r['cells']] == list(_checks.FAMILIES) for r in rows)
    assert _checks.FAMILIES == ('preflight', 'network', 'ece', 'identity', 'signins', 'mailbox')


def test_html_is_one_self_contained_page_failures_first_passes_folded():
    report = mixed_report(history=[{'date': '2026-11-26', 'failures': 4}, {'date': '2026-11-27', 'failures': 0},
                                   {'date': '2026-11-28', 'failures': 5}])
    page = _report.to_html(report)
    assert not re.search(r'''(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//''', page, re.I)
    assert not re.search(r'url\(|@import|<script|<link|<img|<iframe', page, re.I)
    assert 'ece_o365.preflight <strong id="version">9.8.7</strong>' in page
    assert 'inventory <strong id="inventory">/srv/ece/inventory.yml</strong>' in page and '2026-11-28T21:00:00Z' in page
    first_problem = page.index('class="check-id">NET-PORT-587<')  # a fail, unwaived, before the waived one
    assert first_problem < page.index('class="check-id">NET-PORT-993<') < page.index('id="f-net-url-endpoints-app2"') \
        < page.index('id="f-net-clock-skew-app1"') < page.index('<details id="passes">')
    assert page.index('<table class="matrix"') < first_problem
    assert '<svg class="chart"' in page and '2026-11-26: 4' in page and 'to 2026-11-28 (3 audit(s), most 5)' in page
    assert '<svg' not in _report.to_html(mixed_report())  # no history: no chart


def test_chart_geometry_scales_to_the_worst_day():
    chart = _report.chart([{'date': '2026-11-%02d' % d, 'failures': d % 3} for d in range(1, 11)])
    assert chart['top'] == 2 and len(chart['bars']) == 10 and chart['first'] == '2026-11-01'
    tallest = [b for b in chart['bars'] if b['value'] == 2]
    assert all(b['y'] == 16 and b['h'] == chart['base_y'] - 16 for b in tallest)
    assert [b['show_date'] for b in chart['bars']].count(True) == 2
    assert _report.chart([]) is None and _report.chart(None) is None


def test_collection_version_from_the_manifest_then_galaxy_yml_then_unknown(tmp_path):
    assert _report.collection_version() == re.search(
        r'^version: (\S+)', open(os.path.join(_report.COLLECTION_ROOT, 'galaxy.yml')).read(), re.M).group(1)
    (tmp_path / 'galaxy.yml').write_text('namespace: x\nversion: "1.2.3"  # released\n')
    assert _report.collection_version(str(tmp_path)) == '1.2.3'
    (tmp_path / 'MANIFEST.json').write_text(json.dumps({'collection_info': {'version': '2.0.0'}}))
    assert _report.collection_version(str(tmp_path)) == '2.0.0'
    (tmp_path / 'MANIFEST.json').write_text('{not json')
    assert _report.collection_version(str(tmp_path)) == '1.2.3'
    assert _report.collection_version(str(tmp_path / 'missing')) == 'unknown'


def test_the_html_template_ships_beside_the_module():
    assert os.path.isfile(os.path.join(os.path.dirname(_report.__file__), _report.HTML_TEMPLATE))
