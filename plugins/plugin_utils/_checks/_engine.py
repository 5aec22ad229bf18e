# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The engine: how a check is declared, what it requires, how every chosen check is run, and the gate.

A check is a function decorated with ``@check(...)`` in its family's file, declared beside its judge.
The engine never special-cases a check id. What a status means:

- ``pass``, ``warn``, ``fail``: judged on data that was read.
- ``error``: not judged, because an observation it needs is missing (a probe that did not run, a host
  or the tenant left out of the run) or the check itself broke. It blocks the gate.
- ``skip``: the user chose it (``ece_o365_skip_checks``, or ``ece_o365_check_tenant: false``), or the
  check does not apply to the declared design (POP checks when ECE uses IMAP), or it was not judged
  because the check named in ``blocked_by`` fails for the same subject and so already blocks the gate.
  A ``blocked_by`` whose check does not block (waived, skipped, passed) turns into an ``error``.
"""

import datetime

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts

STATUSES = ('pass', 'warn', 'fail', 'skip', 'error')
SEVERITIES = ('error', 'warning')
SCOPES = {
    'host': 'every ECE host',
    'services': 'services servers (retriever, dispatcher, token refresh)',
    'application': 'application servers (initial token, alarm mail)',
    'tenant': 'once, for the tenant',
    'mailbox': 'once per mailbox ECE uses',
}
FAMILIES = ('preflight', 'network', 'ece', 'identity', 'signins', 'mailbox')

# What a check may require, and where it is read from (docs/contract.md).
REQUIREMENTS = {
    'reached': 'the host answered and every probe task ran',
    'port_probe': 'the port_probe result of the host',
    'url_reach': 'the url_reach result of the host',
    'tenant': 'the tenant role ran',
    'tenant_info': 'the tenant_info result (Microsoft Graph)',
    'mailbox_settings': 'the mailbox_settings result (Exchange admin API)',
    'mailbox_protocols': 'the mailbox_protocols result (tokens and logins)',
}
HOST_REQUIREMENTS = ('reached', 'port_probe', 'url_reach')
TENANT_REQUIREMENTS = ('tenant', 'tenant_info', 'mailbox_settings', 'mailbox_protocols')
HOST_REACHABLE = 'PREFLIGHT-HOST-REACHABLE'
# The user's choice not to supply ECE's tokens (its client secret and stored refresh tokens): the re-enactment
# (refresh, logins) does not run, and Entra's record of ECE's own sign-ins judges them (docs/signin-logs.md).
NO_ECE_TOKENS = ('not run: ECE\'s tokens are not supplied (ece_o365_ece_tokens: none); Entra\'s record of ECE\'s '
                 'own sign-ins judges them instead (ENTRA-SIGNIN-*, ENTRA-TOKEN-IDLE)')
TENANT_READ = 'PREFLIGHT-TENANT-READ'

# What a check's verdict rests on. 'observed': what this run read (a probe, Graph, the Exchange admin API, a
# login). 'declared': only what the inventory declares (ECE's release, ES and External URL: Cisco documents no
# place a read-only probe could read them from on the server; docs/ece-secrets.md). Every judged finding of a
# declared check says DECLARED_PHRASE in its detail, and the reports print it beside the check.
BASES = ('observed', 'declared')
DECLARED_PHRASE = 'as declared in the inventory'

CATALOGUE = []
# A judge returns this status for a failure that its check's severity must not soften into a warning
# (a clock so far off that tokens are refused).
HARD_FAIL = 'fail!'


class Missing(Exception):
    """An observation the check needs is missing: the finding is an ``error`` naming what and why."""


class Blocked(Exception):
    """Not judged because CHECK_ID fails for the same subject (or the tenant, or SUBJECT when given: a services
    server's refresh waits for the mailbox's TOKEN-REFRESH): ``skip`` with blocked_by."""

    def __init__(self, check_id, why, subject=None):
        super(Blocked, self).__init__(why)
        self.check_id = check_id
        self.subject = subject


class NotApplicable(Exception):
    """The declared design makes the check irrelevant (POP when ECE uses IMAP): ``skip`` with the reason."""


class Verdict(tuple):
    """(status, detail, evidence, fix): fix, when not None, replaces the check's own for this finding."""

    def __new__(cls, status, detail, evidence=None, fix=None):
        return tuple.__new__(cls, (status, detail, evidence if evidence is not None else {}, fix))


