#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: tenant_info
short_description: Read ECE's Entra app registration, its consent and the mailbox users from Microsoft Graph
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Reads, with an app-only Microsoft Graph token, the tenant facts of the Cisco TAC checklist for ECE OAuth2 mail
    that live in Entra ID, so that nobody has to click through portals to find them.
  - The app registration O(application_id) - redirect URIs per platform (and whether ECE's O(external_url) host is
    among them), the required permissions resolved from ids to names through the resource service principals,
    the sign-in audience, and the client secrets' and certificates' expiry dates with the days left.
  - Its service principal - the delegated permission grants (consent) with their scopes, the permissions that
    lack admin consent, and the app role assignments.
  - Each user or mailbox in O(users) - whether it exists, whether the account is enabled, its licences with their
    service plans and provisioning status, and whether an Exchange Online plan (C(EXCHANGE_S_*)) is provisioned.
  - The token comes from the shared authentication options (client credentials for the cloud's Graph
    C(/.default)), or is given in O(access_token). The calling app needs C(Application.Read.All) and
    C(User.Read.All) (or C(Directory.Read.All)) application permissions with admin consent.
  - Follows C(@odata.nextLink) paging, retries C(429) and C(503) answers honouring C(Retry-After) within
    O(deadline), and reports C(401) and C(403) with the permission the call lacked. A failed read is a finding
    (RV(errors)), not a task failure, unless O(fail_on_error=true).
  - Only reads; every Graph request is a C(GET).
extends_documentation_fragment:
  - ece_o365.preflight.auth
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
options:
  application_id:
    description:
      - The Application (client) ID of the app registration to read - ECE's, the one whose redirect URI,
        permissions, consent and secret the TAC checklist looks at. Not the O(client_id) that reads it.
    type: str
  external_url:
    description:
      - ECE's External URL of application (for example V(https://ece.contoso.com)); the result then says whether
        any redirect URI of the app registration names its host.
    type: str
  users:
    description:
      - User principal names, addresses or object ids of the mailbox accounts to read (each ECE mailbox, and the
        shared account that holds FullAccess, when that model is used).
    type: list
    elements: str
    default: []
  access_token:
    description:
      - An app-only Microsoft Graph access token to use instead of acquiring one. Never shown in results or logs.
    type: str
  graph_url:
    description:
      - The Microsoft Graph root to call. Default - the O(cloud)'s (V(https://graph.microsoft.com) for V(public)).
      - The token is always asked for the O(cloud)'s Graph resource, whatever this says.
    type: str
  deadline:
    description:
      - Seconds the whole call may take, token included. Throttled calls are retried only while their
        C(Retry-After) ends before this.
    type: float
    default: 60
  fail_on_error:
    description: Fail the task when a read failed (the facts read are returned all the same).
    type: bool
    default: false
notes:
  - Secrets' values are never readable through Graph; only their hints, ids and dates are reported.
seealso:
  - module: ece_o365.preflight.token_acquire
  - name: Microsoft Graph permissions reference
    description: Application.Read.All, User.Read.All and Directory.Read.All.
    link: https://learn.microsoft.com/en-us/graph/permissions-reference
  - name: Microsoft Graph throttling guidance
    description: How Graph answers 429 with Retry-After.
    link: https://learn.microsoft.com/en-us/graph/throttling
"""

EXAMPLES = r"""
- name: Read ECE's app registration and its mailboxes (TAC checklist items 2, 3 and 7)
  ece_o365.preflight.tenant_info:
    tenant: "{{ tenant_id }}"
    client_id: "{{ preflight_client_id }}"
    client_secret: "{{ preflight_client_secret }}"
    application_id: "{{ ece_app_client_id }}"
    external_url: https://ece.contoso.com
    users:
      - support@contoso.com
      - sales@contoso.com
  register: tenant
  delegate_to: localhost
  run_once: true

- name: The redirect URI names ECE's External URL host, consent is granted, the secret lasts a month more
  ansible.builtin.assert:
    that:
      - tenant.application.external_url.host_registered
      - tenant.application.service_principal.delegated_not_admin_consented == []
      - tenant.application.latest_secret_days_left > 30

- name: Mailboxes without a provisioned Exchange Online plan, or disabled
  ansible.builtin.debug:
    msg: "{{ tenant.users | rejectattr('exchange_provisioned') | map(attribute='name') | list }}"

- name: With a Graph token acquired earlier (return_token on a no_log task)
  ece_o365.preflight.tenant_info:
    access_token: "{{ graph.access_token }}"
    users: [support@contoso.com]
  no_log: true
"""

RETURN = r"""
graph_url:
  description: The Graph root called.
  returned: always
  type: str
  sample: https://graph.microsoft.com
