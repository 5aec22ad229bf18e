# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Microsoft Graph reads for tenant_info: a small client and the tenant objects read through it.

The client follows ``@odata.nextLink`` paging (only back to the same host: the token is never
sent elsewhere), retries 429 and 503 with the one throttling policy (_throttle: Retry-After within
the call's deadline), and turns 401 and 403 into findings that name the permission the call lacked.
Reads only: every request is a GET. The facts are the Graph objects as read, never verdicts: whether
a redirect URI matches, consent covers a permission, a licence gives a mailbox or a secret is near
expiry is the judge's to say (plugins/plugin_utils).
"""

import re
import time

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _errors, _licences, _throttle

try:
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover (Python 2 is not supported)
    quote = urlsplit = None

API_VERSION = 'v1.0'
MAX_PAGES = 200

# The application permissions each Graph collection needs for app-only reads, least privileged
# first; Directory.Read.All covers all of them. Used to explain a 403.
PERMISSIONS = {
    'applications': ('Application.Read.All', 'Directory.Read.All'),
    'servicePrincipals': ('Application.Read.All', 'Directory.Read.All'),
    'oauth2PermissionGrants': ('Application.Read.All', 'Directory.Read.All'),
    'users': ('User.Read.All', 'Directory.Read.All'),
}

# proxyAddresses, assignedPlans and provisionedPlans come only when $select names them (user resource:
# https://learn.microsoft.com/en-us/graph/api/resources/user); the plans are the licence read app-only tokens
# are documented to have (User.Read.All), used when licenseDetails is refused.
USER_FIELDS = ('id', 'userPrincipalName', 'displayName', 'mail', 'accountEnabled', 'userType', 'assignedLicenses',
               'proxyAddresses', 'assignedPlans', 'provisionedPlans')
GUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')


class GraphError(Exception):
    """A Graph call ended without the data: error class of _errors.ERROR_CLASSES and the facts."""

    def __init__(self, error_class, path, detail=None, status=None, code=None, permission=None, method='GET'):
        super(GraphError, self).__init__(error_class)
        self.method = method
        self.error_class = error_class
        self.path = path
        self.detail = detail
        self.status = status
        self.code = code
        self.permission = permission

    def call_facts(self):
        """The failed call, for a result's ``graph_error``: call, HTTP status, Graph's error code, permission."""
        return {'call': '%s %s' % (self.method, self.path), 'status': self.status, 'code': self.code,
                'permission': self.permission}

    def facts(self):
        """One entry of a result's ``errors``: the call's facts with its error_class and message."""
        return dict(self.call_facts(), error_class=self.error_class, message=self.message())

    def message(self):
        text = _errors.describe(self.error_class, '%s %s' % (self.method, self.path), self.detail)
        if self.permission:
            text += ' The call needs the application permission %s (with admin consent).' % self.permission
        return text


def failed(facts, exc):
    """FACTS (a result that can fail) marked with EXC (a GraphError): ok false, its class, message and call."""
    facts.update(ok=False, error_class=exc.error_class, message=exc.message(), graph_error=exc.call_facts())
    return facts


def succeeded(facts):
    """FACTS (a result that can fail) marked as read."""
    facts.update(ok=True, error_class=None, message=None, graph_error=None)
    return facts


class NotFound(Exception):
    """Graph answered 404 for an object."""


# What a reader raises on an answer of the wrong shape (a list where an object belongs, a number for a URL).
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError)


def as_graph_error(exc, graph, method='GET'):
    """EXC as a GraphError naming the call. A NotFound that reaches a reader's top was a 404 for a whole
    collection (a wrong graph_url or exchange_url, or a wrong tenant), not a missing object; a SHAPE_ERRORS
    exception means the latest answer was JSON of an unexpected shape (class protocol, like non-JSON)."""
    if isinstance(exc, NotFound):
        return GraphError('http_status', str(exc), 'HTTP 404: nothing answers at this path; check the root URL '
                          'and the tenant', status=404, method=method)
    if isinstance(exc, SHAPE_ERRORS):
        method, path = graph.last_call or (method, '(no call)')
        return GraphError('protocol', path, 'the answer has an unexpected shape (%s: %s)' % (
            type(exc).__name__, str(exc)[:120]), method=method)
    return exc


def collection_of(path):
    """The first segment after the API version: 'users' of /v1.0/users/x/licenseDetails."""
    match = re.match(r'^/?(?:v1\.0|beta)/([A-Za-z0-9]+)', path)
    return match.group(1) if match else None


def needed_permission(path):
    names = PERMISSIONS.get(collection_of(path) or '')
    return '%s (or %s)' % names if names else None


def _graph_error_body(response):
    """(code, message) from Graph's {"error": {"code", "message"}} body, else (None, short text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get('error'), dict):
        error = body['error']
        code = error.get('code') if isinstance(error.get('code'), str) else None
        message = error.get('message') if isinstance(error.get('message'), str) else None
        return code, (message or '')[:300]
    text = (getattr(response, 'text', '') or '')[:200]
    return None, ' '.join(text.split())


class Graph(object):
    """GETs against Graph with one bearer token, paging, retries and a deadline.

    SESSION is a requests.Session-like object (the module passes _auth.PreflightSession, the
    unit tests a fake). BASE_URL is the Graph root (https://graph.microsoft.com, or the lab's).
    """

    def __init__(self, session, base_url, token, deadline, sleep=time.sleep, clock=time.monotonic):
        self.session = session
        self.base_url = base_url.rstrip('/')
        self.token = token
        self.deadline = deadline
        self.sleep = sleep
        self.clock = clock
        self.calls = 0
        self.retries = 0  # after 429 or 503, over the whole call
        self.throttled_seconds = 0.0
        self.last_call = None  # (method, path) of the latest request, to name it when its answer had a bad shape
        base = urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc.lower())

    def url(self, path):
        return '%s/%s/%s' % (self.base_url, API_VERSION, path.lstrip('/'))

    def _path(self, url):
        return url[len(self.base_url):].split('?', 1)[0] if url.startswith(self.base_url) else url.split('?', 1)[0]

    def get(self, url, params=None):
        """The JSON body of one GET (URL absolute), with retries. Raises GraphError or NotFound."""
        return self.request('GET', url, params)

    def permission_for(self, path):
        """The permission a 403 on PATH means is missing."""
        return needed_permission(path)

    def request(self, method, url, params=None, json_body=None):
        """The JSON body of one request (URL absolute), with retries. Raises GraphError or NotFound.

        Only reads: GET here, and POST for the Exchange admin API's read-only Get-* cmdlets.
        """
        path = self._path(url)
        self.last_call = (method, path)
        headers = {'Authorization': 'Bearer %s' % self.token, 'Accept': 'application/json'}
        throttle = _throttle.Throttle(self.deadline, sleep=self.sleep, clock=self.clock)  # per request
        while True:
            self.calls += 1
            try:
                if method == 'GET':
                    response = self.session.get(url, params=params, headers=headers)
                else:
                    response = self.session.post(url, params=params, json=json_body, headers=headers)
            except Exception as exc:  # pylint: disable=broad-except
                error_class, detail = _auth.classify_exception(exc)
                raise GraphError(error_class, path, detail, method=method)
            status = response.status_code
            if status == 200:
                try:
                    body = response.json()
                except ValueError:
                    raise GraphError('protocol', path, 'the answer was not JSON', status=status, method=method)
                if not isinstance(body, dict):
                    raise GraphError('protocol', path, 'the answer was not a JSON object', status=status, method=method)
                return body
            code, message = _graph_error_body(response)
            if status in _throttle.STATUSES:
                header = response.headers.get('Retry-After')
                try:
                    self.throttled_seconds += throttle.wait(header)
                    self.retries += 1
                except _throttle.Exhausted as exc:
                    raise GraphError('throttled', path, 'HTTP %d%s, Retry-After: %s; %s' % (
                        status, ' ' + code if code else '', header if header is not None else '(none)', exc.detail),
                        status=status, code=code, method=method)
                continue
            if status == 404:
                raise NotFound(path)
            detail = 'HTTP %d %s: %s' % (status, code or '', message) if code else 'HTTP %d: %s' % (status, message)
            if status == 401:
                raise GraphError('unauthorized', path, detail, status=status, code=code, method=method)
            if status == 403:
                raise GraphError('forbidden', path, detail, status=status, code=code,
                                 permission=self.permission_for(path), method=method)
            raise GraphError('http_status', path, detail, status=status, code=code, method=method)

    def get_all(self, path, params=None, method='GET', json_body=None):
        """Every item of a collection, following @odata.nextLink (same origin only)."""
        items = []
        url = self.url(path)
        for _page in range(MAX_PAGES):
            body = self.request(method, url, params, json_body)
            value = body.get('value')
            if not isinstance(value, list):
                raise GraphError('protocol', self._path(url), 'the answer has no "value" list')
            items.extend(item for item in value if isinstance(item, dict))
            next_link = body.get('@odata.nextLink')
            if not next_link:
                return items
            if not isinstance(next_link, str):
                raise GraphError('protocol', self._path(url), '@odata.nextLink is not a URL')
            parts = urlsplit(next_link)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                raise GraphError('protocol', self._path(url), '@odata.nextLink leaves %s://%s (to %s://%s); not '
                                 'followed, so the token stays with Graph' % (self._origin + (parts.scheme,
                                                                                              parts.netloc)))
            url, params = next_link, None  # the link carries the query
        raise GraphError('protocol', self._path(url), 'more than %d pages' % MAX_PAGES)

    def get_object(self, path, params=None):
        return self.get(self.url(path), params)


