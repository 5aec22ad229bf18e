#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: signin_activity
short_description: Read ECE's own sign-ins from Entra's sign-in logs and the mailbox accounts' sign-in activity
version_added: 0.2.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Reads, with the preflight's own app-only Microsoft Graph token, what Microsoft Entra ID recorded of the tokens
    ECE obtained for O(application_id) - no ECE secret or refresh token is needed.
  - The sign-in log of the last O(days) for ECE's app, both kinds - C(GET /beta/auditLogs/signIns) filtered by
    C(appId), C(createdDateTime) and C(signInEventTypes/any(t:t eq 'nonInteractiveUser')) (ECE's refresh-token
    redemptions, which only the beta log returns, and only with that filter), and the same with
    C(interactiveUser).
  - Each account in O(users) - found by id, mail, proxy address or user principal name as
    M(ece_o365.preflight.tenant_info) finds it - and its C(signInActivity) (last interactive, non-interactive and
    successful sign-in of any app, kept as long as the user exists).
  - Per account - ECE's last successful sign-in (time, address, interactive or not), ECE's failed sign-ins in the
    window with their AADSTS code and Microsoft's failure reason and a count per code, and the addresses ECE's
    refreshes were recorded from. Across the log - the users ECE's tokens were issued to that are not among
    O(users) (a token issued through Kerberos single sign-on to the workstation user).
  - Facts, not verdicts - whether a user is the wrong owner, a code is a fault, a token is too idle or an address
    is not ECE's are judged on the controller (M(ece_o365.preflight.preflight_report)).
  - The calling app needs the application permissions C(AuditLog.Read.All) and C(Directory.Read.All) (the sign-in
    log) and C(User.Read.All) (the accounts' C(signInActivity)), with admin consent, and the tenant a Microsoft
    Entra ID P1 or P2 licence. A refused read is an observation (RV(read)), not a task failure - C(not_licensed)
    when Graph answers C(Authentication_RequestFromNonPremiumTenantOrB2CTenant), C(forbidden) with the permission
    otherwise - unless O(fail_on_error=true).
  - Sign-in logs are kept 30 days and appear with a delay of minutes to hours; limits and sources in the
    collection's C(docs/signin-logs.md).
  - Only reads; every Graph request is a C(GET).
extends_documentation_fragment:
  - ece_o365.preflight.auth
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
options:
  application_id:
    description:
      - The Application (client) ID of ECE's app registration, whose sign-ins are read. Not the O(client_id) that
        reads them.
    type: str
    required: true
  users:
    description:
      - The accounts whose tokens ECE holds (each mailbox's account, or the shared account with FullAccess). Each
        result carries the text given as RV(accounts[].address), the key the judge joins on.
    type: list
    elements: str
    default: []
  days:
    description:
      - How many days back to read the sign-in log (Microsoft keeps 30 with Entra ID P1/P2).
    type: int
    default: 30
  access_token:
    description:
      - An app-only Microsoft Graph access token to use instead of acquiring one. Never shown in results or logs.
    type: str
  graph_url:
    description:
      - The Microsoft Graph root to call. Default - the O(cloud)'s (V(https://graph.microsoft.com) for V(public)).
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
  - Microsoft notes that a confidential client's non-interactive sign-in is recorded with the address of the
    original token issuance, not always the refresh's source; RV(accounts[].refresh_addresses) are as recorded.
seealso:
  - module: ece_o365.preflight.tenant_info
  - module: ece_o365.preflight.preflight_report
  - name: signIn resource type (beta)
    description: Non-interactive sign-ins need the signInEventTypes filter.
    link: https://learn.microsoft.com/en-us/graph/api/resources/signin?view=graph-rest-beta
  - name: signInActivity resource type
    description: A user's last interactive, non-interactive and successful sign-in.
    link: https://learn.microsoft.com/en-us/graph/api/resources/signinactivity
"""

EXAMPLES = r"""
- name: What Entra recorded of ECE's tokens (no ECE secret needed)
  ece_o365.preflight.signin_activity:
    tenant: "{{ tenant_id }}"
    client_id: "{{ preflight_client_id }}"
    client_secret: "{{ preflight_client_secret }}"
    application_id: "{{ ece_app_client_id }}"
    users:
      - support@contoso.com
      - ece.service@contoso.com
  register: signins
  delegate_to: localhost
  run_once: true

- name: ECE's last successful refresh per account
  ansible.builtin.debug:
    msg: "{{ item.address }}: {{ item.last_success }}"
  loop: "{{ signins.accounts }}"
  loop_control:
    label: "{{ item.address }}"
"""

RETURN = r"""
graph_url:
  description: The Graph root called.
  returned: always
  type: str
  sample: https://graph.microsoft.com
ok:
  description: Whether every read succeeded.
  returned: always
  type: bool
error_class:
  description: V(null) when every read succeeded, else the class of the first failure (as in M(ece_o365.preflight.tenant_info)).
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
application_id:
  description: ECE's application id, as given.
  returned: always
  type: str
days:
  description: The look-back in days, as given.
  returned: always
  type: int
window_start:
  description: The start of the window read, UTC ISO 8601.
  returned: always
  type: str
read_at:
  description: When the log was read, UTC ISO 8601 (the judge counts idle days from it).
  returned: always
  type: str
read:
  description:
    - How each source was read - C(sign_ins) (the log) and C(sign_in_activity) (the accounts; the first refusal).
    - Each has C(outcome) (V(ok), V(forbidden), V(not_licensed), V(failed), or V(null) when not read), C(status),
      C(code) (Graph's, e.g. C(Authentication_RequestFromNonPremiumTenantOrB2CTenant)), C(error_class),
      C(permission) and C(message).
  returned: always
  type: dict
  sample: {"sign_ins": {"outcome": "not_licensed", "status": 403,
           "code": "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "error_class": "forbidden",
           "permission": "AuditLog.Read.All and Directory.Read.All", "message": "..."},
           "sign_in_activity": {"outcome": "ok", "status": null, "code": null, "error_class": null,
           "permission": null, "message": null}}
sign_ins_read:
  description: How many of ECE's sign-in records the window held.
  returned: always
  type: int
accounts:
  description: One entry per O(users) item, in the order given. Every key is present.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The text as given - the key the judge joins on.
      type: str
    id:
      description: The user's object id (V(null) when not found or not read).
      type: str
    user_principal_name:
      description: The user principal name, lower-case.
      type: str
    exists:
      description: Whether the user exists (V(null) when the read failed).
      type: bool
    sign_ins:
      description: ECE's sign-ins recorded for this account in the window.
      type: int
    last_success:
      description: ECE's newest successful sign-in for the account in the window (C(time), C(ip_address), C(interactive)), or V(null).
      type: dict
    failures:
      description:
        - ECE's failed sign-ins for the account, newest first (at most 20) - C(time), C(error_code) (the AADSTS
          number), C(failure_reason), C(ip_address), C(interactive).
      type: list
      elements: dict
    failure_counts:
      description: The failed sign-ins per code - C(error_code), C(failure_reason), C(count), C(last).
      type: list
      elements: dict
    refresh_addresses:
      description:
        - The addresses ECE's non-interactive sign-ins for the account were recorded from - C(ip_address), C(count),
          C(ok) (how many succeeded), C(last).
      type: list
      elements: dict
    sign_in_activity:
      description:
        - The user's C(signInActivity) as read - C(last_sign_in), C(last_non_interactive_sign_in),
          C(last_successful_sign_in) (any app); V(null) when not read.
      type: dict
    read:
      description: How the account and its signInActivity were read (as in RV(read)).
      type: dict
other_users:
  description:
    - The users ECE's sign-ins in the window were issued to that are not among O(users) - C(user_id),
      C(user_principal_name), C(sign_ins), C(successes), C(last), C(ip_addresses).
  returned: always
  type: list
  elements: dict
  sample: [{"user_id": "11111111-aaaa-4bbb-8ccc-000000000004", "user_principal_name": "jdoe@contoso.com",
            "sign_ins": 14, "successes": 14, "last": "2026-12-05T08:00:00Z", "ip_addresses": ["10.231.8.11"]}]
errors:
  description: Every failed read - C(call), C(error_class), C(status), C(code), C(permission), C(message).
  returned: always
  type: list
  elements: dict
graph:
  description: Graph calls made, retries after 429 or 503, and seconds spent waiting for Retry-After.
  returned: always
  type: dict
elapsed_ms:
  description: Milliseconds the whole call took.
  returned: always
  type: int
"""

import os
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils._module import PreflightModule
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _signins


def argument_spec():
    spec = _auth.argument_spec()
    spec.update(
        application_id=dict(type='str', required=True),
        users=dict(type='list', elements='str', default=[]),
        days=dict(type='int', default=30),
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
    if not problem and not 1 <= params['days'] <= 30:
        problem = 'days must be between 1 and 30 (Microsoft keeps sign-in logs 30 days), got %s' % params['days']
    if problem:
        module.fail_json(msg=problem)

    started = time.monotonic()
    deadline = started + params['deadline']
    cloud = _auth.CLOUDS[params['cloud']]
    graph_url = (params['graph_url'] or cloud['graph']).rstrip('/')
    environ = dict(os.environ)
    result = {'graph_url': graph_url, 'ok': False, 'error_class': None, 'message': None,
              'application_id': params['application_id'], 'days': params['days'], 'window_start': None,
              'read_at': None, 'read': {'sign_ins': _signins.new_read(), 'sign_in_activity': _signins.new_read()},
              'sign_ins_read': 0, 'accounts': [_signins.new_account(u) for u in params['users']], 'other_users': [],
              'errors': [], 'graph': {'calls': 0, 'retries': 0, 'throttled_seconds': 0}}
    token, result['token'] = _auth.app_only_token(module, params, environ, cloud['graph'], deadline)
    if not token:
        result.update(error_class=result['token']['error_class'],
                      message='no Graph token: %s' % result['token']['message'],
                      elapsed_ms=int((time.monotonic() - started) * 1000))
        for source in result['read'].values():
            source.update(outcome='failed', error_class=result['error_class'], message=result['message'])
        _finish(module, params, result)
        return

    session = _auth.make_session(params, environ, deadline)
    graph = _signins.SigninGraph(session, graph_url, token, deadline)
    result.update(_signins.read_all(graph, params['application_id'], params['users'], params['days']))
    result['graph'] = {'calls': graph.calls, 'retries': graph.retries,
                       'throttled_seconds': round(graph.throttled_seconds, 1)}
    if result['errors']:
        result['error_class'] = result['errors'][0]['error_class']
        result['message'] = '%d of the reads from %s failed; first: %s' % (
            len(result['errors']), graph_url, result['errors'][0]['message'])
    else:
        result['ok'] = True
        result['message'] = '%d sign-ins of %s in %d days; %d of %d accounts found; %d other users (%d Graph calls)' % (
            result['sign_ins_read'], params['application_id'], params['days'],
            sum(1 for a in result['accounts'] if a['exists']), len(result['accounts']), len(result['other_users']),
            graph.calls)
    result['elapsed_ms'] = int((time.monotonic() - started) * 1000)
    _finish(module, params, result)


def _finish(module, params, result):
    if result['error_class'] and params['fail_on_error']:
        module.fail_json(msg=result['message'], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