token:
  description: The Graph token used (never the token itself).
  returned: always
  type: dict
  contains:
    source:
      description: V(acquired) (through the authentication options) or V(given) (O(access_token)).
      type: str
    acquired:
      description: Whether a usable token was at hand.
      type: bool
    app_id:
      description: The C(appid) claim - the app the token was issued to.
      type: str
    tenant_id:
      description: The C(tid) claim.
      type: str
    audience:
      description: The C(aud) claim (Graph's resource, e.g. C(https://graph.microsoft.com)).
      type: str
    roles:
      description: The application permissions the token carries (C(roles) claim).
      type: list
      elements: str
      sample: ["Application.Read.All", "User.Read.All"]
    expires_at:
      description: When the token expires, UTC ISO 8601.
      type: str
    error:
      description: The token's error class when none could be acquired (see M(ece_o365.preflight.token_acquire)).
      type: str
    message:
      description: What happened to the token.
      type: str
    aadsts:
      description: The AADSTS facts when Entra ID refused (see M(ece_o365.preflight.token_acquire)).
      type: dict
application:
  description: The app registration O(application_id); V(null) when O(application_id) is not given.
  returned: always
  type: dict
  contains:
    app_id:
      description: The application (client) id asked for.
      type: str
    found:
      description: Whether the app registration exists in the tenant (V(null) when the read failed, see RV(application.error)).
      type: bool
    id:
      description: The application object id.
      type: str
    display_name:
      description: The app's display name.
      type: str
    sign_in_audience:
      description: Who may sign in (C(AzureADMyOrg) is single-tenant).
      type: str
    is_fallback_public_client:
      description: Whether public client flows are allowed (no secret needed).
      type: bool
    redirect_uris:
      description: Redirect URIs per platform (C(web), C(spa), C(public_client)).
      type: dict
      sample: {"web": ["https://ece.contoso.com/system/oauth2/callback"], "spa": [], "public_client": []}
    redirect_uri_hosts:
      description: The host names of every redirect URI.
      type: list
      elements: str
    external_url:
      description: With O(external_url), whether its host is a redirect URI host (TAC checklist item 2).
      type: dict
      contains:
        url:
          description: O(external_url).
          type: str
        host:
          description: Its host name.
          type: str
        host_registered:
          description: Whether any redirect URI names that host.
          type: bool
        matching_redirect_uris:
          description: The redirect URIs that name that host.
          type: list
          elements: str
    required_permissions:
      description: The API permissions the app requests, resolved to names through the resource service principals.
      type: list
      elements: dict
      sample: [{"resource_app_id": "00000003-0000-0000-c000-000000000000", "resource": "Microsoft Graph",
                "type": "delegated", "id": "652390e4-393a-48de-9484-05f9b1212954", "name": "IMAP.AccessAsUser.All"}]
    secrets:
      description: The client secrets (C(key_id), C(display_name), C(hint), C(start), C(end), C(days_left), C(expired)).
      type: list
      elements: dict
    certificates:
      description:
        - The certificate credentials (C(key_id), C(display_name), C(type), C(usage), C(custom_key_identifier),
          C(start), C(end), C(days_left), C(expired)).
      type: list
      elements: dict
    secrets_valid:
      description: How many client secrets have not expired.
      type: int
    latest_secret_days_left:
      description: Days left of the client secret that expires last (negative when all expired), V(null) without secrets.
      type: int
    service_principal:
      description: The app's service principal in the tenant and what was granted to it.
      type: dict
      contains:
        found:
          description: Whether the service principal exists (it appears once the app was consented or used in the tenant).
          type: bool
        id:
          description: Its object id.
          type: str
        display_name:
          description: Its display name.
          type: str
        account_enabled:
          description: Whether sign-in is enabled for it.
          type: bool
        app_role_assignment_required:
          description: Whether users must be assigned to the app.
          type: bool
        delegated_grants:
          description: The delegated permission grants (C(consent_type) V(AllPrincipals) is admin consent), with their scopes.
          type: list
          elements: dict
        admin_consented_scopes:
          description: Scopes admin-consented for all users.
          type: list
          elements: str
        delegated_not_admin_consented:
          description: Delegated permissions the app requests that have no admin consent (AADSTS65001 follows).
          type: list
          elements: str
        app_role_assignments:
          description: Application permissions granted (C(resource), C(role), C(role_id), C(resource_id)).
          type: list
          elements: dict
        application_permissions_not_granted:
          description: Application permissions the app requests that are not granted.
          type: list
          elements: str
    error:
      description: When reading the app failed, the error (as in RV(errors)).
      type: dict
users:
  description: One entry per O(users) item, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The name as given.
      type: str
    exists:
      description: Whether the user exists (V(null) when the read failed).
      type: bool
    id:
      description: The user's object id.
      type: str
    user_principal_name:
      description: The user principal name.
      type: str
    display_name:
      description: The display name.
      type: str
    mail:
      description: The primary SMTP address, when the user has a mailbox.
      type: str
    enabled:
      description: Whether the account is enabled (C(accountEnabled)).
      type: bool
    user_type:
      description: C(Member) or C(Guest).
      type: str
    licences:
      description: Licences with every service plan (C(name), C(id), C(status), C(applies_to)) and the Exchange ones.
      type: list
      elements: dict
      sample: [{"sku": "ENTERPRISEPACK", "sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900",
                "service_plans": [{"name": "EXCHANGE_S_ENTERPRISE", "status": "Success"}],
                "exchange_plans": [{"name": "EXCHANGE_S_ENTERPRISE", "status": "Success"}]}]
    exchange_plans:
      description: Every Exchange Online service plan (C(EXCHANGE_S_*)) of every licence, with its status and licence.
      type: list
      elements: dict
    exchange_provisioned:
      description: Whether an Exchange Online plan is provisioned (status C(Success)); a shared mailbox needs none.
      type: bool
    error:
      description: When reading this user failed, the error (as in RV(errors)).
      type: dict
errors:
  description: Every failed read.
  returned: always
  type: list
  elements: dict
  contains:
    call:
      description: The request, C(GET /v1.0/...).
      type: str
    error:
      description: The error class - V(unauthorized), V(forbidden), V(throttled), V(http_status), V(protocol), V(deadline), or a connection or TLS class.
      type: str
    status:
      description: The HTTP status.
      type: int
    code:
      description: Graph's error code (e.g. C(Authorization_RequestDenied)).
      type: str
    permission:
      description: For V(forbidden), the application permission the call needs.
      type: str
      sample: User.Read.All (or Directory.Read.All)
    message:
      description: The call, the cause, Graph's message and the fix.
      type: str
error:
  description: V(null) when every read succeeded, else the first error class (the token's, when none was acquired).
  returned: always
  type: str
message:
  description: What was read, or the first error, in one line.
  returned: always
  type: str
graph:
  description: Graph calls made, retries after 429 or 503, and seconds spent waiting for Retry-After.
  returned: always
  type: dict
  sample: {"calls": 9, "retries": 0, "throttled_seconds": 0}
elapsed_ms:
  description: Milliseconds the whole call took.
  returned: always
  type: int
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _graph


def argument_spec():
    spec = _auth.argument_spec()
    spec.update(
        application_id=dict(type='str'),
        external_url=dict(type='str'),
        users=dict(type='list', elements='str', default=[]),
        access_token=dict(type='str', no_log=True),
        graph_url=dict(type='str'),
        deadline=dict(type='float', default=60),
        fail_on_error=dict(type='bool', default=False),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=_auth.APP_ONLY_MUTUALLY_EXCLUSIVE,
        required_by=_auth.REQUIRED_BY,
        supports_check_mode=True,
    )
    params = module.params
    for library, error in _auth.missing_libraries():
        module.fail_json(msg=missing_required_lib(library), exception=error)
    problem = _auth.app_only_problem(params, 'Graph', 'graph_url')
    if not problem and not params['application_id'] and not params['users']:
        problem = 'nothing to read: give application_id, users, or both'
    if problem:
        module.fail_json(msg=problem)

    started = time.monotonic()
    deadline = started + params['deadline']
    cloud = _auth.CLOUDS[params['cloud']]
    graph_url = (params['graph_url'] or cloud['graph']).rstrip('/')
    environ = dict(os.environ)
    result = {'graph_url': graph_url, 'application': None, 'users': [], 'errors': [], 'error': None,
              'graph': {'calls': 0, 'retries': 0, 'throttled_seconds': 0}}
    token, result['token'] = _auth.app_only_token(module, params, environ, cloud['graph'], deadline)
    if not token:
        result.update(error=result['token']['error'], message='no Graph token: %s' % result['token']['message'],
                      elapsed_ms=int((time.monotonic() - started) * 1000))
        _finish(module, params, result)
        return

    session = _auth.make_session(params, environ, deadline)
    graph = _graph.Graph(session, graph_url, token, deadline)
    facts = _graph.read_tenant(graph, params['application_id'], params['users'], params['external_url'])
    result.update(facts)
    result['graph'] = {'calls': graph.calls, 'retries': graph.retries,
                       'throttled_seconds': round(graph.throttled_seconds, 1)}
    if result['errors']:
        result['error'] = result['errors'][0]['error']
        # The Graph root in the text: the error names only the path, and a wrong graph_url is a likely cause.
        result['message'] = '%d of the reads from %s failed; first: %s' % (
            len(result['errors']), graph_url, result['errors'][0]['message'])
    else:
        result['message'] = _summary(result)
    result['elapsed_ms'] = int((time.monotonic() - started) * 1000)
    _finish(module, params, result)


def _summary(result):
    parts = []
    app = result['application']
    if app is not None:
        parts.append('app registration %s %s' % (app['app_id'], 'read' if app['found'] else 'not found'))
    if result['users']:
        parts.append('%d of %d users exist' % (sum(1 for u in result['users'] if u['exists']), len(result['users'])))
    return '; '.join(parts) + ' (%d Graph calls)' % result['graph']['calls']


def _finish(module, params, result):
    if result['error'] and params['fail_on_error']:
        module.fail_json(msg=result['message'], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
