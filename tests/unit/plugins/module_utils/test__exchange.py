# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _exchange, _graph

TENANT_ID = '3f1a7c52-8e0b-4d1c-9a57-5b2e6d8c4a10'
ANCHOR = 'APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@' + TENANT_ID


class FakeAdmin(object):
    """Answers invoke() from a table; records the cmdlets called."""

    last_call = ('POST', '/adminapi/beta/t/InvokeCommand')

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
# Get-RecipientPermission's fields: Identity, Trustee, AccessControlType, AccessRights, IsInherited, InheritanceType.
RECIPIENT_PERMISSIONS = [
    {'Identity': 'Sales', 'Trustee': 'NT AUTHORITY\\SELF', 'AccessControlType': 'Allow', 'AccessRights': ['SendAs'],
     'IsInherited': False, 'InheritanceType': 'None'},
    {'Identity': 'Sales', 'Trustee': 'svc@x', 'AccessControlType': 'Allow', 'AccessRights': ['SendAs'],
     'IsInherited': False, 'InheritanceType': 'None'},
    {'Identity': 'Sales', 'Trustee': 'blocked@x', 'AccessControlType': 'Deny', 'AccessRights': 'SendAs',
     'IsInherited': True, 'InheritanceType': 'All'},
    {'Identity': 'Sales', 'Trustee': 'other@x', 'AccessControlType': 'Allow', 'AccessRights': ['ReadPermission'],
     'IsInherited': False, 'InheritanceType': 'None'},
]
MAILBOX = [{'RecipientTypeDetails': 'SharedMailbox', 'ExternalDirectoryObjectId': 'ABC-1',
            'PrimarySmtpAddress': 'sales@x', 'UserPrincipalName': 'sales@x.onmicrosoft.com'}]


def _answers(address, cas=None, permissions=(), send_as=()):
    return {('Get-CASMailbox', address): cas or [{'ImapEnabled': True, 'PopEnabled': False,
                                                  'SmtpClientAuthenticationDisabled': None}],
            ('Get-Mailbox', address): MAILBOX, ('Get-MailboxPermission', address): list(permissions),
            ('Get-RecipientPermission', address): list(send_as)}


def test_every_fullaccess_and_send_as_entry_as_read_deny_and_self_included():
    admin = FakeAdmin(_answers('sales@x', permissions=PERMISSIONS, send_as=RECIPIENT_PERMISSIONS))
    facts = _exchange.read_mailbox(admin, 'sales@x', 'svc@x')
    assert facts == {
        'address': 'sales@x', 'account': 'svc@x', 'exists': True, 'imap_enabled': True, 'pop_enabled': False,
        'smtp_client_authentication_disabled': None, 'recipient_type_details': 'SharedMailbox',
        'external_directory_object_id': 'abc-1', 'primary_smtp_address': 'sales@x',
        'user_principal_name': 'sales@x.onmicrosoft.com',
        'full_access': [
            {'user': 'NT AUTHORITY\\SELF', 'access_rights': ['FullAccess', 'ReadPermission'], 'deny': False,
             'is_inherited': False},
            {'user': 'svc@x', 'access_rights': ['FullAccess'], 'deny': False, 'is_inherited': False},
            {'user': 'svc@x', 'access_rights': ['FullAccess'], 'deny': True, 'is_inherited': True},
            {'user': 'old@x', 'access_rights': ['FullAccess', 'ReadPermission'], 'deny': False, 'is_inherited': False},
        ],
        'send_as': [
            {'trustee': 'NT AUTHORITY\\SELF', 'access_rights': ['SendAs'], 'deny': False, 'is_inherited': False},
            {'trustee': 'svc@x', 'access_rights': ['SendAs'], 'deny': False, 'is_inherited': False},
            {'trustee': 'blocked@x', 'access_rights': ['SendAs'], 'deny': True, 'is_inherited': True},
        ],
        'send_as_read': {'ok': True, 'error_class': None, 'message': None, 'graph_error': None},
    }, 'no verdict (effective SMTP AUTH, FullAccess or Send As minus Deny): the judge computes those'
    assert admin.called == ['Get-CASMailbox', 'Get-Mailbox', 'Get-MailboxPermission', 'Get-RecipientPermission']


def test_send_as_deny_without_access_control_type_falls_back_to_deny():
    assert _exchange.send_as_entries([{'Trustee': 'a@x', 'AccessRights': ['SendAs'], 'Deny': True}]) == [
        {'trustee': 'a@x', 'access_rights': ['SendAs'], 'deny': True, 'is_inherited': None}]


