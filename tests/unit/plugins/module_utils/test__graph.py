# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tenant_info's Graph client and tenant facts, with a fake session: paging, retries, errors."""

import json

import pytest
import requests

from ansible_collections.ece_o365.preflight.plugins.module_utils import _graph, _throttle

BASE = 'https://graph.example'
GRAPH_APP = '00000003-0000-0000-c000-000000000000'


class Response(object):
    def __init__(self, status, body=None, headers=None):
        self.status_code = status
        self.headers = headers or {}
        self._body = body
        self.text = json.dumps(body) if isinstance(body, (dict, list)) else (body or '')

    def json(self):
        if isinstance(self._body, (dict, list)):
            return self._body
        raise ValueError('not JSON')


class FakeSession(object):
    """Answers GETs from ROUTES: {path (no query): [Response, ...] or callable(url, params)}; records calls."""

    def __init__(self, routes):
        self.routes = routes
        self.calls = []

    def get(self, url, params=None, headers=None):
        self.calls.append((url, params, headers))
        path = url[len(BASE):].split('?', 1)[0] if url.startswith(BASE) else url
        route = self.routes.get(path)
        if route is None:
            return Response(404, {'error': {'code': 'Request_ResourceNotFound', 'message': 'not there'}})
        if isinstance(route, Exception):
            raise route
        if callable(route):
            return route(url, params)
        return route.pop(0) if len(route) > 1 else route[0]


class Clock(object):
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def graph(routes, deadline=60.0):
    clock = Clock()
    session = FakeSession(routes)
    return _graph.Graph(session, BASE, 'TOKEN', clock.now + deadline, sleep=clock.sleep, clock=clock), session, clock


def page(items, next_link=None):
    body = {'value': items}
    if next_link:
        body['@odata.nextLink'] = next_link
    return body


def test_paging_follows_next_link_and_sends_the_query_only_once():
    g, session, _clock = graph({
        '/v1.0/users': [Response(200, page([{'id': 1}], BASE + '/v1.0/users?$skiptoken=1')),
                        Response(200, page([{'id': 2}, 'junk'], BASE + '/v1.0/users?$skiptoken=2')),
                        Response(200, page([{'id': 3}]))],
    })
    assert [u['id'] for u in g.get_all('users', {'$select': 'id'})] == [1, 2, 3]
    assert [call[1] for call in session.calls] == [{'$select': 'id'}, None, None]
    assert all(call[2]['Authorization'] == 'Bearer TOKEN' for call in session.calls)
    assert g.calls == 3


def test_a_next_link_to_another_host_is_not_followed_and_gets_no_token():
    g, session, _clock = graph({'/v1.0/users': [Response(200, page([{'id': 1}], 'https://elsewhere.example/v1.0/x'))]})
    with pytest.raises(_graph.GraphError) as excinfo:
        g.get_all('users')
    assert excinfo.value.error_class == 'protocol' and 'elsewhere.example' in excinfo.value.detail
    assert len(session.calls) == 1


def test_429_and_503_are_retried_honouring_retry_after():
    g, _session, clock = graph({'/v1.0/users': [
        Response(429, {'error': {'code': 'TooManyRequests', 'message': 'slow down'}}, {'Retry-After': '3'}),
        Response(503, {'error': {'code': 'serviceNotAvailable', 'message': 'x'}}),
        Response(200, page([{'id': 'u'}]))]})
    assert g.get_all('users') == [{'id': 'u'}]
    assert clock.slept == [3.0, 4.0], 'Retry-After first, then the back-off of the second retry without the header'
    assert g.retries == 2 and g.throttled_seconds == 7.0


def test_throttling_past_the_deadline_is_a_finding_not_a_long_sleep():
    g, _session, clock = graph({'/v1.0/users': [Response(429, {}, {'Retry-After': '30'})]}, deadline=10)
    with pytest.raises(_graph.GraphError) as excinfo:
        g.get_all('users')
    assert excinfo.value.error_class == 'throttled' and clock.slept == []
    assert excinfo.value.detail == 'HTTP 429, Retry-After: 30; waiting 30 s more would pass the deadline; 0 retries'