# -- the tenant facts ----------------------------------------------------------------------------

def _odata_quote(value):
    return value.replace("'", "''")


# passwordCredential.hint: "Contains the first three characters of the password"
# (https://learn.microsoft.com/en-us/graph/api/resources/passwordcredential).
HINT_LENGTH = 3


def secret_hint(secret):
    """Graph's hint for a client secret: its first HINT_LENGTH characters (None for no secret)."""
    return secret[:HINT_LENGTH] if secret else None


def _credential(item, kind, ece_hint=None):
    """A client secret or certificate as read: ids, name and dates (expiry is the judge's to weigh).

    A secret's in_use: whether its hint is ECE_HINT (the hint of the secret ECE holds); None when none was given.
    Secrets that share their first characters are all in use, as far as Graph can tell.
    """
    facts = {'key_id': item.get('keyId'), 'display_name': item.get('displayName'),
             'start': item.get('startDateTime'), 'end': item.get('endDateTime')}
    if kind == 'secret':
        facts['hint'] = item.get('hint')
        facts['in_use'] = None if ece_hint is None else item.get('hint') == ece_hint
    else:
        facts.update(type=item.get('type'), usage=item.get('usage'),
                     custom_key_identifier=item.get('customKeyIdentifier'))
    return facts


class _Resources(object):
    """Resource service principals (by appId and by object id), read once each."""

    def __init__(self, graph):
        self.graph = graph
        self.by_app_id = {}
        self.by_id = {}

    def _remember(self, sp):
        if sp:
            self.by_app_id[(sp.get('appId') or '').lower()] = sp
            self.by_id[(sp.get('id') or '').lower()] = sp
        return sp

    def app(self, app_id):
        key = (app_id or '').lower()
        if key not in self.by_app_id:
            found = self.graph.get_all('servicePrincipals', {'$filter': "appId eq '%s'" % _odata_quote(app_id)})
            self.by_app_id[key] = self._remember(found[0] if found else None)
        return self.by_app_id[key]

    def object(self, object_id):
        key = (object_id or '').lower()
        if key not in self.by_id:
            try:
                self.by_id[key] = self._remember(self.graph.get_object('servicePrincipals/%s' % quote(object_id)))
            except NotFound:
                self.by_id[key] = None
        return self.by_id[key]