def test_a_refused_send_as_read_is_recorded_not_fatal():
    error = _exchange.ExchangeError('forbidden', '/adminapi/beta/t/InvokeCommand', 'HTTP 401 Unauthorized: User is '
                                    'not allowed to call Get-RecipientPermission', status=401,
                                    permission=_exchange.CMDLET_ROLES['Get-RecipientPermission'],
                                    cmdlet='Get-RecipientPermission')
    answers = _answers('sales@x', permissions=PERMISSIONS)
    answers[('Get-RecipientPermission', 'sales@x')] = error
    answers[('Get-TransportConfig', None)] = [{'SmtpClientAuthenticationDisabled': True}]
    answers.update(_answers('svc@x'))  # the account, read for its own SMTP AUTH setting
    out = _exchange.read_settings(FakeAdmin(answers), [{'address': 'sales@x', 'account': 'svc@x'}])
    sales = out['mailboxes'][0]
    assert sales['ok'] is True and sales['exists'] is True and len(sales['full_access']) == 4
    assert sales['send_as'] is None, 'not read is None, never an empty list'
    assert sales['send_as_read']['ok'] is False and sales['send_as_read']['error_class'] == 'forbidden'
    assert sales['send_as_read']['graph_error']['cmdlet'] == 'Get-RecipientPermission'
    assert [e['cmdlet'] for e in out['errors']] == ['Get-RecipientPermission']
    assert 'Exchange Recipient Administrator' in out['errors'][0]['message']


def test_settings_carry_the_address_the_account_and_the_transport_config_as_read():
    answers = _answers('a@x', cas=[{'ImapEnabled': False, 'PopEnabled': True, 'SmtpClientAuthenticationDisabled': False}])
    answers[('Get-TransportConfig', None)] = [{'SmtpClientAuthenticationDisabled': True, 'Identity': 'contoso'}]
    answers.update(_answers('svc@x', cas=[{'ImapEnabled': True, 'PopEnabled': True,
                                           'SmtpClientAuthenticationDisabled': True}]))
    out = _exchange.read_settings(FakeAdmin(answers), [{'address': 'a@x'}, {'mailbox': 'a@x', 'account': 'svc@x'}])
    assert out['transport_config'] == {'smtp_client_authentication_disabled': True, 'identity': 'contoso', 'ok': True,
                                       'error_class': None, 'message': None, 'graph_error': None}
    # svc@x signs in to SMTP for a mailbox: its own SMTP AUTH setting is read, once, as an entry with role account.
    assert [(m['address'], m['account'], m['ok'], m.get('role')) for m in out['mailboxes']] == [
        ('a@x', 'a@x', True, None), ('a@x', 'svc@x', True, None), ('svc@x', 'svc@x', True, 'account')]
    assert out['mailboxes'][2]['smtp_client_authentication_disabled'] is True
    assert out['mailboxes'][0]['smtp_client_authentication_disabled'] is False and out['errors'] == []
    assert out['mailboxes'][0]['send_as'] == [], 'read and empty: no Send As at all'


def test_unknown_mailbox_is_not_an_error():
    admin = FakeAdmin({('Get-CASMailbox', 'ghost@x'): _graph.NotFound('x')})
    facts = _exchange.read_mailbox(admin, 'ghost@x')
    assert facts['exists'] is False and facts['full_access'] == [] and facts['send_as'] is None
    assert facts['recipient_type_details'] is None and admin.called == ['Get-CASMailbox']


def test_only_read_cmdlets_are_allowed():
    admin = _exchange.ExchangeAdmin(None, 'https://outlook.office365.com', 't', 'token', 0)
    with pytest.raises(ValueError, match='read-only'):
        admin.invoke('Set-CASMailbox', Identity='x', ImapEnabled=False)
    with pytest.raises(ValueError, match='read-only'):
        admin.invoke('Add-RecipientPermission', Identity='x', Trustee='y', AccessRights='SendAs')


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
    for role in ('Global Reader', 'Exchange Recipient Administrator'):
        assert role in _exchange.NEEDED


class _Response(object):
    def __init__(self, status, body, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}
        self.text = json.dumps(body)

    def json(self):
        return self._body