def test_retries_are_bounded_per_request_by_the_one_policy():
    g, _session, clock = graph({'/v1.0/users': [Response(503, {}, {'Retry-After': '0'})]})
    with pytest.raises(_graph.GraphError) as excinfo:
        g.get_all('users')
    assert excinfo.value.error_class == 'throttled' and len(clock.slept) == _throttle.MAX_RETRIES
    assert 'still throttled after %d retries' % _throttle.MAX_RETRIES in excinfo.value.message()
    assert g.retries == _throttle.MAX_RETRIES


@pytest.mark.parametrize('path, status, error_class, permission', [
    ('/v1.0/users/x', 403, 'forbidden', 'User.Read.All (or Directory.Read.All)'),
    ('/v1.0/applications', 403, 'forbidden', 'Application.Read.All (or Directory.Read.All)'),
    ('/v1.0/servicePrincipals/x/appRoleAssignments', 403, 'forbidden', 'Application.Read.All (or Directory.Read.All)'),
    ('/v1.0/users', 401, 'unauthorized', None),
    ('/v1.0/users', 500, 'http_status', None),
])
def test_refusals_name_the_cause_and_the_permission_the_call_lacked(path, status, error_class, permission):
    body = {'error': {'code': 'Authorization_RequestDenied', 'message': 'Insufficient privileges to complete the '
                      'operation.'}}
    g, _session, _clock = graph({path: [Response(status, body)]})
    with pytest.raises(_graph.GraphError) as excinfo:
        g.get(BASE + path)
    error = excinfo.value
    assert error.error_class == error_class and error.permission == permission and error.status == status
    facts = error.facts()
    assert facts['call'] == 'GET %s' % path and 'Insufficient privileges' in facts['message']
    assert facts['error_class'] == error_class and 'error' not in facts
    assert error.call_facts() == {'call': 'GET %s' % path, 'status': status, 'code': 'Authorization_RequestDenied',
                                  'permission': permission}
    if permission:
        assert 'needs the application permission %s' % permission in facts['message']


def test_connection_failures_are_classified_not_raised():
    g, _session, _clock = graph({'/v1.0/users': requests.exceptions.ConnectionError(ConnectionRefusedError(111, 'x'))})
    with pytest.raises(_graph.GraphError) as excinfo:
        g.get_all('users')
    assert excinfo.value.error_class == 'refused'


def test_bodies_that_are_not_graphs_are_protocol_errors():
    g, _session, _clock = graph({'/v1.0/users': [Response(200, '<html>proxy page</html>')],
                                 '/v1.0/applications': [Response(200, {'no': 'value'})]})
    for path in ('users', 'applications'):
        with pytest.raises(_graph.GraphError) as excinfo:
            g.get_all(path)
        assert excinfo.value.error_class == 'protocol'


# -- the tenant facts from a fake tenant ------------------------------------------------------

def users_by_filter(users):
    """GET /users?$filter= as Graph answers the two forms tenant_info sends (mail eq, proxyAddresses/any eq),
    comparing without regard to case; any other filter is Graph's 400."""
    def answer(url, params):
        expression = params['$filter']
        value = expression.split("'")[1].lower()
        if expression.startswith('mail eq '):
            found = [u for u in users if (u.get('mail') or '').lower() == value]
        elif expression.startswith('proxyAddresses/any(x:x eq '):
            found = [u for u in users if value in [a.lower() for a in u.get('proxyAddresses') or []]]
        else:
            return Response(400, {'error': {'code': 'Request_UnsupportedQuery', 'message': expression}})
        return Response(200, page(found))
    return answer


ECE_APP = 'ece-app-id'
SCOPES = {'IMAP.AccessAsUser.All': 'p-imap', 'SMTP.Send': 'p-smtp', 'offline_access': 'p-offline'}