def _permission_name(sp, permission_id, kind):
    if not sp:
        return None
    table = sp.get('oauth2PermissionScopes' if kind == 'Scope' else 'appRoles') or []
    for entry in table:
        if isinstance(entry, dict) and entry.get('id') == permission_id:
            return entry.get('value')
    return None


def new_application(app_id):
    """The application result before anything is read: every key, none of the facts."""
    return {'app_id': app_id, 'found': None, 'id': None, 'display_name': None, 'sign_in_audience': None,
            'is_fallback_public_client': None, 'redirect_uris': {'web': [], 'spa': [], 'public_client': []},
            'required_permissions': [], 'secrets': [], 'certificates': [], 'service_principal': None}


def read_application(graph, app_id, ece_hint=None):
    """The app registration APP_ID as read, with its service principal, grants and role assignments.

    ECE_HINT: the hint (secret_hint) of the client secret ECE uses, to mark each secret's in_use.

    Raises GraphError (the caller reports it); an app that does not exist gives found: false.
    """
    facts = new_application(app_id)
    apps = graph.get_all('applications', {'$filter': "appId eq '%s'" % _odata_quote(app_id)})
    facts['found'] = bool(apps)
    if not apps:
        return facts
    app = apps[0]
    resources = _Resources(graph)
    required = []
    for entry in app.get('requiredResourceAccess') or []:
        resource_app_id = entry.get('resourceAppId')
        sp = resources.app(resource_app_id)
        for access in entry.get('resourceAccess') or []:
            required.append({
                'resource_app_id': resource_app_id,
                'resource': sp.get('displayName') if sp else None,
                'type': 'delegated' if access.get('type') == 'Scope' else 'application',
                'id': access.get('id'),
                'name': _permission_name(sp, access.get('id'), access.get('type')),
            })
    facts.update({
        'id': app.get('id'),
        'display_name': app.get('displayName'),
        'sign_in_audience': app.get('signInAudience'),
        'is_fallback_public_client': app.get('isFallbackPublicClient'),
        'redirect_uris': {
            'web': list((app.get('web') or {}).get('redirectUris') or []),
            'spa': list((app.get('spa') or {}).get('redirectUris') or []),
            'public_client': list((app.get('publicClient') or {}).get('redirectUris') or []),
        },
        'required_permissions': required,
        'secrets': [_credential(s, 'secret', ece_hint) for s in app.get('passwordCredentials') or []
                    if isinstance(s, dict)],
        'certificates': [_credential(c, 'certificate') for c in app.get('keyCredentials') or []
                         if isinstance(c, dict)],
    })
    facts['service_principal'] = read_service_principal(graph, resources, app_id)
    return facts


