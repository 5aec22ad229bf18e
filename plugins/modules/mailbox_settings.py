#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: mailbox_settings
short_description: Read the tenant's view of ECE's mailboxes through the Exchange Online admin API
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - The tenant side of TAC checklist items 6 and 8. For each mailbox ECE uses, what Exchange Online holds,
    through C(POST https://outlook.office365.com/adminapi/beta/{tenant}/InvokeCommand) with an app-only token.
  - C(Get-TransportConfig) for the tenant-wide SMTP AUTH switch; C(Get-CASMailbox) for C(ImapEnabled),
    C(PopEnabled) and the mailbox's C(SmtpClientAuthenticationDisabled); the effective SMTP AUTH per mailbox
    (the mailbox's value when set, else the tenant's) and where it comes from.
  - C(Get-MailboxPermission) for who holds FullAccess; for the shared-account model, whether the account ECE
    logs in with holds it, with Deny entries flagged.
  - Follows C(@odata.nextLink) paging, retries 429 and 503 honouring C(Retry-After) within O(deadline), and
    explains 401 and 403 with what the app lacks (C(Exchange.ManageAsApp) and an Exchange administrator role).
  - Only C(Get-*) cmdlets are invoked; nothing is changed. A failed read is a finding, not a task failure,
    unless O(fail_on_error=true).
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
  - ece_o365.preflight.auth
options:
  mailboxes:
    description: The mailboxes to read.
    type: list
    elements: dict
    required: true
    suboptions:
      mailbox:
        description: The mailbox's address.
        type: str
        required: true
      account:
        description:
          - The account whose token ECE uses for this mailbox. When it differs from O(mailboxes[].mailbox)
            (the shared-account model), the result says whether it holds FullAccess.
        type: str
  access_token:
    description:
      - An app-only token for the Exchange admin API (audience C(https://outlook.office365.com), role
        C(Exchange.ManageAsApp)). Without it, one is acquired with the client credentials given.
    type: str
  exchange_url:
    description:
      - The Exchange Online root; defaults to the one of O(cloud). For a lab, its stand-in.
    type: str
  deadline:
    description: Seconds the whole read may take, retries included.
    type: float
    default: 60
  fail_on_error:
    description: Fail the task when a read fails (the results are returned all the same).
    type: bool
    default: false
seealso:
  - module: ece_o365.preflight.mailbox_protocols
  - module: ece_o365.preflight.tenant_info
  - name: App-only authentication in Exchange Online PowerShell
    description: The Exchange.ManageAsApp permission and the directory role the app needs.
    link: https://learn.microsoft.com/en-us/powershell/exchange/app-only-auth-powershell-v2
"""

EXAMPLES = r"""
- name: What Exchange Online says about ECE's mailboxes
  ece_o365.preflight.mailbox_settings:
    tenant: contoso.onmicrosoft.com
    client_id: "{{ preflight_app_client_id }}"
    client_secret: "{{ preflight_app_client_secret }}"
    mailboxes:
      - mailbox: support@contoso.com
      - mailbox: sales@contoso.com
        account: ece.service@contoso.com
  register: exchange
  delegate_to: localhost
  run_once: true

- name: Every mailbox must allow SMTP AUTH, effectively
  ansible.builtin.assert:
    that: exchange.mailboxes | rejectattr('smtp_auth_enabled') | list | length == 0
"""

RETURN = r"""
exchange_url:
  description: The Exchange Online root used.
  returned: always
  type: str
token:
  description: What the app-only token says about itself (never the token), as in M(ece_o365.preflight.tenant_info).
  returned: always
  type: dict
transport_config:
  description: The tenant's C(SmtpClientAuthenticationDisabled) and C(Identity); V(null) when it could not be read.
  returned: always
  type: dict
  sample: {"smtp_client_authentication_disabled": true, "identity": "contoso.onmicrosoft.com"}
mailboxes:
  description: One entry per mailbox, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    mailbox:
      description: The mailbox.
      type: str
    account:
      description: The account ECE uses for it.
      type: str
    exists:
      description: Whether Exchange Online holds the mailbox (V(false) for an unlicensed user); V(null) when unread.
      type: bool
    imap_enabled:
      description: C(ImapEnabled).
      type: bool
    pop_enabled:
      description: C(PopEnabled).
      type: bool
    smtp_client_authentication_disabled:
      description: The mailbox's own setting; V(null) means the tenant's applies.
      type: bool
    smtp_auth_enabled:
      description: The effective SMTP AUTH for this mailbox.
      type: bool
    smtp_auth_source:
      description: V(mailbox) or V(tenant), where the effective value comes from.
      type: str
    full_access:
      description: The holders of FullAccess (not denied).
      type: list
      elements: str
    full_access_denied:
      description: Holders of a Deny FullAccess entry.
      type: list
      elements: str
    account_has_full_access:
      description: Whether O(mailboxes[].account) may open the mailbox (its own, or FullAccess and no Deny).
      type: bool
    error:
      description: The read that failed for this mailbox, with its class, status and message.
      type: dict
errors:
  description: Every failed read, with the permission or role a 401/403 means is missing.
  returned: always
  type: list
  elements: dict
error:
  description: The class of the first failed read, or V(null).
  returned: always
  type: str
message:
  description: One line on what was read, or the first failure with its fix.
  returned: always
  type: str
calls:
  description: Admin API calls made, retries after 429/503 and seconds waited.
  returned: always
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _exchange

MAILBOX_OPTIONS = dict(
    mailbox=dict(type='str', required=True),
    account=dict(type='str'),
)


def argument_spec():
    spec = _auth.argument_spec()
    spec.update(
        mailboxes=dict(type='list', elements='dict', required=True, options=MAILBOX_OPTIONS),
        access_token=dict(type='str', no_log=True),
        exchange_url=dict(type='str'),
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
    problem = _auth.app_only_problem(params, 'Exchange admin API', 'exchange_url')
    if not problem and not params.get('tenant'):
        problem = 'tenant is required: the admin API names the tenant in its URL'
    if problem:
        module.fail_json(msg=problem)

    started = time.monotonic()
    deadline = started + params['deadline']
    cloud = _auth.CLOUDS[params['cloud']]
    exchange_url = (params['exchange_url'] or cloud['exchange']).rstrip('/')
    environ = dict(os.environ)
    result = {'exchange_url': exchange_url, 'transport_config': None, 'mailboxes': [], 'errors': [], 'error': None,
              'message': None, 'calls': {'calls': 0, 'retries': 0, 'throttled_seconds': 0}}
    token, result['token'] = _auth.app_only_token(module, params, environ, cloud['exchange'], deadline)
    if not token:
        result.update(error=result['token']['error'], message='no Exchange admin API token: %s' % result['token']['message'])
    else:
        admin = _exchange.ExchangeAdmin(_auth.make_session(params, environ, deadline), exchange_url, params['tenant'],
                                        token, deadline)
        result.update(_exchange.read_settings(admin, params['mailboxes']))
        result['calls'] = {'calls': admin.calls, 'retries': admin.retries,
                           'throttled_seconds': round(admin.throttled_seconds, 1)}
        if result['errors']:
            result['error'] = result['errors'][0]['error']
            first = result['errors'][0]['message']
            # The admin API root in the text: the error names only the path, and exchange_url may be the cause.
            result['message'] = '%d of the reads from %s failed; first: %s' % (
                len(result['errors']), exchange_url, first)
        else:
            result['message'] = 'read %d mailbox(es) and the transport config in %d call(s)' % (
                len(result['mailboxes']), admin.calls)
    result['elapsed_ms'] = int((time.monotonic() - started) * 1000)
    if result['error'] and params['fail_on_error']:
        module.fail_json(msg=result['message'], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