def tenant_routes(consented=('IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access'), redirect='https://ece.contoso.com/cb',
                  secret_end='2026-12-08T12:00:00Z'):
    """A fake tenant: ECE's app (two secrets, a certificate), Graph's and ECE's service principals, a grant and
    two users (one licensed with a pending Exchange plan, one disabled)."""
    graph_sp = {'id': 'sp-graph', 'appId': GRAPH_APP, 'displayName': 'Microsoft Graph',
                'oauth2PermissionScopes': [{'id': pid, 'value': name} for name, pid in SCOPES.items()],
                'appRoles': [{'id': 'r-users', 'value': 'User.Read.All'}]}
    app = {'id': 'app-obj', 'appId': ECE_APP, 'displayName': 'ECE', 'signInAudience': 'AzureADMyOrg',
           'web': {'redirectUris': [redirect]}, 'spa': {'redirectUris': []}, 'publicClient': {'redirectUris': []},
           'requiredResourceAccess': [{'resourceAppId': GRAPH_APP, 'resourceAccess': [
               {'id': pid, 'type': 'Scope'} for pid in SCOPES.values()] + [{'id': 'r-users', 'type': 'Role'}]}],
           'passwordCredentials': [
               {'keyId': 'k1', 'displayName': 'old', 'hint': 'abc', 'startDateTime': '2024-01-01T00:00:00Z',
                'endDateTime': '2025-01-01T00:00:00Z'},
               {'keyId': 'k2', 'displayName': 'new', 'hint': 'def', 'startDateTime': '2025-01-01T00:00:00Z',
                'endDateTime': secret_end}],
           'keyCredentials': [{'keyId': 'c1', 'displayName': 'cert', 'type': 'AsymmetricX509Cert', 'usage': 'Verify',
                               'customKeyIdentifier': 'AB12', 'endDateTime': '2027-11-28T12:00:00Z'}]}
    ece_sp = {'id': 'sp-ece', 'appId': ECE_APP, 'displayName': 'ECE', 'accountEnabled': True}
    grants = [{'clientId': 'sp-ece', 'consentType': 'AllPrincipals', 'resourceId': 'sp-graph',
               'scope': ' '.join(consented)}] if consented else []

    def service_principals(url, params):
        wanted = params['$filter'].split("'")[1]
        return Response(200, page([sp for sp in (graph_sp, ece_sp) if sp['appId'] == wanted]))

    support = {'id': 'u1', 'userPrincipalName': 'agent7@contoso.onmicrosoft.com', 'accountEnabled': True,
               'mail': 'support@contoso.com', 'proxyAddresses': ['SMTP:support@contoso.com', 'smtp:Help@Contoso.com',
                                                                 'X500:/o=ExchangeLabs/cn=Recipients/cn=x']}
    disabled = {'id': 'u2', 'userPrincipalName': 'off@contoso.com', 'accountEnabled': False, 'mail': None,
                'proxyAddresses': []}

    return {
        '/v1.0/users': users_by_filter([support, disabled]),
        '/v1.0/applications': [Response(200, page([app]))],
        '/v1.0/servicePrincipals': service_principals,
        '/v1.0/servicePrincipals/sp-graph': [Response(200, graph_sp)],
        '/v1.0/servicePrincipals/sp-ece/oauth2PermissionGrants': [Response(200, page(grants))],
        '/v1.0/servicePrincipals/sp-ece/appRoleAssignments': [Response(200, page([]))],
        '/v1.0/users/agent7@contoso.onmicrosoft.com': [Response(200, support)],
        '/v1.0/users/u1/licenseDetails': [Response(200, page([{'skuPartNumber': 'ENTERPRISEPACK', 'skuId': 's1',
                                                               'servicePlans': [
                                                                   {'servicePlanName': 'EXCHANGE_S_ENTERPRISE',
                                                                    'provisioningStatus': 'PendingActivation'},
                                                                   {'servicePlanName': 'TEAMS1',
                                                                    'provisioningStatus': 'Success'}]}]))],
        '/v1.0/users/off@contoso.com': [Response(200, disabled)],
        '/v1.0/users/u2/licenseDetails': [Response(200, page([]))],
    }


