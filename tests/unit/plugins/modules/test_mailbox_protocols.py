# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _mail
from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_protocols
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__auth import jwt


@pytest.mark.parametrize('args, message', [
    ({'mailboxes': [{'address': 'a@x'}], 'access_token': 't', 'login_timeout': 0}, 'login_timeout must be more than 0'),
    ({'mailboxes': [{'address': 'a@x'}], 'access_token': 't', 'ca_path': '/nonexistent.pem'},
     'ca_path /nonexistent.pem'),
    ({'mailboxes': [{'address': 'a@x', 'protocols': ['imap4']}], 'access_token': 't'}, 'protocols'),
    ({'mailboxes': [{'address': 'a@x'}], 'access_token': 't', 'send_test_message': True}, 'test_recipient'),
    ({'mailboxes': [{'login': 'a@x'}], 'access_token': 't'}, 'address'),
    ({'mailboxes': [{'address': 'a@x'}, {'address': 'A@x', 'login': 'b@x'}], 'access_token': 't'},
     'mailboxes[].address must be unique'),
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(mailbox_protocols, args)
    assert result['failed'] is True and message in result['msg']


def test_no_token_at_all_is_a_finding_per_protocol(run_module):
    result = run_module(mailbox_protocols, {'mailboxes': [{'address': 'a@x', 'protocols': ['smtp', 'imap']}],
                                            'client_id': 'c', 'tenant': 't'})
    assert 'failed' not in result and result['changed'] is False
    assert [(r['address'], r['protocol'], r['ok'], r['error_class']) for r in result['results']] == [
        ('a@x', 'imap', False, 'no_token'), ('a@x', 'smtp', False, 'no_token')]
    assert result['results'][0]['message'].startswith('IMAP outlook.office365.com:993 as a@x: no token: a@x: ')
    assert 'Fix: ' in result['results'][0]['message'] and 'error' not in result['results'][0]
    token = result['tokens'][0]
    assert (token['address'], token['login'], token['ok'], token['error_class']) == ('a@x', 'a@x', False, 'no_token')
    assert result['summary'] == {'total': 2, 'ok': 0, 'failed': 2, 'errors': {'no_token': 2}}


def test_default_scopes_follow_the_cloud():
    params = {'cloud': 'usgov', 'scopes': None}
    assert mailbox_protocols.mail_scopes(params)[0] == 'https://outlook.office365.us/IMAP.AccessAsUser.All'


def test_every_login_and_token_carries_the_address_in_input_order(run_module, monkeypatch):
    seen = []

    def fake_login_all(jobs, settings, deadline_seconds):
        seen.extend(jobs)
        out = []
        for job in jobs:
            result = _mail.new_result(job['login'], job['protocol'], job['host'], job['port'], job['address'])
            result.update(ok=True, message='fake')
            out.append(result)
        return out

    monkeypatch.setattr(_mail, 'login_all', fake_login_all)
    token = jwt({'upn': 'svc@x', 'scp': 'IMAP.AccessAsUser.All SMTP.Send', 'aud': 'https://outlook.office.com'})
    result = run_module(mailbox_protocols, {'access_token': token, 'mailboxes': [
        {'address': 'sales@x', 'login': 'sales@x', 'account': 'svc@x', 'protocols': ['smtp', 'imap']},
        {'address': 'billing@x', 'sender': 'noreply@x', 'protocols': ['pop3']}]})
    assert [(r['address'], r['login'], r['protocol']) for r in result['results']] == [
        ('sales@x', 'sales@x', 'imap'), ('sales@x', 'sales@x', 'smtp'), ('billing@x', 'billing@x', 'pop3')]
    assert [job['settings']['sender'] for job in seen] == ['sales@x', 'sales@x', 'noreply@x']
    assert [(t['address'], t['login'], t['account'], t['token_owner']) for t in result['tokens']] == [
        ('sales@x', 'sales@x', 'svc@x', 'svc@x'), ('billing@x', 'billing@x', None, 'svc@x')]
    assert result['tokens'][0]['scopes'] == ['IMAP.AccessAsUser.All', 'SMTP.Send'] and result['tokens'][0]['ok']
    assert token not in json.dumps(result)
