# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import pytest

from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_protocols


@pytest.mark.parametrize('args, message', [
    ({'mailboxes': [{'login': 'a@x'}], 'access_token': 't', 'login_timeout': 0}, 'login_timeout must be more than 0'),
    ({'mailboxes': [{'login': 'a@x'}], 'access_token': 't', 'ca_path': '/nonexistent.pem'}, 'ca_path /nonexistent.pem'),
    ({'mailboxes': [{'login': 'a@x', 'protocols': ['imap4']}], 'access_token': 't'}, 'protocols'),
    ({'mailboxes': [{'login': 'a@x'}], 'access_token': 't', 'send_test_message': True}, 'test_recipient'),
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(mailbox_protocols, args)
    assert result['failed'] is True and message in result['msg']


def test_no_token_at_all_is_a_finding_per_protocol(run_module):
    result = run_module(mailbox_protocols, {'mailboxes': [{'login': 'a@x', 'protocols': ['imap', 'smtp']}],
                                            'client_id': 'c', 'tenant': 't'})
    assert 'failed' not in result and result['changed'] is False
    assert [r['error'] for r in result['results']] == ['no_token', 'no_token']
    assert result['tokens'][0]['error'] == 'no_token'


def test_default_scopes_follow_the_cloud():
    params = {'cloud': 'usgov', 'scopes': None}
    assert mailbox_protocols.mail_scopes(params)[0] == 'https://outlook.office365.us/IMAP.AccessAsUser.All'
