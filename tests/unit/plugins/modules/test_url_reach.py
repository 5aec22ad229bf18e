# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""url_reach as a module: argument validation, check mode, findings vs failures, secrets, libraries."""

import json
import socket
import sys
import threading

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _http
from ansible_collections.ece_o365.preflight.plugins.modules import url_reach

SECRET = 'Bearer pl4nted-t0ken-0123456789'
PROXY_PASSWORD = 'pr0xy-S3cret-pw'
RESULT_KEYS = {
    'name', 'url', 'method', 'ok', 'error_class', 'error', 'status', 'reason', 'expected_status', 'final_url',
    'redirects', 'proxy', 'request_headers', 'headers', 'timings', 'tls', 'intercepted', 'server_date', 'server_time',
    'clock_skew_seconds', 'body_bytes', 'body_truncated', 'body_excerpt', 'assertions', 'assertions_passed'}


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
    result = run_module(url_reach, {'urls': [{'url': url, 'assertions': ["contains(issuer, 'tenant-0001')"]}],
                                    '_ansible_check_mode': True})

    assert 'failed' not in result
    assert result['changed'] is False
    assert len(seen) == 1 and seen[0].startswith(b'GET /v2.0/.well-known/openid-configuration HTTP/1.1')
    (reach,) = result['results']
    assert set(reach) == RESULT_KEYS
    assert reach['ok'] is True and reach['status'] == 200 and reach['assertions_passed'] is True
    assert reach['server_time'] == '2025-03-03T10:00:00Z'
    assert result['summary']['total'] == 1 and result['summary']['ok'] == 1


def test_unreachable_url_is_a_finding_not_a_failure(run_module):
    port = free_port()
    result = run_module(url_reach, {'urls': [{'url': 'http://127.0.0.1:%d/' % port}], 'timeout': 2})

    assert 'failed' not in result and result['changed'] is False
    assert result['results'][0]['error_class'] == 'refused'
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
    ({'urls': [{'url': 'https://a.example/'}, {'url': 'https://b.example/', 'assertions': ['issuer[']}]},
     "urls[1].assertions[0]: 'issuer[' is not a valid JMESPath expression"),
    ({'urls': [{'url': 'https://a.example/', 'status_code': [700]}]}, 'urls[0].status_code[0]: must be between 100'),
    ({'urls': [{'url': 'https://a.example/', 'nope': 1}]}, 'nope'),
    ({'urls': [{'url': 'https://a.example/'}], 'expected_ca_certs': ['12:34']}, 'expected_ca_certs[0]: neither'),
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
    assert result['results'][0]['request_headers'] == ['Authorization', 'Cookie']
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
    assert {SECRET, PROXY_PASSWORD} <= captured['no_log_values']


def test_missing_requests_is_reported(run_module, monkeypatch):
    monkeypatch.setattr(_http, 'HAS_REQUESTS', False)
    monkeypatch.setattr(_http, 'REQUESTS_IMPORT_ERROR', 'Traceback: No module named requests')
    result = run_module(url_reach, {'urls': [{'url': 'https://a.example/'}]})

    assert result['failed'] is True
    assert 'Failed to import the required Python library (requests)' in result['msg']


def test_missing_jmespath_is_reported_only_when_needed(run_module, monkeypatch, json_server):
    url, dummy = json_server
    monkeypatch.setattr(_http, 'HAS_JMESPATH', False)
    result = run_module(url_reach, {'urls': [{'url': url, 'assertions': ['issuer']}]})
    assert result['failed'] is True
    assert 'Failed to import the required Python library (jmespath)' in result['msg']

    result = run_module(url_reach, {'urls': [{'url': url}]})
    assert 'failed' not in result and result['results'][0]['ok'] is True


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
