# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A finding built only on what the inventory declares says so, in its detail and in every report format;
a finding built on what the run read does not (issue 16, item 2)."""

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _report

from ._checks.observations import finding, healthy, judge

PHRASE = 'as declared in the inventory'
LABEL = '(as declared in the inventory)'


def _broken_report():
    """ECE-VERSION fails on svc1 (declared: an ES below the minimum) and NET-PORT-993 fails (observed)."""
    document = healthy()
    document['hosts']['svc1']['ece'].update(version='12.5(1)', installed_es='ES2')
    document['hosts']['svc1']['port_probe']['results'][2].update(ok=False, error_class='timeout',
                                                                 message='m365:993 timed out')
    findings = judge(document)
    summary = _checks.summarize(findings)
    return _report.build(findings, summary, _checks.drift(findings, None), {}, {}, '2026-12-05T18:00:00Z')


def test_the_checks_that_judge_only_declared_values_are_declared_so():
    assert _checks.DECLARED_PHRASE == PHRASE and _checks.BASES == ('observed', 'declared')
    declared = sorted(c.id for c in _checks.CATALOGUE if c.basis == 'declared')
    assert declared == ['ECE-EXTERNAL-URL', 'ECE-VERSION']
    assert all(c.basis == 'observed' for c in _checks.CATALOGUE if c.id not in declared)


def test_every_finding_carries_its_basis_and_only_declared_ones_say_so():
    findings = judge(healthy())
    for found in findings:
        assert found['basis'] == _checks.by_id()[found['id']].basis
        if found['basis'] == 'declared':
            assert found['status'] == 'pass' and PHRASE in found['detail'], found
        else:
            assert PHRASE not in (found['detail'] or ''), found


@pytest.mark.parametrize('update, status', [
    ({'version': '12.5(1)', 'installed_es': 'ES2'}, 'fail'), ({'known_latest_es': 'ES2'}, 'warn'),
    ({'version': '13.0(1)', 'installed_es': ''}, 'pass'), ({'external_url': 'http://ece.contoso.com'}, 'fail'),
    ({'external_url': ''}, 'fail'), ({'admin_login_fqdn': 'admin.contoso.com'}, 'fail')])
def test_every_verdict_on_a_declared_value_says_as_declared_in_the_inventory(update, status):
    document = healthy()
    document['hosts']['svc1']['ece'].update(update)
    findings = [f for f in judge(document) if f['subject'] == 'svc1' and f['basis'] == 'declared']
    assert status in [f['status'] for f in findings]
    assert all(PHRASE in f['detail'] for f in findings), findings


def test_the_engine_labels_a_declared_verdict_whose_judge_forgot_to():
    def judge_zz(context, subject):
        return 'fail', 'zz is off', {}
    declared = _checks.Check('ZZ-DECLARED', 'a declared value', 'error', 'host', ('zz',), 'ece_o365_zz', 'fix it',
                             judge_zz, 'ece', basis='declared')
    found = _checks.judge(healthy(), checks=[declared])
    assert {f['detail'] for f in found} == {'zz is off (%s)' % PHRASE} and {f['basis'] for f in found} == {'declared'}
    observed = _checks.Check('ZZ-OBSERVED', 'an observed value', 'error', 'host', ('zz',), 'a probe', 'fix it',
                             judge_zz, 'network')
    assert {f['detail'] for f in _checks.judge(healthy(), checks=[observed])} == {'zz is off'}


def test_an_unknown_basis_is_refused():
    with pytest.raises(ValueError, match="basis 'guessed' is not one of observed, declared"):
        _checks.Check('X-Y', 't', 'error', 'host', ('x',), 'e', 'f', None, 'network', basis='guessed')


def test_an_error_of_a_declared_check_is_not_dressed_as_a_verdict():
    document = healthy()
    document['hosts']['svc1']['ece']['version'] = ''
    found = finding(judge(document), 'ECE-VERSION', 'svc1')
    assert (found['status'], found['basis']) == ('error', 'declared')
    assert found['detail'] == 'not read: ece_o365_ece_version is not set for this host'


def test_json_carries_the_basis_and_its_schema_knows_it():
    report = json.loads(_report.to_json(_broken_report()))
    jsonschema.validate(report, _report.REPORT_SCHEMA)
    version = [f for f in report['findings'] if f['id'] == 'ECE-VERSION' and f['subject'] == 'svc1'][0]
    port = [f for f in report['findings'] if f['id'] == 'NET-PORT-993' and f['subject'] == 'svc1'][0]
    assert (version['basis'], port['basis']) == ('declared', 'observed')
    assert PHRASE in version['detail'] and PHRASE not in port['detail']
    broken = dict(report, findings=[dict(version, basis='guessed')])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _report.REPORT_SCHEMA)


def test_junit_names_a_declared_case_so_and_an_observed_one_not():
    root = ET.fromstring(_report.to_junit(_broken_report()))
    svc1 = [c for c in root.iter('testcase') if c.get('classname') == 'ece_o365.preflight.svc1']
    version = [c for c in svc1 if c.get('name').startswith('ECE-VERSION ')][0]
    port = [c for c in svc1 if c.get('name').startswith('NET-PORT-993 ')][0]
    assert version.get('name').endswith(LABEL) and PHRASE not in port.get('name')
    assert 'Basis: %s' % PHRASE in version.find('failure').text
    assert PHRASE not in port.find('failure').text


def _row(text, check_id, subject):
    return [line for line in text.splitlines() if check_id in line and subject in line][0]


def test_markdown_and_html_mark_the_declared_finding_beside_the_check():
    report = _broken_report()
    markdown, page = _report.to_markdown(report), _report.to_html(report)
    assert '| ECE-VERSION %s %s | svc1 |' % (_checks.by_id()['ECE-VERSION'].title, LABEL) in markdown
    assert PHRASE not in _row(markdown, 'NET-PORT-993', 'svc1')
    assert '%s %s</td>' % (_checks.by_id()['ECE-VERSION'].title, LABEL) in page
    assert PHRASE not in _row(page, 'NET-PORT-993', 'svc1')


def test_the_end_of_run_table_marks_the_declared_finding():
    table = _report.summary_table(_broken_report()).splitlines()
    heads = [line for line in table if line[:3].strip().rstrip('.').isdigit()]
    version = [line for line in heads if 'ECE-VERSION' in line and 'svc1' in line][0]
    port = [line for line in heads if 'NET-PORT-993' in line and 'svc1' in line][0]
    assert version.endswith('svc1 %s' % LABEL) and port.endswith('svc1')


def test_checks_md_says_the_basis_of_every_check():
    text = _checks.catalogue_markdown()
    for check in _checks.CATALOGUE:
        section = text.split('## %s\n' % check.id, 1)[1].split('\n## ', 1)[0]
        basis = [line for line in section.splitlines() if line.startswith('- Basis: ')]
        assert len(basis) == 1, check.id
        if check.basis == 'declared':
            assert basis[0].startswith('- Basis: %s (no documented place to read it on the server: see '
                                       '[ece-secrets.md](ece-secrets.md))' % PHRASE)
        else:
            assert basis[0].startswith('- Basis: observed from ') and PHRASE not in basis[0]
