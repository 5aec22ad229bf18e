# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""url_reach as a module: argument validation, check mode, findings vs failures, secrets, libraries."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _http
from ansible_collections.ece_o365.preflight.plugins.modules import url_reach

SECRET = 'Bearer pl4nted-t0ken-0123456789'
PROXY_PASSWORD = 'pr0xy-S3cret-pw'
RESULT_KEYS = {
    'name', 'url', 'purpose', 'expect', 'ok', 'error_class', 'message', 'status', 'reason', 'method', 'final_url',
    'redirects', 'proxy', 'headers', 'timings', 'tls', 'server_date', 'server_time', 'clock_skew_seconds',
    'body_bytes', 'body_truncated', 'body_excerpt', 'json'}
COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))), '.build', 'collections')


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch):
    for name in ('HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY',
                 'no_proxy', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def json_server():
    """An HTTP server on 127.0.0.1 answering every request with a small JSON document; yields its URL."""
    body = json.dumps({'issuer': 'https://login.example/tenant-0001/v2.0'}).encode()
    reply = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n'
             b'Date: Mon, 03 Mar 2025 10:00:00 GMT\r\nContent-Length: %d\r\n\r\n' % len(body)) + body
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(16)
    seen = []

    def serve():
        while True:
            try:
                conn, dummy = sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(65536))
                    conn.sendall(reply)
                except OSError:
                    pass

    thread = threading.Thread(target=serve)
    thread.daemon = True
    thread.start()
    yield 'http://127.0.0.1:%d/v2.0/.well-known/openid-configuration' % sock.getsockname()[1], seen
    sock.close()


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_check_mode_requests_and_reports_unchanged(run_module, json_server):
    url, seen = json_server
    expect = {'status': [200], 'assertions': ["contains(issuer, 'tenant-0001')"]}
    result = run_module(url_reach, {'urls': [{'url': url, 'purpose': 'oidc_discovery', 'expect': expect}],
                                    '_ansible_check_mode': True})

    assert 'failed' not in result
    assert result['changed'] is False
    assert len(seen) == 1 and seen[0].startswith(b'GET /v2.0/.well-known/openid-configuration HTTP/1.1')
    (reach,) = result['results']
    assert set(reach) == RESULT_KEYS
    assert reach['ok'] is True and reach['status'] == 200 and reach['error_class'] is None and reach['message'] is None
    assert reach['purpose'] == 'oidc_discovery' and reach['expect'] == expect
    assert reach['json'] == {'issuer': 'https://login.example/tenant-0001/v2.0'}
    assert reach['server_time'] == '2025-03-03T10:00:00Z'
    assert result['summary']['total'] == 1 and result['summary']['ok'] == 1


def test_unreachable_url_is_a_finding_not_a_failure(run_module):
    port = free_port()
    result = run_module(url_reach, {'urls': [{'url': 'http://127.0.0.1:%d/' % port}], 'timeout': 2})

    assert 'failed' not in result and result['changed'] is False
    assert result['results'][0]['error_class'] == 'refused' and result['results'][0]['ok'] is False
    assert 'error' not in result['results'][0] and result['results'][0]['purpose'] == 'extra'
    assert result['summary']['by_class'] == {'refused': 1}


def test_fail_on_error_fails_with_the_results(run_module, json_server):
    url, dummy = json_server
    port = free_port()
    result = run_module(url_reach, {'urls': [{'url': url}, {'url': 'http://127.0.0.1:%d/' % port}],
                                    'fail_on_error': True, 'timeout': 2})

    assert result['failed'] is True and result['changed'] is False
    assert result['msg'].startswith('1 of 2 URLs failed: http://127.0.0.1:%d/: the connection was refused' % port)
    assert [r['ok'] for r in result['results']] == [True, False]


