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


@pytest.mark.parametrize('protocols, expected', [
    (['imap', 'smtp'], ['IMAP.AccessAsUser.All', 'SMTP.Send']),
    (['smtp'], ['SMTP.Send']),
    (['pop3'], ['POP.AccessAsUser.All']),
    (['smtp', 'pop3', 'imap'], ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send']),
])
def test_scopes_are_those_of_the_mailboxs_protocols_only(protocols, expected):
    params = {'cloud': 'public', 'scopes': None}
    assert mailbox_protocols.mail_scopes(params, protocols) == ['https://outlook.office.com/%s' % p for p in expected]
    assert mailbox_protocols.mail_scopes(dict(params, scopes=['x/y']), protocols) == ['x/y'], 'scopes overrides'


def _fake_acquire(calls, owner='svc@x'):
    def acquire(params, environ, grant, scopes, credentials=None, deadline=None):
        calls.append((grant, list(scopes)))
        token = jwt({'upn': owner, 'scp': ' '.join(s.rsplit('/', 1)[-1] for s in scopes),
                     'aud': 'https://outlook.office.com'})
        return ({'acquired': True, 'ok': True, 'error_class': None, 'message': 'ok', 'scopes_requested': list(scopes),
                 'token_owner': owner, 'oid': 'o-1', 'token_kind': 'delegated'}, token, None)
    return acquire


def test_each_refresh_asks_only_for_its_mailboxs_protocols_and_says_so(run_module, monkeypatch):
    calls, jobs = [], []
    monkeypatch.setattr(mailbox_protocols._auth, 'acquire', _fake_acquire(calls))

    def fake_login_all(given, settings, deadline_seconds):
        jobs.extend(given)
        return [dict(_mail.new_result(j['login'], j['protocol'], j['host'], j['port'], j['address']), ok=True)
                for j in given]

    monkeypatch.setattr(_mail, 'login_all', fake_login_all)
    result = run_module(mailbox_protocols, {
        'tenant': 't', 'client_id': 'c', 'client_secret': 's', 'refresh_token': 'rt-one',
        'mailboxes': [{'address': 'sales@x'}, {'address': 'billing@x', 'protocols': ['imap']},
                      {'address': 'other@x'}]})
    assert calls == [('refresh_token', ['https://outlook.office.com/IMAP.AccessAsUser.All',
                                        'https://outlook.office.com/SMTP.Send']),
                     ('refresh_token', ['https://outlook.office.com/IMAP.AccessAsUser.All'])], \
        'default protocols imap and smtp; one redemption per set of scopes; never POP unless asked'
    assert [t['scopes_requested'] for t in result['tokens']] == [
        ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send',
         'offline_access', 'openid', 'profile'],
        ['https://outlook.office.com/IMAP.AccessAsUser.All', 'offline_access', 'openid', 'profile'],
        ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send',
         'offline_access', 'openid', 'profile']]
    assert [(j['address'], j['protocol'], j['login'], j['settings']['sender']) for j in jobs] == [
        ('sales@x', 'imap', 'sales@x', 'sales@x'), ('sales@x', 'smtp', 'svc@x', 'sales@x'),
        ('billing@x', 'imap', 'billing@x', 'billing@x'),
        ('other@x', 'imap', 'other@x', 'other@x'), ('other@x', 'smtp', 'svc@x', 'other@x')]


