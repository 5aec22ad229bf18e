# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The tenant's view of the mailboxes, through the Exchange Online admin API (InvokeCommand).

Only Get-* cmdlets are invoked: Get-TransportConfig (the tenant-wide SMTP AUTH switch),
Get-CASMailbox (IMAP, POP, the mailbox's SMTP AUTH setting) and Get-MailboxPermission (who
holds FullAccess). Paging, throttling and 401/403 come from the Graph client they share.
"""

from ansible_collections.ece_o365.preflight.plugins.module_utils import _graph

READ_ONLY_CMDLETS = ('Get-TransportConfig', 'Get-CASMailbox', 'Get-MailboxPermission')
NEEDED = ('Exchange.ManageAsApp (application permission of Office 365 Exchange Online, admin consent) and an '
          'Exchange administrator role (e.g. Exchange Recipient Administrator) for the app\'s service principal')


SELF = 'NT AUTHORITY\\SELF'


class ExchangeAdmin(_graph.Graph):
    """POST {exchange_url}/adminapi/beta/{tenant}/InvokeCommand with one app-only token."""

    def __init__(self, session, base_url, tenant, token, deadline, **kwargs):
        super(ExchangeAdmin, self).__init__(session, base_url, token, deadline, **kwargs)
        self.tenant = tenant

    def url(self, path):
        return '%s/adminapi/beta/%s/%s' % (self.base_url, self.tenant, path.lstrip('/'))

    def permission_for(self, path):
        return NEEDED

    def invoke(self, cmdlet, **parameters):
        if cmdlet not in READ_ONLY_CMDLETS:
            raise ValueError('%s is not one of the read-only cmdlets %s' % (cmdlet, ', '.join(READ_ONLY_CMDLETS)))
        body = {'CmdletInput': {'CmdletName': cmdlet, 'Parameters': parameters}}
        return self.get_all('InvokeCommand', method='POST', json_body=body)


def _effective_smtp(mailbox_value, tenant_value):
    """(enabled, source): the mailbox's SmtpClientAuthenticationDisabled when set, else the tenant's."""
    if mailbox_value is None:
        return (not tenant_value) if tenant_value is not None else None, 'tenant'
    return not mailbox_value, 'mailbox'


def read_mailbox(admin, mailbox, account, tenant_disabled):
    facts = {'mailbox': mailbox, 'account': account or mailbox, 'exists': None, 'imap_enabled': None,
             'pop_enabled': None, 'smtp_client_authentication_disabled': None, 'smtp_auth_enabled': None,
             'smtp_auth_source': None, 'full_access': [], 'full_access_denied': [], 'account_has_full_access': None,
             'error': None}
    try:
        cas = admin.invoke('Get-CASMailbox', Identity=mailbox)
    except _graph.NotFound:
        facts['exists'] = False
        return facts
    if not cas:
        facts['exists'] = False
        return facts
    cas = cas[0]
    facts.update(exists=True, imap_enabled=cas.get('ImapEnabled'), pop_enabled=cas.get('PopEnabled'),
                 smtp_client_authentication_disabled=cas.get('SmtpClientAuthenticationDisabled'))
    facts['smtp_auth_enabled'], facts['smtp_auth_source'] = _effective_smtp(
        cas.get('SmtpClientAuthenticationDisabled'), tenant_disabled)
    for entry in admin.invoke('Get-MailboxPermission', Identity=mailbox):
        rights = entry.get('AccessRights') or []
        if 'FullAccess' not in rights:
            continue
        holder = str(entry.get('User') or '')
        if holder.upper() == SELF:
            continue  # the mailbox's own entry, present on every mailbox
        (facts['full_access_denied'] if entry.get('Deny') else facts['full_access']).append(holder)
    account = (account or mailbox).lower()
    if account == mailbox.lower():
        facts['account_has_full_access'] = True  # a mailbox's own account needs no grant
    else:
        holders = [h.lower() for h in facts['full_access']]
        denied = [h.lower() for h in facts['full_access_denied']]
        facts['account_has_full_access'] = account in holders and account not in denied
    return facts


def read_settings(admin, mailboxes):
    """mailbox_settings' facts: the transport config, each mailbox, errors. Never raises GraphError."""
    out = {'transport_config': None, 'mailboxes': [], 'errors': []}
    tenant_disabled = None
    try:
        config = admin.invoke('Get-TransportConfig')
        if config:
            tenant_disabled = config[0].get('SmtpClientAuthenticationDisabled')
            out['transport_config'] = {'smtp_client_authentication_disabled': tenant_disabled,
                                       'identity': config[0].get('Identity')}
    except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
        out['errors'].append(_graph.as_graph_error(exc, admin, 'POST').facts())
    for item in mailboxes:
        try:
            out['mailboxes'].append(read_mailbox(admin, item['mailbox'], item.get('account'), tenant_disabled))
        except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
            exc = _graph.as_graph_error(exc, admin, 'POST')
            out['mailboxes'].append({'mailbox': item['mailbox'], 'account': item.get('account') or item['mailbox'],
                                     'exists': None, 'error': exc.facts()})
            out['errors'].append(exc.facts())
    return out
