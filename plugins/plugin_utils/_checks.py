# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The catalogue of checks and the judge: observations in, findings out. Pure Python, controller side.

Each check is declared once, here, with its stable id, title, severity, the TAC checklist item it
comes from, where it runs, the evidence it reads and its remediation; docs/checks.md is generated
from this catalogue (tools/gen-checks-doc) and a unit test fails when they differ.

A check never raises: a missing observation gives status ``skip`` with the reason (e.g. the host
was unreachable, which is itself a finding of PREFLIGHT-HOST-REACHABLE), and an exception inside a
check becomes status ``error`` for that check alone.
"""

import datetime
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    urlsplit = None

SCHEMA_VERSION = 1
STATUSES = ('pass', 'warn', 'fail', 'skip', 'error')
SEVERITIES = ('error', 'warning')
SCOPES = {
    'host': 'every ECE host',
    'services': 'services servers (retriever, dispatcher, token refresh)',
    'application': 'application servers (initial token, alarm mail)',
    'tenant': 'once, for the tenant',
    'mailbox': 'once per mailbox ECE uses',
}
# The TAC checklist (Cisco ECE 12.6), by item number, as DESIGN and README name it.
CHECKLIST = {
    1: 'Minimum ECE version and Engineering Special',
    2: 'ECE External URL: set, https, same FQDN as the admin login and the redirect URI',
    3: 'Entra app registration: redirect URI, delegated permissions, consent, client secret',
    4: 'Token lifetime: access 60-90 min, refresh token 90 days unused',
    5: 'Token generated for the right user (not the SSO workstation user)',
    6: 'Mailbox protocols: SMTP AUTH, and IMAP or POP',
    7: 'Exchange Online licence provisioned',
    8: 'Mailbox rights: own account, or shared account with FullAccess',
    9: 'Network: 443, 587, 993, 995 from the services and application servers',
    10: 'Connectivity test: SMTP, IMAP, POP from each ECE server',
}
# Minimum Engineering Special per ECE release (TAC checklist item 1, bug CSCvr86493).
MINIMUM_ES = {
    '11.6(1)': ('ES12', 'ES12_ET1'),
    '12.0(1)': ('ES6',),
    '12.5(1)': ('ES3',),
    '12.6(1)': ('ES1',),
}
ACCESS_TOKEN_LIFETIME = (3600, 5400)  # Entra's documented default: 60-90 minutes
CLOCK_SKEW_WARN, CLOCK_SKEW_FAIL = 60, 300  # seconds; tokens carry nbf/exp, Kerberos allows 5 minutes
SECRET_EXPIRY_WARN_DAYS = 30
MAIL_PORTS = {
    # port: (who needs it, what for)
    443: (('services', 'application'), 'HTTPS to login.microsoftonline.com: tokens'),
    587: (('services', 'application'), 'SMTP submission with STARTTLS: the dispatcher and alarm mail'),
    993: (('services',), 'IMAP over TLS: the retriever'),
    995: (('services',), 'POP3 over TLS: the retriever'),
}


class Finding(dict):
    """One check's verdict for one subject (a host, the tenant, or a mailbox)."""


class Check(object):
    """A check as the catalogue declares it; JUDGE(context, subject) returns (status, detail, evidence)."""

    def __init__(self, check_id, title, severity, item, scope, tags, evidence, remediation, judge,
                 code=None):
        if severity not in SEVERITIES or scope not in SCOPES or item not in CHECKLIST:
            raise ValueError('check %s: bad severity, scope or checklist item' % check_id)
        self.id = check_id
        self.title = title
        self.severity = severity
        self.item = item
        self.scope = scope
        self.tags = tuple(tags)
        self.evidence = evidence
        self.remediation = remediation
        self.judge = judge
        self.code = code  # the Microsoft error code the remediation is about, where one applies

    def skip_variable(self):
        """The exact inventory variable that skips this check."""
        return 'ece_o365_skip_checks: [%s]' % self.id


# -- helpers for the judges -----------------------------------------------------------------

