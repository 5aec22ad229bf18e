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
  - C(Get-TransportConfig) for the tenant-wide C(SmtpClientAuthenticationDisabled); C(Get-CASMailbox) for
    C(ImapEnabled), C(PopEnabled) and the mailbox's own C(SmtpClientAuthenticationDisabled).
  - C(Get-Mailbox) for who the mailbox is - C(RecipientTypeDetails) (C(UserMailbox), C(SharedMailbox), ...),
    C(ExternalDirectoryObjectId) (its Entra object id), C(PrimarySmtpAddress) and C(UserPrincipalName); Exchange
    finds a mailbox by any of its addresses or its user principal name.
  - C(Get-MailboxPermission) for every FullAccess entry as read - its holder, rights, C(Deny) and C(IsInherited),
    the Deny entries and the mailbox's own C(NT AUTHORITY\SELF) entry included.
  - C(Get-RecipientPermission -AccessRights SendAs) for every Send As entry as read (FullAccess cannot send as the
    mailbox; sending with the shared address as C(MAIL FROM) needs Send As). A refused Send As read is recorded on
    the mailbox (RV(mailboxes[].send_as_read)) and in RV(errors); the mailbox's other facts stay.
  - Sends C(X-AnchorMailbox) C(APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@<tenant id>) with every call,
    as the admin API's callers do, and reports the cause Microsoft puts inside an error (C(error.details[].message),
    C(error.innererror.internalexception.message)) when its C(message) says only C(Invalid Operation).
  - Facts, not verdicts - the effective SMTP AUTH of a mailbox (its own value when set, else the tenant's) and
    whether the account ECE uses holds FullAccess (FullAccess minus Deny) are judged on the controller
    (M(ece_o365.preflight.preflight_report)).
  - Follows C(@odata.nextLink) paging, retries 429 and 503 honouring C(Retry-After) within O(deadline), and
    explains 401 and 403 with what the app lacks - C(Exchange.ManageAsApp) and a directory role. The least privilege
    for these reads is Global Reader together with Exchange Recipient Administrator - Global Reader cannot read Send
    As and Exchange Recipient Administrator cannot read the transport config; Exchange Administrator covers both (see
    docs/exchange-admin-api.md). A 401 saying C(User is not allowed to call <cmdlet>) is a role that does not cover
    that cmdlet (class C(forbidden)), not a bad token.
  - Only C(Get-*) cmdlets are invoked; nothing is changed. A failed read is a finding (C(ok=false) with its
    C(error_class) and C(message) on the mailbox or the transport config, and in RV(errors)), not a task failure,
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
      address:
        description: The mailbox's address - its one key, echoed in the result.
        type: str
        required: true
        aliases: [mailbox]
      account:
        description:
          - The account whose token ECE uses for this mailbox (another account in the shared-account model), echoed
            in the result for the judge. Defaults to O(mailboxes[].address).
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
  - module: ece_o365.preflight.preflight_report
  - name: App-only authentication in Exchange Online PowerShell
    description: The Exchange.ManageAsApp permission and the directory role the app needs.
    link: https://learn.microsoft.com/en-us/powershell/exchange/app-only-auth-powershell-v2
  - name: Get-RecipientPermission
    description: The Send As entries of a recipient.
    link: https://learn.microsoft.com/powershell/module/exchangepowershell/get-recipientpermission
"""

EXAMPLES = r"""
- name: What Exchange Online says about ECE's mailboxes
  ece_o365.preflight.mailbox_settings:
    tenant: contoso.onmicrosoft.com
    client_id: "{{ preflight_app_client_id }}"
    client_secret: "{{ preflight_app_client_secret }}"
    mailboxes:
      - address: support@contoso.com
      - address: sales@contoso.com
        account: ece.service@contoso.com
  register: exchange
  delegate_to: localhost
  run_once: true

- name: Show who holds FullAccess on each mailbox, Deny entries included, as read
  ansible.builtin.debug:
    msg: "{{ item.address }}: {{ item.full_access | rejectattr('user', 'equalto', 'NT AUTHORITY\\SELF') | list }}"
  loop: "{{ exchange.mailboxes }}"
  loop_control:
    label: "{{ item.address }}"

- name: Show who may send as each mailbox (null when the Send As read failed)
  ansible.builtin.debug:
    msg: "{{ item.address }} ({{ item.recipient_type_details }}): {{ item.send_as }}"
  loop: "{{ exchange.mailboxes }}"
  loop_control:
    label: "{{ item.address }}"
"""

RETURN = r"""
exchange_url:
  description: The Exchange Online root used.
  returned: always
  type: str
ok:
  description: Whether every read succeeded (a token was at hand and no admin API call failed).
  returned: always
  type: bool
error_class:
  description: V(null), or the class of the first failed read (the token's, when none was acquired).
  returned: always
  type: str
message:
  description: One line on what was read, or the first failure with its cause and fix.
  returned: always
  type: str
token:
  description: What the app-only token says about itself (never the token), as in M(ece_o365.preflight.tenant_info).
  returned: always
  type: dict
transport_config:
  description:
    - The tenant's transport config as read - C(smtp_client_authentication_disabled) and C(identity) - with C(ok),
      C(error_class), C(message) and C(graph_error) (the failed call, or V(null)); V(null) when no token was at hand.
  returned: always
  type: dict
  sample: {"smtp_client_authentication_disabled": true, "identity": "contoso.onmicrosoft.com", "ok": true,
           "error_class": null, "message": null, "graph_error": null}
mailboxes:
  description:
    - One entry per mailbox, in the order given, then one per O(mailboxes[].account) that is not one of the mailboxes
      (with C(role) V(account)) - SMTP AUTH is the setting of the mailbox that signs in, the delegate's in the
      shared-account model. Every key is present; facts are V(null) when unread.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The mailbox's address as given - the key the judge joins on.
      type: str
      sample: sales@contoso.com
    role:
      description: V(account) for an entry read because a mailbox's account signs in with it; absent otherwise.
      type: str
      returned: for an account that is not one of the mailboxes
    account:
      description: O(mailboxes[].account) as given (the mailbox's address when not given).
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
      description: The mailbox's own C(SmtpClientAuthenticationDisabled); V(null) means the tenant's applies.
      type: bool
    recipient_type_details:
      description: C(Get-Mailbox)'s C(RecipientTypeDetails) - C(UserMailbox), C(SharedMailbox), ...; V(null) when unread.
      type: str
      sample: SharedMailbox
    external_directory_object_id:
      description: C(ExternalDirectoryObjectId), the Entra object id of the mailbox's user (lower case), to compare
        with tenant_info's users by id, not by name.
      type: str
    primary_smtp_address:
      description: C(PrimarySmtpAddress) as read.
      type: str
    user_principal_name:
      description: C(UserPrincipalName) as read (may differ from the address, e.g. in hybrid tenants).
      type: str
    full_access:
      description:
        - Every C(Get-MailboxPermission) entry whose rights include C(FullAccess), as read - C(user),
          C(access_rights), C(deny), C(is_inherited). Deny entries and C(NT AUTHORITY\SELF) are included.
      type: list
      elements: dict
      sample: [{"user": "NT AUTHORITY\\SELF", "access_rights": ["FullAccess", "ReadPermission"], "deny": false,
                "is_inherited": false},
               {"user": "ece.service@contoso.com", "access_rights": ["FullAccess"], "deny": false,
                "is_inherited": false}]
    send_as:
      description:
        - Every C(Get-RecipientPermission) entry whose rights include C(SendAs), as read - C(trustee) (as Exchange shows
          it - a user's principal name, or C(NT AUTHORITY\SELF)), C(access_rights), C(deny) (C(AccessControlType) is
          C(Deny)) and C(is_inherited). V([]) when read and empty; V(null) when not read (the mailbox does not exist, or
          the read failed - see RV(mailboxes[].send_as_read)).
      type: list
      elements: dict
      sample: [{"trustee": "ece.service@contoso.com", "access_rights": ["SendAs"], "deny": false, "is_inherited": false}]
    send_as_read:
      description: V(null) when not tried, else the Send As read's C(ok), C(error_class), C(message) and C(graph_error).
      type: dict
    ok:
      description: Whether the mailbox was read (existing or not).
      type: bool
    error_class:
      description: V(null), or the class of the failed read.
      type: str
    message:
      description: V(null), or the failed read's cause and fix.
      type: str
    graph_error:
      description:
        - V(null), or the failed admin API call - C(call), C(status), C(code), C(permission) (what a 401/403 means is
          missing), C(cmdlet) and C(cause) (the text Microsoft puts inside the error, or V(null)).
      type: dict
errors:
  description:
    - Every failed read - C(call), C(status), C(code), C(permission) (what a 401/403 means is missing), C(cmdlet),
      C(cause) (the text inside Microsoft's error), C(error_class) and C(message) (with the cause).
  returned: always
  type: list
  elements: dict
calls:
  description: Admin API calls made, retries after 429/503 and seconds waited.
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
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _exchange

MAILBOX_OPTIONS = dict(
    address=dict(type='str', required=True, aliases=['mailbox']),
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
    module = PreflightModule(
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
    result = {'exchange_url': exchange_url, 'ok': False, 'error_class': None, 'message': None,
              'transport_config': None, 'mailboxes': [], 'errors': [],
              'calls': {'calls': 0, 'retries': 0, 'throttled_seconds': 0}}
    token, result['token'] = _auth.app_only_token(module, params, environ, cloud['exchange'], deadline)
    if not token:
        result.update(error_class=result['token']['error_class'],
                      message='no Exchange admin API token: %s' % result['token']['message'])
    else:
        admin = _exchange.ExchangeAdmin(_auth.make_session(params, environ, deadline), exchange_url, params['tenant'],
                                        token, deadline, tenant_id=result['token'].get('tenant_id'))
        result.update(_exchange.read_settings(admin, params['mailboxes']))
        result['calls'] = {'calls': admin.calls, 'retries': admin.retries,
                           'throttled_seconds': round(admin.throttled_seconds, 1)}
        if result['errors']:
            result['error_class'] = result['errors'][0]['error_class']
            # The admin API root in the text: the error names only the path, and exchange_url may be the cause.
            result['message'] = '%d of the reads from %s failed; first: %s' % (
                len(result['errors']), exchange_url, result['errors'][0]['message'])
        else:
            result['ok'] = True
            result['message'] = 'read %d mailbox(es) and the transport config in %d call(s)' % (
                len(result['mailboxes']), admin.calls)
    result['elapsed_ms'] = int((time.monotonic() - started) * 1000)
    if result['error_class'] and params['fail_on_error']:
        module.fail_json(msg=result['message'], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
