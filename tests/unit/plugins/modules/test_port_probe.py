# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import os
import socket
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.ece_o365.preflight.plugins.modules import port_probe


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.parametrize('args, message', [
    ({'targets': [{'host': 'h', 'port': 0}]}, 'port must be 1-65535'),
    ({'targets': [{'host': 'h', 'port': 25, 'mode': 'starttls', 'protocol': 'none'}]}, 'mode starttls needs protocol'),
    ({'targets': [{'host': 'h', 'port': 1}], 'timeout': 0}, 'timeout must be more than 0'),
    ({'targets': [{'host': 'h', 'port': 1}], 'deadline': -1}, 'deadline must be more than 0'),
    ({'targets': [{'host': 'h', 'port': 1}], 'concurrency': 0}, 'concurrency must be at least 1'),
    ({'targets': [{'host': 'h', 'port': 1}], 'ca_path': '/nonexistent/ca.pem'}, 'ca_path /nonexistent/ca.pem'),
    ({'targets': [{'port': 1}]}, 'host'),
    ({'targets': [{'host': 'h', 'port': 1, 'mode': 'ssl'}]}, 'mode'),
    ({'targets': [{'host': 'h', 'port': 1, 'purpose': 'smtp'}]}, 'purpose'),
    ({'targets': [{'host': 'h', 'port': 1}], 'proxy': 'socks5://u:Pl4nted@127.0.0.1:1080'},
     'proxy must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. http://proxy.corp.example:3128; '
     'socks5:// proxies are not supported, got socks5://u:********@127.0.0.1:1080'),
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(port_probe, args)
    assert result['failed'] is True and message in result['msg']


def test_unreachable_is_a_finding_not_a_failure(run_module):
    port = _closed_port()
    result = run_module(port_probe, {'targets': [{'host': '127.0.0.1', 'port': port}], '_ansible_check_mode': True})
    assert 'failed' not in result and result['changed'] is False
    assert result['results'][0]['error_class'] == 'refused' and 'error' not in result['results'][0]
    assert result['results'][0]['purpose'] == 'extra' and result['results'][0]['ok'] is False
    assert result['summary'] == {'total': 1, 'ok': 0, 'failed': 1, 'errors': {'refused': 1}}
    assert '127.0.0.1:%d' % port in result['results'][0]['message'] and 'Fix:' in result['results'][0]['message']


def test_fail_on_error_fails_with_every_result(run_module):
    port = _closed_port()
    result = run_module(port_probe, {'targets': [{'host': '127.0.0.1', 'port': port}], 'fail_on_error': True})
    assert result['failed'] is True and '1 of 1 targets failed' in result['msg']
    assert result['results'][0]['error_class'] == 'refused'


@pytest.mark.parametrize('proxy, detail', [
    ('socks5://127.0.0.1:1080', 'HTTPS_PROXY must be an http:// or https:// URL (an HTTP CONNECT proxy)'),
    ('http://[::1:3128', 'Invalid IPv6 URL'),
    ('http://127.0.0.1:99999', 'Port out of range'),
])
def test_a_proxy_from_the_environment_that_cannot_be_used_is_class_proxy(run_module, monkeypatch, proxy, detail):
    """Regression (reliability suite, inputs): _proxy.parse raised in the probe's thread, the thread died
    and the target was reported as class deadline ('the call's deadline of 60s passed')."""
    monkeypatch.setenv('HTTPS_PROXY', proxy)
    result = run_module(port_probe, {'targets': [{'host': '127.0.0.1', 'port': _closed_port(), 'proxy': True}]})
    assert result['results'][0]['error_class'] == 'proxy', result['results'][0]
    assert detail in result['results'][0]['message'] and 'deadline' not in result['results'][0]['message']


COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))), '.build', 'collections')


def _as_ansible_runs_it(args):
    """The module in a process of its own, arguments from a file: the JSON it prints (invocation included)."""
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict((k, v) for k, v in os.environ.items() if not k.lower().endswith('_proxy'))
    env['PYTHONPATH'] = COLLECTIONS
    try:
        out = subprocess.run([sys.executable, '-m', 'ansible_collections.ece_o365.preflight.plugins.modules.port_probe',
                              handle.name], capture_output=True, text=True, env=env, timeout=60, check=False)
    finally:
        os.unlink(handle.name)
    return out.stdout


def test_the_proxy_password_appears_nowhere_and_the_proxy_is_shown():
    """The proxy option is not no_log: its password (and the whole URL) are no_log values instead, so the
    results show the proxy with only the password replaced, and Ansible masks the secret everywhere else."""
    password = 'Pl4nted-Proxy-pw'
    proxy = 'http://ece:%s@127.0.0.1:%d' % (password, _closed_port())
    stdout = _as_ansible_runs_it({'targets': [{'host': 'login.microsoftonline.com', 'port': 443,
                                               'purpose': 'token_endpoint'}], 'proxy': proxy})
    assert password not in stdout and 'ece:Pl4' not in stdout
    result = json.loads(stdout)
    (target,) = result['results']
    assert target['proxy'] == proxy.replace(password, '********')
    assert target['error_class'] == 'proxy_unreachable' and target['purpose'] == 'token_endpoint'
    assert 'proxy http://ece:********@127.0.0.1:' in target['message']
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' not in json.dumps(result['results'])
    assert result['invocation']['module_args']['proxy'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


def test_a_proxy_without_a_password_is_shown_in_full():
    proxy = 'http://proxy-user@127.0.0.1:%d' % _closed_port()
    stdout = _as_ansible_runs_it({'targets': [{'host': 'login.microsoftonline.com', 'port': 443}],
                                  'proxy': proxy, 'no_proxy': 'localhost,.corp.invalid'})
    result = json.loads(stdout)
    assert result['results'][0]['proxy'] == proxy
    assert proxy in result['results'][0]['message']
    assert result['invocation']['module_args']['proxy'] == proxy
    assert result['invocation']['module_args']['no_proxy'] == ['localhost', '.corp.invalid']
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' not in stdout


def test_no_proxy_as_a_list_or_a_string(run_module):
    for no_proxy in (['127.0.0.2', 'localhost'], '127.0.0.2, localhost'):
        result = run_module(port_probe, {'targets': [{'host': 'localhost', 'port': _closed_port(),
                                                      'mode': 'tcp', 'proxy': True}],
                                         'proxy': 'http://127.0.0.1:9', 'no_proxy': no_proxy, 'timeout': 0.5})
        assert result['results'][0]['proxy'] is None, no_proxy
