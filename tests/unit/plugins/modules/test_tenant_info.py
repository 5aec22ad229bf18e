# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import socket

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth
from ansible_collections.ece_o365.preflight.plugins.modules import tenant_info
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__graph import (
    BASE,
    ECE_APP,
    FakeSession,
    Response,
    tenant_routes,
)
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__auth import jwt

TOKEN = jwt({'appid': 'preflight-app', 'tid': 'tenant', 'aud': 'https://graph.microsoft.com',
             'roles': ['Application.Read.All'], 'exp': 1800000000})


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake_graph(monkeypatch):
    sessions = []

    def install(routes):
        def make_session(params, environ, deadline=None):
            session = FakeSession(routes)
            sessions.append(session)
            return session
        monkeypatch.setattr(_auth, 'make_session', make_session)
        return sessions
    return install


@pytest.mark.parametrize('args, message', [
    ({'access_token': 'x'}, 'nothing to read: give application_id, users'),
    ({'access_token': 'x', 'users': ['a'], 'external_url': 'https://ece.contoso.com'}, 'external_url'),
    ({'users': ['a'], 'tenant': 't', 'client_id': 'c'}, 'give access_token, or client_secret'),
    ({'users': ['a'], 'client_secret': 's', 'client_id': 'c'}, 'one of tenant or authority'),
    ({'users': ['a'], 'access_token': 'x', 'deadline': 0}, 'deadline must be more than 0'),
    ({'users': ['a'], 'access_token': 'x', 'graph_url': 'http://graph.example'}, 'graph_url must be an https URL'),
    ({'users': ['a'], 'access_token': 'x', 'client_secret': 's'}, 'mutually exclusive'),
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(tenant_info, args)
    assert result['failed'] is True and message in result['msg']


def test_a_given_token_reads_the_tenant_and_never_shows_up(run_module, fake_graph):
    sessions = fake_graph(tenant_routes())
    result = run_module(tenant_info, {'access_token': TOKEN, 'graph_url': BASE, 'application_id': ECE_APP,
                                      '_ansible_check_mode': True,
                                      'users': ['support@contoso.com', 'off@contoso.com', 'ghost@contoso.com']})
    assert 'failed' not in result and result['changed'] is False
    assert result['ok'] is True and result['error_class'] is None and 'error' not in result
    assert result['token'] == {'source': 'given', 'acquired': True, 'app_id': 'preflight-app', 'tenant_id': 'tenant',
                               'audience': 'https://graph.microsoft.com', 'roles': ['Application.Read.All'],
                               'expires_at': '2027-01-15T08:00:00Z', 'ok': True, 'error_class': None, 'message': None,
                               'aadsts': None}
    assert result['application']['redirect_uris']['web'] == ['https://ece.contoso.com/cb']
    assert [(u['address'], u['exists'], u['ok']) for u in result['users']] == [
        ('support@contoso.com', True, True), ('off@contoso.com', True, True), ('ghost@contoso.com', False, True)]
    assert result['graph']['calls'] == len(sessions[0].calls) and result['graph']['retries'] == 0
    assert 'of 3 users exist' in result['message']
    assert TOKEN not in json.dumps(result)


def test_a_forbidden_read_is_a_finding_unless_fail_on_error(run_module, fake_graph):
    routes = tenant_routes()
    routes['/v1.0/users'] = [Response(403, {'error': {'code': 'Authorization_RequestDenied',
                                                      'message': 'Insufficient privileges'}})]
    fake_graph(routes)
    args = {'access_token': TOKEN, 'graph_url': BASE, 'users': ['support@contoso.com']}
    finding = run_module(tenant_info, args)
    assert 'failed' not in finding and finding['ok'] is False and finding['error_class'] == 'forbidden'
    user = finding['users'][0]
    assert user['ok'] is False and user['error_class'] == 'forbidden' and user['exists'] is None
    assert user['graph_error']['permission'] == 'User.Read.All (or Directory.Read.All)'
    assert user['message'] == finding['errors'][0]['message'] and 'User.Read.All' in user['message']
    gate = run_module(tenant_info, dict(args, fail_on_error=True))
    assert gate['failed'] is True and 'User.Read.All' in gate['msg']


def test_the_ece_secret_marks_the_one_in_use_and_is_never_returned(run_module, fake_graph):
    fake_graph(tenant_routes())
    result = run_module(tenant_info, {'access_token': TOKEN, 'graph_url': BASE, 'application_id': ECE_APP,
                                      'application_client_secret': 'def~PlantedEceSecret'})
    assert [(s['hint'], s['in_use']) for s in result['application']['secrets']] == [('abc', False), ('def', True)]
    assert 'PlantedEceSecret' not in json.dumps(result)
    assert tenant_info.argument_spec()['application_client_secret']['no_log'] is True
    without = run_module(tenant_info, {'access_token': TOKEN, 'graph_url': BASE, 'application_id': ECE_APP})
    assert [s['in_use'] for s in without['application']['secrets']] == [None, None]


def test_users_carry_resolution_addresses_and_licence_read(run_module, fake_graph):
    fake_graph(tenant_routes())
    result = run_module(tenant_info, {'access_token': TOKEN, 'graph_url': BASE, 'users': ['help@contoso.com']})
    user = result['users'][0]
    assert user['resolved_by'] == 'proxyAddresses' and user['user_principal_name'] == 'agent7@contoso.onmicrosoft.com'
    assert user['proxy_addresses'] == ['support@contoso.com', 'help@contoso.com']
    assert user['licence_read']['source'] == 'licenseDetails' and user['licence_read']['ok'] is True


def test_no_token_no_reads(run_module):
    result = run_module(tenant_info, {'authority': 'https://127.0.0.1:%d/t' % _closed_port(), 'client_id': 'c',
                                      'client_secret': 'PlantedSecret', 'users': ['a'], 'timeout': 2})
    assert result['error_class'] == 'refused' and result['ok'] is False and result['token']['acquired'] is False
    assert result['token']['ok'] is False and result['token']['error_class'] == 'refused'
    assert result['message'].startswith('no Graph token: ') and result['users'] == []
    assert result['graph']['calls'] == 0 and 'PlantedSecret' not in json.dumps(result)


def test_a_failed_read_names_the_graph_root(run_module):
    """Regression (reliability suite, inputs): the message said 'GET /v1.0/applications: the connection was
    refused' and never which Graph host refused."""
    graph_url = 'https://127.0.0.1:%d/graph' % _closed_port()
    result = run_module(tenant_info, {'access_token': TOKEN, 'application_id': '0', 'graph_url': graph_url,
                                      'deadline': 0.5, 'timeout': 0.5, 'fail_on_error': True})
    assert result['failed'] is True and result['error_class'] == 'refused'
    assert result['msg'].startswith('1 of the reads from %s failed; first: GET /v1.0/applications' % graph_url)


def test_a_graph_url_that_is_no_url_fails_clearly(run_module):
    """Regression (reliability suite, inputs): graph_url https://[::1 raised ValueError (urlsplit) as a traceback."""
    result = run_module(tenant_info, {'access_token': TOKEN, 'users': ['a@contoso.com'], 'graph_url': 'https://[::1'})
    assert result['failed'] is True and result['msg'] == 'graph_url must be an https URL, got https://[::1'


def test_an_authority_that_is_no_url_beside_a_given_token_is_no_traceback(run_module):
    """Regression (reliability suite, inputs): with access_token the authority is not validated, and the
    session's user-realm mapping split it: ValueError (a bad IPv6 literal) out of main()."""
    graph_url = 'https://127.0.0.1:%d' % _closed_port()
    result = run_module(tenant_info, {'access_token': TOKEN, 'users': ['a@contoso.com'], 'graph_url': graph_url,
                                      'authority': 'https://[::1/contoso', 'deadline': 0.5, 'timeout': 0.5})
    assert 'failed' not in result and result['error_class'] == 'refused' and graph_url in result['message']