@pytest.mark.parametrize('args, message', [
    ({'urls': [{'url': 'https://a.example/', 'method': 'POST'}]}, 'POST'),
    ({'urls': [{'url': 'ftp://a.example/'}]}, "urls[0].url: 'ftp://a.example/' is not an http:// or https:// URL"),
    ({'urls': [{'url': 'https://a.example/', 'expect': {'status': [700]}}]},
     'urls[0].expect.status[0]: must be an HTTP status code (100-599), not 700'),
    ({'urls': [{'url': 'https://a.example/', 'expect': {'body': 'x'}}]}, 'body'),
    ({'urls': [{'url': 'https://a.example/', 'purpose': 'mail'}]}, 'purpose'),
    ({'urls': [{'url': 'https://a.example/', 'nope': 1}]}, 'nope'),
    # Verdicts moved to the controller: their options are gone.
    ({'urls': [{'url': 'https://a.example/', 'status_code': [200]}]}, 'status_code'),
    ({'urls': [{'url': 'https://a.example/', 'assertions': ['issuer']}]}, 'assertions'),
    ({'urls': [{'url': 'https://a.example/'}], 'expected_issuers': ['DigiCert*']}, 'expected_issuers'),
    ({'urls': [{'url': 'https://a.example/'}], 'proxy': 'socks5://u:Pl4nted@127.0.0.1:1080'},
     'url_reach: bad arguments: proxy must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. '
     'http://proxy.corp.example:3128; socks5:// proxies are not supported, got socks5://u:********@127.0.0.1:1080'),
    ({'urls': []}, 'urls: must be a non-empty list'),
    ({}, 'urls'),
])
def test_bad_arguments_fail_naming_the_item(run_module, args, message):
    result = run_module(url_reach, args)

    assert result['failed'] is True
    assert message in result['msg']
    assert 'results' not in result


def test_secrets_never_come_back(run_module, json_server, monkeypatch):
    url, seen = json_server
    monkeypatch.setenv('HTTPS_PROXY', 'http://alice:%s@proxy.corp.invalid:3128' % PROXY_PASSWORD)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    result = run_module(url_reach, {'urls': [{'url': url, 'headers': {'Cookie': 'sid=c00kie-secret-value'}}],
                                    'headers': {'Authorization': SECRET}})

    text = json.dumps(result)
    assert result['results'][0]['ok'] is True
    assert SECRET not in text and 'pl4nted-t0ken' not in text and 'c00kie-secret-value' not in text
    assert PROXY_PASSWORD not in text
    assert 'request_headers' not in result['results'][0]
    # The server did receive them: they are hidden from the output, not dropped from the request.
    assert b'Authorization: ' + SECRET.encode() in seen[0]


def test_secret_values_are_registered_as_no_log(json_server, monkeypatch):
    """The module hands secret header values and proxy passwords to AnsibleModule.no_log_values,
    which masks them everywhere, the invocation's module_args included."""
    from ansible.module_utils import basic
    from ansible_collections.ece_o365.preflight.tests.unit.plugins.modules.utils import (
        AnsibleExitJson, patch_module_args)

    url, dummy = json_server
    captured = {}

    def exit_json(self, **kwargs):
        captured['no_log_values'] = set(self.no_log_values)
        raise AnsibleExitJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    with patch_module_args({'urls': [{'url': url}], 'headers': {'Authorization': SECRET},
                            'proxy': 'http://bob:%s@127.0.0.1:9/' % PROXY_PASSWORD, 'no_proxy': ['127.0.0.1']}):
        with pytest.raises(AnsibleExitJson):
            url_reach.main()
    assert {SECRET, PROXY_PASSWORD, 'http://bob:%s@127.0.0.1:9/' % PROXY_PASSWORD} <= captured['no_log_values']


def test_missing_requests_is_reported(run_module, monkeypatch):
    monkeypatch.setattr(_http, 'HAS_REQUESTS', False)
    monkeypatch.setattr(_http, 'REQUESTS_IMPORT_ERROR', 'Traceback: No module named requests')
    result = run_module(url_reach, {'urls': [{'url': 'https://a.example/'}]})

    assert result['failed'] is True
    assert 'Failed to import the required Python library (requests)' in result['msg']


def test_jmespath_is_not_needed_on_the_host(run_module, monkeypatch, json_server):
    """Assertions are evaluated on the controller: a host without jmespath still echoes them."""
    url, dummy = json_server
    monkeypatch.setitem(sys.modules, 'jmespath', None)
    result = run_module(url_reach, {'urls': [{'url': url, 'expect': {'assertions': ['issuer']}}]})
    assert 'failed' not in result and result['results'][0]['ok'] is True
    assert result['results'][0]['expect'] == {'assertions': ['issuer']}