class Check(object):
    """A check as declared: JUDGE(context, subject) returns a Verdict or (status, detail, evidence)."""

    def __init__(self, check_id, title, severity, scope, tags, evidence, fix, judge, family, item=None,
                 code=None, requires=(), basis='observed'):
        if severity not in SEVERITIES or scope not in SCOPES or family not in FAMILIES:
            raise ValueError('check %s: bad severity, scope or family' % check_id)
        if basis not in BASES:
            raise ValueError('check %s: basis %r is not one of %s' % (check_id, basis, ', '.join(BASES)))
        if item is not None and item not in _facts.CHECKLIST:
            raise ValueError('check %s: TAC checklist item %r is not in _facts.CHECKLIST' % (check_id, item))
        unknown = [r for r in requires if r not in REQUIREMENTS]
        if unknown:
            raise ValueError('check %s: unknown requirement(s) %s' % (check_id, unknown))
        self.id = check_id
        self.title = title
        self.severity = severity
        self.scope = scope
        self.tags = tuple(tags)
        self.evidence = evidence
        self.remediation = fix
        self.judge = judge
        self.family = family
        self.item = item
        self.code = code  # the Microsoft error code the remediation is about, where one applies
        self.requires = tuple(requires)
        self.basis = basis

    def skip_variable(self):
        """The exact inventory variable that skips this check."""
        return 'ece_o365_skip_checks: [%s]' % self.id


def check(check_id, title, severity, scope, tags, evidence, fix, item=None, code=None, requires=(), basis='observed'):
    """Declare the decorated function as the judge of a check, in the family of its module.

    BASIS is 'declared' for a check that judges only what the inventory declares (see BASES)."""
    def register(judge):
        if any(c.id == check_id for c in CATALOGUE):
            raise ValueError('check %s is declared twice' % check_id)
        family = judge.__module__.rsplit('.', 1)[-1]
        declared = Check(check_id, title, severity, scope, tags, evidence, fix, judge, family, item, code, requires,
                         basis)
        CATALOGUE.append(declared)
        CATALOGUE.sort(key=lambda c: FAMILIES.index(c.family))  # stable: declaration order within a family
        return judge
    return register


# -- the context a judge reads -----------------------------------------------------------------

class Context(object):
    """The observations (the contract's document) and the run's options, as the judges read them."""

    def __init__(self, observations, options=None):
        # The action validates the document against the contract first; what reaches here unvalidated (a
        # direct call) is read defensively: a part of the wrong type is as good as missing.
        self.hosts = dict((k, v) for k, v in _mapping(observations.get('hosts')).items() if isinstance(v, dict))
        self.tenant = _mapping(observations.get('tenant')) or {'ran': False, 'left_out': False}
        self.mailboxes = dict((k, v) for k, v in _mapping(observations.get('mailboxes')).items() if isinstance(v, dict))
        self.options = dict(options or {})
        self.today = self.options.get('today') or datetime.date.today()

    def host(self, name):
        return self.hosts.get(name) or {}

    def mailbox(self, address):
        return self.mailboxes.get(address) or {}

    # -- requirements --------------------------------------------------------------------------

    def require(self, what, subject, scope):
        """Raise Missing, Blocked or NotApplicable when WHAT is not there for SUBJECT."""
        if what in HOST_REQUIREMENTS:
            host = self.host(subject)
            if not host.get('reached', False) or host.get('failed_tasks'):
                raise Blocked(HOST_REACHABLE, 'not judged: %s did not answer or a probe task failed on it (see %s)' % (
                    subject, HOST_REACHABLE))
            if what != 'reached' and host.get(what) is None:
                raise Missing('not read: %s did not run on %s (the network role records it)' % (what, subject))
            return
        tenant = self.tenant
        if tenant.get('left_out'):
            raise NotApplicable('left out of this run by ece_o365_check_tenant: false')
        if not tenant.get('ran') or tenant.get('failed_tasks'):
            raise Blocked(TENANT_READ, 'not judged: the tenant was not read (see %s)' % TENANT_READ)
        if what == 'mailbox_protocols' and tenant.get('ece_tokens') == 'none':
            raise NotApplicable(NO_ECE_TOKENS)
        if what != 'tenant' and tenant.get(what) is None:
            raise Blocked(TENANT_READ, 'not judged: %s did not run (see %s)' % (what, TENANT_READ))


def _mapping(value):
    return value if isinstance(value, dict) else {}


def subjects_for(check_, context):
    if check_.scope == 'tenant':
        return ['tenant']
    if check_.scope == 'mailbox':
        return sorted(context.mailboxes)
    if check_.scope == 'host':
        return sorted(context.hosts)
    return sorted(name for name, host in context.hosts.items()
                  if isinstance(host.get('roles'), (list, tuple)) and check_.scope in host['roles'])


# -- selection and waivers ---------------------------------------------------------------------

class SelectionError(ValueError):
    """Unknown check ids or tags; the message lists the known ones."""


def by_id(catalogue=None):
    return dict((c.id, c) for c in (catalogue or CATALOGUE))