def test_application_facts_are_the_objects_as_read_with_names_resolved():
    g, _session, _clock = graph(tenant_routes())
    app = _graph.read_application(g, ECE_APP)
    assert app['found'] and app['redirect_uris'] == {'web': ['https://ece.contoso.com/cb'], 'spa': [],
                                                     'public_client': []}
    names = {(p['type'], p['name']) for p in app['required_permissions']}
    assert ('delegated', 'IMAP.AccessAsUser.All') in names and ('application', 'User.Read.All') in names
    assert {p['resource'] for p in app['required_permissions']} == {'Microsoft Graph'}
    assert app['secrets'] == [
        {'key_id': 'k1', 'display_name': 'old', 'hint': 'abc', 'start': '2024-01-01T00:00:00Z',
         'end': '2025-01-01T00:00:00Z', 'in_use': None},
        {'key_id': 'k2', 'display_name': 'new', 'hint': 'def', 'start': '2025-01-01T00:00:00Z',
         'end': '2026-12-08T12:00:00Z', 'in_use': None}], "dates as read: expiry is the judge's"
    assert app['certificates'] == [{'key_id': 'c1', 'display_name': 'cert', 'type': 'AsymmetricX509Cert',
                                    'usage': 'Verify', 'custom_key_identifier': 'AB12', 'start': None,
                                    'end': '2027-11-28T12:00:00Z'}]
    sp = app['service_principal']
    assert sp['found'] and sp['delegated_grants'] == [
        {'consent_type': 'AllPrincipals', 'principal_id': None, 'resource_id': 'sp-graph',
         'resource': 'Microsoft Graph', 'scopes': ['IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access']}]
    assert sp['app_role_assignments'] == []


VERDICTS = ('external_url', 'redirect_uri_hosts', 'secrets_valid', 'latest_secret_days_left', 'days_left', 'expired',
            'admin_consented_scopes', 'delegated_not_admin_consented', 'application_permissions_not_granted',
            'exchange_plans', 'exchange_provisioned')


def keys(value):
    """Every key at any depth of VALUE."""
    if isinstance(value, dict):
        return set(value).union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(v) for v in value))
    return set()


def test_no_verdict_is_returned_only_facts():
    facts = _graph.read_tenant(graph(tenant_routes())[0], ECE_APP, ['support@contoso.com'])
    assert facts['application']['found'] and facts['users'][0]['licences'], 'the facts were read'
    assert keys(facts) & set(VERDICTS) == set()
    assert 'error' not in keys(facts), 'failures are ok, error_class, message and graph_error'


def test_missing_consent_and_a_foreign_redirect_host_are_returned_as_read():
    g, _session, _clock = graph(tenant_routes(consented=(), redirect='https://ece-old.contoso.com/cb'))
    app = _graph.read_application(g, ECE_APP)
    assert app['redirect_uris']['web'] == ['https://ece-old.contoso.com/cb']
    assert app['service_principal']['found'] and app['service_principal']['delegated_grants'] == []


def test_users_exist_enabled_and_every_service_plan_as_read():
    g, _session, _clock = graph(tenant_routes())
    support = _graph.read_user(g, 'support@contoso.com')
    assert support['address'] == support['name'] == 'support@contoso.com'
    assert support['exists'] and support['enabled'] is True
    assert support['licences'] == [{'sku': 'ENTERPRISEPACK', 'sku_id': 's1', 'service_plans': [
        {'name': 'EXCHANGE_S_ENTERPRISE', 'id': None, 'status': 'PendingActivation', 'applies_to': None},
        {'name': 'TEAMS1', 'id': None, 'status': 'Success', 'applies_to': None}]}]
    disabled = _graph.read_user(g, 'off@contoso.com')
    assert disabled['enabled'] is False and disabled['licences'] == []
    ghost = _graph.read_user(g, 'ghost@contoso.com')
    assert ghost['exists'] is False and ghost['enabled'] is None


