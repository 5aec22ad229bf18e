# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import socket

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
])
def test_bad_arguments_fail_clearly(run_module, args, message):
    result = run_module(port_probe, args)
    assert result['failed'] is True and message in result['msg']


def test_unreachable_is_a_finding_not_a_failure(run_module):
    port = _closed_port()
    result = run_module(port_probe, {'targets': [{'host': '127.0.0.1', 'port': port}], '_ansible_check_mode': True})
    assert 'failed' not in result and result['changed'] is False
    assert result['results'][0]['error'] == 'refused'
    assert result['summary'] == {'total': 1, 'ok': 0, 'failed': 1, 'errors': {'refused': 1}}
    assert '127.0.0.1:%d' % port in result['results'][0]['message'] and 'Fix:' in result['results'][0]['message']


def test_fail_on_error_fails_with_every_result(run_module):
    port = _closed_port()
    result = run_module(port_probe, {'targets': [{'host': '127.0.0.1', 'port': port}], 'fail_on_error': True})
    assert result['failed'] is True and '1 of 1 targets failed' in result['msg']
    assert result['results'][0]['error'] == 'refused'


@pytest.mark.parametrize('proxy, detail', [
    ('socks5://127.0.0.1:1080', 'only http:// proxies (HTTP CONNECT) are supported'),
    ('http://[::1:3128', 'Invalid IPv6 URL'),
    ('http://127.0.0.1:99999', 'Port out of range'),
])
def test_a_proxy_that_cannot_be_used_is_class_proxy(run_module, proxy, detail):
    """Regression (reliability suite, inputs): _proxy.parse raised in the probe's thread, the thread died
    and the target was reported as class deadline ('the call's deadline of 60s passed')."""
    result = run_module(port_probe, {'targets': [{'host': '127.0.0.1', 'port': _closed_port(), 'proxy': True}],
                                     'proxy': proxy})
    assert result['results'][0]['error'] == 'proxy', result['results'][0]
    assert detail in result['results'][0]['message'] and 'deadline' not in result['results'][0]['message']
