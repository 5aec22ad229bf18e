# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The tenant's view of the mailboxes, through the Exchange Online admin API (InvokeCommand).

Only Get-* cmdlets are invoked: Get-TransportConfig (the tenant-wide SMTP AUTH switch),
Get-CASMailbox (IMAP, POP, the mailbox's SMTP AUTH setting) and Get-MailboxPermission (every
FullAccess entry). The settings are returned as read: the effective SMTP AUTH (the mailbox's
value, else the tenant's) and FullAccess minus Deny are the judge's to compute. Paging, the
throttling policy and 401/403 come from the Graph client they share.
"""

from ansible_collections.ece_o365.preflight.plugins.module_utils import _graph

READ_ONLY_CMDLETS = ('Get-TransportConfig', 'Get-CASMailbox', 'Get-MailboxPermission')
NEEDED = ('Exchange.ManageAsApp (application permission of Office 365 Exchange Online, admin consent) and an '
          'Exchange administrator role (e.g. Exchange Recipient Administrator) for the app\'s service principal')


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


def _rights(value):
    """AccessRights as a list of names: the admin API gives a list; a text is split at its commas."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(',') if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None]
    return []


def full_access_entries(entries):
    """Every Get-MailboxPermission entry whose AccessRights hold FullAccess, as read: Deny entries and
    NT AUTHORITY\\SELF included (the judge subtracts Deny and skips SELF)."""
    out = []
    for entry in entries:
        rights = _rights(entry.get('AccessRights'))
        if 'fullaccess' not in [right.lower() for right in rights]:
            continue
        user = entry.get('User')
        out.append({'user': user if user is None or isinstance(user, str) else str(user), 'access_rights': rights,
                    'deny': entry.get('Deny'), 'is_inherited': entry.get('IsInherited')})
    return out


def new_mailbox(address, account):
    """The mailbox result before anything is read: every key, none of the facts."""
    return {'address': address, 'account': account or address, 'exists': None, 'imap_enabled': None,
            'pop_enabled': None, 'smtp_client_authentication_disabled': None, 'full_access': []}


def read_mailbox(admin, address, account=None):
    """One mailbox as Exchange holds it; raises GraphError (the caller reports it)."""
    facts = new_mailbox(address, account)
    try:
        cas = admin.invoke('Get-CASMailbox', Identity=address)
    except _graph.NotFound:
        cas = None
    if not cas:
        facts['exists'] = False
        return facts
    cas = cas[0]
    facts.update(exists=True, imap_enabled=cas.get('ImapEnabled'), pop_enabled=cas.get('PopEnabled'),
                 smtp_client_authentication_disabled=cas.get('SmtpClientAuthenticationDisabled'))
    facts['full_access'] = full_access_entries(admin.invoke('Get-MailboxPermission', Identity=address))
    return facts


def read_transport_config(admin):
    """The tenant's transport config as read; raises GraphError (the caller reports it)."""
    config = admin.invoke('Get-TransportConfig')
    config = config[0] if config else {}
    return {'smtp_client_authentication_disabled': config.get('SmtpClientAuthenticationDisabled'),
            'identity': config.get('Identity')}


def read_settings(admin, mailboxes):
    """mailbox_settings' facts: the transport config, each mailbox ({address, account}), errors.

    Never raises GraphError: the transport config and each mailbox carry ok, error_class, message and
    graph_error (the failed call) instead, and ERRORS lists every failed read.
    """
    out = {'transport_config': None, 'mailboxes': [], 'errors': []}
    try:
        out['transport_config'] = _graph.succeeded(read_transport_config(admin))
    except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
        exc = _graph.as_graph_error(exc, admin, 'POST')
        out['transport_config'] = _graph.failed({'smtp_client_authentication_disabled': None, 'identity': None}, exc)
        out['errors'].append(exc.facts())
    for item in mailboxes:
        address = item.get('address') or item.get('mailbox')
        try:
            out['mailboxes'].append(_graph.succeeded(read_mailbox(admin, address, item.get('account'))))
        except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
            exc = _graph.as_graph_error(exc, admin, 'POST')
            out['mailboxes'].append(_graph.failed(new_mailbox(address, item.get('account')), exc))
            out['errors'].append(exc.facts())
    return out