def select(checks=None, tags=None, skip=None, catalogue=None):
    """The checks to run: ids in CHECKS (all when empty) with a tag in TAGS (any when empty), less SKIP."""
    catalogue = catalogue or CATALOGUE
    known = by_id(catalogue)
    known_tags = sorted(set(tag for c in catalogue for tag in c.tags))
    for variable, values in (('ece_o365_checks', checks), ('ece_o365_skip_checks', skip)):
        unknown = sorted(set(i for i in values or [] if i not in known))
        if unknown:
            raise SelectionError('%s: unknown check id(s): %s. Known checks: %s' % (
                variable, ', '.join(unknown), ', '.join(sorted(known))))
    unknown_tags = sorted(set(t for t in (tags or []) if t not in known_tags))
    if unknown_tags:
        raise SelectionError('ece_o365_check_tags: unknown tag(s): %s. Known tags: %s' % (
            ', '.join(unknown_tags), ', '.join(known_tags)))
    chosen = [c for c in catalogue if (not checks or c.id in checks) and (not tags or set(c.tags) & set(tags))]
    skipped = [c for c in chosen if c.id in (skip or [])]
    return [c for c in chosen if c not in skipped], skipped


def parse_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.datetime.strptime(str(value)[:10], '%Y-%m-%d').date()


def validate_waivers(waivers):
    """A message naming the first bad waiver, or None. A waiver needs id, reason and expires (YYYY-MM-DD)."""
    known = by_id()
    if not isinstance(waivers, (list, tuple)):
        return 'ece_o365_waivers must be a list of mappings with id, reason and expires'
    for index, waiver in enumerate(waivers):
        where = 'ece_o365_waivers[%d]' % index
        if not isinstance(waiver, dict):
            return '%s must be a mapping with id, reason and expires' % where
        if waiver.get('id') not in known:
            return '%s: unknown check id %r. Known checks: %s' % (where, waiver.get('id'), ', '.join(sorted(known)))
        if not str(waiver.get('reason') or '').strip():
            return '%s (%s): a waiver needs a reason' % (where, waiver['id'])
        try:
            parse_date(waiver.get('expires'))
        except (TypeError, ValueError):
            return '%s (%s): expires must be a date YYYY-MM-DD, got %r' % (where, waiver['id'], waiver.get('expires'))
    return None


def waiver_for(finding, waivers, today):
    """The waiver that covers FINDING (same check id, same subject or '*'), with whether it is still active."""
    for waiver in waivers or []:
        if waiver['id'] != finding['id']:
            continue
        subject = waiver.get('subject') or waiver.get('host') or '*'
        if subject not in ('*', finding['subject']):
            continue
        expires = parse_date(waiver['expires'])
        return {'reason': waiver['reason'], 'expires': expires.isoformat(), 'active': expires >= today}
    return None


# -- the judge ---------------------------------------------------------------------------------

def _finding(check_, subject, status, detail, evidence, fix=None, blocked_by=None):
    if check_.basis == 'declared' and status in ('pass', 'warn', 'fail') and DECLARED_PHRASE not in (detail or ''):
        # A verdict on a declared value never reads as an observation, whatever its judge wrote.
        detail = '%s (%s)' % (detail or check_.title, DECLARED_PHRASE)
    return {
        'id': check_.id, 'title': check_.title, 'severity': check_.severity, 'family': check_.family,
        'checklist_item': check_.item, 'checklist': _facts.CHECKLIST.get(check_.item), 'scope': check_.scope,
        'subject': subject, 'status': status, 'detail': detail, 'evidence': evidence,
        'remediation': fix or check_.remediation, 'code': check_.code, 'skip_with': check_.skip_variable(),
        'waiver': None, 'blocked_by': blocked_by, 'basis': check_.basis,
    }


def _run_one(check_, context, subject):
    try:
        for what in check_.requires:
            context.require(what, subject, check_.scope)
        verdict = check_.judge(context, subject)
        status, detail, evidence = verdict[0], verdict[1], verdict[2]
        fix = verdict[3] if len(verdict) > 3 else None
        hard = status == HARD_FAIL
        status = 'fail' if hard else status
        if status not in STATUSES:
            raise ValueError('status %r' % (status,))
        if status == 'fail' and check_.severity == 'warning' and not hard:
            status = 'warn'
        return _finding(check_, subject, status, detail, evidence, fix)
    except Missing as exc:
        return _finding(check_, subject, 'error', str(exc), {})
    except Blocked as exc:
        return _finding(check_, subject, 'skip', str(exc), {'waits_for': exc.subject} if exc.subject else {},
                        blocked_by=exc.check_id)
    except NotApplicable as exc:
        return _finding(check_, subject, 'skip', str(exc), {})
    except Exception as exc:  # pylint: disable=broad-except  # one broken check must not hide the others
        return _finding(check_, subject, 'error', 'the check itself failed: %r' % exc, {})