class _Session(object):
    """Answers each POST with the next of ANSWERS (status, body); records the headers and bodies sent."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.sent = []

    def post(self, url, params=None, json=None, headers=None):  # pylint: disable=redefined-outer-name
        self.sent.append((url, dict(headers or {}), json))
        status, body = self.answers.pop(0)
        return _Response(status, body)


def _admin(session, tenant_id=TENANT_ID):
    return _exchange.ExchangeAdmin(session, 'https://outlook.office365.com', 'contoso.onmicrosoft.com', 'tok',
                                   float('inf'), tenant_id=tenant_id)


def test_the_anchor_header_is_sent_on_every_invoke_command_pages_included():
    session = _Session([(200, {'value': [{'Identity': 'a'}],
                               '@odata.nextLink': 'https://outlook.office365.com/adminapi/beta/x/InvokeCommand?$skiptoken=1'}),
                        (200, {'value': [{'Identity': 'b'}]})])
    assert [v['Identity'] for v in _admin(session).invoke('Get-Mailbox')] == ['a', 'b']
    assert [headers.get('X-AnchorMailbox') for _url, headers, _body in session.sent] == [ANCHOR, ANCHOR]
    assert session.sent[0][0] == 'https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand'
    assert session.sent[0][2] == {'CmdletInput': {'CmdletName': 'Get-Mailbox', 'Parameters': {}}}
    fallback = _Session([(200, {'value': []})])
    _admin(fallback, tenant_id=None).invoke('Get-TransportConfig')
    assert fallback.sent[0][1]['X-AnchorMailbox'].endswith('}@contoso.onmicrosoft.com'), 'no tid: the tenant given'


# The shapes callers read the cause from (error.details[].message, error.innererror.internalexception.message):
# https://github.com/KelvinTegelaar/CIPP-API/blob/master/Modules/CIPPCore/Public/GraphHelper/New-ExoRequest.ps1
NOT_FOUND = ("Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation "
             "couldn't be performed because object 'ghost@x' couldn't be found on 'AM0PR01A001DC01.prod.outlook.com'.")


@pytest.mark.parametrize('body, cause', [
    ({'error': {'code': 'BadRequest', 'message': 'Invalid Operation',
                'details': [{'code': 'Context', 'target': '',
                             'message': "A parameter cannot be found that matches parameter name 'Foo'."}]}},
     "A parameter cannot be found that matches parameter name 'Foo'."),
    ({'error': {'code': 'InternalServerError', 'message': 'Invalid Operation',
                'innererror': {'internalException': {'message': 'The mailbox is being moved.'}}}},
     'The mailbox is being moved.'),
    ({'error': {'code': 'BadRequest', 'message': 'Invalid Operation', 'details': [{'message': NOT_FOUND}]}},
     "The operation couldn't be performed because object 'ghost@x' couldn't be found on "
     "'AM0PR01A001DC01.prod.outlook.com'. (ManagementObjectNotFoundException)"),
    ({'error': {'code': 'BadRequest', 'message': 'Invalid Operation', 'innererror': {'message': 'inner only'}}},
     'inner only'),
    # https://github.com/MicrosoftDocs/office-docs-powershell/issues/8058: the same text in message and innererror
    ({'error': {'code': 'Unauthorized', 'message': 'User is not allowed to call Get-RecipientPermission',
                'innererror': {'message': 'User is not allowed to call Get-RecipientPermission',
                               'type': 'Microsoft.Exchange.Admin.OData.Core.ODataServiceException'}}}, None),
    ({'error': 'text'}, None), (None, None), ({'error': {'message': 'm', 'details': [{}, 'x']}}, None),
])
def test_the_cause_inside_an_admin_api_error(body, cause):
    assert _exchange.error_cause(body) == cause


def test_a_generic_message_is_reported_with_its_cause():
    body = {'error': {'code': 'BadRequest', 'message': 'Invalid Operation',
                      'details': [{'code': 'Context', 'target': '', 'message': 'The cause.'}],
                      'innererror': {'internalexception': {'message': 'The cause.'}}}}
    out = _exchange.read_settings(_admin(_Session([(400, body), (400, body)])), [{'address': 'a@x'}])
    assert out['transport_config']['graph_error'] == {
        'call': 'POST /adminapi/beta/contoso.onmicrosoft.com/InvokeCommand', 'status': 400, 'code': 'BadRequest',
        'permission': None, 'cmdlet': 'Get-TransportConfig', 'cause': 'The cause.'}
    message = out['errors'][0]['message']
    assert 'Invalid Operation' in message and 'cause: The cause.' in message and '(Get-TransportConfig)' in message
    assert out['mailboxes'][0]['graph_error']['cmdlet'] == 'Get-CASMailbox'


def test_not_allowed_to_call_is_a_missing_role_not_a_bad_token():
    body = {'error': {'code': 'Unauthorized', 'message': 'User is not allowed to call Get-TransportConfig',
                      'innererror': {'message': 'User is not allowed to call Get-TransportConfig',
                                     'type': 'Microsoft.Exchange.Admin.OData.Core.ODataServiceException'}}}
    out = _exchange.read_settings(_admin(_Session([(401, body)])), [])
    config = out['transport_config']
    assert config['error_class'] == 'forbidden' and config['graph_error']['status'] == 401
    assert 'Global Reader' in config['graph_error']['permission'] and 'View-Only Configuration' in config['message']
    bad_token = _admin(_Session([(401, {'error': {'code': 'InvalidToken', 'message': 'Token expired'}})]))
    assert _exchange.read_settings(bad_token, [])['transport_config']['error_class'] == 'unauthorized'


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
