# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The report: JSON (versioned schema), JUnit XML, Markdown and HTML, and the end-of-run table.

Everything here formats findings the judge made; nothing here judges. Findings carry no secret
(the probes never return one), and every writer escapes what it prints: the JUnit file is built with
ElementTree, the HTML page through Jinja2 with autoescaping (the template, _html_report.j2, sits beside
this file). A waived finding says so in every format (docs/reports.md).
"""

import json
import os
import re
import xml.etree.ElementTree as ET

import jinja2

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
    """One testsuite per subject (host, tenant, mailbox), one testcase per check.

    A fail or warn is a <failure>, an error an <error>, a skip or a waived finding <skipped> (with the waiver's
    reason and expiry); each suite's and the root's counts are counted from the cases as written, so a CI test
    view (junitparser, Jenkins, GitLab) counts what the attributes say.
    """
    by_subject = {}
    for finding in report['findings']:
        by_subject.setdefault(finding['subject'], []).append(finding)
    root = ET.Element('testsuites', name='ece_o365.preflight')
    totals = dict(tests=0, failures=0, errors=0, skipped=0)
    for subject in sorted(by_subject):
        suite = ET.SubElement(root, 'testsuite', name=subject, timestamp=report['generated'])
        counts = dict(tests=0, failures=0, errors=0, skipped=0)
        for case in by_subject[subject]:
            element = ET.SubElement(suite, 'testcase', classname='ece_o365.preflight.%s' % subject,
                                    name='%s %s%s' % (case['id'], case['title'], basis_label(case)))
            outcome = junit_outcome(case)
            counts['tests'] += 1
            if outcome == 'skipped':
                counts['skipped'] += 1
                waiver = case.get('waiver') or {}
                ET.SubElement(element, 'skipped', message='%s %s' % (STATUS_MARK[case['status']], waived_text(case))
                              if waiver.get('active') else (case['detail'] or 'skipped'))
            elif outcome is not None:
                counts[outcome + 's' if outcome == 'error' else 'failures'] += 1
                attributes = {'message': case['detail'] or ''}
                if outcome == 'failure':
                    attributes['type'] = case['status']
                ET.SubElement(element, outcome, attributes).text = _case_text(case)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding='unicode') + '\n'


def junit_outcome(finding):
    """The JUnit element a finding is written as: 'failure', 'error', 'skipped' or None (a pass)."""
    if (finding.get('waiver') or {}).get('active') and finding['status'] != 'pass':
        return 'skipped'
    return {'fail': 'failure', 'warn': 'failure', 'error': 'error', 'skip': 'skipped'}.get(finding['status'])


def _case_text(case):
    text = '%s\nFix: %s\nSkip: %s' % (case['detail'] or '', case['remediation'], case['skip_with'])
    if basis_label(case):
        text += '\nBasis: %s' % _checks.DECLARED_PHRASE
    return text


def waived(finding):
    """Whether an active waiver covers this (non-passing) finding."""
    return bool((finding.get('waiver') or {}).get('active')) and finding['status'] != 'pass'


def waived_text(finding):
    """'waived (REASON, expires YYYY-MM-DD)', the same words in every format."""
    waiver = finding.get('waiver') or {}
    return 'waived (%s, expires %s)' % (waiver.get('reason'), waiver.get('expires'))


def counts_text(summary, findings):
    """'3 passed, 1 failed (1 waived), 0 warnings, 0 errors, 2 skipped': each waived finding counted where it is."""
    counts = summary['counts']
    by_status = dict((status, sum(1 for f in findings if f['status'] == status and waived(f)))
                     for status in ('fail', 'warn', 'error'))

    def part(status, noun):
        return '%d %s%s' % (counts[status], noun, ' (%d waived)' % by_status[status] if by_status[status] else '')
    return ', '.join(['%d passed' % counts['pass'], part('fail', 'failed'), part('warn', 'warnings'),
                      part('error', 'errors'), '%d skipped' % counts['skip']])


def gate_text(summary):
    return 'PASSED' if summary['passed_gate'] else 'FAILED'


def _count(report, status):
    return sum(1 for f in report['findings'] if f['status'] == status)


def _md(text):
    return re.sub(r'([|\\`*_<>])', r'\\\1', str(text if text is not None else ''))


def to_markdown(report):
    summary = report['summary']
    stamp = stamps(report)
    out = ['# ECE OAuth2 mail preflight', '',
           'Generated %s by ece_o365.preflight %s, inventory %s. Gate: **%s** (%d blocking finding(s)%s%s).' % (
               report['generated'], stamp['version'], _md(stamp['inventory']), gate_text(summary), summary['blocking'],
               ', warnings count' if summary.get('fail_on_warn') else '',
               ', %d waived' % summary['waived'] if summary.get('waived') else ''),
           '', '%s.' % counts_text(summary, report['findings']).capitalize(), '']
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
    if waived(finding):
        return '%s, %s' % (STATUS_MARK[finding['status']], waived_text(finding))
    return STATUS_MARK[finding['status']]


def _ordered(findings):
    rank = {'fail': 0, 'error': 1, 'warn': 2, 'skip': 3, 'pass': 4}
    # within a status, what blocks the gate before what a waiver covers
    return sorted(findings, key=lambda f: (rank[f['status']], waived(f), f['subject'], f['id']))


HTML_TEMPLATE = '_html_report.j2'
# The worst status first: a matrix cell shows the worst finding of its subject in its family. A skip ranks
# below a pass: a cell reads "skip" only when every check of the family was skipped there.
WORST = ('fail', 'error', 'warn', 'pass', 'skip')
SUBJECT_KINDS = (('host', 'ECE host'), ('tenant', 'tenant'), ('mailbox', 'mailbox'))
EVIDENCE_CHARS = 600


def _kind(scope):
    return 'host' if scope in ('host', 'services', 'application') else scope


def matrix(report):
    """Rows (every ECE host, the tenant, every mailbox) against the check families: one cell per pair with the
    worst status of that subject's findings in that family (None: no check of the family applies there), whether
    that worst finding is waived, and how many findings the cell stands for."""
    subjects = {}
    for name in report.get('hosts') or {}:
        subjects[name] = 'host'
    for finding in report['findings']:
        subjects.setdefault(finding['subject'], _kind(finding['scope']))
    order = [kind for kind, _label in SUBJECT_KINDS]
    rows = []
    for subject in sorted(subjects, key=lambda name: (order.index(subjects[name]) if subjects[name] in order
                                                      else len(order), name)):
        mine = [f for f in report['findings'] if f['subject'] == subject]
        cells = [_cell(family, [f for f in mine if f.get('family') == family]) for family in _checks.FAMILIES]
        rows.append({'subject': subject, 'kind': dict(SUBJECT_KINDS).get(subjects[subject], subjects[subject]),
                     'cells': cells})
    return rows


def _cell(family, found):
    if not found:
        return {'family': family, 'status': None, 'label': 'n/a', 'waived': False, 'count': 0, 'anchor': None}
    worst = min(found, key=lambda f: (WORST.index(f['status']), waived(f)))
    label = STATUS_MARK[worst['status']]
    if waived(worst):
        label += ' (waived)'
        unwaived = [WORST.index(f['status']) for f in found if not waived(f)]
        if unwaived and WORST[min(unwaived)] != 'pass':  # what is left once the waiver is set aside
            label += ', %s' % STATUS_MARK[WORST[min(unwaived)]]
    return {'family': family, 'status': worst['status'], 'label': label, 'waived': waived(worst), 'count': len(found),
            'anchor': anchor(worst) if worst['status'] in ('fail', 'error', 'warn') else None}


def anchor(finding):
    return 'f-%s-%s' % (finding['id'].lower(), re.sub(r'[^a-z0-9]+', '-', finding['subject'].lower()).strip('-'))


def evidence_text(finding):
    """The finding's evidence as compact JSON, cut at EVIDENCE_CHARS (the JSON report has all of it)."""
    evidence = finding.get('evidence')
    if not evidence:
        return ''
    text = json.dumps(evidence, sort_keys=True, separators=(', ', ': '), default=str)
    return text if len(text) <= EVIDENCE_CHARS else text[:EVIDENCE_CHARS] + ' ... (cut: the JSON report has it all)'


