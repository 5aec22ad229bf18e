# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import socket

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth
from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_settings


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_a_failed_read_names_the_admin_api_root(run_module):
    """Regression (reliability suite, inputs): the message named the InvokeCommand path only, never which
    admin API host refused."""
    exchange_url = 'https://127.0.0.1:%d' % _closed_port()
    result = run_module(mailbox_settings, {'access_token': 'opaque-token', 'tenant': 'contoso.onmicrosoft.com',
                                           'exchange_url': exchange_url, 'mailboxes': [{'address': 'a@contoso.com'}],
                                           'deadline': 0.5, 'timeout': 0.5, 'fail_on_error': True})
    assert result['failed'] is True and result['error_class'] == 'refused' and result['ok'] is False
    assert result['msg'].startswith('2 of the reads from %s failed; first: POST /adminapi/beta/' % exchange_url)
    assert 'opaque-token' not in str(result)


class _Admin(object):
    """A session answering InvokeCommand by cmdlet, as the lab's Exchange stand-in does."""

    ANSWERS = {
        'Get-TransportConfig': [{'SmtpClientAuthenticationDisabled': True, 'Identity': 'contoso'}],
        'Get-CASMailbox': [{'ImapEnabled': True, 'PopEnabled': False, 'SmtpClientAuthenticationDisabled': False}],
        'Get-MailboxPermission': [
            {'User': 'NT AUTHORITY\\SELF', 'AccessRights': ['FullAccess'], 'Deny': False, 'IsInherited': False},
            {'User': 'svc@contoso.com', 'AccessRights': ['FullAccess'], 'Deny': True, 'IsInherited': False}],
        'Get-Mailbox': [{'RecipientTypeDetails': 'SharedMailbox', 'ExternalDirectoryObjectId': 'OID-1',
                         'PrimarySmtpAddress': 'sales@contoso.com', 'UserPrincipalName': 'sales@contoso.com'}],
        'Get-RecipientPermission': [
            {'Trustee': 'NT AUTHORITY\\SELF', 'AccessControlType': 'Allow', 'AccessRights': ['SendAs'],
             'IsInherited': False},
            {'Trustee': 'svc@contoso.com', 'AccessControlType': 'Allow', 'AccessRights': ['SendAs'], 'IsInherited': False}],
    }
    sessions = []

    def __init__(self, *_args, **_kwargs):
        self.cmdlets = []
        self.anchors = []
        _Admin.sessions.append(self)

    def post(self, url, params=None, json=None, headers=None):  # pylint: disable=redefined-outer-name
        cmdlet = json['CmdletInput']['CmdletName']
        self.cmdlets.append(cmdlet)
        self.anchors.append(headers.get('X-AnchorMailbox'))
        body = {'value': self.ANSWERS[cmdlet]}
        return type('R', (), {'status_code': 200, 'headers': {}, 'text': '', 'json': lambda self: body})()


def test_mailboxes_by_address_with_the_old_key_as_an_alias(run_module, monkeypatch):
    monkeypatch.setattr(_auth, 'make_session', _Admin)
    result = run_module(mailbox_settings, {'access_token': 'opaque-token', 'tenant': 'contoso.onmicrosoft.com',
                                           'mailboxes': [{'address': 'sales@contoso.com', 'account': 'svc@contoso.com'},
                                                         {'mailbox': 'support@contoso.com'}]})
    assert 'failed' not in result and result['ok'] is True and result['error_class'] is None
    assert result['transport_config']['smtp_client_authentication_disabled'] is True
    sales, support, account = result['mailboxes']
    assert (account['address'], account['role']) == ('svc@contoso.com', 'account'), 'the account that signs in to SMTP'
    assert (sales['address'], sales['account'], support['address'], support['account']) == (
        'sales@contoso.com', 'svc@contoso.com', 'support@contoso.com', 'support@contoso.com')
    assert sales['full_access'] == [
        {'user': 'NT AUTHORITY\\SELF', 'access_rights': ['FullAccess'], 'deny': False, 'is_inherited': False},
        {'user': 'svc@contoso.com', 'access_rights': ['FullAccess'], 'deny': True, 'is_inherited': False}]
    for removed in ('smtp_auth_enabled', 'smtp_auth_source', 'account_has_full_access', 'full_access_denied', 'error',
                    'mailbox'):
        assert removed not in sales, removed
    assert sales['recipient_type_details'] == 'SharedMailbox' and sales['external_directory_object_id'] == 'oid-1'
    assert [e['trustee'] for e in sales['send_as']] == ['NT AUTHORITY\\SELF', 'svc@contoso.com']
    assert result['calls']['calls'] == 13 and 'opaque-token' not in str(result), '1 + 4 cmdlets a mailbox, 3 mailboxes'
    session = _Admin.sessions[-1]
    assert session.anchors == ['APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com'] * 13, \
        'an opaque token has no tid: the anchor names the tenant given'
