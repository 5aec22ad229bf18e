# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Network checks (TAC checklist items 9 and 10): what port_probe and url_reach saw from each ECE host.

Targets are found by their purpose (docs/contract.md), never by port number, and every verdict the
probes used to make (interception, expected statuses, JSON assertions) is made here.
"""

import fnmatch
import json

try:
    import jmespath
except ImportError:  # pragma: no cover - the collection's requirements include it
    jmespath = None

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    HARD_FAIL, Blocked, Missing, NotApplicable, Verdict, check)


def probe_cause(result):
    """(cause, fix) of a failed probe result: its message without the fix, and its error class's fix."""
    message = result.get('message') or ''
    cause, _sep, _fix = message.partition('. Fix: ')
    cls = result.get('error_class')
    fix = _errors.ERROR_CLASSES[cls][1] if cls in _errors.ERROR_CLASSES else None
    return cause or cls or 'failed', fix


def targets(context, subject, purpose):
    return [r for r in context.host(subject)['port_probe'].get('results') or [] if r.get('purpose') == purpose]


def uses_protocol(context, subject, protocol):
    protocols = (context.host(subject).get('ece') or {}).get('mail_protocols')
    return protocol in (protocols if protocols is not None else ('imap', 'smtp'))


def network_model(context, subject):
    return (context.host(subject).get('ece') or {}).get('network_model') or 'checklist'


def _port_judge(check_id, purpose, default_port, per_role, protocol):
    def judge(context, subject):
        if network_model(context, subject) == 'per_role':
            # The stricter model the user chose: only the paths this server's role uses.
            if not set(per_role) & set(context.host(subject).get('roles') or []):
                raise NotApplicable('ece_o365_network_model per_role: only %s servers need this path' % (
                    ' and '.join(per_role)))
            if protocol and not uses_protocol(context, subject, protocol):
                raise NotApplicable('ece_o365_network_model per_role: ECE does not use %s (ece_o365_mail_protocols)'
                                    % protocol.upper())
        results = targets(context, subject, purpose)
        if not results:
            raise Missing('not read: no %s target was probed from this host (purpose %s)' % (check_id, purpose))
        evidence = [{'target': r.get('name'), 'port': r.get('port'), 'error_class': r.get('error_class'),
                     'elapsed_ms': r.get('elapsed_ms'), 'proxy': r.get('proxy')} for r in results]
        failed = [r for r in results if not r.get('ok')]
        if failed:
            causes = [probe_cause(r) for r in failed]
            return Verdict('fail', '; '.join(c for c, _f in causes), evidence, causes[0][1])
        ports = sorted(set(r.get('port') for r in results))
        moved = '' if ports == [default_port] else ' (not the default %d)' % default_port
        return Verdict('pass', '%d target(s) reached on port %s%s' % (
            len(results), ', '.join(str(p) for p in ports), moved), evidence)
    judge.__name__ = 'judge_%s' % purpose
    return judge


for _id, _purpose, _roles, _port, _what, _protocol in _facts.NETWORK_PATHS:
    # Every ECE server by default: Cisco TAC's checklist wants all four ports from the services server and
    # every application server; ece_o365_network_model per_role narrows it to the roles in NETWORK_PATHS.
    check(_id, '%s reachable (%s; port %d unless moved)' % (_purpose.replace('_', ' '), _what, _port), 'error',
          'host', ('network', 'ports'),
          'port_probe from this host to the target(s) of purpose %s (DNS, TCP, TLS/STARTTLS, certificate)' % _purpose,
          'open the port outbound from this host to *.office365.com, login.microsoftonline.com and login.microsoft.com '
          'on every firewall and proxy on the way; exempt them from TLS inspection', item=9,
          requires=('reached', 'port_probe'))(
        _port_judge(_id, _purpose, _port, _roles, _protocol))


@check('NET-XOAUTH2', 'XOAUTH2 offered on the mail ports', 'error', 'host', ('network', 'mail'),
       'the SASL mechanisms port_probe read from SMTP EHLO (after STARTTLS), IMAP CAPABILITY and POP3 CAPA',
       'something between this host and Exchange Online rewrites the session (an SMTP fix-up or a mail proxy): '
       'exempt the Microsoft 365 mail endpoints from it', item=9, requires=('reached', 'port_probe'))
def judge_xoauth2(context, subject):
    mail = [r for purpose in ('smtp_submission', 'imap', 'pop3') for r in targets(context, subject, purpose)
            if r.get('ok')]
    if not mail:
        probed = [r for purpose in ('smtp_submission', 'imap', 'pop3') for r in targets(context, subject, purpose)]
        if probed:
            raise Blocked('NET-PORT-587', 'not judged: no mail port answered (see NET-PORT-587/993/995)')
        raise Missing('not read: no mail target was probed from this host')
    without = [r for r in mail if 'XOAUTH2' not in (r.get('auth_mechanisms') or [])]
    evidence = [{'target': r.get('name'), 'auth_mechanisms': r.get('auth_mechanisms')} for r in mail]
    if without:
        return 'fail', 'XOAUTH2 is not offered on %s' % ', '.join(r.get('name') for r in without), evidence
    return 'pass', 'XOAUTH2 offered on %d mail port(s)' % len(mail), evidence