def test_read_tenant_keeps_going_after_a_failed_read():
    routes = tenant_routes()
    routes['/v1.0/applications'] = [Response(403, {'error': {'code': 'Authorization_RequestDenied', 'message': 'no'}})]
    g, _session, _clock = graph(routes)
    facts = _graph.read_tenant(g, ECE_APP, ['support@contoso.com'])
    app = facts['application']
    assert app['found'] is None and app['ok'] is False and app['error_class'] == 'forbidden'
    assert app['message'].startswith('GET /v1.0/applications: the access token lacks a permission')
    assert app['graph_error'] == {'call': 'GET /v1.0/applications', 'status': 403, 'code': 'Authorization_RequestDenied',
                                  'permission': 'Application.Read.All (or Directory.Read.All)'}
    assert set(app) == set(_graph.new_application(ECE_APP)) | {'ok', 'error_class', 'message', 'graph_error'}
    user = facts['users'][0]
    assert user['exists'] is True and user['ok'] is True and user['error_class'] is None and user['graph_error'] is None
    assert [e['error_class'] for e in facts['errors']] == ['forbidden']
    assert facts['errors'][0]['permission'] == 'Application.Read.All (or Directory.Read.All)'


def test_an_application_that_does_not_exist():
    g, _session, _clock = graph({'/v1.0/applications': [Response(200, page([]))]})
    app = _graph.read_tenant(g, 'nope')['application']
    assert app == dict(_graph.new_application('nope'), found=False, ok=True, error_class=None, message=None,
                       graph_error=None)


# -- regressions found by the reliability suite's input properties (tests/reliability/test_inputs_parsers.py)

def test_a_404_for_a_whole_collection_is_a_finding_not_an_exception():
    """A wrong graph_url answers 404 for /v1.0/applications: NotFound escaped read_tenant (a traceback)."""
    g, _session, _clock = graph({})
    facts = _graph.read_tenant(g, ECE_APP, ['support@contoso.com'])
    assert facts['application']['found'] is None and facts['application']['error_class'] == 'http_status'
    assert facts['errors'][0]['error_class'] == 'http_status' and facts['errors'][0]['status'] == 404
    assert facts['errors'][0]['message'].startswith('GET /v1.0/applications')
    user = facts['users'][0]
    assert user['exists'] is None and user['error_class'] == 'http_status', 'the users collection is not there either'
    assert user['graph_error']['call'] == "GET /v1.0/users" and user['licences'] is None


def test_an_answer_of_the_wrong_shape_is_class_protocol_naming_the_call():
    """A user id that is a number made quote() raise TypeError out of read_tenant."""
    g, _session, _clock = graph({'/v1.0/users': users_by_filter([]), '/v1.0/users/a@x': [Response(200, {'id': 5})]})
    facts = _graph.read_tenant(g, None, ['a@x'])
    assert facts['users'][0]['exists'] is None and facts['errors'][0]['error_class'] == 'protocol'
    assert facts['users'][0]['graph_error']['call'] == 'GET /v1.0/users/a@x'
    assert facts['errors'][0]['call'] == 'GET /v1.0/users/a@x' and 'unexpected shape (TypeError' in \
        facts['errors'][0]['message']


def test_a_redirect_uri_that_is_no_url_is_returned_as_read():
    """urlsplit('https://[::1') raised ValueError out of read_application when hosts were derived from it."""
    routes = tenant_routes(redirect='https://[::1')
    facts = _graph.read_tenant(graph(routes)[0], ECE_APP, [])
    assert facts['errors'] == [] and facts['application']['redirect_uris']['web'] == ['https://[::1']


# -- identities: a mailbox address that is not the UPN (issue 12) --------------------------------