def read_service_principal(graph, resources, app_id):
    """The app's service principal in this tenant, its delegated grants (consent) and app role assignments."""
    sp = resources.app(app_id)
    if not sp:
        return {'found': False, 'id': None, 'display_name': None, 'account_enabled': None,
                'app_role_assignment_required': None, 'delegated_grants': [], 'app_role_assignments': []}
    sp_id = sp.get('id')
    grants = []
    for grant in graph.get_all('servicePrincipals/%s/oauth2PermissionGrants' % quote(sp_id)):
        resource = resources.object(grant.get('resourceId')) if grant.get('resourceId') else None
        grants.append({'consent_type': grant.get('consentType'), 'principal_id': grant.get('principalId'),
                       'resource_id': grant.get('resourceId'),
                       'resource': resource.get('displayName') if resource else None,
                       'scopes': (grant.get('scope') or '').split()})
    assignments = []
    for item in graph.get_all('servicePrincipals/%s/appRoleAssignments' % quote(sp_id)):
        resource = resources.object(item.get('resourceId')) if item.get('resourceId') else None
        assignments.append({'resource_id': item.get('resourceId'),
                            'resource': item.get('resourceDisplayName') or (resource or {}).get('displayName'),
                            'role_id': item.get('appRoleId'),
                            'role': _permission_name(resource, item.get('appRoleId'), 'Role')})
    return {
        'found': True,
        'id': sp_id,
        'display_name': sp.get('displayName'),
        'account_enabled': sp.get('accountEnabled'),
        'app_role_assignment_required': sp.get('appRoleAssignmentRequired'),
        'delegated_grants': grants,
        'app_role_assignments': assignments,
    }