def judge(observations, checks=None, skipped=None, waivers=None, options=None, catalogue=None):
    """Findings for every chosen check and subject of OBSERVATIONS (the contract's document)."""
    context = Context(observations, options)
    catalogue = catalogue or CATALOGUE
    findings = []
    for check_ in checks if checks is not None else catalogue:
        for subject in subjects_for(check_, context):
            finding = _run_one(check_, context, subject)
            finding['waiver'] = waiver_for(finding, waivers, context.today)
            findings.append(finding)
    _settle_blocked(findings, skipped or [])
    for check_ in skipped or []:
        finding = _finding(check_, '*', 'skip', 'disabled by ece_o365_skip_checks', {})
        finding['disabled'] = True
        findings.append(finding)
    return findings


def _settle_blocked(findings, skipped):
    """A finding may stay unjudged only while the check it waits for blocks the gate for that subject
    (directly, or through a chain of such waits)."""
    index = dict(((f['id'], f['subject']), f) for f in findings)
    disabled = set(c.id for c in skipped)

    def blocker_of(finding):
        blocker_id = finding['blocked_by']
        waits_for = (finding.get('evidence') or {}).get('waits_for') if isinstance(finding.get('evidence'), dict) else None
        return index.get((blocker_id, 'tenant' if blocker_id == TENANT_READ else waits_for or finding['subject']))

    def holds(finding, depth=0):
        blocker = blocker_of(finding)
        if blocker is None or depth > len(index):
            return False
        if blocking(blocker):
            return True
        return blocker['status'] == 'skip' and bool(blocker.get('blocked_by')) and holds(blocker, depth + 1)

    unsettled = [f for f in findings if f.get('blocked_by') and not holds(f)]
    for finding in unsettled:
        blocker_id, blocker = finding['blocked_by'], blocker_of(finding)
        if blocker_id in disabled:
            why = '%s is disabled by ece_o365_skip_checks' % blocker_id
        elif blocker is None:
            why = '%s was not run' % blocker_id
        else:
            why = '%s does not block the gate (%s%s)' % (
                blocker_id, blocker['status'], ', waived' if (blocker.get('waiver') or {}).get('active') else '')
        finding['status'] = 'error'
        finding['detail'] = '%s; and %s, so nothing else blocks the gate for it' % (finding['detail'], why)


def blocking(finding, fail_on_warn=False):
    """Whether a finding fails the gate: a fail or error (or, when strict, a warn) not covered by an active waiver."""
    statuses = ('fail', 'error', 'warn') if fail_on_warn else ('fail', 'error')
    return finding['status'] in statuses and not (finding.get('waiver') or {}).get('active')


def summarize(findings, fail_on_warn=False, coverage=None):
    """Counts, the blocking findings and the gate. A run that judged nothing fails the gate, saying why."""
    counts = dict((status, 0) for status in STATUSES)
    for finding in findings:
        counts[finding['status']] += 1
    blockers = [f for f in findings if blocking(f, fail_on_warn)]
    judged = counts['pass'] + counts['warn'] + counts['fail']
    reasons = []
    if blockers:
        reasons.append('%d blocking finding(s)' % len(blockers))
    if not judged:
        reasons.append('nothing was judged: the selection (ece_o365_checks, ece_o365_check_tags) matched no check '
                       'that ran on data that was read')
    return {'counts': counts, 'total': len(findings), 'judged': judged, 'blocking': len(blockers),
            'waived': sum(1 for f in findings if (f.get('waiver') or {}).get('active') and f['status'] != 'pass'),
            'passed_gate': not reasons, 'gate_reasons': reasons, 'fail_on_warn': fail_on_warn,
            'coverage': coverage or {}}


def drift(findings, previous):
    """What changed since PREVIOUS (a report's findings): new failures, fixed, still failing, changed."""
    def key(finding):
        return finding['id'], finding['subject']
    before = dict((key(f), f['status']) for f in previous or [])
    out = {'new_failures': [], 'fixed': [], 'still_failing': [], 'changed': [], 'previous_found': previous is not None}
    for finding in findings:
        old = before.get(key(finding))
        now = finding['status']
        entry = {'id': finding['id'], 'subject': finding['subject'], 'was': old, 'now': now}
        if now in ('fail', 'error') and old not in ('fail', 'error'):
            out['new_failures'].append(entry)
        elif now in ('fail', 'error'):
            out['still_failing'].append(entry)
        elif old in ('fail', 'error'):
            out['fixed'].append(entry)
        elif old is not None and old != now:
            out['changed'].append(entry)
    return out