class Missing(Exception):
    """The observation a check needs is not there; the check is skipped with this reason."""


def _get(data, path, what=None):
    value = data
    for key in path.split('.'):
        if not isinstance(value, dict) or value.get(key) is None:
            raise Missing('no %s was observed' % (what or path))
        value = value[key]
    return value


def _port_results(context, port):
    probe = _get(context['host'], 'network.port_probe', 'port_probe result')
    found = [r for r in probe.get('results', []) if r.get('port') == port]
    if not found:
        raise Missing('port %d was not probed from this host' % port)
    return found


def _fqdn(url):
    try:
        parts = urlsplit(url or '')
    except ValueError:
        return None
    return (parts.hostname or '').lower() or None


# -- the judges -----------------------------------------------------------------------------

def judge_port(port):
    def judge(context, _subject):
        results = _port_results(context, port)
        failed = [r for r in results if r.get('error')]
        evidence = [{'target': r.get('name'), 'error': r.get('error'), 'elapsed_ms': r.get('elapsed_ms')}
                    for r in results]
        if failed:
            return 'fail', '; '.join(r.get('message') or r.get('error') for r in failed), evidence
        return 'pass', '%d target(s) reached on %d' % (len(results), port), evidence
    return judge


def judge_xoauth2(context, _subject):
    probe = _get(context['host'], 'network.port_probe', 'port_probe result')
    mail = [r for r in probe.get('results', []) if r.get('protocol') in ('smtp', 'imap', 'pop3') and not r.get('error')]
    if not mail:
        raise Missing('no mail port answered, see NET-PORT-*')
    without = [r for r in mail if 'XOAUTH2' not in (r.get('auth_mechanisms') or [])]
    evidence = [{'target': r.get('name'), 'auth_mechanisms': r.get('auth_mechanisms')} for r in mail]
    if without:
        return 'fail', 'XOAUTH2 is not offered on %s' % ', '.join(r.get('name') for r in without), evidence
    return 'pass', 'XOAUTH2 offered on %d mail port(s)' % len(mail), evidence


def _url_results(context):
    reach = _get(context['host'], 'network.url_reach', 'url_reach result')
    results = reach.get('results') or []
    if not results:
        raise Missing('no URL was requested from this host')
    return results


def judge_urls(context, _subject):
    results = _url_results(context)
    failed = [r for r in results if not r.get('ok')]
    evidence = [{'url': r.get('url'), 'status': r.get('status'), 'error_class': r.get('error_class')} for r in results]
    if failed:
        return 'fail', '; '.join(str(r.get('error') or r.get('error_class')) for r in failed), evidence
    return 'pass', '%d endpoint(s) answered as expected' % len(results), evidence


def judge_interception(context, _subject):
    results = [r for r in _url_results(context) if r.get('intercepted') is not None]
    if not results:
        raise Missing('no URL was checked against expected issuers')
    intercepted = [r for r in results if r.get('intercepted')]
    evidence = [{'url': r.get('url'), 'intercepted': r.get('intercepted'),
                 'issuer': ((r.get('tls') or {}).get('certificate') or {}).get('issuer')} for r in results]
    if intercepted:
        return 'fail', 'TLS to %s is re-signed by %s' % (
            ', '.join(r.get('url') for r in intercepted),
            ', '.join(sorted(set(str(e['issuer']) for e in evidence if e['intercepted'])))), evidence
    return 'pass', 'certificates are issued by the expected CAs', evidence


def judge_clock(context, _subject):
    skews = [(r.get('url'), r.get('clock_skew_seconds')) for r in _url_results(context)
             if r.get('clock_skew_seconds') is not None]
    if not skews:
        raise Missing('no server Date header was seen')
    worst = max(skews, key=lambda item: abs(item[1]))
    evidence = [{'url': url, 'clock_skew_seconds': skew} for url, skew in skews]
    detail = 'this host\'s clock is %+.0f s off %s' % (worst[1], worst[0])
    if abs(worst[1]) >= CLOCK_SKEW_FAIL:
        return 'fail', detail, evidence
    if abs(worst[1]) >= CLOCK_SKEW_WARN:
        return 'warn', detail, evidence
    return 'pass', detail, evidence