def new_user(address):
    """The user result before anything is read: every key, none of the facts."""
    return {'address': address, 'name': address, 'exists': None, 'resolved_by': None, 'id': None,
            'user_principal_name': None, 'display_name': None, 'mail': None, 'proxy_addresses': [], 'enabled': None,
            'user_type': None, 'licences': None, 'licence_read': new_licence_read()}


def new_licence_read():
    return {'ok': None, 'source': None, 'error_class': None, 'message': None, 'status': None}


def smtp_addresses(proxy_addresses):
    """The SMTP addresses of a proxyAddresses list, lower-case, without the smtp:/SMTP: prefix (SMTP: marks the
    primary one; x500:, sip: and other types are left out)."""
    out = []
    for value in proxy_addresses or []:
        if isinstance(value, str) and value[:5].lower() == 'smtp:':
            address = value[5:].strip().lower()
            if address and address not in out:
                out.append(address)
    return out


def _first_by_filter(graph, expression):
    found = graph.get_all('users', {'$filter': expression, '$select': ','.join(USER_FIELDS)})
    return found[0] if found else None


def resolve_user(graph, name):
    """(user object, resolved_by) for NAME, or (None, None) when no user answers to it.

    GET /users/{key} takes only an object id or a userPrincipalName
    (https://learn.microsoft.com/en-us/graph/api/user-get): a mailbox address that is not the UPN (hybrid
    tenants, a changed primary address) answers 404 there. So a GUID is read by id; any other name is looked
    for by mail (primary SMTP address), then among the proxyAddresses (every SMTP address, "smtp:" prefix;
    Entra compares these values without regard to case, and eq in any() is a default query: no ConsistencyLevel
    header, https://learn.microsoft.com/en-us/graph/aad-advanced-queries), then read as a UPN.
    """
    fields = {'$select': ','.join(USER_FIELDS)}
    if GUID.match(name):
        try:
            return graph.get_object('users/%s' % quote(name), fields), 'id'
        except NotFound:
            return None, None
    if '@' in name:
        literal = _odata_quote(name)
        user = _first_by_filter(graph, "mail eq '%s'" % literal)
        if user:
            return user, 'mail'
        user = _first_by_filter(graph, "proxyAddresses/any(x:x eq 'smtp:%s')" % literal)
        if user:
            return user, 'proxyAddresses'
    try:
        return graph.get_object('users/%s' % quote(name, safe='@.'), fields), 'userPrincipalName'
    except NotFound:
        return None, None


def _plans_from_assigned(user):
    """The Exchange view of assignedPlans: one licence entry (no sku: assignedPlans do not say which product a
    plan came with) holding each plan by id, named through _licences, with its capabilityStatus and, when
    provisionedPlans say it for the plan's service without ambiguity, its provisioningStatus.

    assignedPlan (servicePlanId, service, capabilityStatus) and provisionedPlan (service, provisioningStatus)
    carry no common key but the service: https://learn.microsoft.com/en-us/graph/api/resources/assignedplan,
    https://learn.microsoft.com/en-us/graph/api/resources/provisionedplan.
    """
    statuses = {}
    for plan in user.get('provisionedPlans') or []:
        if isinstance(plan, dict):
            statuses.setdefault((plan.get('service') or '').lower(), set()).add(plan.get('provisioningStatus'))
    plans = []
    for plan in user.get('assignedPlans') or []:
        if not isinstance(plan, dict):
            continue
        service_statuses = statuses.get((plan.get('service') or '').lower()) or set()
        plans.append({'name': _licences.plan_name(plan.get('servicePlanId')), 'id': plan.get('servicePlanId'),
                      'status': list(service_statuses)[0] if len(service_statuses) == 1 else None,
                      'applies_to': None, 'service': plan.get('service'),
                      'capability_status': plan.get('capabilityStatus')})
    return [{'sku': None, 'sku_id': None, 'service_plans': plans}]


