# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The report: JSON (versioned schema), JUnit XML, Markdown and HTML, and the end-of-run table.

Everything here formats findings the judge made; nothing here judges. Findings carry no secret
(the probes never return one), and every writer escapes what it prints.
"""

import html
import json
import os
import re
from xml.sax.saxutils import escape as xml_escape, quoteattr

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

REPORT_SCHEMA = {
    '$schema': 'https://json-schema.org/draft/2020-12/schema',
    '$id': 'urn:ece_o365:preflight:report:v%d' % _checks.SCHEMA_VERSION,
    'title': 'ece_o365.preflight report',
    'type': 'object',
    'required': ['schema_version', 'generated', 'summary', 'findings', 'hosts', 'drift'],
    'properties': {
        'schema_version': {'const': _checks.SCHEMA_VERSION},
        'generated': {'type': 'string'},
        'run': {'type': 'object'},
        'hosts': {'type': 'object'},
        'summary': {'type': 'object', 'required': ['counts', 'total', 'blocking', 'passed_gate']},
        'drift': {'type': 'object'},
        'findings': {'type': 'array', 'items': {
            'type': 'object',
            'required': ['id', 'title', 'severity', 'checklist_item', 'scope', 'subject', 'status', 'detail',
                         'remediation', 'skip_with'],
            'properties': {
                'id': {'type': 'string', 'pattern': '^[A-Z0-9]+(-[A-Z0-9]+)+$'},
                'status': {'enum': list(_checks.STATUSES)},
                'severity': {'enum': list(_checks.SEVERITIES)},
                'checklist_item': {'type': ['integer', 'null'], 'minimum': 1},
                'family': {'type': 'string'},
                'blocked_by': {'type': ['string', 'null']},
                'scope': {'enum': list(_checks.SCOPES)},
                'subject': {'type': 'string'},
                'detail': {'type': ['string', 'null']},
                'remediation': {'type': 'string'},
                'code': {'type': ['string', 'null']},
                'waiver': {'type': ['object', 'null']},
                # what the verdict rests on: 'declared' = only the inventory's values (shown "as declared in the
                # inventory" beside the check in every format), 'observed' = what this run read
                'basis': {'enum': list(_checks.BASES)},
            },
        }},
    },
}

STATUS_MARK = {'pass': 'PASS', 'warn': 'WARN', 'fail': 'FAIL', 'skip': 'SKIP', 'error': 'ERROR'}


def basis_label(finding):
    """' (as declared in the inventory)' for a finding of a declared-basis check, else ''."""
    return ' (%s)' % _checks.DECLARED_PHRASE if finding.get('basis') == 'declared' else ''


def build(findings, summary, drift, hosts, run, generated):
    """The report document (JSON-serialisable)."""
    return {
        'schema_version': _checks.SCHEMA_VERSION,
        'generated': generated,
        'run': run,
        'hosts': hosts,
        'summary': summary,
        'drift': drift,
        'findings': sorted(findings, key=lambda f: (f['subject'], f['id'])),
    }


def to_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + '\n'


def to_junit(report):
    """One testsuite per subject (host, tenant, mailbox), one testcase per check."""
    by_subject = {}
    for finding in report['findings']:
        by_subject.setdefault(finding['subject'], []).append(finding)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<testsuites name="ece_o365.preflight" tests="%d" failures="%d" errors="%d" skipped="%d">' % (
                 len(report['findings']), _count(report, 'fail') + _count(report, 'warn'), _count(report, 'error'),
                 _count(report, 'skip'))]
    for subject in sorted(by_subject):
        cases = by_subject[subject]
        lines.append('  <testsuite name=%s tests="%d" failures="%d" errors="%d" skipped="%d" timestamp=%s>' % (
            quoteattr(subject), len(cases), sum(1 for c in cases if c['status'] in ('fail', 'warn')),
            sum(1 for c in cases if c['status'] == 'error'), sum(1 for c in cases if c['status'] == 'skip'),
            quoteattr(report['generated'])))
        for case in cases:
            lines.append('    <testcase classname=%s name=%s>' % (
                quoteattr('ece_o365.preflight.%s' % subject),
                quoteattr('%s %s%s' % (case['id'], case['title'], basis_label(case)))))
            text = '%s\nFix: %s\nSkip: %s' % (case['detail'] or '', case['remediation'], case['skip_with'])
            if basis_label(case):
                text += '\nBasis: %s' % _checks.DECLARED_PHRASE
            waiver = case.get('waiver') or {}
            if waiver.get('active'):
                lines.append('      <skipped message=%s/>' % quoteattr('waived until %s: %s' % (
                    waiver['expires'], waiver['reason'])))
            elif case['status'] in ('fail', 'warn'):
                lines.append('      <failure type=%s message=%s>%s</failure>' % (
                    quoteattr(case['status']), quoteattr(case['detail'] or ''), xml_escape(text)))
            elif case['status'] == 'error':
                lines.append('      <error message=%s>%s</error>' % (quoteattr(case['detail'] or ''), xml_escape(text)))
            elif case['status'] == 'skip':
                lines.append('      <skipped message=%s/>' % quoteattr(case['detail'] or 'skipped'))
            lines.append('    </testcase>')
        lines.append('  </testsuite>')
    lines.append('</testsuites>')
    return '\n'.join(lines) + '\n'


def _count(report, status):
    return sum(1 for f in report['findings'] if f['status'] == status)


def _md(text):
    return re.sub(r'([|\\`*_<>])', r'\\\1', str(text if text is not None else ''))


def to_markdown(report):
    summary = report['summary']
    out = ['# ECE OAuth2 mail preflight', '',
           'Generated %s. Gate: **%s** (%d blocking finding(s)%s).' % (
               report['generated'], 'PASSED' if summary['passed_gate'] else 'FAILED', summary['blocking'],
               ', warnings count' if summary.get('fail_on_warn') else ''),
           '']
    out += ['%s%s.' % (line[0].upper(), line[1:]) for line in coverage_lines(summary.get('coverage') or {})]
    out += ['Gate: %s.' % reason for reason in summary.get('gate_reasons') or [] if reason.startswith('nothing')]
    out += ['', '| Status | Count |', '| --- | --- |']
    out += ['| %s | %d |' % (STATUS_MARK[s], summary['counts'][s]) for s in _checks.STATUSES]
    drift = report.get('drift') or {}
    if drift.get('previous_found'):
        out += ['', '## Since the last audit', '',
                '- New failures: %s' % (', '.join('%s on %s' % (d['id'], d['subject']) for d in drift['new_failures']) or 'none'),
                '- Fixed: %s' % (', '.join('%s on %s' % (d['id'], d['subject']) for d in drift['fixed']) or 'none'),
                '- Still failing: %d' % len(drift['still_failing'])]
    out += ['', '## Findings', '', '| Status | Check | Subject | Detail | Fix |', '| --- | --- | --- | --- | --- |']
    for finding in _ordered(report['findings']):
        out.append('| %s | %s %s%s | %s | %s | %s |' % (
            _status_text(finding), finding['id'], _md(finding['title']), _md(basis_label(finding)),
            _md(finding['subject']),
            _md(finding['detail']), _md(finding['remediation'] if finding['status'] in ('fail', 'warn', 'error') else '')))
    out += ['', 'To skip a check: set `ece_o365_skip_checks: [ID]`. To waive one with a reason and an expiry: '
            '`ece_o365_waivers: [{id: ID, subject: HOST, reason: ..., expires: YYYY-MM-DD}]`.', '']
    return '\n'.join(out)


def _status_text(finding):
    waiver = finding.get('waiver') or {}
    if waiver.get('active') and finding['status'] != 'pass':
        return '%s (waived until %s)' % (STATUS_MARK[finding['status']], waiver['expires'])
    return STATUS_MARK[finding['status']]


def _ordered(findings):
    rank = {'fail': 0, 'error': 1, 'warn': 2, 'skip': 3, 'pass': 4}
    return sorted(findings, key=lambda f: (rank[f['status']], f['subject'], f['id']))


def to_html(report):
    summary = report['summary']
    rows = []
    for finding in _ordered(report['findings']):
        rows.append('<tr class="%s"><td>%s</td><td><code>%s</code><br>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
            finding['status'], html.escape(_status_text(finding)), html.escape(finding['id']),
            html.escape(finding['title'] + basis_label(finding)), html.escape(finding['subject']),
            html.escape(finding['detail'] or ''),
            html.escape(finding['remediation'] if finding['status'] in ('fail', 'warn', 'error') else '')))
    return '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ECE OAuth2 mail preflight</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top}tr.fail td:first-child,tr.error td:first-child{background:#f8d7da}tr.warn td:first-child{background:#fff3cd}
tr.pass td:first-child{background:#d4edda}</style></head><body>
<h1>ECE OAuth2 mail preflight</h1>
<p>Generated %s. Gate: <strong>%s</strong> (%d blocking finding(s)).</p>
<p>%s</p>
<p>%s</p>
<table><tr><th>Status</th><th>Check</th><th>Subject</th><th>Detail</th><th>Fix</th></tr>
%s
</table>
<p>To skip a check: <code>ece_o365_skip_checks: [ID]</code>. To waive one: <code>ece_o365_waivers</code> with id, subject, reason and expires.</p>
</body></html>
''' % (html.escape(report['generated']), 'PASSED' if summary['passed_gate'] else 'FAILED', summary['blocking'],
       html.escape(', '.join('%s %d' % (STATUS_MARK[s], summary['counts'][s]) for s in _checks.STATUSES)),
       html.escape(' '.join(coverage_lines(summary.get('coverage') or {}) + list(summary.get('gate_reasons') or []))),
       '\n'.join(rows))


WRITERS = {'json': ('preflight.json', to_json), 'junit': ('preflight-junit.xml', to_junit),
           'markdown': ('preflight.md', to_markdown), 'html': ('preflight.html', to_html)}


def write(report, directory, formats):
    """Write each format into DIRECTORY; return {format: path}."""
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for name in formats:
        filename, writer = WRITERS[name]
        path = os.path.join(directory, filename)
        tmp = path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as handle:
            handle.write(writer(report))
        os.replace(tmp, path)
        paths[name] = path
    return paths


def observations_document(observations):
    """The observation contract's document as the judge read it, for preflight-observations.json: every probe
    result without Ansible's own keys (invocation: the module arguments, secrets masked but not needed)."""
    def strip(value):
        if isinstance(value, dict):
            return dict((k, strip(v)) for k, v in value.items() if k not in ('invocation', '_ansible_no_log'))
        if isinstance(value, (list, tuple)):
            return [strip(v) for v in value]
        return value
    return strip(observations)