def _es_number(value):
    match = re.match(r'ES(\d+)', (value or '').upper())
    return int(match.group(1)) if match else None


def judge_ece_version(context, _subject):
    ece = _get(context['host'], 'ece', 'ECE inventory facts (ece_o365_ece_version)')
    version = ece.get('version')
    if not version:
        raise Missing('ece_o365_ece_version is not set for this host')
    minimum = MINIMUM_ES.get(version)
    evidence = {'version': version, 'installed_es': ece.get('installed_es'), 'es_to_install': ece.get('es_to_install'),
                'minimum': list(minimum) if minimum else None, 'known_latest_es': ece.get('known_latest_es')}
    if minimum is None:
        newer = [v for v in MINIMUM_ES if _version_key(v) < _version_key(version)]
        if newer:
            return 'pass', 'ECE %s is newer than every release the checklist names' % version, evidence
        return 'fail', 'ECE %s predates OAuth2 mail support (needs 11.6(1) ES12 or later)' % version, evidence
    # The CI gate's case: judge the ES a pipeline is about to install, when given.
    effective = ece.get('es_to_install') or ece.get('installed_es') or ''
    installed = {e.strip().upper() for e in re.split(r'[,\s]+', effective) if e.strip()}
    needed_number = _es_number(minimum[0])
    have_number = max([_es_number(e) or 0 for e in installed] or [0])
    missing = [m for m in minimum[1:] if m.upper() not in installed]
    if have_number < needed_number or missing:
        return 'fail', 'ECE %s with %s; OAuth2 mail needs %s (CSCvr86493)' % (
            version, effective or 'no ES', ' and '.join(minimum)), evidence
    latest = _es_number(ece.get('known_latest_es'))
    if latest and latest > have_number:
        return 'warn', 'ECE %s with %s meets the minimum; %s is known' % (version, effective, ece['known_latest_es']), evidence
    return 'pass', 'ECE %s with %s (minimum %s)' % (version, effective, ' and '.join(minimum)), evidence


def _version_key(version):
    return tuple(int(n) for n in re.findall(r'\d+', version))


def judge_external_url(context, _subject):
    ece = _get(context['host'], 'ece', 'ECE inventory facts')
    url = ece.get('external_url')
    if not url:
        return 'fail', 'the ECE External URL is not set (ece_o365_ece_external_url)', {'external_url': None}
    evidence = {'external_url': url, 'admin_login_fqdn': ece.get('admin_login_fqdn'),
                'redirect_uris': ece.get('redirect_uris')}
    if not url.lower().startswith('https://'):
        return 'fail', 'the External URL %s is not https' % url, evidence
    host = _fqdn(url)
    mismatches = []
    if ece.get('admin_login_fqdn') and ece['admin_login_fqdn'].lower() != host:
        mismatches.append('admins log in at %s' % ece['admin_login_fqdn'])
    for redirect in ece.get('redirect_uris') or []:
        if _fqdn(redirect) != host:
            mismatches.append('the app registration redirects to %s' % redirect)
    if mismatches:
        return 'fail', 'the External URL names %s, but %s' % (host, '; '.join(mismatches)), evidence
    return 'pass', 'External URL %s; admin login and redirect URI use the same FQDN' % url, evidence


def judge_mailbox_protocol(protocol):
    def judge(context, subject):
        mailbox = context['mailboxes'][subject]
        logins = [r for r in mailbox.get('logins') or [] if r.get('protocol') == protocol]
        if not logins:
            raise Missing('no %s login was tried for %s' % (protocol.upper(), subject))
        result = logins[0]
        evidence = {k: result.get(k) for k in ('login', 'host', 'port', 'authenticated', 'error', 'reply')}
        evidence['followup'] = (result.get('followup') or {}).get('command')
        if result.get('ok'):
            return 'pass', result.get('message'), evidence
        return 'fail', result.get('message'), evidence
    return judge