def test_an_address_is_resolved_by_mail_then_proxy_addresses_then_as_a_upn():
    g, session, _clock = graph(tenant_routes())
    by_mail = _graph.read_user(g, 'support@contoso.com')
    assert by_mail['resolved_by'] == 'mail' and by_mail['id'] == 'u1'
    assert by_mail['user_principal_name'] == 'agent7@contoso.onmicrosoft.com'
    assert by_mail['proxy_addresses'] == ['support@contoso.com', 'help@contoso.com'], 'SMTP only, lower-case, no prefix'
    by_proxy = _graph.read_user(g, 'HELP@contoso.com')
    assert by_proxy['resolved_by'] == 'proxyAddresses' and by_proxy['id'] == 'u1' and by_proxy['exists'] is True
    by_upn = _graph.read_user(g, 'agent7@contoso.onmicrosoft.com')
    assert by_upn['resolved_by'] == 'userPrincipalName' and by_upn['id'] == 'u1'
    filters = [call[1]['$filter'] for call in session.calls if call[1] and '$filter' in call[1]]
    assert filters[0] == "mail eq 'support@contoso.com'" and len(filters) == 1 + 2 + 2
    assert "proxyAddresses/any(x:x eq 'smtp:HELP@contoso.com')" in filters
    assert all('proxyAddresses' in call[1]['$select'] for call in session.calls if call[1] and '$select' in call[1])


def test_a_guid_is_read_by_id_and_a_name_nobody_has_does_not_exist():
    routes = tenant_routes()
    guid = '6c0b9f1e-0000-4000-8000-000000000001'
    routes['/v1.0/users/' + guid] = [Response(200, {'id': guid})]
    g, session, _clock = graph(routes)
    by_id = _graph.read_user(g, '6c0b9f1e-0000-4000-8000-000000000001')
    assert by_id['resolved_by'] == 'id' and by_id['exists'] is True
    assert not any(call[1] and '$filter' in call[1] for call in session.calls), 'a GUID is no address to filter on'
    ghost = _graph.read_user(g, 'ghost@contoso.com')
    assert ghost['exists'] is False and ghost['resolved_by'] is None and ghost['licences'] is None
    assert [c[0].rsplit('/', 1)[-1] for c in session.calls[-3:]] == ['users', 'users', 'ghost@contoso.com']


def test_quotes_in_an_address_are_escaped_in_the_filter():
    g, session, _clock = graph({'/v1.0/users': users_by_filter([])})
    assert _graph.read_user(g, "o'brien@contoso.com")['exists'] is False
    assert session.calls[0][1]['$filter'] == "mail eq 'o''brien@contoso.com'"


# -- licences: licenseDetails, else assignedPlans --------------------------------------------------

FORBIDDEN = Response(403, {'error': {'code': 'Authorization_RequestDenied',
                                     'message': 'Insufficient privileges to complete the operation.'}})
ENTERPRISE = {'exchange': 'efb87545-963c-4e0d-99df-69c6916d9eb0',
              'foundation': '113feb6c-3fe4-4440-bddc-54d774bf0318'}


def test_licence_details_read_is_recorded():
    g, _session, _clock = graph(tenant_routes())
    user = _graph.read_user(g, 'support@contoso.com')
    assert user['licence_read'] == {'ok': True, 'source': 'licenseDetails', 'error_class': None, 'message': None,
                                    'status': None}


def test_a_refused_licence_read_falls_back_to_assigned_plans_and_leaves_the_account_as_read():
    routes = tenant_routes()
    user = routes['/v1.0/users/agent7@contoso.onmicrosoft.com'][0].json()
    user.update(assignedPlans=[
        {'servicePlanId': ENTERPRISE['exchange'], 'service': 'exchange', 'capabilityStatus': 'Enabled',
         'assignedDateTime': '2025-01-01T00:00:00Z'},
        {'servicePlanId': '57ff2da0-773e-42df-b2af-ffb7a2317929', 'service': 'TeamspaceAPI',
         'capabilityStatus': 'Enabled'}],
        provisionedPlans=[{'service': 'exchange', 'capabilityStatus': 'Enabled', 'provisioningStatus': 'Success'},
                          {'service': 'TeamspaceAPI', 'capabilityStatus': 'Enabled',
                           'provisioningStatus': 'PendingProvisioning'}])
    routes['/v1.0/users/u1/licenseDetails'] = [FORBIDDEN]
    g, _session, _clock = graph(routes)
    facts = _graph.read_tenant(g, None, ['support@contoso.com'])
    support = facts['users'][0]
    assert support['exists'] is True and support['enabled'] is True and support['ok'] is True
    read = support['licence_read']
    assert read['ok'] is True and read['source'] == 'assignedPlans' and read['status'] == 403
    assert read['error_class'] == 'forbidden' and 'assignedPlans instead' in read['message']
    assert support['licences'] == [{'sku': None, 'sku_id': None, 'service_plans': [
        {'name': 'EXCHANGE_S_ENTERPRISE', 'id': ENTERPRISE['exchange'], 'status': 'Success', 'applies_to': None,
         'service': 'exchange', 'capability_status': 'Enabled'},
        {'name': None, 'id': '57ff2da0-773e-42df-b2af-ffb7a2317929', 'status': 'PendingProvisioning',
         'applies_to': None, 'service': 'TeamspaceAPI', 'capability_status': 'Enabled'}]}]
    assert facts['errors'] == [], 'the licences were read after all'


