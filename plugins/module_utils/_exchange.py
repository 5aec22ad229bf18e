# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The tenant's view of the mailboxes, through the Exchange Online admin API (InvokeCommand).

Only Get-* cmdlets are invoked: Get-TransportConfig (the tenant-wide SMTP AUTH switch),
Get-Mailbox (who the mailbox is: type, Entra object id, primary address, UPN), Get-CASMailbox
(IMAP, POP, the mailbox's SMTP AUTH setting), Get-MailboxPermission (every FullAccess entry) and
Get-RecipientPermission (every Send As entry). The settings are returned as read: the effective
SMTP AUTH (the mailbox's value, else the tenant's), FullAccess minus Deny and Send As minus Deny
are the judge's to compute. Paging, the throttling policy and 401/403 come from the Graph client
they share; what the admin API adds (its anchor header, the cause inside its errors, a role that
does not cover a cmdlet) is here. See docs/exchange-admin-api.md for every source.
"""

import re

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors, _graph

READ_ONLY_CMDLETS = ('Get-TransportConfig', 'Get-Mailbox', 'Get-CASMailbox', 'Get-MailboxPermission',
                     'Get-RecipientPermission')

# The least-privilege read roles (docs/exchange-admin-api.md has the sources):
# - Global Reader = Exchange's View-Only Organization Management (View-Only Configuration and View-Only
#   Recipients) reads Get-TransportConfig, Get-Mailbox, Get-CASMailbox and Get-MailboxPermission but NOT
#   Get-RecipientPermission, which only the Mail Recipients role holds:
#   https://github.com/MicrosoftDocs/office-docs-powershell/issues/9428 (chrisda confirms),
#   https://github.com/MicrosoftDocs/office-docs-powershell/issues/7365,
#   https://www.powershellgallery.com/packages/Microsoft365DSC/1.26.114.1/Content/DSCResources%5CMSFT_EXORecipientPermission%5Csettings.json
# - Exchange Recipient Administrator = Recipient Management (Mail Recipients, ...) reads the four mailbox
#   cmdlets, Get-RecipientPermission included, but holds neither View-Only Configuration nor Organization
#   Transport Settings, the roles of Get-TransportConfig:
#   https://learn.microsoft.com/en-us/exchange/permissions-exo/permissions-exo (role groups and their roles),
#   https://www.powershellgallery.com/packages/Microsoft365DSC/1.26.114.1/Content/DSCResources%5CMSFT_EXOTransportConfig%5Csettings.json
# - Both are among the Entra roles app-only access supports, and may be combined:
#   https://learn.microsoft.com/en-us/powershell/exchange/app-only-auth-powershell-v2 (Step 5)
LEAST_PRIVILEGE_ROLES = ('Global Reader', 'Exchange Recipient Administrator')
CMDLET_ROLES = {
    'Get-TransportConfig': 'Global Reader (Exchange role View-Only Configuration)',
    'Get-RecipientPermission': 'Exchange Recipient Administrator (Exchange role Mail Recipients; Global Reader '
                               'does not cover it)',
    'Get-Mailbox': 'Global Reader or Exchange Recipient Administrator',
    'Get-CASMailbox': 'Global Reader or Exchange Recipient Administrator',
    'Get-MailboxPermission': 'Global Reader or Exchange Recipient Administrator',
}
NEEDED = ('Exchange.ManageAsApp (application permission of Office 365 Exchange Online, admin consent) and, for the '
          'app\'s service principal, the Microsoft Entra roles Global Reader and Exchange Recipient Administrator '
          '(the least privilege for these reads: Global Reader cannot read Send As, Exchange Recipient '
          'Administrator cannot read the transport config; Exchange Administrator covers both)')

# The anchor its callers send on every InvokeCommand, with the tenant's id (GUID):
# https://github.com/KelvinTegelaar/CIPP-API/blob/master/Modules/CIPPCore/Public/GraphHelper/New-ExoRequest.ps1
ANCHOR = 'APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s'
# How the admin API says a role does not cover a cmdlet (HTTP 401, not 403):
# https://github.com/MicrosoftDocs/office-docs-powershell/issues/8058
NOT_ALLOWED = re.compile(r'is not allowed to call (\S+)', re.IGNORECASE)
CAUSE_CHARS = 400


def _text(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def error_cause(body):
    """The real cause in an admin API error body, or None.

    Its error.message often says only "Invalid Operation"; the cause is in error.details[].message, else
    error.innererror.internalexception.message (any case of the keys), else error.innererror.message. The
    order is the one New-ExoRequest.ps1 reads (the address is at ANCHOR). A cause equal to error.message
    adds nothing and is None.
    """
    error = body.get('error') if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    found = None
    details = error.get('details')
    if isinstance(details, list):
        texts = [_text(d.get('message')) for d in details if isinstance(d, dict)]
        texts = [t for t in texts if t]
        found = '; '.join(texts) if texts else None
    inner = {}
    for key, value in error.items():
        if key.lower() == 'innererror' and isinstance(value, dict):
            inner = value
    if not found:
        for key, value in inner.items():
            if key.lower() == 'internalexception' and isinstance(value, dict):
                found = _text(value.get('message'))
    if not found:
        found = _text(inner.get('message'))
    if not found or found == _text(error.get('message')):
        return None
    # Exchange's task errors read 'Ex6F9304|Microsoft.Exchange...Exception|text': the text and the exception's name.
    parts = [p.strip() for p in found.split('|') if p.strip()]
    if len(parts) >= 3 and re.match(r'^[A-Za-z0-9]{6,10}$', parts[0]):
        found = '%s (%s)' % ('|'.join(parts[2:]), parts[1].rsplit('.', 1)[-1])
    return found[:CAUSE_CHARS]


class ExchangeError(_graph.GraphError):
    """A failed admin API call: GraphError's facts, the cmdlet and the cause read from inside the error."""

    def __init__(self, error_class, path, detail=None, status=None, code=None, permission=None, method='POST',
                 cmdlet=None, cause=None):
        super(ExchangeError, self).__init__(error_class, path, detail, status=status, code=code,
                                            permission=permission, method=method)
        self.cmdlet = cmdlet
        self.cause = cause

    def call_facts(self):
        facts = super(ExchangeError, self).call_facts()
        facts.update(cmdlet=self.cmdlet, cause=self.cause)
        return facts

    def message(self):
        where = '%s %s%s' % (self.method, self.path, ' (%s)' % self.cmdlet if self.cmdlet else '')
        detail = self.detail
        if self.cause and self.cause not in (detail or ''):
            detail = '%s; cause: %s' % (detail, self.cause) if detail else 'cause: %s' % self.cause
        text = _errors.describe(self.error_class, where, detail)
        if self.permission:
            text += ' The call needs %s.' % self.permission
        return text


class _AnchoredSession(object):
    """The session the Graph client posts through: adds X-AnchorMailbox and keeps the latest answer."""

    def __init__(self, session, anchor):
        self.session = session
        self.anchor = anchor
        self.last_response = None

    def post(self, url, params=None, json=None, headers=None):  # pylint: disable=redefined-outer-name
        headers = dict(headers or {}, **{'X-AnchorMailbox': self.anchor})
        self.last_response = self.session.post(url, params=params, json=json, headers=headers)
        return self.last_response

    def get(self, url, params=None, headers=None):
        self.last_response = self.session.get(url, params=params, headers=headers)
        return self.last_response


class ExchangeAdmin(_graph.Graph):
    """POST {exchange_url}/adminapi/beta/{tenant}/InvokeCommand with one app-only token.

    TENANT names the tenant in the URL; TENANT_ID (the token's tid, else TENANT) goes into the anchor.
    """

    def __init__(self, session, base_url, tenant, token, deadline, tenant_id=None, **kwargs):
        super(ExchangeAdmin, self).__init__(session, base_url, token, deadline, **kwargs)
        self.tenant = tenant
        self.anchor = ANCHOR % (tenant_id or tenant)
        self.session = _AnchoredSession(session, self.anchor)
        self.cmdlet = None

    def url(self, path):
        return '%s/adminapi/beta/%s/%s' % (self.base_url, self.tenant, path.lstrip('/'))

    def permission_for(self, path):
        return NEEDED

    def request(self, method, url, params=None, json_body=None):
        self.session.last_response = None
        try:
            return super(ExchangeAdmin, self).request(method, url, params, json_body)
        except _graph.GraphError as exc:
            raise self._explained(exc)

    def _explained(self, exc):
        """EXC with the cause read from the answer's body; a 401 'not allowed to call' is a missing role."""
        body = None
        response = self.session.last_response
        if response is not None and getattr(response, 'status_code', None) == exc.status:
            try:
                body = response.json()
            except ValueError:
                body = None
        cause = error_cause(body)
        error_class, permission = exc.error_class, exc.permission
        refused = NOT_ALLOWED.search('%s %s' % (exc.detail or '', cause or ''))
        if exc.status in (401, 403) and refused:
            error_class = 'forbidden'
            cmdlet = refused.group(1).rstrip('.,;"\'')
            permission = 'the Exchange role that holds %s: %s' % (cmdlet, CMDLET_ROLES.get(cmdlet, NEEDED))
        return ExchangeError(error_class, exc.path, exc.detail, status=exc.status, code=exc.code,
                             permission=permission, method=exc.method, cmdlet=self.cmdlet, cause=cause)

    def invoke(self, cmdlet, **parameters):
        if cmdlet not in READ_ONLY_CMDLETS:
            raise ValueError('%s is not one of the read-only cmdlets %s' % (cmdlet, ', '.join(READ_ONLY_CMDLETS)))
        self.cmdlet = cmdlet
        body = {'CmdletInput': {'CmdletName': cmdlet, 'Parameters': parameters}}
        return self.get_all('InvokeCommand', method='POST', json_body=body)


def _rights(value):
    """AccessRights as a list of names: the admin API gives a list; a text is split at its commas."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(',') if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value if item is not None]
    return []


def _name(value):
    return value if value is None or isinstance(value, str) else str(value)


def full_access_entries(entries):
    """Every Get-MailboxPermission entry whose AccessRights hold FullAccess, as read: Deny entries and
    NT AUTHORITY\\SELF included (the judge subtracts Deny and skips SELF)."""
    out = []
    for entry in entries:
        rights = _rights(entry.get('AccessRights'))
        if 'fullaccess' not in [right.lower() for right in rights]:
            continue
        out.append({'user': _name(entry.get('User')), 'access_rights': rights,
                    'deny': entry.get('Deny'), 'is_inherited': entry.get('IsInherited')})
    return out


def send_as_entries(entries):
    """Every Get-RecipientPermission entry whose AccessRights hold SendAs, as read.

    Its fields are Identity, Trustee, AccessControlType (Allow | Deny), AccessRights, IsInherited and
    InheritanceType (https://documentation.voss-solutions.com/release_21.1/html/src/api-ref/device_exchangeonline_RecipientPermission-Model.html;
    Microsoft's page, https://learn.microsoft.com/powershell/module/exchangepowershell/get-recipientpermission,
    lists no output fields). deny is AccessControlType == Deny (None when the field is missing);
    NT AUTHORITY\\SELF is kept, as Exchange shows it (the judge skips it).
    """
    out = []
    for entry in entries:
        rights = _rights(entry.get('AccessRights'))
        if 'sendas' not in [right.lower() for right in rights]:
            continue
        control = entry.get('AccessControlType')
        deny = entry.get('Deny') if control is None else str(control).lower() == 'deny'
        out.append({'trustee': _name(entry.get('Trustee')), 'access_rights': rights, 'deny': deny,
                    'is_inherited': entry.get('IsInherited')})
    return out


def new_mailbox(address, account):
    """The mailbox result before anything is read: every key, none of the facts."""
    return {'address': address, 'account': account or address, 'exists': None, 'recipient_type_details': None,
            'external_directory_object_id': None, 'primary_smtp_address': None, 'user_principal_name': None,
            'imap_enabled': None, 'pop_enabled': None, 'smtp_client_authentication_disabled': None,
            'full_access': [], 'send_as': None, 'send_as_read': None}


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def read_mailbox(admin, address, account=None, errors=None):
    """One mailbox as Exchange holds it; raises GraphError (the caller reports it).

    A refused Send As read (Get-RecipientPermission) does not fail the mailbox: send_as stays None,
    send_as_read carries the failure, and ERRORS (a list, when given) gets its entry.
    """
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
    # Get-Mailbox's identity properties (docs/exchange-admin-api.md;
    # https://learn.microsoft.com/powershell/module/exchangepowershell/get-exomailbox).
    found = admin.invoke('Get-Mailbox', Identity=address)
    mailbox = found[0] if found else {}
    facts.update(recipient_type_details=mailbox.get('RecipientTypeDetails'),
                 external_directory_object_id=_lower(mailbox.get('ExternalDirectoryObjectId')),
                 primary_smtp_address=mailbox.get('PrimarySmtpAddress'),
                 user_principal_name=mailbox.get('UserPrincipalName'))
    facts['full_access'] = full_access_entries(admin.invoke('Get-MailboxPermission', Identity=address))
    try:
        facts['send_as'] = send_as_entries(admin.invoke('Get-RecipientPermission', Identity=address,
                                                        AccessRights=['SendAs']))
        facts['send_as_read'] = _graph.succeeded({})
    except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
        exc = _graph.as_graph_error(exc, admin, 'POST')
        facts['send_as_read'] = _graph.failed({}, exc)
        if errors is not None:
            errors.append(exc.facts())
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
            out['mailboxes'].append(_graph.succeeded(read_mailbox(admin, address, item.get('account'),
                                                                  out['errors'])))
        except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
            exc = _graph.as_graph_error(exc, admin, 'POST')
            out['mailboxes'].append(_graph.failed(new_mailbox(address, item.get('account')), exc))
            out['errors'].append(exc.facts())
    # SMTP AUTH is the setting of the mailbox that signs in: in the shared-account model that is the delegate's
    # (the account), not the shared mailbox's (nextcloud/mail #13668: 5.7.139 turned into 5.7.3 once SMTP AUTH was
    # enabled on the identity signing in, https://github.com/nextcloud/mail/pull/13668). Read each account that is
    # not one of the mailboxes too, as an entry of its own with role 'account'.
    known = set(str(m.get('address') or '').lower() for m in out['mailboxes'])
    for item in mailboxes:
        account = item.get('account')
        if not account or account.lower() in known:
            continue
        known.add(account.lower())
        try:
            entry = _graph.succeeded(read_mailbox(admin, account, account, out['errors']))
        except (_graph.GraphError, _graph.NotFound) + _graph.SHAPE_ERRORS as exc:
            exc = _graph.as_graph_error(exc, admin, 'POST')
            entry = _graph.failed(new_mailbox(account, account), exc)
            out['errors'].append(exc.facts())
        entry['role'] = 'account'
        out['mailboxes'].append(entry)
    return out