# -- the catalogue ---------------------------------------------------------------------------

def _port_check(port):
    who, what = MAIL_PORTS[port]
    scope = 'services' if who == ('services',) else 'host'
    return Check(
        'NET-PORT-%d' % port, 'TCP %d reachable (%s)' % (port, what), 'error', 9, scope,
        ('network', 'ports'),
        'port_probe from this host to the Microsoft 365 endpoints on port %d (DNS, TCP, TLS/STARTTLS, certificate)' % port,
        'open TCP %d outbound from this host to *.office365.com / login.microsoftonline.com on every firewall and '
        'proxy on the way; exempt them from TLS inspection' % port,
        judge_port(port))


CATALOGUE = [
    _port_check(443),
    _port_check(587),
    _port_check(993),
    _port_check(995),
    Check('NET-XOAUTH2', 'XOAUTH2 offered on the mail ports', 'error', 9, 'host', ('network', 'mail'),
          'the SASL mechanisms port_probe read from SMTP EHLO (after STARTTLS), IMAP CAPABILITY and POP3 CAPA',
          'something between this host and Exchange Online rewrites the session (an SMTP fix-up or a mail proxy): '
          'exempt the Microsoft 365 mail endpoints from it', judge_xoauth2),
    Check('NET-URL-ENDPOINTS', 'Microsoft endpoints answer over HTTPS', 'error', 9, 'host', ('network', 'https'),
          'url_reach from this host: the tenant\'s OIDC discovery document (issuer names the tenant) and the other '
          'endpoints configured, through the host\'s proxy',
          'allow login.microsoftonline.com and graph.microsoft.com through the proxy and firewall; check the tenant id',
          judge_urls),
    Check('NET-TLS-INTERCEPT', 'No TLS inspection on Microsoft endpoints', 'error', 9, 'host', ('network', 'tls'),
          'the certificate issuer url_reach saw, against the expected Microsoft issuers or CA fingerprints',
          'exempt login.microsoftonline.com and *.office365.com from TLS inspection on the proxy or firewall',
          judge_interception),
    Check('NET-CLOCK-SKEW', 'Host clock within %d s of Microsoft\'s' % CLOCK_SKEW_WARN, 'warning', 4, 'host',
          ('network', 'time'),
          'the Date header of the Microsoft endpoints against this host\'s clock, from url_reach',
          'synchronise the host\'s clock (w32time / chrony); token validity (nbf/exp) tolerates only small skew',
          judge_clock),
    Check('ECE-VERSION', 'ECE version and Engineering Special support OAuth2 mail', 'error', 1, 'host',
          ('ece', 'version'),
          'ece_o365_ece_version, ece_o365_ece_installed_es (or ece_o365_ece_es_to_install in a CI gate) and '
          'ece_o365_ece_known_latest_es from the inventory',
          'install the Engineering Special the checklist names for this release (11.6(1) ES12 and ES12_ET1, '
          '12.0(1) ES6, 12.5(1) ES3, 12.6(1) ES1), or a later one', judge_ece_version, code='CSCvr86493'),
    Check('ECE-EXTERNAL-URL', 'External URL set, https, and one FQDN with admin login and redirect URI', 'error', 2,
          'host', ('ece', 'url'),
          'ece_o365_ece_external_url and ece_o365_ece_admin_login_fqdn from the inventory; the redirect URIs of the '
          'app registration (tenant_info)',
          'set Partition > Apps > General settings > External URL of application (11.5-12.5: Web Server URL or Load '
          'Balancer URL) to https://<the FQDN admins use>, and register exactly that host in the app\'s redirect URI',
          judge_external_url, code='AADSTS50011'),
    Check('MBX-LOGIN-IMAP', 'IMAP login with OAuth2 and EXAMINE', 'error', 10, 'mailbox', ('mailbox', 'imap'),
          'mailbox_protocols: AUTHENTICATE XOAUTH2 as ECE does, then EXAMINE INBOX',
          'follow the fix in the finding: it names Microsoft\'s reply and what it means', judge_mailbox_protocol('imap')),
    Check('MBX-LOGIN-POP3', 'POP3 login with OAuth2 and STAT', 'error', 10, 'mailbox', ('mailbox', 'pop3'),
          'mailbox_protocols: AUTH XOAUTH2 in two steps, then STAT',
          'follow the fix in the finding: it names Microsoft\'s reply and what it means', judge_mailbox_protocol('pop3')),
    Check('MBX-LOGIN-SMTP', 'SMTP login with OAuth2 and MAIL FROM', 'error', 10, 'mailbox', ('mailbox', 'smtp'),
          'mailbox_protocols: EHLO, STARTTLS, AUTH XOAUTH2 with the token after 334, then MAIL FROM and RSET',
          'follow the fix in the finding: 535 5.7.139 means SMTP AUTH is disabled (Set-CASMailbox '
          '-SmtpClientAuthenticationDisabled $false)', judge_mailbox_protocol('smtp'), code='5.7.139'),
]