def test_a_service_whose_provisioned_plans_disagree_has_no_status():
    user = {'assignedPlans': [{'servicePlanId': ENTERPRISE['foundation'], 'service': 'exchange',
                               'capabilityStatus': 'Enabled'}],
            'provisionedPlans': [{'service': 'exchange', 'provisioningStatus': 'Success'},
                                 {'service': 'exchange', 'provisioningStatus': 'PendingInput'}]}
    plans = _graph._plans_from_assigned(user)[0]['service_plans']
    assert plans == [{'name': 'EXCHANGE_S_FOUNDATION', 'id': ENTERPRISE['foundation'], 'status': None,
                      'applies_to': None, 'service': 'exchange', 'capability_status': 'Enabled'}]


def test_a_refused_licence_read_without_plans_is_unknown_not_no_licence():
    routes = tenant_routes()
    routes['/v1.0/users/u1/licenseDetails'] = [FORBIDDEN]
    g, _session, _clock = graph(routes)
    facts = _graph.read_tenant(g, None, ['support@contoso.com'])
    support = facts['users'][0]
    assert support['exists'] is True and support['enabled'] is True and support['ok'] is True
    assert support['licences'] is None
    assert support['licence_read'] == {
        'ok': False, 'source': None, 'error_class': 'forbidden', 'status': 403,
        'message': support['licence_read']['message']}
    assert 'Insufficient privileges' in support['licence_read']['message']
    assert [(e['error_class'], e['call'], e['status']) for e in facts['errors']] == [
        ('forbidden', 'GET /v1.0/users/u1/licenseDetails', 403)]


# -- secrets: which one ECE holds ------------------------------------------------------------------

def test_the_secret_ece_holds_is_marked_by_its_hint_and_the_value_is_never_kept():
    assert _graph.secret_hint('def~SECRET-VALUE') == 'def' and _graph.secret_hint(None) is None
    g, _session, _clock = graph(tenant_routes())
    app = _graph.read_application(g, ECE_APP, ece_hint=_graph.secret_hint('def~SECRET-VALUE'))
    assert [(s['key_id'], s['in_use']) for s in app['secrets']] == [('k1', False), ('k2', True)]
    assert 'SECRET-VALUE' not in json.dumps(app)
    none_given = _graph.read_application(graph(tenant_routes())[0], ECE_APP)
    assert [s['in_use'] for s in none_given['secrets']] == [None, None]


def test_per_user_grants_are_read_with_their_principal():
    routes = tenant_routes(consented=())
    routes['/v1.0/servicePrincipals/sp-ece/oauth2PermissionGrants'] = [Response(200, page([
        {'clientId': 'sp-ece', 'consentType': 'Principal', 'principalId': 'u1', 'resourceId': 'sp-graph',
         'scope': 'IMAP.AccessAsUser.All offline_access'}]))]
    app = _graph.read_application(graph(routes)[0], ECE_APP)
    assert app['service_principal']['delegated_grants'] == [
        {'consent_type': 'Principal', 'principal_id': 'u1', 'resource_id': 'sp-graph', 'resource': 'Microsoft Graph',
         'scopes': ['IMAP.AccessAsUser.All', 'offline_access']}]