def stamps(report):
    """What the run is: the collection's version and the inventory (set by the action), and when it was judged."""
    run = report.get('run') or {}
    return {'version': run.get('collection_version') or collection_version(),
            'inventory': run.get('inventory') or 'unknown', 'generated': report['generated']}


def chart(history, width=560, height=150):
    """The geometry of a bar chart (inline SVG) of failures per day from the audit history: [{date, failures}]."""
    days = [h for h in history or [] if isinstance(h, dict) and h.get('date')][-31:]
    if not days:
        return None
    top = max([h.get('failures') or 0 for h in days] + [1])
    left, plot_top, plot_h = 30, 16, height - 40
    step = (width - left - 4) / float(len(days))
    bars = []
    for index, day in enumerate(days):
        value = day.get('failures') or 0
        bar_h = plot_h * value / float(top)
        bars.append({'x': round(left + index * step + step * 0.15, 1), 'w': round(max(step * 0.7, 1), 1),
                     'y': round(plot_top + plot_h - bar_h, 1), 'h': round(bar_h, 1), 'value': value,
                     'date': day['date'], 'label_x': round(left + index * step + step / 2, 1),
                     'show_date': index in (0, len(days) - 1) or len(days) <= 8})
    return {'width': width, 'height': height, 'top': top, 'base_y': plot_top + plot_h, 'left': left, 'bars': bars,
            'first': days[0]['date'], 'last': days[-1]['date'], 'days': len(days)}


