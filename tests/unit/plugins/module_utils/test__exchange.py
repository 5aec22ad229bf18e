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


@pytest.mark.parametrize('mailbox_value, tenant_value, expected', [
    (None, False, (True, 'tenant')),
    (None, True, (False, 'tenant')),
    (False, True, (True, 'mailbox')),
    (True, False, (False, 'mailbox')),
    (None, None, (None, 'tenant')),
])
def test_effective_smtp_auth(mailbox_value, tenant_value, expected):
    assert _exchange._effective_smtp(mailbox_value, tenant_value) == expected


def test_shared_account_fullaccess_and_deny():
    admin = FakeAdmin({
        ('Get-CASMailbox', 'sales@x'): [{'ImapEnabled': True, 'PopEnabled': False, 'SmtpClientAuthenticationDisabled': None}],
        ('Get-MailboxPermission', 'sales@x'): [
            {'User': 'NT AUTHORITY\\SELF', 'AccessRights': ['FullAccess'], 'Deny': False},
            {'User': 'svc@x', 'AccessRights': ['FullAccess'], 'Deny': False},
            {'User': 'svc@x', 'AccessRights': ['FullAccess'], 'Deny': True},
            {'User': 'reader@x', 'AccessRights': ['ReadPermission'], 'Deny': False},
        ],
    })
    facts = _exchange.read_mailbox(admin, 'sales@x', 'svc@x', tenant_disabled=True)
    assert facts['full_access'] == ['svc@x'] and facts['full_access_denied'] == ['svc@x']
    assert facts['account_has_full_access'] is False, 'a Deny entry wins'
    assert facts['smtp_auth_enabled'] is False and facts['pop_enabled'] is False


def test_unknown_mailbox_is_not_an_error():
    admin = FakeAdmin({('Get-CASMailbox', 'ghost@x'): _graph.NotFound('x')})
    facts = _exchange.read_mailbox(admin, 'ghost@x', None, tenant_disabled=False)
    assert facts['exists'] is False and admin.called == ['Get-CASMailbox']


def test_only_read_cmdlets_are_allowed():
    admin = _exchange.ExchangeAdmin(None, 'https://outlook.office365.com', 't', 'token', 0)
    with pytest.raises(ValueError, match='read-only'):
        admin.invoke('Set-CASMailbox', Identity='x', ImapEnabled=False)


def test_a_failed_read_becomes_a_finding():
    error = _graph.GraphError('forbidden', '/adminapi/beta/t/InvokeCommand', 'HTTP 403', status=403,
                              permission=_exchange.NEEDED, method='POST')
    admin = FakeAdmin({('Get-TransportConfig', None): error, ('Get-CASMailbox', 'a@x'): error})
    out = _exchange.read_settings(admin, [{'mailbox': 'a@x'}])
    assert out['transport_config'] is None and len(out['errors']) == 2
    assert out['errors'][0]['call'].startswith('POST ') and 'Exchange.ManageAsApp' in out['errors'][0]['message']


class _Answer404(object):
    """A session whose every POST answers 404, as a wrong exchange_url or tenant does."""

    def post(self, url, params=None, json=None, headers=None):  # pylint: disable=redefined-outer-name
        return type('R', (), {'status_code': 404, 'headers': {}, 'text': '', 'json': lambda self: {}})()


def test_a_404_for_invoke_command_is_a_finding_not_an_exception():
    """Regression (reliability suite, inputs): NotFound from Get-TransportConfig escaped read_settings."""
    admin = _exchange.ExchangeAdmin(_Answer404(), 'https://outlook.invalid', 't', 'token', float('inf'))
    out = _exchange.read_settings(admin, [{'mailbox': 'a@x'}])
    assert out['errors'][0]['error'] == 'http_status' and out['errors'][0]['status'] == 404
    assert out['errors'][0]['call'] == 'POST /adminapi/beta/t/InvokeCommand'
    assert out['mailboxes'][0]['exists'] is False, 'a 404 for one mailbox still means it does not exist'
