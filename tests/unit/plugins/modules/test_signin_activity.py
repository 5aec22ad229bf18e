# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import datetime
import json

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _graph, _signins
from ansible_collections.ece_o365.preflight.plugins.modules import signin_activity
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__graph import (
    BASE,
    FakeSession,
    Response,
)
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__auth import jwt

TOKEN = jwt({'appid': 'preflight-app', 'tid': 'tenant', 'aud': 'https://graph.microsoft.com',
             'roles': ['AuditLog.Read.All', 'User.Read.All'], 'exp': 1800000000})
ECE = '9c1d7e0a-3b52-4f8e-8d21-6a4f0e5b7c31'
SUPPORT = {'id': 'id-support', 'userPrincipalName': 'support@contoso.com', 'mail': 'support@contoso.com',
           'proxyAddresses': ['SMTP:support@contoso.com']}
SERVICE = {'id': 'id-service', 'userPrincipalName': 'ece.service@contoso.com', 'mail': 'ece.service@contoso.com',
           'proxyAddresses': ['SMTP:ece.service@contoso.com', 'smtp:svc@contoso.com']}
NOT_PREMIUM = {'error': {'code': 'Authentication_RequestFromNonPremiumTenantOrB2CTenant',
                         'message': "Neither tenant is B2C or tenant doesn't have premium license"}}
DENIED = {'error': {'code': 'Authorization_RequestDenied', 'message': 'Insufficient privileges to complete the operation.'}}


def record(user, days_ago=0.1, ip='10.231.8.11', code=0, interactive=False, reason=None, app=ECE):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    return {'id': 'r-%s-%s' % (user['id'], days_ago), 'createdDateTime': _signins.utc(when), 'userId': user['id'],
            'userPrincipalName': user['userPrincipalName'], 'appId': app, 'ipAddress': ip,
            'isInteractive': interactive, 'signInEventTypes': ['interactiveUser' if interactive else 'nonInteractiveUser'],
            'resourceDisplayName': 'Office 365 Exchange Online', 'conditionalAccessStatus': 'notApplied',
            'status': {'errorCode': code, 'failureReason': reason or ('Other.' if code == 0 else 'failed'),
                       'additionalDetails': None}}


def routes(records, users=(SUPPORT, SERVICE), log=None, activity=None):
    by_id = {u['id']: u for u in users}

    def sign_ins(url, params):
        if log:
            return log
        kind = 'nonInteractiveUser' if 'nonInteractiveUser' in params['$filter'] else 'interactiveUser'
        assert "appId eq '%s'" % ECE in params['$filter'] and 'createdDateTime ge ' in params['$filter']
        return Response(200, {'value': [r for r in records if kind in r['signInEventTypes']]})

    def list_users(url, params):
        wanted = params['$filter'].split("'")[1].lower()
        return Response(200, {'value': [u for u in users if u['mail'] == wanted or 'smtp:' + wanted in
                                        [p.lower() for p in u['proxyAddresses']]]})

    out = {'/beta/auditLogs/signIns': sign_ins, '/v1.0/users': list_users}
    for uid, user in by_id.items():
        out['/v1.0/users/' + uid] = [activity or Response(200, dict(user, signInActivity={
            'lastSignInDateTime': '2026-01-01T00:00:00Z', 'lastNonInteractiveSignInDateTime': '2026-11-30T00:00:00Z',
            'lastSuccessfulSignInDateTime': '2026-11-30T00:00:00Z'}))]
    return out


@pytest.fixture
def fake_graph(monkeypatch):
    sessions = []

    def install(route_table):
        def make_session(params, environ, deadline=None):
            session = FakeSession(route_table)
            sessions.append(session)
            return session
        monkeypatch.setattr(_auth, 'make_session', make_session)
        return sessions
    return install


def run(run_module, **args):
    base = {'access_token': TOKEN, 'graph_url': BASE, 'application_id': ECE,
            'users': ['support@contoso.com', 'svc@contoso.com']}
    base.update(args)
    return run_module(signin_activity, base)


