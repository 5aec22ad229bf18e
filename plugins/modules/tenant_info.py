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
  - Reads, with an app-only Microsoft Graph token, the tenant objects of the Cisco TAC checklist for ECE OAuth2 mail
    that live in Entra ID, so that nobody has to click through portals to find them.
  - The app registration O(application_id) - redirect URIs per platform, the required permissions resolved from
    ids to names through the resource service principals, the sign-in audience, and the client secrets' and
    certificates' ids, hints and dates.
  - Its service principal - the delegated permission grants (consent) with their scopes, and the app role
    assignments.
  - Each user or mailbox account in O(users) - whether it exists, how it was found (a mailbox address that is not
    the user principal name is looked up by C(mail), then C(proxyAddresses), then as a UPN), whether the account is
    enabled, its SMTP addresses, and its licences with every service plan and its provisioning status.
  - Licences come from C(licenseDetails); when a tenant refuses that read (Microsoft documents it as not supported
    with application permissions), they come from the user's C(assignedPlans) and RV(users[].licence_read) says so.
    A refused licence read leaves RV(users[].exists) and RV(users[].enabled) as read.
  - Facts, not verdicts - the objects are returned as read. Whether a redirect URI names ECE's External URL, whether
    consent covers each permission, whether a licence gives a mailbox and whether a secret is expired or near
    expiry are judged on the controller (M(ece_o365.preflight.preflight_report)).
  - The token comes from the shared authentication options (client credentials for the cloud's Graph
    C(/.default)), or is given in O(access_token). The calling app needs C(Application.Read.All) and
    C(User.Read.All) (or C(Directory.Read.All)) application permissions with admin consent.
  - Follows C(@odata.nextLink) paging, retries C(429) and C(503) answers honouring C(Retry-After) within
    O(deadline), and reports C(401) and C(403) with the permission the call lacked. A failed read is a finding
    (RV(errors), and C(ok=false) with its RV(users[].error_class) on the object it was for), not a task failure,
    unless O(fail_on_error=true).
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
  users:
    description:
      - The addresses (or user principal names, or object ids) of the mailbox accounts to read - each ECE mailbox,
        and the shared account that holds FullAccess, when that model is used. Each result carries the text given
        as RV(users[].address), the key the judge joins on.
    type: list
    elements: str
    default: []
  application_client_secret:
    description:
      - The client secret ECE uses for O(application_id) (its value, as ECE holds it), to tell which of the app's
        secrets ECE holds - C(in_use) in RV(application.secrets).
      - Graph shows only each secret's first three characters (C(hint)); the module computes the hint of this
        secret and compares. The value is never returned or logged.
    type: str
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
  - module: ece_o365.preflight.preflight_report
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
    users:
      - support@contoso.com
      - sales@contoso.com
  register: tenant
  delegate_to: localhost
  run_once: true

- name: Show the redirect URIs and the scopes admin-consented, as read
  ansible.builtin.debug:
    msg:
      - "{{ tenant.application.redirect_uris.web }}"
      - "{{ tenant.application.service_principal.delegated_grants | selectattr('consent_type', 'equalto', 'AllPrincipals')
            | map(attribute='scopes') | flatten }}"

- name: The service plans of each mailbox account's licences
  ansible.builtin.debug:
    msg: "{{ item.address }}: {{ item.licences | map(attribute='service_plans') | flatten | map(attribute='name') | list }}"
  loop: "{{ tenant.users }}"
  loop_control:
    label: "{{ item.address }}"

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
ok:
  description: Whether every read succeeded (a token was at hand and no Graph call failed).
  returned: always
  type: bool