def read_licences(graph, user):
    """(licences, licence_read) for USER (the object read): licenseDetails, else assignedPlans.

    GET /users/{id}/licenseDetails is documented as "Application: Not supported"
    (https://learn.microsoft.com/en-us/graph/api/user-list-licensedetails); a tenant that refuses it gets its
    licences from the user's assignedPlans, which User.Read.All reads app-only. Any failed licenseDetails read
    falls back; licence_read says which source answered and what the refusal was.
    """
    read = new_licence_read()
    try:
        details = graph.get_all('users/%s/licenseDetails' % quote(user.get('id')))
    except (GraphError, NotFound) as exc:
        exc = as_graph_error(exc, graph)
        read.update(error_class=exc.error_class, status=exc.status, message=exc.message())
    else:
        licences = []
        for licence in details:
            plans = [{'name': p.get('servicePlanName'), 'id': p.get('servicePlanId'),
                      'status': p.get('provisioningStatus'), 'applies_to': p.get('appliesTo')}
                     for p in licence.get('servicePlans') or [] if isinstance(p, dict)]
            licences.append({'sku': licence.get('skuPartNumber'), 'sku_id': licence.get('skuId'),
                             'service_plans': plans})
        read.update(ok=True, source='licenseDetails')
        return licences, read
    if isinstance(user.get('assignedPlans'), list):
        read.update(ok=True, source='assignedPlans',
                    message='%s; the licences were read from the user\'s assignedPlans instead' % read['message'])
        return _plans_from_assigned(user), read
    read['ok'] = False
    return None, read


def read_user(graph, address):
    """One user or mailbox account as read: how it was found, exists, enabled, addresses, licences with every
    service plan and its status. A failed licence read is in licence_read; it leaves the rest as read."""
    facts = new_user(address)
    user, resolved_by = resolve_user(graph, address)
    if user is None:
        facts['exists'] = False
        return facts
    facts.update(exists=True, resolved_by=resolved_by, id=user.get('id'),
                 user_principal_name=user.get('userPrincipalName'), display_name=user.get('displayName'),
                 mail=user.get('mail'), proxy_addresses=smtp_addresses(user.get('proxyAddresses')),
                 enabled=user.get('accountEnabled'), user_type=user.get('userType'))
    facts['licences'], facts['licence_read'] = read_licences(graph, user)
    return facts


def read_tenant(graph, application_id=None, users=(), ece_hint=None):
    """tenant_info's facts: application (or None), users, errors. Never raises GraphError.

    ECE_HINT: the hint of the client secret ECE uses (secret_hint), never the secret.

    The application and each user carry ok, error_class and message, and graph_error (the failed call:
    call, status, code, permission) when their read failed; ERRORS lists every failed read with its class
    and message.
    """
    errors = []
    application = None
    if application_id:
        try:
            application = succeeded(read_application(graph, application_id, ece_hint))
        except (GraphError, NotFound) + SHAPE_ERRORS as exc:
            exc = as_graph_error(exc, graph)
            application = failed(new_application(application_id), exc)
            errors.append(exc.facts())
    out_users = []
    for address in users:
        try:
            user = succeeded(read_user(graph, address))
            out_users.append(user)
            if user['licence_read']['ok'] is False:
                # Not the user's failure (exists and enabled stand), but a read that failed all the same.
                errors.append({'call': 'GET /%s/users/%s/licenseDetails' % (API_VERSION, user['id']),
                               'status': user['licence_read']['status'], 'code': None, 'permission': None,
                               'error_class': user['licence_read']['error_class'],
                               'message': user['licence_read']['message']})
        except (GraphError, NotFound) + SHAPE_ERRORS as exc:
            exc = as_graph_error(exc, graph)
            out_users.append(failed(new_user(address), exc))
            errors.append(exc.facts())
    return {'application': application, 'users': out_users, 'errors': errors}
