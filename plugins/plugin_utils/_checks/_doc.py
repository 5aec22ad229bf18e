# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""docs/checks.md, generated from the catalogue."""

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    CATALOGUE, DECLARED_PHRASE, REQUIREMENTS, SCOPES)


def _item(check_):
    return '%d' % check_.item if check_.item is not None else '-'


def _basis(check_):
    """Where the check's verdict comes from: what this run read, or only what the inventory declares."""
    if check_.basis == 'declared':
        return ('%s (no documented place to read it on the server: see [ece-secrets.md](ece-secrets.md)); every '
                'verdict says so in its detail and every report format prints "(%s)" beside the check'
                % (DECLARED_PHRASE, DECLARED_PHRASE))
    read = [REQUIREMENTS[r] for r in check_.requires if r not in ('reached', 'tenant')]
    return 'observed from %s' % ('; '.join(read) if read else check_.evidence)


def catalogue_markdown():
    """docs/checks.md: every check once, with its evidence, what it requires, its fix and the variable that skips it."""
    out = ['# The check catalogue', '',
           'Generated from `plugins/plugin_utils/_checks/` by `tools/gen-checks-doc`; a unit test fails when this',
           'file and the catalogue differ. Each check yields one finding per subject (a host, the tenant, or a',
           'mailbox) with one of these statuses:', '',
           '- `pass`, `warn`, `fail`: judged on data that was read. A failing check of severity `warning` is reported',
           '  as warn; `ece_o365_fail_on_warn: true` makes warnings block the gate.',
           '- `error`: not judged because an observation it requires is missing (a probe that did not run, the',
           '  tenant host left out of a `--limit`ed run), or the check itself broke. It blocks the gate.',
           '- `skip`: you chose it (`ece_o365_skip_checks`, `ece_o365_check_tenant: false`), or it does not apply to',
           '  the declared design (POP checks for a mailbox ECE reads over IMAP), or it waits for the check named in',
           '  `blocked_by`, which fails for the same subject and so already blocks the gate.', '',
           'A run that judges nothing (a selection that matches no check that ran) fails the gate and says why.',
           'Skip a check: `ece_o365_skip_checks: [ID]`. Waive a finding, with a reason and an expiry date:',
           '`ece_o365_waivers: [{id: ID, subject: HOST|tenant|MAILBOX|"*", reason: "...", expires: YYYY-MM-DD}]`;',
           'an expired waiver stops waiving. Select by id (`ece_o365_checks`) or tag (`ece_o365_check_tags`);',
           'unknown ids and tags are refused, before any probe runs, with the known ones listed.', '',
           'Each check has a basis. **Observed**: judged on what this run read (a probe on the host, Microsoft',
           'Graph, the Exchange admin API, a login). **As declared in the inventory**: judged only on what the',
           'inventory declares (`ece_o365_ece_*`: ECE\'s release, Engineering Special and External URL), because',
           'Cisco\'s documentation names no place on the server a read-only probe could read them from',
           '([ece-secrets.md](ece-secrets.md)). Such a finding says "%s" in its detail, and the' % DECLARED_PHRASE,
           'JSON (`basis: declared`), JUnit, Markdown, HTML and the end-of-run table mark it so no one takes it for',
           'an observation.', '',
           '| Id | Title | Family | Severity | TAC item | Runs for | Basis | Tags |',
           '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for check_ in CATALOGUE:
        out.append('| [%s](#%s) | %s | %s | %s | %s | %s | %s | %s |' % (
            check_.id, check_.id.lower(), check_.title, check_.family, check_.severity, _item(check_),
            SCOPES[check_.scope], 'observed' if check_.basis == 'observed' else DECLARED_PHRASE,
            ', '.join(check_.tags)))
    out += ['', '## The TAC checklist items', '']
    out += ['%d. %s' % (number, text) for number, text in sorted(_facts.CHECKLIST.items())]
    for check_ in CATALOGUE:
        item = ('TAC checklist item %d (%s)' % (check_.item, _facts.CHECKLIST[check_.item])
                if check_.item is not None else 'no TAC checklist item')
        out += ['', '## %s' % check_.id, '', '**%s.** Severity %s; %s; runs for %s; declared in `_checks/%s.py`.' % (
            check_.title, check_.severity, item, SCOPES[check_.scope], check_.family), '',
            '- Evidence: %s.' % check_.evidence, '- Basis: %s.' % _basis(check_)]
        if check_.requires:
            out.append('- Requires: %s.' % '; '.join(REQUIREMENTS[r] for r in check_.requires))
        out.append('- Fix: %s.' % check_.remediation)
        if check_.code:
            out.append('- Microsoft code: `%s`.' % check_.code)
        if check_.id in _facts.SOURCES:
            out.append('- Microsoft sources: %s.' % ', '.join('<%s>' % url for url in _facts.SOURCES[check_.id]))
        out.append('- Skip: `%s`.' % check_.skip_variable())
    return '\n'.join(out) + '\n'