def _template():
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(__file__))),
                                     autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                     lstrip_blocks=True)
    return environment.get_template(HTML_TEMPLATE)


def to_html(report):
    """One self-contained page (inline CSS and SVG, no script, nothing fetched): the matrix, the failures first
    with their evidence and fix, the passes and skips folded, the audit chart."""
    summary = report['summary']
    findings = _ordered(report['findings'])
    by_subject = {}
    for finding in findings:
        by_subject.setdefault(finding['subject'], []).append(finding)
    return _template().render(
        report=report, summary=summary, stamp=stamps(report), families=_checks.FAMILIES, rows=matrix(report),
        counts=counts_text(summary, report['findings']), gate=gate_text(summary),
        coverage=coverage_lines(summary.get('coverage') or {}), gate_reasons=summary.get('gate_reasons') or [],
        problems=[f for f in findings if f['status'] in ('fail', 'error', 'warn')],
        passes=[f for f in findings if f['status'] == 'pass'], skips=[f for f in findings if f['status'] == 'skip'],
        chart=chart((report.get('run') or {}).get('audit_history')), drift=report.get('drift') or {},
        mark=STATUS_MARK, basis_label=basis_label, waived=waived, waived_text=waived_text, anchor=anchor,
        evidence_text=evidence_text)


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


def summary_table(report, paths=None):
    """The table printed at the end of the run: every non-passing finding, numbered, with how to skip it.

    Nothing is cut: the detail of a login names Microsoft's reply and its fix, which is the point. A waived
    finding says "waived (reason, expires ...)" on its own line and in the counts. With PATHS ({format: path},
    as the action wrote them), the last lines say how to waive and which reports were written.
    """
    lines = []
    numbered = [f for f in _ordered(report['findings']) if f['status'] in ('fail', 'error', 'warn')]
    for number, finding in enumerate(numbered, 1):
        lines.append('%2d. %-5s %-24s %s%s%s' % (
            number, STATUS_MARK[finding['status']], finding['id'], finding['subject'], basis_label(finding),
            ' [waived]' if waived(finding) else ''))
        lines.append('    seen: %s' % (finding['detail'] or ''))
        lines.append('    fix:  %s' % finding['remediation'])
        if waived(finding):
            lines.append('    %s' % waived_text(finding))
        else:
            lines.append('    skip: %s' % finding['skip_with'])
    summary = report['summary']
    lines.extend(coverage_lines(summary.get('coverage') or {}))
    if summary.get('gate_reasons') and not summary['blocking']:
        lines.append('gate: %s' % '; '.join(summary['gate_reasons']))
    lines.append('preflight: %s; gate %s' % (counts_text(summary, report['findings']), gate_text(summary)))
    if paths is not None:
        if not summary['passed_gate']:
            lines.append('waive: ece_o365_waivers: [{id: <ID>, subject: <host, tenant or mailbox>, reason: <why>, '
                         'expires: <YYYY-MM-DD>}]')
        lines.append('reports: %s' % (', '.join(str(p) for p in paths.values()) if paths else
                                      'none written (set ece_o365_report_dir)'))
    return '\n'.join(lines)


COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_version(root=COLLECTION_ROOT):
    """The collection's version: MANIFEST.json of an installed (built) collection, else galaxy.yml of a source
    checkout, else 'unknown' (a report is never refused for its stamp)."""
    try:
        with open(os.path.join(root, 'MANIFEST.json'), encoding='utf-8') as handle:
            version = json.load(handle)['collection_info']['version']
        if isinstance(version, str) and version:
            return version
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(root, 'galaxy.yml'), encoding='utf-8') as handle:
            for line in handle:  # the top-level "version: X" line; no YAML parser needed for one scalar
                match = re.match(r'''^version:\s*['"]?([^'"#\s]+)''', line)
                if match:
                    return match.group(1)
    except (OSError, UnicodeDecodeError):
        pass
    return 'unknown'


def coverage_lines(coverage):
    """What the gate covers: the ECE hosts judged (and those a --limit left out) and whether the tenant was read."""
    if not coverage:
        return []
    lines = ['covers: %d of %d ECE host(s)%s; tenant %s' % (
        len(coverage.get('judged_hosts') or []), coverage.get('ece_hosts') or 0,
        ' (limited out: %s)' % ', '.join(coverage['limited_out']) if coverage.get('limited_out') else '',
        coverage.get('tenant') or 'not read')]
    return lines
