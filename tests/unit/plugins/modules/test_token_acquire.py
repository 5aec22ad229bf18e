# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import base64
import json
import socket
import sys

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth
from ansible_collections.ece_o365.preflight.plugins.modules import token_acquire

AUTH = {'tenant': 'contoso.example', 'client_id': 'c1d2', 'client_secret': 'PlantedClientSecret'}


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip('=')


ACCESS = '%s.%s.sig' % (_b64({'alg': 'RS256'}), _b64({
    'aud': 'https://outlook.office.com', 'upn': 'support@contoso.example', 'scp': 'SMTP.Send', 'iat': 1000, 'exp': 5000}))
ID_TOKEN = '%s.%s.sig' % (_b64({'alg': 'RS256'}), _b64({'preferred_username': 'jdoe@contoso.example'}))


class FakeApp(object):
    """What msal returns, without the network."""

    def __init__(self, reply):
        self.reply = reply
        self.calls = []

    def acquire_token_for_client(self, scopes):
        self.calls.append(('client_credentials', scopes))
        return dict(self.reply)

    def acquire_token_by_refresh_token(self, refresh_token, scopes):
        self.calls.append(('refresh_token', refresh_token, scopes))
        return dict(self.reply)

    def acquire_token_by_username_password(self, username, password, scopes):
        self.calls.append(('password', username, scopes))
        return dict(self.reply)