def judge_reachable(context, _subject):
    host = context['host']
    if host.get('unreachable'):
        return 'fail', 'Ansible could not reach this host: %s' % (host.get('unreachable_reason') or 'unreachable'), {
            'reason': host.get('unreachable_reason')}
    if host.get('failed_tasks'):
        return 'fail', 'a probe task failed on this host: %s' % '; '.join(host['failed_tasks']), {
            'failed_tasks': host['failed_tasks']}
    return 'pass', 'reached; every probe ran', {}


CATALOGUE.insert(0, Check(
    'PREFLIGHT-HOST-REACHABLE', 'Host reachable and every probe ran', 'error', 9, 'host', ('preflight',),
    'Ansible\'s own connection to the host and the status of the probe tasks',
    'check the inventory address, the credentials and that Python (or PowerShell) runs on the host; '
    'the other checks for this host are skipped until it is reachable', judge_reachable))


# -- selection, waivers, the judge ------------------------------------------------------------

class SelectionError(ValueError):
    """Unknown check ids or tags; the message lists the known ones."""


def by_id(catalogue=None):
    return dict((check.id, check) for check in (catalogue or CATALOGUE))


def select(checks=None, tags=None, skip=None, catalogue=None):
    """The checks to run: ids in CHECKS (all when empty) with a tag in TAGS (any when empty), less SKIP."""
    catalogue = catalogue or CATALOGUE
    known = by_id(catalogue)
    known_tags = sorted(set(tag for check in catalogue for tag in check.tags))
    unknown = sorted(set(i for i in list(checks or []) + list(skip or []) if i not in known))
    if unknown:
        raise SelectionError('unknown check id(s): %s. Known checks: %s' % (', '.join(unknown), ', '.join(sorted(known))))
    unknown_tags = sorted(set(t for t in (tags or []) if t not in known_tags))
    if unknown_tags:
        raise SelectionError('unknown tag(s): %s. Known tags: %s' % (', '.join(unknown_tags), ', '.join(known_tags)))
    chosen = [c for c in catalogue if (not checks or c.id in checks) and (not tags or set(c.tags) & set(tags))]
    skipped = [c for c in chosen if c.id in (skip or [])]
    return [c for c in chosen if c not in skipped], skipped


def _parse_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.datetime.strptime(str(value)[:10], '%Y-%m-%d').date()


def validate_waivers(waivers):
    """A message naming the first bad waiver, or None. A waiver needs id, reason and expires (YYYY-MM-DD)."""
    known = by_id()
    for index, waiver in enumerate(waivers or []):
        where = 'ece_o365_waivers[%d]' % index
        if not isinstance(waiver, dict):
            return '%s must be a mapping with id, reason and expires' % where
        if waiver.get('id') not in known:
            return '%s: unknown check id %r. Known checks: %s' % (where, waiver.get('id'), ', '.join(sorted(known)))
        if not str(waiver.get('reason') or '').strip():
            return '%s (%s): a waiver needs a reason' % (where, waiver['id'])
        try:
            _parse_date(waiver.get('expires'))
        except (TypeError, ValueError):
            return '%s (%s): expires must be a date YYYY-MM-DD, got %r' % (where, waiver['id'], waiver.get('expires'))
    return None