def _as_ansible_runs_it(args, environ=None):
    """The module in a process of its own, arguments from a file: the JSON it prints (invocation included)."""
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict((k, v) for k, v in os.environ.items() if not k.lower().endswith('_proxy'))
    env.update(environ or {}, PYTHONPATH=COLLECTIONS)
    try:
        out = subprocess.run([sys.executable, '-m', 'ansible_collections.ece_o365.preflight.plugins.modules.url_reach',
                              handle.name], capture_output=True, text=True, env=env, timeout=60, check=False)
    finally:
        os.unlink(handle.name)
    return out.stdout


def test_the_proxy_password_appears_nowhere_in_the_output_and_the_proxy_is_shown():
    """The proxy option is not no_log (which showed VALUE_SPECIFIED_IN_NO_LOG_PARAMETER even without a password):
    its password and the whole URL are no_log values, and results show the proxy with only the password hidden."""
    port = free_port()
    proxy = 'http://ece:%s@127.0.0.1:%d' % (PROXY_PASSWORD, port)
    stdout = _as_ansible_runs_it({'urls': [{'url': 'https://login.microsoftonline.com/', 'purpose': 'token_endpoint'}],
                                  'proxy': proxy, 'timeout': 3})
    assert PROXY_PASSWORD not in stdout
    result = json.loads(stdout)
    (reach,) = result['results']
    assert reach['proxy'] == 'http://ece:********@127.0.0.1:%d' % port
    assert reach['error_class'] == 'proxy_unreachable', reach['message']
    assert 'proxy http://ece:********@127.0.0.1:%d' % port in reach['message']
    assert result['invocation']['module_args']['proxy'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' not in json.dumps(result['results'])


def test_a_password_from_the_environment_appears_nowhere_either():
    port = free_port()
    stdout = _as_ansible_runs_it({'urls': [{'url': 'https://login.microsoftonline.com/'}], 'timeout': 3},
                                 {'HTTPS_PROXY': 'http://env:%s@127.0.0.1:%d' % (PROXY_PASSWORD, port)})
    assert PROXY_PASSWORD not in stdout
    assert json.loads(stdout)['results'][0]['proxy'] == 'http://env:********@127.0.0.1:%d' % port


def test_a_proxy_without_a_password_is_shown_in_full():
    proxy = 'http://proxy-user@127.0.0.1:%d' % free_port()
    stdout = _as_ansible_runs_it({'urls': [{'url': 'https://login.microsoftonline.com/'}], 'proxy': proxy, 'timeout': 3,
                                  'no_proxy': 'localhost,.corp.invalid'})
    result = json.loads(stdout)
    assert result['results'][0]['proxy'] == proxy and proxy in result['results'][0]['message']
    assert result['invocation']['module_args']['proxy'] == proxy
    assert result['invocation']['module_args']['no_proxy'] == ['localhost', '.corp.invalid']
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' not in stdout


def test_missing_cryptography_is_reported_for_https(run_module, monkeypatch):
    from ansible_collections.ece_o365.preflight.plugins.module_utils import _tls
    monkeypatch.setattr(_tls, 'HAS_CRYPTOGRAPHY', False)
    result = run_module(url_reach, {'urls': [{'url': 'https://a.example/'}]})
    assert result['failed'] is True
    assert 'Failed to import the required Python library (cryptography)' in result['msg']


def test_module_imports_without_requests(monkeypatch):
    """The module and its helper import on a host without requests (ansible-doc, the import sanity test)."""
    for name in list(sys.modules):
        if name.split('.')[0] in ('requests', 'urllib3') or name.endswith('module_utils._http') or \
                name.endswith('modules.url_reach'):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'requests', None)
    monkeypatch.setitem(sys.modules, 'urllib3', None)
    import importlib
    helper = importlib.import_module('ansible_collections.ece_o365.preflight.plugins.module_utils._http')
    assert helper.HAS_REQUESTS is False
    assert 'requests' in helper.REQUESTS_IMPORT_ERROR