@pytest.fixture
def fake_msal(monkeypatch):
    apps = []

    def install(reply):
        def build(params, session, confidential):
            app = FakeApp(reply)
            app.confidential = confidential
            apps.append(app)
            return app
        monkeypatch.setattr(_auth, 'build_app', build)
        return apps
    return install


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize('args, message', [
    ({'tenant': 't'}, 'client_id is required'),
    ({'client_id': 'c', 'client_secret': 's'}, 'one of tenant or authority'),
    (dict(AUTH, authority='http://127.0.0.1/t'), 'authority must be an https URL'),
    (dict(AUTH, grant='refresh_token'), 'grant refresh_token needs refresh_token'),
    (dict(AUTH, grant='password', username='u'), 'grant password needs username and password'),
    ({'tenant': 't', 'client_id': 'c'}, 'grant client_credentials needs client_secret or client_certificate_path'),
    (dict(AUTH, scopes=['', ' ']), 'scopes must name at least one scope'),
    (dict(AUTH, ca_path='/nonexistent/ca.pem'), 'ca_path /nonexistent/ca.pem'),
    (dict(AUTH, timeout=0), 'timeout must be more than 0'),
    (dict(AUTH, client_certificate_path='/nonexistent.pem'), 'mutually exclusive'),
    (dict(AUTH, client_private_key_path='/k.pem'), 'client_certificate_path'),
    (dict(AUTH, cloud='mars'), 'cloud'),
    (dict(AUTH, proxy='socks5://ece:PlantedProxyPw@127.0.0.1:1080'), 'proxy must be an http:// or https:// URL'),
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(token_acquire, args)
    assert result['failed'] is True and message in result['msg']
    assert 'PlantedProxyPw' not in json.dumps(result)


def test_return_token_needs_no_log_on_the_task_and_asks_nothing(run_module, fake_msal):
    apps = fake_msal({'access_token': ACCESS})
    result = run_module(token_acquire, dict(AUTH, return_token=True))
    assert result['failed'] is True and 'no_log: true on the task' in result['msg'] and apps == []


def test_the_token_is_returned_only_under_no_log(run_module, fake_msal):
    fake_msal({'access_token': ACCESS, 'expires_in': 4000, 'token_source': 'identity_provider'})
    hidden = run_module(token_acquire, dict(AUTH, return_token=True, _ansible_no_log=True))
    assert hidden['access_token'] == ACCESS and hidden['acquired'] is True and hidden['ok'] is True
    assert hidden['error_class'] is None and 'error' not in hidden
    shown = run_module(token_acquire, AUTH)
    assert 'access_token' not in shown and ACCESS not in json.dumps(shown)


def test_missing_msal_is_reported_with_the_library_name(run_module, monkeypatch):
    monkeypatch.setattr(_auth, 'HAS_MSAL', False)
    monkeypatch.setattr(_auth, 'MSAL_IMPORT_ERROR', 'ImportError: No module named msal')
    result = run_module(token_acquire, AUTH)
    assert result['failed'] is True and 'msal' in result['msg']


def test_an_old_msal_is_reported_with_the_version_needed(run_module, monkeypatch):
    monkeypatch.setattr(_auth.msal, '__version__', '1.18.0')
    result = run_module(token_acquire, AUTH)
    assert result['failed'] is True and 'msal >= 1.19' in result['msg']


def test_grant_auto_and_default_scopes(run_module, fake_msal):
    apps = fake_msal({'access_token': ACCESS, 'id_token': ID_TOKEN, 'refresh_token': 'rotated-RT',
                      'scope': 'https://outlook.office.com/SMTP.Send openid'})
    result = run_module(token_acquire, dict(AUTH, refresh_token='PlantedRefreshToken', _ansible_check_mode=True))
    assert result['grant'] == 'refresh_token' and result['changed'] is False
    assert apps[-1].calls == [('refresh_token', 'PlantedRefreshToken', _auth.default_scopes('refresh_token', 'public'))]
    # token_owner is the access token's upn first, then preferred_username (issue 12)
    assert result['token_owner'] == 'support@contoso.example' and result['refresh_token_rotated'] is True
    assert result['token_owner_claim'] == 'upn' and result['token_kind'] == 'delegated'
    assert result['claims']['upn'] == 'support@contoso.example' and result['lifetime_seconds'] == 4000
    for secret in ('PlantedRefreshToken', 'rotated-RT', 'PlantedClientSecret', ACCESS):
        assert secret not in json.dumps(result)
    run_module(token_acquire, dict(AUTH, username='u@contoso.example', password='PlantedPassword'))
    assert apps[-1].calls[0][0] == 'password'
    run_module(token_acquire, dict(AUTH, scopes=['https://outlook.office365.com/.default']))
    assert apps[-1].calls == [('client_credentials', ['https://outlook.office365.com/.default'])]
    assert apps[-1].confidential is True


def test_a_refused_request_is_a_finding_unless_fail_on_error(run_module, fake_msal):
    fake_msal({'error': 'invalid_grant', 'error_codes': [700082], 'error_description':
               'AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: x'})
    finding = run_module(token_acquire, dict(AUTH, refresh_token='rt'))
    assert 'failed' not in finding and finding['acquired'] is False and finding['ok'] is False
    assert finding['error_class'] == 'aadsts' and 'error' not in finding
    assert finding['aadsts']['code'] == 700082 and finding['aadsts']['checklist_item'] == 4
    assert finding['aadsts']['oauth_error'] == 'invalid_grant' and 'error' not in finding['aadsts']
    assert 'TAC checklist item 4' in finding['message']
    gate = run_module(token_acquire, dict(AUTH, refresh_token='rt', fail_on_error=True))
    assert gate['failed'] is True and gate['msg'] == finding['message'] and gate['aadsts']['code'] == 700082


def test_an_unreachable_authority_is_classified(run_module):
    port = _closed_port()
    result = run_module(token_acquire, dict(AUTH, authority='https://127.0.0.1:%d/t' % port, timeout=2,
                                            proxy='http://ece:PlantedProxyPw@127.0.0.1:%d' % _closed_port(),
                                            no_proxy='127.0.0.1'))
    assert result['error_class'] == 'refused' and result['acquired'] is False and 'Fix:' in result['message']
    assert result['proxy'] is None, 'NO_PROXY sends loopback direct'
    assert 'PlantedProxyPw' not in json.dumps(result)


def test_the_module_never_imports_msal_when_it_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, 'msal', None)
    import importlib
    reloaded = importlib.reload(_auth)
    try:
        assert reloaded.HAS_MSAL is False and 'msal' in [name for name, _tb in reloaded.missing_libraries()]
    finally:
        monkeypatch.delitem(sys.modules, 'msal')
        importlib.reload(_auth)


@pytest.mark.parametrize('authority', ['https://[::1/contoso', 'https://127.0.0.1:99999/contoso'])
def test_an_authority_that_is_no_url_fails_clearly(run_module, fake_msal, authority):
    """Regression (reliability suite, inputs): urlsplit raised ValueError (a bad IPv6 literal, a port out of
    range) out of main() as a traceback."""
    apps = fake_msal({'access_token': ACCESS})
    result = run_module(token_acquire, {'client_id': 'c1d2', 'client_secret': 'PlantedClientSecret',
                                        'authority': authority})
    assert result['failed'] is True and apps == []
    assert result['msg'].startswith('authority must be an https URL') and authority in result['msg']