def _waiver_for(finding, waivers, today):
    for waiver in waivers or []:
        if waiver['id'] != finding['id']:
            continue
        subject = waiver.get('subject') or waiver.get('host') or '*'
        if subject not in ('*', finding['subject']):
            continue
        expires = _parse_date(waiver['expires'])
        return {'reason': waiver['reason'], 'expires': expires.isoformat(), 'active': expires >= today}
    return None


def subjects_for(check, hosts, mailboxes):
    if check.scope == 'tenant':
        return ['tenant']
    if check.scope == 'mailbox':
        return sorted(mailboxes)
    if check.scope == 'host':
        return sorted(hosts)
    return sorted(name for name, host in hosts.items() if check.scope in (host.get('roles') or []))


def judge(hosts, tenant=None, mailboxes=None, checks=None, skipped=None, waivers=None, today=None):
    """Findings for every chosen check and subject.

    HOSTS: {name: {'roles': [...], 'unreachable': bool, 'network': {...}, 'ece': {...}}};
    TENANT: the tenant-level observations; MAILBOXES: {login: {'logins': [...], 'token': {...}, ...}}.
    """
    today = today or datetime.date.today()
    mailboxes = mailboxes or {}
    findings = []
    for check in checks if checks is not None else CATALOGUE:
        for subject in subjects_for(check, hosts, mailboxes):
            host = hosts.get(subject, {})
            context = {'host': host, 'tenant': tenant or {}, 'mailboxes': mailboxes, 'hosts': hosts}
            if check.scope in ('host', 'services', 'application') and check.id != 'PREFLIGHT-HOST-REACHABLE' \
                    and (host.get('unreachable') or host.get('failed_tasks')):
                status, detail, evidence = 'skip', 'not judged: see PREFLIGHT-HOST-REACHABLE for this host', {}
            else:
                try:
                    status, detail, evidence = check.judge(context, subject)
                except Missing as exc:
                    status, detail, evidence = 'skip', str(exc), {}
                except Exception as exc:  # one broken check must not hide the others
                    status, detail, evidence = 'error', 'the check itself failed: %r' % exc, {}
            if status == 'fail' and check.severity == 'warning':
                status = 'warn'
            finding = Finding(
                id=check.id, title=check.title, severity=check.severity, checklist_item=check.item,
                checklist=CHECKLIST[check.item], scope=check.scope, subject=subject, status=status,
                detail=detail, evidence=evidence, remediation=check.remediation, code=check.code,
                skip_with=check.skip_variable(), waiver=None)
            finding['waiver'] = _waiver_for(finding, waivers, today)
            findings.append(finding)
    for check in skipped or []:
        findings.append(Finding(
            id=check.id, title=check.title, severity=check.severity, checklist_item=check.item,
            checklist=CHECKLIST[check.item], scope=check.scope, subject='*', status='skip',
            detail='disabled by ece_o365_skip_checks', evidence={}, remediation=check.remediation, code=check.code,
            skip_with=check.skip_variable(), waiver=None, disabled=True))
    return findings


def blocking(finding, fail_on_warn=False):
    """Whether a finding fails the gate: a fail (or, when strict, a warn) not covered by an active waiver."""
    statuses = ('fail', 'error', 'warn') if fail_on_warn else ('fail', 'error')
    return finding['status'] in statuses and not (finding.get('waiver') or {}).get('active')


def summarize(findings, fail_on_warn=False):
    counts = dict((status, 0) for status in STATUSES)
    for finding in findings:
        counts[finding['status']] += 1
    blockers = [f for f in findings if blocking(f, fail_on_warn)]
    return {'counts': counts, 'total': len(findings), 'blocking': len(blockers),
            'waived': sum(1 for f in findings if (f.get('waiver') or {}).get('active') and f['status'] != 'pass'),
            'passed_gate': not blockers, 'fail_on_warn': fail_on_warn}


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