error_class:
  description:
    - V(null) when every read succeeded, else the class of the first failure (the token's, when none was acquired) -
      V(unauthorized), V(forbidden), V(throttled), V(http_status), V(protocol), V(deadline), V(aadsts), or a
      connection or TLS class.
  returned: always
  type: str
message:
  description: What was read, or the first failure with its cause and fix, in one line.
  returned: always
  type: str
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
    ok:
      description: Whether a token was at hand.
      type: bool
    error_class:
      description: The class of the failure when none could be acquired (see M(ece_o365.preflight.token_acquire)).
      type: str
    message:
      description: What happened to the token.
      type: str
    aadsts:
      description: The AADSTS facts when Entra ID refused (see M(ece_o365.preflight.token_acquire)).
      type: dict
application:
  description:
    - The app registration O(application_id) as read; V(null) when O(application_id) is not given.
    - Every key is present; the facts are V(null) or empty when the app was not found or its read failed.
  returned: always
  type: dict
  contains:
    app_id:
      description: The application (client) id asked for.
      type: str
    found:
      description: Whether the app registration exists in the tenant (V(null) when the read failed).
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
      description: Redirect URIs per platform (C(web), C(spa), C(public_client)), as registered.
      type: dict
      sample: {"web": ["https://ece.contoso.com/system/oauth2/callback"], "spa": [], "public_client": []}
    required_permissions:
      description:
        - The API permissions the app requests (C(resource_app_id), C(resource), C(type) V(delegated) or
          V(application), C(id), C(name)), resolved to names through the resource service principals.
      type: list
      elements: dict
      sample: [{"resource_app_id": "00000003-0000-0000-c000-000000000000", "resource": "Microsoft Graph",
                "type": "delegated", "id": "652390e4-393a-48de-9484-05f9b1212954", "name": "IMAP.AccessAsUser.All"}]
    secrets:
      description:
        - The client secrets as read (C(key_id), C(display_name), C(hint) - the secret's first three characters,
          C(start), C(end), ISO 8601).
        - C(in_use) - V(true) for the secret(s) whose hint is the first three characters of
          O(application_client_secret), V(false) for the others, V(null) for all when it was not given.
      type: list
      elements: dict
      sample: [{"key_id": "6c0b9f1e-0000-4000-8000-000000000001", "display_name": "ece", "hint": "Q~x",
                "start": "2025-06-01T00:00:00Z", "end": "2026-06-01T00:00:00Z", "in_use": true}]
    certificates:
      description:
        - The certificate credentials as read (C(key_id), C(display_name), C(type), C(usage),
          C(custom_key_identifier), C(start), C(end)).
      type: list
      elements: dict
    service_principal:
      description:
        - The app's service principal in the tenant and what was granted to it; V(null) when the app was not read.
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
          description:
            - The delegated permission grants (C(consent_type), C(principal_id), C(resource_id), C(resource),
              C(scopes)); C(consent_type) V(AllPrincipals) is admin consent, V(Principal) a user's own consent
              (C(principal_id) is that user's object id).
          type: list
          elements: dict
        app_role_assignments:
          description: Application permissions granted (C(resource), C(role), C(role_id), C(resource_id)).
          type: list
          elements: dict
    ok:
      description: Whether the app registration was read (found or not).
      type: bool
    error_class:
      description: V(null), or the class of the failed read (as in RV(errors)).
      type: str
    message:
      description: V(null), or the failed read's cause and fix.
      type: str
    graph_error:
      description: V(null), or the failed Graph call - C(call), C(status), C(code) (Graph's) and C(permission).
      type: dict
users:
  description: One entry per O(users) item, in the order given. Every key is present; facts are V(null) when unread.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The address (or name) as given - the key the judge joins on.
      type: str
      sample: support@contoso.com
    name:
      description: The same text as RV(users[].address).
      type: str
    exists:
      description: Whether the user exists (V(null) when the read failed).
      type: bool
    resolved_by:
      description:
        - How the name was found - V(id) (an object id), V(mail) (the primary SMTP address), V(proxyAddresses) (one
          of the user's SMTP addresses), V(userPrincipalName); V(null) when not found or not read.
      type: str
      sample: proxyAddresses
    id:
      description: The user's object id (the key to compare identities by).
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
    proxy_addresses:
      description: The user's SMTP addresses (C(proxyAddresses)), lower-case, without the C(smtp:) prefix.
      type: list
      elements: str
      sample: ["support@contoso.com", "helpdesk@contoso.com"]
    enabled:
      description: Whether the account is enabled (C(accountEnabled)).
      type: bool
    user_type:
      description: C(Member) or C(Guest).
      type: str
    licences:
      description:
        - Licences (C(sku), C(sku_id)) with every service plan as read (C(name), C(id), C(status) the provisioning
          status verbatim - C(Success), C(PendingProvisioning), C(PendingInput), C(PendingActivation), C(Disabled),
          C(Error) - and C(applies_to)); V(null) when they could not be read.
        - Read from C(assignedPlans) (C(source) of RV(users[].licence_read)), there is one entry with C(sku)
          V(null); each plan is named from its id for the Exchange plans, and carries C(service), C(capability_status)
          (C(Enabled), C(Warning), C(Suspended), C(Deleted), C(LockedOut)) and the C(status) of its service's
          C(provisionedPlans) (V(null) when they disagree).
      type: list
      elements: dict
      sample: [{"sku": "ENTERPRISEPACK", "sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900",
                "service_plans": [{"name": "EXCHANGE_S_ENTERPRISE", "id": "efb87545-963c-4e0d-99df-69c6916d9eb0",
                                   "status": "Success", "applies_to": "User"}]}]
    licence_read:
      description:
        - How the licences were read - C(ok), C(source) (V(licenseDetails), V(assignedPlans) or V(null)), and for a
          refused C(licenseDetails) read its C(error_class), C(message) and HTTP C(status).
      type: dict
      sample: {"ok": true, "source": "assignedPlans", "error_class": "forbidden", "status": 403,
               "message": "GET /v1.0/users/.../licenseDetails: ...; the licences were read from the user's assignedPlans instead"}
    ok:
      description: Whether the user was read (existing or not).
      type: bool
    error_class:
      description: V(null), or the class of the failed read (as in RV(errors)).
      type: str
    message:
      description: V(null), or the failed read's cause and fix.
      type: str
    graph_error:
      description: V(null), or the failed Graph call - C(call), C(status), C(code) and C(permission).
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
    error_class:
      description: The class - V(unauthorized), V(forbidden), V(throttled), V(http_status), V(protocol), V(deadline), or a connection or TLS class.
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

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils._module import PreflightModule
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _graph


def argument_spec():
    spec = _auth.argument_spec()
    spec.update(
        application_id=dict(type='str'),
        application_client_secret=dict(type='str', no_log=True),
        users=dict(type='list', elements='str', default=[]),
        access_token=dict(type='str', no_log=True),
        graph_url=dict(type='str'),
        deadline=dict(type='float', default=60),
        fail_on_error=dict(type='bool', default=False),
    )
    return spec


def main():
    module = PreflightModule(
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
    result = {'graph_url': graph_url, 'ok': False, 'error_class': None, 'message': None, 'application': None,
              'users': [], 'errors': [], 'graph': {'calls': 0, 'retries': 0, 'throttled_seconds': 0}}
    token, result['token'] = _auth.app_only_token(module, params, environ, cloud['graph'], deadline)
    if not token:
        result.update(error_class=result['token']['error_class'],
                      message='no Graph token: %s' % result['token']['message'],
                      elapsed_ms=int((time.monotonic() - started) * 1000))
        _finish(module, params, result)
        return

    session = _auth.make_session(params, environ, deadline)
    graph = _graph.Graph(session, graph_url, token, deadline)
    ece_hint = _graph.secret_hint(params['application_client_secret'])  # the value goes no further
    result.update(_graph.read_tenant(graph, params['application_id'], params['users'], ece_hint=ece_hint))
    result['graph'] = {'calls': graph.calls, 'retries': graph.retries,
                       'throttled_seconds': round(graph.throttled_seconds, 1)}
    if result['errors']:
        result['error_class'] = result['errors'][0]['error_class']
        # The Graph root in the text: the error names only the path, and a wrong graph_url is a likely cause.
        result['message'] = '%d of the reads from %s failed; first: %s' % (
            len(result['errors']), graph_url, result['errors'][0]['message'])
    else:
        result['ok'] = True
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
    if result['error_class'] and params['fail_on_error']:
        module.fail_json(msg=result['message'], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