def _urls(context, subject, purposes=None):
    results = context.host(subject)['url_reach'].get('results') or []
    return [r for r in results if purposes is None or r.get('purpose') in purposes]


def expected_statuses(result):
    return list(((result.get('expect') or {}).get('status')) or [200])


def evaluate_assertion(query, data):
    """(held, value, problem) of one JMESPath QUERY on DATA: JMESPath's truth (false, null, '', [] and {} fail)."""
    if jmespath is None:
        return False, None, 'the jmespath library is missing on the controller'
    try:
        value = jmespath.search(query, data)
    except Exception as exc:  # pylint: disable=broad-except  # jmespath's parse and type errors
        return False, None, 'the query %r failed: %s' % (query, str(exc).replace('\n', ' ')[:160])
    held = not (value is None or value is False or (isinstance(value, (str, list, dict)) and not value))
    return held, value, None


def judge_url(result):
    """(problem or None, evidence) of one url_reach result against what travelled with it in expect."""
    evidence = {'url': result.get('url'), 'purpose': result.get('purpose'), 'status': result.get('status'),
                'error_class': result.get('error_class'), 'proxy': result.get('proxy')}
    if not result.get('ok'):
        return probe_cause(result), evidence
    wanted = expected_statuses(result)
    if result.get('status') not in wanted:
        return ('%s answered HTTP %s, expected %s%s' % (
            result.get('url'), result.get('status'), ', '.join(str(s) for s in wanted),
            (': %s' % result.get('body_excerpt')[:160]) if result.get('body_excerpt') else ''),
            'read the status and body: a proxy block page, a wrong URL or tenant id, or the service refusing'), evidence
    assertions = list(((result.get('expect') or {}).get('assertions')) or [])
    if assertions:
        if result.get('json') is None:
            return ('%s: the body is not JSON or was not read whole, so %s cannot be evaluated' % (
                result.get('url'), ', '.join(assertions)), 'read the body: the endpoint did not answer with JSON'), evidence
        outcomes = []
        for query in assertions:
            held, value, problem = evaluate_assertion(query, result['json'])
            outcomes.append({'query': query, 'held': held, 'value': _short(value), 'problem': problem})
        evidence['assertions'] = outcomes
        broken = [o for o in outcomes if not o['held']]
        if broken:
            return ('%s: %s' % (result.get('url'), '; '.join(
                o['problem'] or '%s is %s' % (o['query'], json.dumps(o['value'])) for o in broken)),
                'the endpoint answered, but not with what the preflight expects: for the OIDC document, check '
                'ece_o365_tenant_id (the issuer must name the tenant)'), evidence
    return None, evidence


def _short(value):
    text = json.dumps(value, sort_keys=True, default=str)
    return value if len(text) <= 200 else text[:200] + '...'


@check('NET-URL-ENDPOINTS', 'Microsoft endpoints answer over HTTPS as expected', 'error', 'host', ('network', 'https'),
       'url_reach from this host: the tenant\'s OIDC discovery document and the other URLs configured, through the '
       'host\'s proxy; the status and the JMESPath assertions that travel with each URL are judged here',
       'allow login.microsoftonline.com and graph.microsoft.com through the proxy and firewall; check the tenant id',
       item=9, requires=('reached', 'url_reach'))
def judge_urls(context, subject):
    results = _urls(context, subject, ('oidc_discovery', 'token_endpoint', 'extra'))
    if not results:
        raise Missing('not read: no Microsoft URL was requested from this host')
    problems, evidence = [], []
    for result in results:
        problem, facts = judge_url(result)
        evidence.append(facts)
        if problem:
            problems.append(problem)
    if problems:
        return Verdict('fail', '; '.join(p for p, _f in problems), evidence, problems[0][1])
    return Verdict('pass', '%d endpoint(s) answered as expected' % len(results), evidence)


def _name_parts(text):
    """{'commonname': [...], 'cn': [...], ...} of a name printed as 'countryName=US,commonName=X'."""
    parts = {}
    for part in (text or '').split(','):
        key, sep, value = part.partition('=')
        if sep:
            key = key.strip().lower()
            parts.setdefault(key, []).append(value.strip())
    aliases = {'cn': 'commonname', 'o': 'organizationname', 'ou': 'organizationalunitname', 'c': 'countryname',
               'l': 'localityname', 'st': 'stateorprovincename', 'dc': 'domaincomponent'}
    for short, long_name in aliases.items():
        parts.setdefault(short, []).extend(parts.get(long_name, []))
        parts.setdefault(long_name, []).extend(v for v in parts.get(short, []) if v not in parts.get(long_name, []))
    return parts


