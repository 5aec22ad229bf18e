# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one proxy rule set: schemes, redaction, no_log values, environment, no_proxy, CONNECT."""

import base64
import socket
import threading

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _proxy


@pytest.mark.parametrize('host, no_proxy, expected', [
    ('outlook.office365.com', '.office365.com', True),
    ('outlook.office365.com', 'office365.com', True),
    ('outlook.office365.com', '*.office365.com', True),
    ('notoffice365.com', 'office365.com', False),
    ('10.1.2.3', '10.0.0.0/8', True),
    ('10.1.2.3', '192.168.0.0/16,localhost', False),
    ('anything', '*', True),
    ('login.microsoftonline.com', '', False),
    ('localhost', 'localhost:8080', True),
    # A list, as the modules' no_proxy options give it, and a list of comma-separated strings.
    ('outlook.office365.com', ['localhost', '.office365.com'], True),
    ('10.1.2.3', ['localhost', '10.0.0.0/8, .corp'], True),
    ('login.microsoftonline.com', ['localhost', '.corp'], False),
    ('::1', ['[::1]'], True),
    ('x', None, False),
])
def test_no_proxy_matching(host, no_proxy, expected):
    assert _proxy.bypassed(host, no_proxy) is expected


def test_no_proxy_entries_from_a_string_or_a_list():
    assert _proxy.no_proxy_entries('a, .b ,,c') == ['a', '.b', 'c']
    assert _proxy.no_proxy_entries(['a', 'b,c', '']) == ['a', 'b', 'c']
    assert _proxy.no_proxy_entries(None) == []


def test_selection_prefers_arguments_then_environment():
    env = {'HTTPS_PROXY': 'http://env:3128', 'NO_PROXY': '.corp.invalid'}
    assert _proxy.select('login.microsoftonline.com', None, env) == 'http://env:3128'
    assert _proxy.select('mail.corp.invalid', None, env) is None
    assert _proxy.select('login.microsoftonline.com', 'http://arg:8080', env) == 'http://arg:8080'
    # An explicit proxy ignores the environment's NO_PROXY; only no_proxy given with it bypasses it.
    assert _proxy.select('mail.corp.invalid', 'http://arg:8080', env) == 'http://arg:8080'
    assert _proxy.select('mail.corp.invalid', 'http://arg:8080', env, no_proxy=['.corp.invalid']) is None
    assert _proxy.select('login.microsoftonline.com', '', env) is None
    assert _proxy.select('x', None, {'all_proxy': 'http://all:1'}) == 'http://all:1'
    assert _proxy.select('x', 'proxy.corp:3128', {}) == 'http://proxy.corp:3128'


@pytest.mark.parametrize('environ, scheme, expected, source', [
    ({'HTTPS_PROXY': 'http://upper:1', 'https_proxy': 'http://lower:1'}, 'https', 'http://lower:1', 'https_proxy'),
    ({'HTTPS_PROXY': 'http://upper:1'}, 'https', 'http://upper:1', 'HTTPS_PROXY'),
    # An empty lower-case variable hides the upper-case one, as in urllib and requests.
    ({'HTTPS_PROXY': 'http://upper:1', 'https_proxy': ''}, 'https', None, 'proxy'),
    ({'https_proxy': '', 'ALL_PROXY': 'http://all:1'}, 'https', 'http://all:1', 'ALL_PROXY'),
    ({'HTTP_PROXY': 'http://plain:1', 'HTTPS_PROXY': 'http://tls:1'}, 'http', 'http://plain:1', 'HTTP_PROXY'),
    ({'HTTP_PROXY': 'http://plain:1'}, 'https', None, 'proxy'),
    ({}, 'https', None, 'proxy'),
])
def test_environment_lower_case_wins(environ, scheme, expected, source):
    assert _proxy.from_environment(environ, scheme) == expected
    assert _proxy.source(None, environ, scheme) == source


def test_no_proxy_from_the_environment_lower_case_first():
    environ = {'NO_PROXY': '.upper', 'no_proxy': '.lower'}
    assert _proxy.select('a.lower', None, dict(environ, https_proxy='http://p:1')) is None
    assert _proxy.select('a.upper', None, dict(environ, https_proxy='http://p:1')) == 'http://p:1'


@pytest.mark.parametrize('url, shown', [
    ('http://alice:s3cr%40t@proxy.corp.invalid:3128', 'http://alice:********@proxy.corp.invalid:3128'),
    ('http://alice:p@ss@proxy:3128', 'http://alice:********@proxy:3128'),   # an unencoded @ in the password
    ('alice:pw@proxy:3128', 'alice:********@proxy:3128'),
    ('http://alice@proxy:3128', 'http://alice@proxy:3128'),                   # no password: nothing to hide
    ('http://proxy.corp.invalid:3128', 'http://proxy.corp.invalid:3128'),
    ('https://u:pw@host/path@x', 'https://u:********@host/path@x'),
    (None, None), ('', ''),
])
def test_only_the_password_is_redacted(url, shown):
    assert _proxy.redact(url) == shown


