# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Sign-in checks (TAC checklist items 4, 5 and 9) from what Entra recorded of ECE's own tokens: the module
signin_activity reads ECE's sign-ins and the accounts' signInActivity with the preflight's app, no ECE secret.
Sources and limits (30-day log, latency, the confidential-client address): docs/signin-logs.md."""

import datetime

from ansible_collections.ece_o365.preflight.plugins.module_utils import _aadsts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    TENANT_READ, Blocked, Missing, NotApplicable, Verdict, check)

SWITCH = 'ece_o365_read_signins'
EGRESS = 'ece_o365_egress_addresses'
# The egress addresses are declared, the sign-ins observed: the check's basis stays 'observed', and its findings say
# which part was declared (not the declared-basis phrase, which marks a verdict resting on declared values only).
AS_DECLARED = '%s, as declared' % EGRESS


# -- reading the record ------------------------------------------------------------------------

def activity(context):
    """The signin_activity result, or the reason it cannot be judged."""
    tenant = context.tenant
    if 'signin_activity' not in tenant:
        raise NotApplicable('not read: these tenant observations carry no signin_activity (an older tenant role)')
    if tenant.get('read_signins') is False:
        raise NotApplicable('not read: Entra\'s sign-in logs are not read, by %s: false' % SWITCH)
    result = tenant.get('signin_activity')
    if not isinstance(result, dict):
        raise Blocked(TENANT_READ, 'not judged: signin_activity did not run (see %s)' % TENANT_READ)
    if (result.get('token') or {}).get('acquired') is False:
        raise Blocked(TENANT_READ, 'not judged: the preflight\'s Graph token was refused (see %s)' % TENANT_READ)
    return result


def _refusal(read, what):
    """Raise Missing when the READ of WHAT (Graph's outcome) did not succeed: never judged, never passed."""
    read = read or {}
    outcome = read.get('outcome')
    if outcome == 'ok':
        return
    if outcome == 'not_licensed':
        raise Missing('not read: Microsoft Graph refused %s with %s: the tenant has no Microsoft Entra ID P1 or P2 '
                      'licence, which sign-in logs and signInActivity need through Graph (docs/signin-logs.md); '
                      'without one, skip this check with ece_o365_skip_checks or %s: false' % (
                          what, read.get('code'), SWITCH))
    if outcome == 'forbidden':
        raise Missing('not read: Microsoft Graph refused %s (HTTP %s %s): the preflight\'s app registration needs the '
                      'application permission %s with admin consent' % (
                          what, read.get('status'), read.get('code') or '', read.get('permission')))
    raise Missing('not read: %s: %s' % (what, read.get('message') or 'signin_activity did not read it'))


def sign_ins(context):
    result = activity(context)
    _refusal((result.get('read') or {}).get('sign_ins'), 'ECE\'s sign-in log (GET /beta/auditLogs/signIns)')
    return result


def account_of(context, result, subject):
    """The accounts[] entry of the account whose token ECE holds for mailbox SUBJECT."""
    name = (context.mailbox(subject).get('account') or subject).lower()
    for entry in result.get('accounts') or []:
        if (entry.get('address') or '').lower() == name:
            return name, entry
    raise Missing('not read: signin_activity was not asked for %s (the account of %s)' % (name, subject))


def _when(text):
    try:
        return datetime.datetime.strptime(str(text)[:19], '%Y-%m-%dT%H:%M:%S')
    except (TypeError, ValueError):
        return None


def _days(result, text):
    """Days from TEXT (Graph's time) to when the log was read."""
    then, now = _when(text), _when(result.get('read_at'))
    if then is None or now is None:
        return None
    return max(0.0, (now - then).total_seconds() / 86400.0)


def _describe_code(code, reason):
    entry = _aadsts.CATALOGUE.get(code) if isinstance(code, int) else None
    text = 'AADSTS%s' % code
    if entry:
        text += ' %s: %s' % (entry[0] or '', entry[1]) if entry[0] else ': %s' % entry[1]
    if reason:
        text += ' (Entra recorded: "%s")' % ' '.join(str(reason).split())[:200]
    return text


def _fix_of(code):
    entry = _aadsts.CATALOGUE.get(code) if isinstance(code, int) else None
    if entry:
        return entry[2]
    return ('look the code up at https://login.microsoftonline.com/error?code=%s and in the sign-in logs '
            '(Entra ID > Sign-in logs > User sign-ins (non-interactive), application ECE\'s)' % code)


# -- the checks -------------------------------------------------------------------------------

@check('ENTRA-SIGNIN-OWNER', "ECE's tokens were issued only to the declared accounts (Entra's sign-in log)", 'error',
       'tenant', ('identity', 'tenant', 'signins'),
       "signin_activity: the users Entra issued ECE's app tokens to in the window (sign-in log, both interactive and "
       "non-interactive), that are not among the mailboxes' declared accounts; read with the preflight's app, no ECE "
       'secret',
       'generate the token again in ECE (Partition > Apps > Email > the mailbox > Generate token) signed in as the '
       'mailbox account, in a private browser window, so that Windows single sign-on (Kerberos) cannot sign the '
       'workstation user in instead', item=5, requires=('tenant',))
def judge_signin_owner(context, _subject):
    result = sign_ins(context)
    declared = sorted(set((m.get('account') or address).lower() for address, m in context.mailboxes.items()))
    owners = [u for u in result.get('other_users') or [] if u.get('successes')]
    attempts = [u for u in result.get('other_users') or [] if not u.get('successes')]
    evidence = {'other_users': result.get('other_users') or [], 'declared_accounts': declared,
                'days': result.get('days'), 'sign_ins_read': result.get('sign_ins_read')}
    if owners:
        named = '; '.join('%s (%d sign-ins of ECE\'s app, the last %s, from %s)' % (
            u.get('user_principal_name') or u.get('user_id'), u.get('sign_ins') or 0, u.get('last'),
            ', '.join(u.get('ip_addresses') or []) or 'an unrecorded address') for u in owners)
        return Verdict('fail', 'Entra issued ECE\'s app tokens to %s, not one of the declared accounts (%s): the token '
                       'ECE holds for a mailbox belongs to another user, typically the workstation user whom Kerberos '
                       'single sign-on signed in when the mailbox was authorized' % (named, ', '.join(declared)),
                       evidence)
    detail = 'every token of ECE\'s app in the last %s days went to a declared account (%d sign-ins read)' % (
        result.get('days'), result.get('sign_ins_read') or 0)
    if attempts:
        detail += '; failed attempts only by %s' % ', '.join(u.get('user_principal_name') or '?' for u in attempts)
    return 'pass', detail, evidence


@check('ENTRA-SIGNIN-ERRORS', "ECE's own recent sign-ins for the mailbox's account succeed (Entra's sign-in log)",
       'error', 'mailbox', ('identity', 'mailbox', 'signins'),
       "signin_activity: ECE's failed sign-ins for the account in the window (AADSTS code, Microsoft's failure "
       'reason, time, address, count per code) and its last success',
       'the fix of the AADSTS code, as the finding names it (docs/entra.md)', item=4, requires=('tenant',))
def judge_signin_errors(context, subject):
    result = sign_ins(context)
    account, entry = account_of(context, result, subject)
    last = (entry.get('last_success') or {}).get('time')
    failures = entry.get('failures') or []
    current = [f for f in failures if last is None or str(f.get('time')) > str(last)]
    evidence = {'account': account, 'last_success': entry.get('last_success'),
                'failure_counts': entry.get('failure_counts') or [], 'failures': failures[:5]}
    if current:
        codes = []
        for failure in current:
            if failure.get('error_code') not in [c for c, _r in codes]:
                codes.append((failure.get('error_code'), failure.get('failure_reason')))
        text = '; '.join(_describe_code(code, reason) for code, reason in codes)
        since = 'since ECE\'s last success at %s' % last if last else 'with no success in the last %s days' % (
            result.get('days'))
        fixes = '; '.join('AADSTS%s: %s' % (code, _fix_of(code)) for code, _r in codes)
        return Verdict('fail', 'ECE\'s sign-ins as %s fail (%d %s, the newest at %s from %s): %s' % (
            account, len(current), since, current[0].get('time'), current[0].get('ip_address'), text), evidence,
            fixes)
    if failures:
        return Verdict('warn', 'ECE\'s sign-ins as %s failed %d time(s) in the last %s days (%s), then succeeded at %s' % (
            account, len(failures), result.get('days'),
            ', '.join('AADSTS%s x%d' % (c.get('error_code'), c.get('count')) for c in entry.get('failure_counts') or []),
            last), evidence)
    if not entry.get('sign_ins'):
        return 'pass', 'no failed sign-in of ECE\'s as %s in the last %s days (and no sign-in: see ENTRA-TOKEN-IDLE)' % (
            account, result.get('days')), evidence
    return 'pass', 'ECE\'s %d sign-in(s) as %s in the last %s days succeeded' % (
        entry.get('sign_ins'), account, result.get('days')), evidence


@check('ENTRA-TOKEN-IDLE', "ECE's refresh token for the mailbox's account is in use (days since ECE's last sign-in)",
       'error', 'mailbox', ('identity', 'mailbox', 'signins'),
       "signin_activity: ECE's last successful sign-in for the account in the window; past the log's retention, the "
       "account's signInActivity.lastSuccessfulSignInDateTime (any app), which ECE's last sign-in cannot be later "
       'than: a lower bound of the idle days',
       'start ECE\'s retriever and dispatcher for this mailbox (they refresh the token at every access token\'s '
       'expiry), or generate the token again in ECE signed in as the mailbox account before Entra expires it '
       '(AADSTS700082 after %d days unused)' % _facts.TOKEN_IDLE_FAIL_DAYS, item=4, code='AADSTS700082',
       requires=('tenant',))
def judge_token_idle(context, subject):
    result = activity(context)
    account, entry = account_of(context, result, subject)
    warn, fail = _facts.TOKEN_IDLE_WARN_DAYS, _facts.TOKEN_IDLE_FAIL_DAYS
    log = ((result.get('read') or {}).get('sign_ins') or {}).get('outcome') == 'ok'
    user = entry.get('sign_in_activity') if (entry.get('read') or {}).get('outcome') == 'ok' else None
    success = entry.get('last_success') if log else None
    evidence = {'account': account, 'last_success': success, 'sign_in_activity': user,
                'window_days': result.get('days'), 'read_at': result.get('read_at'),
                'warn_days': warn, 'fail_days': fail}
    if success:
        days = _days(result, success.get('time'))
        evidence['idle_days'] = round(days, 1) if days is not None else None
        if days is None:
            raise Missing('not read: ECE\'s last sign-in as %s has no readable time' % account)
        source = 'ECE\'s last successful sign-in as %s was %.1f days ago (%s, from %s)' % (
            account, days, success.get('time'), success.get('ip_address'))
        return _idle_verdict(days, source, evidence, warn, fail)
    # Nothing of ECE's in the log: the user's own last success (any app) bounds ECE's from above.
    bound = _days(result, (user or {}).get('last_successful_sign_in')) if user else None
    if bound is None and not log:
        _refusal((result.get('read') or {}).get('sign_ins'), 'ECE\'s sign-in log (GET /beta/auditLogs/signIns)')
    if bound is None and user is None:
        _refusal(entry.get('read'), 'the signInActivity of %s' % account)
    at_least = max(bound or 0.0, float(result.get('days') or 0) if log else 0.0)
    evidence['idle_days_at_least'] = round(at_least, 1)
    why = []
    if log:
        why.append('no successful sign-in of ECE\'s as %s in the %s days the log was read for' % (
            account, result.get('days')))
    if bound is not None:
        why.append('%s\'s last successful sign-in of any app was %.1f days ago (%s), and ECE\'s cannot be later' % (
            account, bound, user.get('last_successful_sign_in')))
    elif user is not None:
        why.append('%s\'s signInActivity holds no last successful sign-in (not back-filled before December 2023)'
                   % account)
    source = '; '.join(why) + ': ECE\'s token has been idle at least %.1f days' % at_least
    if at_least >= warn:
        return _idle_verdict(at_least, source, evidence, warn, fail)
    return Verdict('warn', source + ', and may be older than %d (Entra then expires it): ECE refreshes a token it '
                   'uses every hour or so, so a silent month means ECE does not use it' % fail, evidence)


def _idle_verdict(days, source, evidence, warn, fail):
    if days >= fail:
        return Verdict('fail', '%s: at %d days unused Entra expires the refresh token (AADSTS700082)' % (source, fail),
                       evidence)
    if days >= warn:
        return Verdict('warn', '%s: Entra expires it at %d days unused (AADSTS700082); %d days left' % (
            source, fail, max(0, int(fail - days))), evidence)
    return 'pass', source, evidence


@check('ENTRA-SIGNIN-SOURCE', "ECE's refreshes come from the services servers' egress addresses (Entra's sign-in log)",
       'warning', 'mailbox', ('identity', 'mailbox', 'signins', 'network'),
       "signin_activity: the addresses of ECE's non-interactive sign-ins for the account, against the services "
       "servers' egress addresses (%s per host, as declared)" % EGRESS,
       'if another machine refreshes ECE\'s token (another ECE install, a copied token), stop it; if the address is '
       'where the mailbox was authorized (Microsoft records a confidential client\'s refresh with the address of the '
       'original issuance), or a NAT or proxy address of the services server, add it to %s of that server' % EGRESS,
       item=9, requires=('tenant',))
def judge_signin_source(context, subject):
    result = sign_ins(context)
    account, entry = account_of(context, result, subject)
    egress = []
    for name in sorted(context.hosts):
        host = context.hosts[name]
        if 'services' in (host.get('roles') or []):
            for address in (host.get('ece') or {}).get('egress_addresses') or []:
                if address not in egress:
                    egress.append(address)
    if not egress:
        raise NotApplicable('not compared: no services server declares %s (the addresses its traffic to Microsoft '
                            'leaves from); declare them to compare ECE\'s refreshes with them' % EGRESS)
    refreshes = entry.get('refresh_addresses') or []
    elsewhere = [r for r in refreshes if r.get('ip_address') not in egress]
    evidence = {'account': account, 'egress_addresses': egress, 'refresh_addresses': refreshes}
    if elsewhere:
        return Verdict('fail', 'ECE\'s refreshes as %s were recorded from %s, not the services servers\' egress '
                       'addresses (%s, %s); Microsoft records a confidential client\'s refresh with the address of '
                       'the original issuance, so this may be where the mailbox was authorized' % (
                           account, ', '.join('%s (%d, last %s)' % (r.get('ip_address'), r.get('count') or 0,
                                                                    r.get('last')) for r in elsewhere),
                           ', '.join(egress), AS_DECLARED), evidence)
    if not refreshes:
        return 'pass', 'no refresh of ECE\'s as %s recorded in the last %s days: none from elsewhere (see ' \
                       'ENTRA-TOKEN-IDLE)' % (account, result.get('days')), evidence
    return 'pass', 'ECE\'s %d refresh(es) as %s came from %s, the services servers\' egress addresses (%s)' % (
        sum(r.get('count') or 0 for r in refreshes), account, ', '.join(r.get('ip_address') for r in refreshes),
        AS_DECLARED), evidence