def write_observations(document, directory):
    """Write the observations the findings were judged from (preflight-observations.json); return its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, 'preflight-observations.json')
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(json.dumps(document, indent=2, sort_keys=True, default=str) + '\n')
    os.replace(tmp, path)
    return path


def summary_table(report):
    """The table printed at the end of the run: every non-passing finding, numbered, with how to skip it.

    Nothing is cut: the detail of a login names Microsoft's reply and its fix, which is the point.
    """
    lines = []
    numbered = [f for f in _ordered(report['findings']) if f['status'] in ('fail', 'error', 'warn')]
    for number, finding in enumerate(numbered, 1):
        lines.append('%2d. %-5s %-24s %s%s' % (
            number, STATUS_MARK[finding['status']], finding['id'], finding['subject'], basis_label(finding)))
        lines.append('    seen: %s' % (finding['detail'] or ''))
        lines.append('    fix:  %s' % finding['remediation'])
        waiver = finding.get('waiver') or {}
        if waiver.get('active'):
            lines.append('    waived until %s: %s' % (waiver['expires'], waiver['reason']))
        else:
            lines.append('    skip: %s' % finding['skip_with'])
    summary = report['summary']
    counts = summary['counts']
    lines.extend(coverage_lines(summary.get('coverage') or {}))
    if summary.get('gate_reasons') and not summary['blocking']:
        lines.append('gate: %s' % '; '.join(summary['gate_reasons']))
    lines.append('preflight: %d passed, %d failed%s, %d warnings, %d errors, %d skipped; gate %s' % (
        counts['pass'], counts['fail'], ' (%d waived)' % summary['waived'] if summary.get('waived') else '',
        counts['warn'], counts['error'], counts['skip'], 'PASSED' if summary['passed_gate'] else 'FAILED'))
    return '\n'.join(lines)


def coverage_lines(coverage):
    """What the gate covers: the ECE hosts judged (and those a --limit left out) and whether the tenant was read."""
    if not coverage:
        return []
    lines = ['covers: %d of %d ECE host(s)%s; tenant %s' % (
        len(coverage.get('judged_hosts') or []), coverage.get('ece_hosts') or 0,
        ' (limited out: %s)' % ', '.join(coverage['limited_out']) if coverage.get('limited_out') else '',
        coverage.get('tenant') or 'not read')]
    return lines