def test_secrets_for_the_no_log_values():
    url = 'http://alice:s3cr%40t@proxy.corp.invalid:3128'
    environ = {'https_proxy': 'http://bob:env-pw@p:1', 'HTTP_PROXY': 'http://p:2', 'NO_PROXY': 'x'}
    values = _proxy.secrets(url, environ)
    assert {'s3cr%40t', 's3cr@t', url, 'env-pw', 'http://bob:env-pw@p:1'} <= values
    assert 'alice' not in values and 'http://p:2' not in values
    assert _proxy.secrets('http://proxy:3128', {}) == set()
    assert _proxy.secrets(None, None) == set()


@pytest.mark.parametrize('url, message', [
    ('socks5://user:S3cret@127.0.0.1:1080', 'proxy must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. '
     'http://proxy.corp.example:3128; socks5:// proxies are not supported, got socks5://user:********@127.0.0.1:1080'),
    ('ftp://proxy:21', 'proxy must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. '
     'http://proxy.corp.example:3128; ftp:// proxies are not supported, got ftp://proxy:21'),
    ('http://[::1:3128', 'proxy http://[::1:3128 is not a valid proxy URL (Invalid IPv6 URL)'),
    ('http://127.0.0.1:99999', 'is not a valid proxy URL (Port out of range'),
    ('http://:3128', 'is not a valid proxy URL (no host)'),
    (42, 'proxy must be a proxy URL'),
])
def test_one_message_for_a_proxy_that_cannot_be_used(url, message):
    problem = _proxy.problem(url)
    assert problem is not None and message in problem
    assert 'S3cret' not in problem
    with pytest.raises(_proxy.ProxyError):
        _proxy.parse(url)


def test_the_message_names_the_variable_it_came_from():
    assert _proxy.problem('socks5://p:1', 'HTTPS_PROXY').startswith('HTTPS_PROXY must be an http:// or https:// URL')


@pytest.mark.parametrize('url', [None, '', 'http://proxy:3128', 'https://proxy:443', 'proxy:3128',
                                 'http://u:p@[::1]:3128'])
def test_proxies_that_can_be_used(url):
    assert _proxy.problem(url) is None


def test_parse_gives_scheme_host_port_and_basic_auth():
    scheme, host, port, auth = _proxy.parse('http://alice:s3cr%40t@proxy.corp.invalid:3128')
    assert (scheme, host, port) == ('http', 'proxy.corp.invalid', 3128)
    assert base64.b64decode(auth.split()[1]) == b'alice:s3cr@t'
    # Without a scheme: http://; without a port: the scheme's, as requests does.
    assert _proxy.parse('proxy:8080') == ('http', 'proxy', 8080, None)
    assert _proxy.parse('http://proxy') == ('http', 'proxy', 80, None)
    assert _proxy.parse('https://proxy') == ('https', 'proxy', 443, None)


def _proxy_answering(reply):
    """A socket pair: the client end, and a thread playing a proxy that reads the CONNECT and sends REPLY."""
    client, server = socket.socketpair()
    seen = []

    def serve():
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = server.recv(4096)
            if not chunk:
                break
            data += chunk
        seen.append(data)
        server.sendall(reply)
        server.close()

    thread = threading.Thread(target=serve)
    thread.start()
    return client, thread, seen


def _read_line(sock):
    data = b''
    while not data.endswith(b'\n'):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode('latin-1')


def test_connect_sends_credentials_and_reads_the_answer():
    client, thread, seen = _proxy_answering(b'HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n')
    _proxy.connect(client, 'login.microsoftonline.com', 443, 'Basic abc', read_line=_read_line)
    thread.join()
    client.close()
    assert seen[0].startswith(b'CONNECT login.microsoftonline.com:443 HTTP/1.1\r\n')
    assert b'Proxy-Authorization: Basic abc\r\n' in seen[0]


@pytest.mark.parametrize('reply, message', [
    (b'HTTP/1.1 407 Proxy Authentication Required\r\n\r\n',
     'the proxy answered "HTTP/1.1 407 Proxy Authentication Required" to CONNECT [::1]:993'),
    (b'SSH-2.0-OpenSSH\r\n', "the proxy answered 'SSH-2.0-OpenSSH"),
])
def test_connect_refusals_name_the_proxys_answer(reply, message):
    client, thread, dummy = _proxy_answering(reply)
    with pytest.raises(_proxy.ProxyError) as excinfo:
        _proxy.connect(client, '::1', 993, read_line=_read_line)
    thread.join()
    client.close()
    assert message in str(excinfo.value)