@pytest.mark.parametrize('cloud', ['public', 'usgov', 'usgov_dod', 'china'])
def test_mail_hosts_follow_the_cloud_unless_given(run_module, monkeypatch, cloud):
    # The values are _auth.CLOUDS' (verified there); what matters here is that the cloud's are used.
    imap, smtp = mailbox_protocols._auth.CLOUDS[cloud]['imap_host'], mailbox_protocols._auth.CLOUDS[cloud]['smtp_host']
    assert (cloud == 'public') is (imap == 'outlook.office365.com')
    jobs = []
    monkeypatch.setattr(_mail, 'login_all', lambda given, settings, deadline: jobs.extend(given) or [
        _mail.new_result(j['login'], j['protocol'], j['host'], j['port'], j['address']) for j in given])
    token = jwt({'upn': 'a@x', 'scp': 'IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send'})
    args = {'access_token': token, 'cloud': cloud, 'mailboxes': [{'address': 'a@x', 'protocols': ['imap', 'pop3', 'smtp']}]}
    run_module(mailbox_protocols, args)
    assert [(j['protocol'], j['host']) for j in jobs] == [('imap', imap), ('pop3', imap), ('smtp', smtp)]
    assert imap == mailbox_protocols._auth.CLOUDS[cloud]['imap_host'] == mailbox_protocols._auth.CLOUDS[cloud]['pop3_host']
    del jobs[:]
    run_module(mailbox_protocols, dict(args, imap_host='imap.example', smtp_host='smtp.example'))
    assert [(j['protocol'], j['host']) for j in jobs] == [('imap', 'imap.example'), ('pop3', imap),
                                                          ('smtp', 'smtp.example')]


def test_smtp_signs_in_as_the_account_given_else_the_token_owner_else_the_login():
    assert mailbox_protocols.smtp_login({'account': 'svc@x', 'login': 'sales@x'}, {'token_owner': 'me@x'}) == 'svc@x'
    assert mailbox_protocols.smtp_login({'account': None, 'login': 'sales@x'}, {'token_owner': 'me@x'}) == 'me@x'
    assert mailbox_protocols.smtp_login({'account': None, 'login': 'sales@x'}, {'token_owner': None}) == 'sales@x'


def test_the_default_protocols_are_imap_and_smtp():
    assert mailbox_protocols.MAILBOX_OPTIONS['protocols']['default'] == ['imap', 'smtp']
    assert "default: [imap, smtp]" in mailbox_protocols.DOCUMENTATION


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
    # IMAP/POP as the mailbox's login; SMTP as the account (the token's owner), MAIL FROM the mailbox.
    assert [(r['address'], r['login'], r['protocol']) for r in result['results']] == [
        ('sales@x', 'sales@x', 'imap'), ('sales@x', 'svc@x', 'smtp'), ('billing@x', 'billing@x', 'pop3')]
    assert [job['settings']['sender'] for job in seen] == ['sales@x', 'sales@x', 'noreply@x']
    assert [(t['address'], t['login'], t['account'], t['token_owner']) for t in result['tokens']] == [
        ('sales@x', 'sales@x', 'svc@x', 'svc@x'), ('billing@x', 'billing@x', None, 'svc@x')]
    assert result['tokens'][0]['scopes'] == ['IMAP.AccessAsUser.All', 'SMTP.Send'] and result['tokens'][0]['ok']
    assert token not in json.dumps(result)


def test_a_token_from_the_services_server_is_ece_s_own_and_an_admin_s_is_not(run_module, monkeypatch):
    """Issue 16: where the token came from travels with its facts; its lifetime is read from exp - iat."""
    monkeypatch.setattr(_mail, 'login_all', lambda given, settings, deadline: [
        _mail.new_result(j['login'], j['protocol'], j['host'], j['port'], j['address']) for j in given])
    token = jwt({'upn': 'a@x', 'scp': 'IMAP.AccessAsUser.All SMTP.Send', 'iat': 1000, 'exp': 5200})
    mailboxes = [{'address': 'a@x', 'access_token': token, 'refreshed_on': 'ece-svc01 (no proxy)'},
                 {'address': 'b@x', 'access_token': token}]
    result = run_module(mailbox_protocols, {'mailboxes': mailboxes})
    services, admin = result['tokens']
    assert (services['source'], services['ece_token'], services['refreshed_on']) == (
        'services_server', True, 'ece-svc01 (no proxy)')
    assert (admin['source'], admin['ece_token'], admin['refreshed_on']) == ('given', False, None)
    assert services['lifetime_seconds'] == 4200 and token not in str(result)
