# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _exchange, _graph


class FakeAdmin(object):
    """Answers invoke() from a table; records the cmdlets called."""

    def __init__(self, answers):
        self.answers = answers
        self.called = []

    def invoke(self, cmdlet, **parameters):
        self.called.append(cmdlet)
        answer = self.answers[(cmdlet, parameters.get('Identity'))]
        if isinstance(answer, Exception):
            raise answer
        return answer


PERMISSIONS = [
    {'User': 'NT AUTHORITY\\SELF', 'AccessRights': ['FullAccess', 'ReadPermission'], 'Deny': False, 'IsInherited': False},
    {'User': 'svc@x', 'AccessRights': ['FullAccess'], 'Deny': False, 'IsInherited': False},
    {'User': 'svc@x', 'AccessRights': ['FullAccess'], 'Deny': True, 'IsInherited': True},
    {'User': 'reader@x', 'AccessRights': ['ReadPermission'], 'Deny': False, 'IsInherited': False},
    {'User': 'old@x', 'AccessRights': 'FullAccess, ReadPermission', 'Deny': False, 'IsInherited': False},
]


def test_every_fullaccess_entry_as_read_deny_and_self_included():
    admin = FakeAdmin({
        ('Get-CASMailbox', 'sales@x'): [{'ImapEnabled': True, 'PopEnabled': False, 'SmtpClientAuthenticationDisabled': None}],
        ('Get-MailboxPermission', 'sales@x'): PERMISSIONS,
    })
    facts = _exchange.read_mailbox(admin, 'sales@x', 'svc@x')
    assert facts == {
        'address': 'sales@x', 'account': 'svc@x', 'exists': True, 'imap_enabled': True, 'pop_enabled': False,
        'smtp_client_authentication_disabled': None,
        'full_access': [
            {'user': 'NT AUTHORITY\\SELF', 'access_rights': ['FullAccess', 'ReadPermission'], 'deny': False,
             'is_inherited': False},
            {'user': 'svc@x', 'access_rights': ['FullAccess'], 'deny': False, 'is_inherited': False},
            {'user': 'svc@x', 'access_rights': ['FullAccess'], 'deny': True, 'is_inherited': True},
            {'user': 'old@x', 'access_rights': ['FullAccess', 'ReadPermission'], 'deny': False, 'is_inherited': False},
        ]}, 'no verdict (effective SMTP AUTH, FullAccess minus Deny): the judge computes those'


def test_settings_carry_the_address_the_account_and_the_transport_config_as_read():
    admin = FakeAdmin({
        ('Get-TransportConfig', None): [{'SmtpClientAuthenticationDisabled': True, 'Identity': 'contoso'}],
        ('Get-CASMailbox', 'a@x'): [{'ImapEnabled': False, 'PopEnabled': True, 'SmtpClientAuthenticationDisabled': False}],
        ('Get-MailboxPermission', 'a@x'): [],
    })
    out = _exchange.read_settings(admin, [{'address': 'a@x'}, {'mailbox': 'a@x', 'account': 'svc@x'}])
    assert out['transport_config'] == {'smtp_client_authentication_disabled': True, 'identity': 'contoso', 'ok': True,
                                       'error_class': None, 'message': None, 'graph_error': None}
    assert [(m['address'], m['account'], m['ok']) for m in out['mailboxes']] == [
        ('a@x', 'a@x', True), ('a@x', 'svc@x', True)]
    assert out['mailboxes'][0]['smtp_client_authentication_disabled'] is False and out['errors'] == []


def test_unknown_mailbox_is_not_an_error():
    admin = FakeAdmin({('Get-CASMailbox', 'ghost@x'): _graph.NotFound('x')})
    facts = _exchange.read_mailbox(admin, 'ghost@x')
    assert facts['exists'] is False and facts['full_access'] == [] and admin.called == ['Get-CASMailbox']


def test_only_read_cmdlets_are_allowed():
    admin = _exchange.ExchangeAdmin(None, 'https://outlook.office365.com', 't', 'token', 0)
    with pytest.raises(ValueError, match='read-only'):
        admin.invoke('Set-CASMailbox', Identity='x', ImapEnabled=False)


def test_a_failed_read_becomes_a_finding():
    error = _graph.GraphError('forbidden', '/adminapi/beta/t/InvokeCommand', 'HTTP 403', status=403,
                              permission=_exchange.NEEDED, method='POST')
    admin = FakeAdmin({('Get-TransportConfig', None): error, ('Get-CASMailbox', 'a@x'): error})
    out = _exchange.read_settings(admin, [{'address': 'a@x'}])
    assert out['transport_config']['ok'] is False and out['transport_config']['error_class'] == 'forbidden'
    assert out['transport_config']['smtp_client_authentication_disabled'] is None
    mailbox = out['mailboxes'][0]
    assert mailbox['ok'] is False and mailbox['error_class'] == 'forbidden' and mailbox['exists'] is None
    assert mailbox['graph_error'] == {'call': 'POST /adminapi/beta/t/InvokeCommand', 'status': 403, 'code': None,
                                      'permission': _exchange.NEEDED}
    assert len(out['errors']) == 2 and out['errors'][0]['error_class'] == 'forbidden'
    assert out['errors'][0]['call'].startswith('POST ') and 'Exchange.ManageAsApp' in out['errors'][0]['message']


class _Answer404(object):
    """A session whose every POST answers 404, as a wrong exchange_url or tenant does."""

    def post(self, url, params=None, json=None, headers=None):  # pylint: disable=redefined-outer-name
        return type('R', (), {'status_code': 404, 'headers': {}, 'text': '', 'json': lambda self: {}})()


def test_a_404_for_invoke_command_is_a_finding_not_an_exception():
    """Regression (reliability suite, inputs): NotFound from Get-TransportConfig escaped read_settings."""
    admin = _exchange.ExchangeAdmin(_Answer404(), 'https://outlook.invalid', 't', 'token', float('inf'))
    out = _exchange.read_settings(admin, [{'address': 'a@x'}])
    assert out['errors'][0]['error_class'] == 'http_status' and out['errors'][0]['status'] == 404
    assert out['errors'][0]['call'] == 'POST /adminapi/beta/t/InvokeCommand'
    assert out['mailboxes'][0]['exists'] is False, 'a 404 for one mailbox still means it does not exist'
