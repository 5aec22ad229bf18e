# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The token refresh from the services server (issue 16): the requests, the facts without any token, the handover."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.filter import token_refresh
from ansible_collections.ece_o365.preflight.plugins.module_utils import _seal
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__auth import jwt

AUTHORITY = 'https://login.microsoftonline.com/tenant-id'
ACCESS = jwt({'upn': 'support@x', 'oid': 'oid-1', 'scp': 'IMAP.AccessAsUser.All SMTP.Send', 'iat': 1000, 'exp': 5200})
# Microsoft's answer to a refresh refused by Conditional Access (the shape of a v2.0 token endpoint error).
BLOCKED = {'error': 'invalid_grant', 'error_description': 'AADSTS53003: Access has been blocked by Conditional Access '
           'policies. The access policy does not allow token issuance.\r\nTrace ID: t\r\nCorrelation ID: c',
           'error_codes': [53003], 'suberror': 'basic_action'}


KEY = 'f' * 64


def _sealed(token):
    return {'access_token_sealed': _seal.seal(KEY, token)}


def _result(name, status=200, body=None, error_class=None, proxy=None):
    return {'name': name, 'url': AUTHORITY + '/oauth2/v2.0/token', 'status': status, 'json': body, 'ok': not error_class,
            'error_class': error_class, 'message': 'https://...: %s' % error_class if error_class else None,
            'proxy': proxy}


def test_one_request_per_mailbox_with_a_refresh_token_asking_for_its_protocols():
    mailboxes = [{'address': 'support@x', 'refresh_token': 'RT-1'},
                 {'address': 'sales@x', 'account': 'svc@x', 'refresh_token': 'RT-2', 'protocols': ['pop3']},
                 {'address': 'none@x'}]
    urls = token_refresh.token_refresh_requests(mailboxes, AUTHORITY + '/', 'app-id', 'secret~1')
    assert [u['name'] for u in urls] == ['support@x', 'sales@x']
    assert urls[0]['url'] == AUTHORITY + '/oauth2/v2.0/token' and urls[0]['purpose'] == 'token_endpoint'
    assert urls[0]['form'] == {'grant_type': 'refresh_token', 'client_id': 'app-id', 'refresh_token': 'RT-1',
                               'client_secret': 'secret~1',
                               'scope': 'https://outlook.office.com/IMAP.AccessAsUser.All '
                                        'https://outlook.office.com/SMTP.Send offline_access openid profile'}
    assert urls[1]['form']['scope'].startswith('https://outlook.office.com/POP.AccessAsUser.All offline_access')
    usgov = token_refresh.token_refresh_requests(mailboxes[:1], AUTHORITY, 'app-id', None, 'usgov')
    assert 'client_secret' not in usgov[0]['form'] and 'office365.us/IMAP' in usgov[0]['form']['scope']


@pytest.mark.parametrize('args, message', [
    (([{'address': 'a@x', 'refresh_token': 'r'}], '', 'app'), 'authority'),
    (([{'address': 'a@x', 'refresh_token': 'r'}], AUTHORITY, 'app', None, 'mars'), 'unknown cloud'),
    (([{'refresh_token': 'r'}], AUTHORITY, 'app'), 'address'),
])
def test_bad_input_is_named(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        token_refresh.token_refresh_requests(*args)


def test_the_facts_of_each_answer_name_where_it_ran_and_never_carry_a_token():
    registered = {'results': [
        _result('support@x', body=dict(_sealed(ACCESS), token_type='Bearer', expires_in=3599,
                                       scope='https://outlook.office.com/IMAP.AccessAsUser.All')),
        _result('sales@x', status=400, body=BLOCKED, proxy='http://proxy:3128'),
        _result('other@x', status=None, error_class='proxy'),
        _result('html@x', status=403, body=None),
    ]}
    ok, blocked, unreachable, page = token_refresh.token_refresh_facts(registered, 'ece-svc01', KEY)
    assert (ok['acquired'], ok['token_owner'], ok['oid'], ok['expires_in'], ok['refreshed_on']) == (
        True, 'support@x', 'oid-1', 3599, 'ece-svc01 (no proxy)')
    assert ok['source'] == 'services_server' and ok['host'] == 'ece-svc01'
    assert blocked['acquired'] is False and blocked['aadsts']['code'] == 53003
    assert blocked['refreshed_on'] == 'ece-svc01 through proxy http://proxy:3128'
    assert blocked['message'].startswith('refresh from ece-svc01 through proxy http://proxy:3128: HTTP 400')
    assert (unreachable['error_class'], page['error_class']) == ('proxy', 'http_status')
    assert ACCESS not in json.dumps([ok, blocked, unreachable, page])
    assert token_refresh.token_refresh_facts({'skipped': True, 'changed': False}, 'ece-app01') is None
    # Sealed with another key (the roles disagree on the inputs): no token, so not a success.
    wrong = token_refresh.token_refresh_facts(registered, 'ece-svc01', 'e' * 64)[0]
    assert wrong['acquired'] is False and wrong['error_class'] == 'protocol' and 'could not be opened' in wrong['message']


def test_the_logins_take_the_first_services_server_s_token_and_keep_an_admin_s():
    hostvars = {'svc1': {'__network_token_refresh': {'results': [_result('support@x', status=400, body=BLOCKED)]}},
                'svc2': {'__network_token_refresh': {'results': [_result('SUPPORT@x', body=_sealed('AT-2'))]}},
                'svc3': {'__network_token_refresh': {'results': [_result('support@x', body=_sealed('AT-3'))]}},
                'svc4': {'__network_token_refresh': {'results': [_result('other@x', body={'access_token': 'CLEAR'})]}},
                'app1': {}}
    tokens = token_refresh.services_access_tokens(hostvars, ['app1', 'svc1', 'svc2', 'svc3', 'svc4', 'gone'], KEY)
    assert tokens == {'support@x': {'access_token': 'AT-2', 'refreshed_on': 'svc2 (no proxy)'}}
    mailboxes = token_refresh.with_services_tokens(
        [{'address': 'Support@x', 'refresh_token': 'RT'}, {'address': 'sales@x', 'access_token': 'ADMIN'}], tokens)
    assert mailboxes[0]['access_token'] == 'AT-2' and mailboxes[0]['refreshed_on'] == 'svc2 (no proxy)'
    assert mailboxes[1] == {'address': 'sales@x', 'access_token': 'ADMIN'}


def test_the_seal_key_is_the_same_from_the_same_inputs_and_none_without_secrets():
    mailboxes = [{'address': 'b@x', 'refresh_token': 'RT-2'}, {'address': 'a@x', 'refresh_token': 'RT-1'}]
    key = token_refresh.token_seal_key(mailboxes, 'secret')
    assert key == token_refresh.token_seal_key(list(reversed(mailboxes)), 'secret') and len(key) == 64
    assert key != token_refresh.token_seal_key(mailboxes, 'another secret')
    assert token_refresh.token_seal_key([{'address': 'a@x'}], None) is None