@pytest.mark.parametrize('args, message', [
    ({'access_token': 'x'}, 'application_id'),
    ({'access_token': 'x', 'application_id': ECE, 'days': 31}, 'days must be between 1 and 30'),
    ({'access_token': 'x', 'application_id': ECE, 'days': 0}, 'days must be between 1 and 30'),
    ({'application_id': ECE, 'tenant': 't', 'client_id': 'c'}, 'give access_token, or client_secret'),
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(signin_activity, args)
    assert result['failed'] is True and message in result['msg']


def test_each_account_gets_ece_last_success_failures_and_addresses(run_module, fake_graph):
    records = [record(SUPPORT, 0.05), record(SUPPORT, 0.1, code=700082, reason='expired'),
               record(SUPPORT, 0.2, code=700082, reason='expired'), record(SUPPORT, 12, ip='203.0.113.9', interactive=True),
               record(SERVICE, 0.06, ip='198.51.100.7')]
    sessions = fake_graph(routes(records))
    result = run(run_module, _ansible_check_mode=True)
    assert result['changed'] is False and result['ok'] is True and result['error_class'] is None
    support, service = result['accounts']
    assert support['address'] == 'support@contoso.com' and support['id'] == 'id-support'
    assert support['sign_ins'] == 4 and support['last_success']['ip_address'] == '10.231.8.11'
    assert support['last_success']['interactive'] is False
    assert [f['error_code'] for f in support['failures']] == [700082, 700082]
    assert support['failure_counts'] == [{'error_code': 700082, 'failure_reason': 'expired', 'count': 2,
                                          'last': support['failures'][0]['time']}]
    assert [(a['ip_address'], a['count'], a['ok']) for a in support['refresh_addresses']] == [('10.231.8.11', 3, 1)]
    assert service['address'] == 'svc@contoso.com' and service['user_principal_name'] == 'ece.service@contoso.com'
    assert service['sign_ins'] == 1 and service['refresh_addresses'][0]['ip_address'] == '198.51.100.7'
    assert support['sign_in_activity']['last_successful_sign_in'] == '2026-11-30T00:00:00Z'
    assert result['other_users'] == [] and result['sign_ins_read'] == 5
    assert result['read']['sign_ins']['outcome'] == 'ok' and result['read']['sign_in_activity']['outcome'] == 'ok'
    # both kinds asked for, on beta; the users on v1.0; only GETs
    asked = [call[0] for call in sessions[0].calls]
    assert sum(1 for url in asked if url == BASE + '/beta/auditLogs/signIns') == 2
    assert TOKEN not in json.dumps(result)


def test_a_token_issued_to_an_undeclared_user_is_listed(run_module, fake_graph):
    jdoe = {'id': 'id-jdoe', 'userPrincipalName': 'JDoe@contoso.com'}
    fake_graph(routes([record(jdoe, 0.05), record(jdoe, 0.5), record(SERVICE, 0.1)]))
    result = run(run_module)
    assert result['other_users'] == [{'user_id': 'id-jdoe', 'user_principal_name': 'jdoe@contoso.com', 'sign_ins': 2,
                                      'successes': 2, 'last': result['other_users'][0]['last'],
                                      'ip_addresses': ['10.231.8.11']}]
    assert result['accounts'][0]['sign_ins'] == 0 and result['accounts'][0]['last_success'] is None


def test_a_tenant_without_premium_is_an_observation_not_a_crash(run_module, fake_graph):
    refused = Response(403, NOT_PREMIUM)
    fake_graph(routes([], log=refused, activity=refused))
    result = run(run_module)
    assert 'failed' not in result and result['ok'] is False and result['error_class'] == 'forbidden'
    assert result['read']['sign_ins']['outcome'] == 'not_licensed'
    assert result['read']['sign_ins']['code'] == 'Authentication_RequestFromNonPremiumTenantOrB2CTenant'
    assert 'P1 or P2' in result['read']['sign_ins']['message']
    assert result['read']['sign_in_activity']['outcome'] == 'not_licensed'
    assert result['accounts'][0]['read']['outcome'] == 'not_licensed' and result['accounts'][0]['exists'] is True


def test_a_missing_permission_names_it_and_fail_on_error_fails(run_module, fake_graph):
    fake_graph(routes([], log=Response(403, DENIED)))
    result = run(run_module)
    sign_ins = result['read']['sign_ins']
    assert sign_ins['outcome'] == 'forbidden' and sign_ins['code'] == 'Authorization_RequestDenied'
    assert sign_ins['permission'] == 'AuditLog.Read.All and Directory.Read.All'
    assert 'AuditLog.Read.All' in sign_ins['message']
    fake_graph(routes([], log=Response(403, DENIED)))
    result = run(run_module, fail_on_error=True)
    assert result['failed'] is True and result['read']['sign_ins']['outcome'] == 'forbidden'


def test_an_unknown_account_is_not_found_and_not_an_error(run_module, fake_graph):
    fake_graph(routes([record(SUPPORT)]))
    result = run(run_module, users=['ghost@contoso.com'])
    assert result['ok'] is True and result['accounts'][0]['exists'] is False
    assert result['other_users'][0]['user_principal_name'] == 'support@contoso.com'


def test_no_token_marks_both_reads_failed(run_module):
    result = run_module(signin_activity, {'application_id': ECE, 'tenant': 't', 'client_id': 'c', 'client_secret': 's',
                                          'authority': 'https://127.0.0.1:1/t', 'deadline': 2})
    assert result['ok'] is False and result['read']['sign_ins']['outcome'] == 'failed'
    assert result['read']['sign_in_activity']['outcome'] == 'failed'


def test_sign_in_facts_tolerate_odd_records():
    facts = _signins.sign_in({'status': 'x', 'signInEventTypes': ['interactiveUser']})
    assert facts['interactive'] is True and facts['error_code'] is None and facts['ok'] is False
    graph = _signins.SigninGraph(None, BASE, 't', 0)
    assert graph.url('beta/auditLogs/signIns') == BASE + '/beta/auditLogs/signIns'
    assert graph.url('users/x') == BASE + '/v1.0/users/x'
    assert graph.permission_for('/v1.0/users/x') == 'AuditLog.Read.All and User.Read.All'
    exc = _graph.GraphError('http_status', '/beta/auditLogs/signIns', 'HTTP 500', status=500)
    assert _signins.refused(exc)['outcome'] == 'failed'