def issuer_matches(pattern, issuer):
    """Whether PATTERN names ISSUER: a bare name matches the issuer's CN (fnmatch, case-insensitive); a
    'K=V, K=V' pattern matches when every attribute is one of the issuer's."""
    parts = _name_parts(issuer)
    if '=' not in pattern:
        return any(fnmatch.fnmatchcase(cn.lower(), pattern.lower()) for cn in parts.get('cn', []))
    wanted = _name_parts(pattern)
    return all(any(fnmatch.fnmatchcase(have.lower(), want.lower()) for have in parts.get(key, []) for want in values)
               for key, values in wanted.items() if values and key in ('cn', 'o', 'ou', 'c', 'l', 'st', 'dc'))


def intercepted(result, expected_issuers, expected_fingerprints):
    """(True/False/None, what matched) for one url_reach result's chain."""
    chain = ((result.get('tls') or {}).get('chain')) or []
    if not chain:
        return None, None
    for pattern in expected_issuers:
        if issuer_matches(pattern, chain[0].get('issuer')):
            return False, 'issuer %s' % pattern
    seen = set((c.get('sha256_fingerprint') or '').replace(':', '').upper() for c in chain)
    for fingerprint in expected_fingerprints:
        if fingerprint.replace(':', '').upper() in seen:
            return False, 'fingerprint %s' % fingerprint
    return True, None


@check('NET-TLS-INTERCEPT', 'No TLS inspection on Microsoft endpoints', 'error', 'host', ('network', 'tls'),
       'the certificate chain url_reach saw, against the expected Microsoft issuers (ece_o365_expected_issuers) or CA '
       'fingerprints (ece_o365_expected_ca_certs)',
       'exempt login.microsoftonline.com and *.office365.com from TLS inspection on the proxy or firewall',
       item=9, requires=('reached', 'url_reach'))
def judge_interception(context, subject):
    issuers = context.options.get('expected_issuers')
    issuers = list(_facts.DEFAULT_EXPECTED_ISSUERS if issuers is None else issuers)
    fingerprints = list(context.options.get('expected_ca_certs') or [])
    if not issuers and not fingerprints:
        raise NotApplicable('no expected issuer or CA is configured (ece_o365_expected_issuers is empty)')
    results = [r for r in _urls(context, subject, ('oidc_discovery', 'token_endpoint')) if (r.get('tls') or {}).get('chain')]
    if not results:
        raise Missing('not read: no certificate chain of a Microsoft endpoint was seen from this host (see NET-URL-ENDPOINTS)')
    evidence, caught = [], []
    for result in results:
        verdict, matched = intercepted(result, issuers, fingerprints)
        issuer = result['tls']['chain'][0].get('issuer')
        evidence.append({'url': result.get('url'), 'issuer': issuer, 'intercepted': verdict, 'matched': matched})
        if verdict:
            caught.append((result.get('url'), issuer))
    if caught:
        return 'fail', 'TLS to %s is re-signed by %s' % (', '.join(u for u, _i in caught),
                                                         ', '.join(sorted(set(str(i) for _u, i in caught)))), evidence
    return 'pass', 'certificates are issued by the expected CAs', evidence


@check('NET-CLOCK-SKEW', 'Host clock within %d s of Microsoft\'s' % _facts.CLOCK_SKEW_WARN, 'warning', 'host',
       ('network', 'time'),
       'the Date header of the Microsoft endpoints against this host\'s clock, from url_reach',
       'synchronise the host\'s clock (w32time / chrony); Entra ID refuses tokens beyond 5 minutes of skew',
       item=4, requires=('reached', 'url_reach'))
def judge_clock(context, subject):
    skews = [(r.get('url'), r.get('clock_skew_seconds')) for r in _urls(context, subject)
             if r.get('clock_skew_seconds') is not None]
    if not skews:
        raise Missing('not read: no server Date header was seen from this host (see NET-URL-ENDPOINTS)')
    worst = max(skews, key=lambda item: abs(item[1]))
    evidence = [{'url': url, 'clock_skew_seconds': skew} for url, skew in skews]
    detail = 'this host\'s clock is %+.0f s off %s' % (worst[1], worst[0])
    if abs(worst[1]) >= _facts.CLOCK_SKEW_FAIL:
        # Beyond what token validation tolerates: a failure whatever the check's severity (not a warning).
        return HARD_FAIL, detail + ' (beyond the %d s token validation allows)' % _facts.CLOCK_SKEW_FAIL, evidence
    if abs(worst[1]) >= _facts.CLOCK_SKEW_WARN:
        return 'warn', detail, evidence
    return 'pass', detail, evidence
