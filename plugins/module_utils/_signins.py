# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""ECE's sign-ins as Entra recorded them (signin_activity): the sign-in log and the users' signInActivity.

Read-only GETs through _graph.Graph (paging, the one throttling policy, 401/403 as findings). Sources and
limits: docs/signin-logs.md. Non-interactive sign-ins (ECE's refreshes) are only in the beta sign-in log, and
only with an explicit signInEventTypes filter (signIn resource, beta); so both kinds are asked for by name.
Facts, never verdicts: who the owner should be, how idle is too idle and which addresses are ECE's are the
judge's (plugins/plugin_utils/_checks/signins.py).
"""

import datetime

from ansible_collections.ece_o365.preflight.plugins.module_utils import _graph

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover (Python 2 is not supported)
    quote = None

# Graph's answer to a tenant without Microsoft Entra ID P1/P2 (docs/signin-logs.md).
NOT_LICENSED_CODES = ('Authentication_RequestFromNonPremiumTenantOrB2CTenant',)
EVENT_TYPES = ('nonInteractiveUser', 'interactiveUser')
SIGNIN_FIELDS = ('id', 'createdDateTime', 'userId', 'userPrincipalName', 'appId', 'ipAddress', 'status',
                 'isInteractive', 'signInEventTypes', 'resourceDisplayName', 'conditionalAccessStatus')
ACTIVITY_FIELDS = ('id', 'userPrincipalName', 'signInActivity')
PERMISSIONS = {
    'auditLogs': 'AuditLog.Read.All and Directory.Read.All',
    'users': 'AuditLog.Read.All and User.Read.All',
}
MAX_FAILURES = 20  # failed sign-ins kept per account (the newest); the counts per code cover them all


class SigninGraph(_graph.Graph):
    """_graph.Graph that reaches both versions ('beta/auditLogs/signIns', 'users/...' for v1.0) and names the
    permissions the sign-in reads need on a 403."""

    def url(self, path):
        path = path.lstrip('/')
        if path.startswith('beta/'):
            return '%s/%s' % (self.base_url, path)
        return super(SigninGraph, self).url(path)

    def permission_for(self, path):
        return PERMISSIONS.get(_graph.collection_of(path) or '')


def utc(value):
    """A datetime (aware or UTC-naive) as Graph's ISO 8601 UTC text."""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


def new_read():
    """How one source was read: outcome ok / forbidden / not_licensed / failed, with Graph's facts."""
    return {'outcome': None, 'status': None, 'code': None, 'error_class': None, 'permission': None, 'message': None}


def refused(exc):
    """A read's facts from EXC (a GraphError): not_licensed when Graph says the tenant lacks P1/P2."""
    if exc.code in NOT_LICENSED_CODES:
        outcome = 'not_licensed'
    elif exc.error_class == 'forbidden':
        outcome = 'forbidden'
    else:
        outcome = 'failed'
    message = exc.message()
    if outcome == 'not_licensed':
        message += (' Reading sign-in logs and signInActivity through Microsoft Graph needs a Microsoft Entra ID P1 or '
                    'P2 licence in the tenant.')
    return {'outcome': outcome, 'status': exc.status, 'code': exc.code, 'error_class': exc.error_class,
            'permission': exc.permission, 'message': message}


def read_sign_ins(graph, application_id, start):
    """Every sign-in of APPLICATION_ID since START (text), both kinds, newest first. Raises GraphError."""
    records = []
    for kind in EVENT_TYPES:
        expression = "appId eq '%s' and createdDateTime ge %s and signInEventTypes/any(t: t eq '%s')" % (
            application_id.replace("'", "''"), start, kind)
        records.extend(graph.get_all('beta/auditLogs/signIns', {'$filter': expression, '$top': '1000'}))
    return sorted(records, key=lambda r: str(r.get('createdDateTime') or ''), reverse=True)


def sign_in(record):
    """The facts of one record the judge uses (nothing else)."""
    status = record.get('status') if isinstance(record.get('status'), dict) else {}
    code = status.get('errorCode')
    types = record.get('signInEventTypes') if isinstance(record.get('signInEventTypes'), list) else []
    interactive = record.get('isInteractive')
    if not isinstance(interactive, bool):
        interactive = 'interactiveUser' in types if types else None
    return {'time': record.get('createdDateTime'), 'user_id': (record.get('userId') or '').lower() or None,
            'user_principal_name': (record.get('userPrincipalName') or '').lower() or None,
            'ip_address': record.get('ipAddress'), 'interactive': interactive,
            'error_code': code if isinstance(code, int) else None, 'failure_reason': status.get('failureReason'),
            'ok': code == 0, 'resource': record.get('resourceDisplayName'),
            'conditional_access_status': record.get('conditionalAccessStatus')}


def new_account(address):
    return {'address': address, 'id': None, 'user_principal_name': None, 'exists': None,
            'sign_ins': 0, 'last_success': None, 'failures': [], 'failure_counts': [], 'refresh_addresses': [],
            'sign_in_activity': None, 'read': new_read()}


def _names(account, user):
    names = {account['address'].lower()}
    if user:
        for key in ('userPrincipalName', 'mail'):
            if user.get(key):
                names.add(user[key].lower())
        names.update(_graph.smtp_addresses(user.get('proxyAddresses')))
    return names


def read_activity(graph, account):
    """The account found as tenant_info finds it, and its signInActivity (read by object id). Fills ACCOUNT;
    returns the user object read (or None). Raises GraphError, NotFound."""
    user, _resolved_by = _graph.resolve_user(graph, account['address'])
    if user is None:
        account['exists'] = False
        return None
    account.update(exists=True, id=(user.get('id') or '').lower() or None,
                   user_principal_name=(user.get('userPrincipalName') or '').lower() or None)
    read = graph.get_object('users/%s' % quote(user.get('id') or ''), {'$select': ','.join(ACTIVITY_FIELDS)})
    activity = read.get('signInActivity') if isinstance(read.get('signInActivity'), dict) else {}
    account['sign_in_activity'] = {
        'last_sign_in': activity.get('lastSignInDateTime'),
        'last_non_interactive_sign_in': activity.get('lastNonInteractiveSignInDateTime'),
        'last_successful_sign_in': activity.get('lastSuccessfulSignInDateTime'),
    }
    return user


def _summarise(account, own):
    """ACCOUNT's sign-in facts from OWN (its records, newest first)."""
    account['sign_ins'] = len(own)
    success = next((s for s in own if s['ok']), None)
    if success:
        account['last_success'] = {'time': success['time'], 'ip_address': success['ip_address'],
                                   'interactive': success['interactive']}
    failures = [s for s in own if not s['ok']]
    account['failures'] = [{k: s[k] for k in ('time', 'error_code', 'failure_reason', 'ip_address', 'interactive')}
                           for s in failures[:MAX_FAILURES]]
    counts = {}
    for s in failures:
        entry = counts.setdefault(s['error_code'], {'error_code': s['error_code'], 'failure_reason': s['failure_reason'],
                                                    'count': 0, 'last': s['time']})
        entry['count'] += 1
    account['failure_counts'] = sorted(counts.values(), key=lambda e: (-e['count'], str(e['error_code'])))
    addresses = {}
    for s in own:
        if s['interactive'] is False:
            entry = addresses.setdefault(s['ip_address'], {'ip_address': s['ip_address'], 'count': 0,
                                                           'last': s['time'], 'ok': 0})
            entry['count'] += 1
            entry['ok'] += 1 if s['ok'] else 0
    account['refresh_addresses'] = sorted(addresses.values(), key=lambda e: -e['count'])


def read_all(graph, application_id, users, days, now=None):
    """signin_activity's facts (never raises GraphError): accounts, other_users, read, errors."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    start = utc(now - datetime.timedelta(days=days))
    errors = []
    read = {'sign_ins': new_read(), 'sign_in_activity': new_read()}
    accounts = [new_account(address) for address in users]
    names = []
    for account in accounts:
        user = None
        try:
            user = read_activity(graph, account)
            account['read'].update(outcome='ok')
        except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
            exc = _graph.as_graph_error(exc, graph)
            account['read'] = refused(exc)
            errors.append(exc.facts())
        names.append(_names(account, user))
    failed_accounts = [a['read'] for a in accounts if a['read']['outcome'] != 'ok']
    read['sign_in_activity'] = failed_accounts[0] if failed_accounts else dict(new_read(), outcome='ok')
    if not accounts:
        read['sign_in_activity']['outcome'] = None
    records = []
    try:
        records = [sign_in(r) for r in read_sign_ins(graph, application_id, start)]
        read['sign_ins']['outcome'] = 'ok'
    except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
        exc = _graph.as_graph_error(exc, graph)
        read['sign_ins'] = refused(exc)
        errors.append(exc.facts())
    others = {}
    for account, account_names in zip(accounts, names):
        own = [r for r in records if (account['id'] and r['user_id'] == account['id'])
               or (r['user_principal_name'] and r['user_principal_name'] in account_names)]
        _summarise(account, own)
    declared_ids = set(a['id'] for a in accounts if a['id'])
    declared_names = set().union(*names) if names else set()
    for r in records:
        if r['user_id'] in declared_ids or (r['user_principal_name'] and r['user_principal_name'] in declared_names):
            continue
        key = r['user_id'] or r['user_principal_name']
        entry = others.setdefault(key, {'user_id': r['user_id'], 'user_principal_name': r['user_principal_name'],
                                        'sign_ins': 0, 'successes': 0, 'last': r['time'], 'ip_addresses': []})
        entry['sign_ins'] += 1
        entry['successes'] += 1 if r['ok'] else 0
        if r['ip_address'] and r['ip_address'] not in entry['ip_addresses']:
            entry['ip_addresses'].append(r['ip_address'])
    return {'window_start': start, 'read_at': utc(now), 'sign_ins_read': len(records), 'accounts': accounts,
            'other_users': sorted(others.values(), key=lambda e: str(e['user_principal_name'] or e['user_id'])),
            'read': read, 'errors': errors}
