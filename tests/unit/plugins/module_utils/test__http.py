# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""url_reach's logic: argument validation, Date and clock skew, the JSON body, error classes.

The last tests run reach() against throw-away servers on 127.0.0.1 that answer with what a test
(or hypothesis) gives them, and against a port nobody listens on.
"""

import json
import re
import socket
import ssl
import threading
import time

import pytest
import requests
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _http, _seal
from ansible_collections.ece_o365.preflight.plugins.module_utils._errors import ERROR_CLASSES

SECRET = 'Bearer pl4nted-t0ken-value'
PROXY_PASSWORD = 'pr0xy-S3cret'


def args(**kwargs):
    kwargs.setdefault('urls', [{'url': 'https://login.microsoftonline.com/'}])
    return kwargs


# --- argument validation --------------------------------------------------------------------

def test_defaults_and_per_url_overrides():
    targets, options = _http.normalise(args(
        urls=[{'url': 'https://a.example/'},
              {'url': 'http://b.example:8080/x', 'name': 'b', 'method': 'head', 'purpose': 'oidc_discovery',
               'expect': {'status': [200, 401], 'assertions': None},
               'timeout': 2, 'headers': {'accept': 'text/plain'}}],
        headers={'Accept': 'application/json', 'User-Agent': 'ece'}, timeout=7))

    first, second = targets
    assert first['method'] == 'GET' and first['timeout'] == 7.0
    assert first['purpose'] == 'extra' and first['expect'] is None
    assert first['port'] == 443 and first['name'] == 'https://a.example/'
    assert second['method'] == 'HEAD' and second['timeout'] == 2.0
    # expect is kept as given, minus the keys Ansible fills with None; never evaluated.
    assert second['purpose'] == 'oidc_discovery' and second['expect'] == {'status': [200, 401]}
    assert second['port'] == 8080 and second['scheme'] == 'http' and second['name'] == 'b'
    # The URL's header replaces the top-level one whatever its case; the others stay.
    assert second['headers'] == {'User-Agent': 'ece', 'accept': 'text/plain'}
    assert options['deadline'] == 60.0 and options['max_workers'] == 16 and options['verify'] is True


def test_plain_strings_are_urls():
    targets, dummy = _http.normalise(args(urls=['https://graph.microsoft.com/v1.0/']))
    assert targets[0]['url'] == 'https://graph.microsoft.com/v1.0/'


@pytest.mark.parametrize('params, message', [
    (dict(urls=[]), 'urls: must be a non-empty list'),
    (dict(urls=[{'url': 'https://a/'}, {'url': 'ftp://b/'}]), "urls[1].url: 'ftp://b/' is not an http:// or https://"),
    (dict(urls=[{'url': 'https://a:99999/'}]), 'urls[0].url:'),
    (dict(urls=[{'url': 'https:///nohost'}]), 'urls[0].url:'),
    (dict(urls=[{'url': 'https://a/', 'method': 'POST'}]), "urls[0].method: 'POST' is not allowed: url_reach only reads"),
    (dict(method='DELETE'), "method: 'DELETE' is not allowed"),
    (dict(urls=[{'url': 'https://a/', 'expect': {'status': [200, 99]}}]),
     'urls[0].expect.status[1]: must be an HTTP status code (100-599), not 99'),
    (dict(urls=[{'url': 'https://a/', 'expect': {'status': 200}}]), 'urls[0].expect.status: must be a list'),
    (dict(urls=[{'url': 'https://a/', 'expect': {'status': [True]}}]), 'urls[0].expect.status[0]: must be an HTTP'),
    (dict(urls=[{'url': 'https://a/', 'expect': {'assertions': ['issuer', '']}}]),
     'urls[0].expect.assertions[1]: must be a non-empty JMESPath expression'),
    (dict(urls=[{'url': 'https://a/', 'expect': {'assertions': [{'query': 'a', 'equals': 1}]}}]),
     'urls[0].expect.assertions[0]: must be a non-empty JMESPath expression (a string)'),
    (dict(urls=[{'url': 'https://a/', 'expect': {'status': [200], 'body': 'x'}}]),
     'urls[0].expect: unknown key(s) body (known: status, assertions)'),
    (dict(urls=[{'url': 'https://a/', 'expect': [200]}]), 'urls[0].expect: must be a dictionary'),
    (dict(urls=[{'url': 'https://a/', 'purpose': 'smtp'}]), "urls[0].purpose: 'smtp' is not one of token_endpoint"),
    (dict(timeout=0), 'timeout: must be between'),
    (dict(deadline='soon'), "deadline: must be a number, not 'soon'"),
    (dict(max_workers=0), 'max_workers: must be between 1 and 64'),
    (dict(urls=[{'url': 'https://a/', 'headers': {'X-Bad': 'a\r\nInjected: 1'}}]),
     'urls[0].headers.X-Bad: the value must not contain line breaks'),
    (dict(headers={'Bad Name': 'x'}), "headers: 'Bad Name' is not a valid HTTP header name"),
    (dict(proxy='ftp://proxy:21'), 'ftp:// proxies are not supported, got ftp://proxy:21'),
    (dict(proxy='socks5h://u:%s@proxy:1080' % PROXY_PASSWORD),
     'proxy must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. http://proxy.corp.example:3128; '
     'socks5h:// proxies are not supported, got socks5h://u:********@proxy:1080'),
    (dict(proxy='http://u:%s@proxy:notaport' % PROXY_PASSWORD), 'proxy http://u:********@proxy:notaport is not a valid'),
    (dict(ca_path='/nonexistent/ca.pem'), "ca_path: '/nonexistent/ca.pem' does not exist on this host"),
])
def test_bad_arguments_name_the_item(params, message):
    with pytest.raises(_http.ArgumentError) as excinfo:
        _http.normalise(args(**params))
    assert message in str(excinfo.value)
    assert PROXY_PASSWORD not in str(excinfo.value)


def test_proxy_without_scheme_is_http_and_no_proxy_a_list_or_a_string():
    dummy, options = _http.normalise(args(proxy='proxy.corp.invalid:3128', no_proxy=['localhost', '.corp.invalid']))
    assert options['proxy'] == 'http://proxy.corp.invalid:3128'
    assert options['no_proxy'] == ['localhost', '.corp.invalid']
    dummy, options = _http.normalise(args(no_proxy='localhost, .corp.invalid'))
    assert options['no_proxy'] == ['localhost', '.corp.invalid']
    dummy, options = _http.normalise(args(proxy='https://proxy.corp.invalid'))
    assert options['proxy'] == 'https://proxy.corp.invalid'


def test_ca_bundle_from_environment_and_warning_for_a_missing_one(tmp_path):
    bundle = tmp_path / 'ca.pem'
    bundle.write_text(u'')
    dummy, options = _http.normalise(args(), environ={'REQUESTS_CA_BUNDLE': str(bundle)})
    assert options['verify'] == str(bundle) and options['warnings'] == []

    dummy, options = _http.normalise(args(), environ={'REQUESTS_CA_BUNDLE': str(tmp_path / 'gone.pem')})
    assert options['verify'] is True
    assert 'REQUESTS_CA_BUNDLE names %s' % (tmp_path / 'gone.pem') in options['warnings'][0]

    dummy, options = _http.normalise(args(validate_certs=False, ca_path=str(bundle)))
    assert options['verify'] is False


def test_secret_values_and_scrub():
    params = args(headers={'Authorization': SECRET, 'Accept': 'application/json'},
                  urls=[{'url': 'https://user:url-pa55word@a.example/', 'headers': {'X-Api-Key': 'k3y-value'}}],
                  proxy='http://alice:%s@proxy:3128' % PROXY_PASSWORD)
    secrets = _http.secret_values(params, {'HTTPS_PROXY': 'http://bob:env-pa55@proxy:3128'})

    assert {SECRET, 'pl4nted-t0ken-value', 'k3y-value', PROXY_PASSWORD, 'url-pa55word', 'env-pa55',
            'http://alice:%s@proxy:3128' % PROXY_PASSWORD, 'http://bob:env-pa55@proxy:3128'} <= secrets
    assert 'application/json' not in secrets
    scrubbed = _http.scrub({'a': ['x %s y' % SECRET, {'k': PROXY_PASSWORD}], 'b': 3, 'c': None}, secrets)
    assert scrubbed == {'a': ['x ******** y', {'k': '********'}], 'b': 3, 'c': None}


# --- Date and clock skew ------------------------------------------------------------------------

EPOCH_1994 = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)


@pytest.mark.parametrize('value', [
    'Sun, 06 Nov 1994 08:49:37 GMT',   # IMF-fixdate
    'Sunday, 06-Nov-94 08:49:37 GMT',  # obsolete RFC 850
    'Sun Nov  6 08:49:37 1994',        # obsolete asctime
])
def test_parse_http_date_formats(value):
    assert _http.parse_http_date(value) == EPOCH_1994


@pytest.mark.parametrize('value', [None, '', '   ', 'yesterday', 'Sun, 99 Nov 1994 08:49:37 GMT', 42,
                                   'Sun, 06 Nov 99999 08:49:37 GMT'])
def test_parse_http_date_rejects(value):
    assert _http.parse_http_date(value) is None


def test_clock_skew_sign_and_half_second():
    date = 'Sun, 06 Nov 1994 08:49:37 GMT'
    # The server's whole second is taken at its middle.
    assert _http.clock_skew(date, EPOCH_1994 + 0.5) == 0.0
    # This host 10 minutes behind the server: negative.
    assert _http.clock_skew(date, EPOCH_1994 + 0.5 - 600) == -600.0
    assert _http.clock_skew(date, EPOCH_1994 + 0.5 + 42.26) == 42.3
    assert _http.clock_skew('garbage', EPOCH_1994) is None
    assert _http.clock_skew(date, None) is None
    assert _http.iso_utc(EPOCH_1994) == '1994-11-06T08:49:37Z'


# --- the JSON body --------------------------------------------------------------------------------

DISCOVERY = json.dumps({
    'issuer': 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0',
    'token_endpoint': 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token',
    'scopes_supported': ['openid', 'profile', 'email', 'offline_access'],
    'count': 0,
}).encode()


@pytest.mark.parametrize('body, content_type, truncated, expected', [
    (DISCOVERY, 'application/json; charset=utf-8', False, json.loads(DISCOVERY)),
    (DISCOVERY, 'application/problem+json', False, json.loads(DISCOVERY)),
    (DISCOVERY, None, False, json.loads(DISCOVERY)),
    (DISCOVERY, 'text/plain', False, json.loads(DISCOVERY)),
    (b'\xef\xbb\xbf[1, 2]', 'application/json', False, [1, 2]),      # a BOM
    (DISCOVERY, 'text/html', False, None),                              # says it is something else
    (DISCOVERY, 'application/json', True, None),                        # cut at max_body_bytes: not read whole
    (b'<html>blocked by proxy</html>', 'application/json', False, None),
    (b'{"a": NaN}', 'application/json', False, None),                   # NaN and Infinity are not JSON
    (b'', 'application/json', False, None), (None, None, False, None),
    (b'\xff\xfe\x00', 'application/json', False, None),
    (b'[' * 65 + b']' * 65, 'application/json', False, None),           # deeper than MAX_JSON_DEPTH
    (b'[' * 64 + b']' * 64, 'application/json', False, json.loads('[' * 64 + ']' * 64)),
])
def test_json_body(body, content_type, truncated, expected):
    assert _http.parse_json_body(body, content_type, truncated) == expected


# --- error classes of exceptions (the one map, worded for url_reach) --------------------------------

def wrapped(inner, outer=requests.exceptions.ConnectionError):
    """inner wrapped as requests does: outer(MaxRetryError(reason=inner))."""
    retry = urllib3.exceptions.MaxRetryError(None, 'https://a/', reason=inner)
    return outer(retry)


def verify_error(code, message):
    error = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s' % message)
    error.verify_code, error.verify_message = code, message
    return error


def attempt_at(phase, proxy=None):
    attempt = _http._Attempt({'url': 'https://login.example/', 'host': 'login.example', 'port': 443, 'timeout': 2.0})
    attempt.phase, attempt.proxy = phase, proxy
    return attempt


PROXY = 'http://ece:%s@proxy.corp.invalid:3128' % PROXY_PASSWORD


@pytest.mark.parametrize('exc, attempt, error_class, detail', [
    (wrapped(ConnectionRefusedError(111, 'Connection refused')), attempt_at('connect'), 'refused',
     'connection refused'),
    (wrapped(socket.gaierror(-2, 'Name or service not known')), attempt_at('connect'), 'dns',
     'cannot resolve login.example (Name or service not known)'),
    (requests.exceptions.ReadTimeout('read timed out'), attempt_at('response'), 'timeout',
     'no answer in 2 s while waiting for the response'),
    (wrapped(verify_error(62, 'Hostname mismatch'), requests.exceptions.SSLError), attempt_at('tls', PROXY),
     'cert_hostname', 'Hostname mismatch via proxy http://ece:********@proxy.corp.invalid:3128'),
    (wrapped(urllib3.exceptions.ProxyError('Unable to connect to proxy', OSError(
        'Tunnel connection failed: 407 Proxy Authentication Required')), requests.exceptions.ProxyError),
     attempt_at('proxy', PROXY), 'proxy', 'proxy http://ece:********@proxy.corp.invalid:3128: the proxy answered '
     '"407 Proxy Authentication Required" to CONNECT login.example:443'),
    # The proxy's own name, or its port: the proxy is named as the cause, not the URL's host.
    (wrapped(urllib3.exceptions.ProxyError('Cannot connect to proxy.', urllib3.exceptions.NameResolutionError(
        'proxy.corp.invalid', None, socket.gaierror(-2, 'Name or service not known'))),
        requests.exceptions.ProxyError), attempt_at('connect', PROXY), 'proxy_dns',
     'proxy http://ece:********@proxy.corp.invalid:3128: cannot resolve its name'),
    (wrapped(urllib3.exceptions.ProxyError('Cannot connect to proxy.', ConnectionRefusedError(111, 'refused')),
             requests.exceptions.ProxyError), attempt_at('connect', PROXY), 'proxy_unreachable',
     'proxy http://ece:********@proxy.corp.invalid:3128: '),
    (ValueError('something odd'), attempt_at('done'), 'protocol', 'something odd'),
])
def test_classify_exception(exc, attempt, error_class, detail):
    found, text = _http.classify_exception(exc, attempt)
    assert found == error_class and detail in text, text
    assert PROXY_PASSWORD not in text


# --- reach() against throw-away servers on 127.0.0.1 --------------------------------------------

class Replier(object):
    """A TCP server on 127.0.0.1 that answers every connection with REPLY (bytes) and closes."""

    def __init__(self, reply=b'', hold=0.0):
        self.reply, self.hold = reply, hold
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve)
        self.thread.daemon = True
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(1.0)
                try:
                    conn.recv(65536)
                except OSError:
                    pass
                conn.sendall(self.reply)
                time.sleep(self.hold)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.sock.close()


def http_reply(status='200 OK', headers=(), body=b''):
    head = 'HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n' % (status, len(body))
    head += ''.join('%s: %s\r\n' % h for h in headers)
    return head.encode('latin-1') + b'\r\n' + body


RESULT_KEYS = [
    'name', 'url', 'purpose', 'expect', 'ok', 'error_class', 'message', 'status', 'reason', 'method', 'final_url',
    'redirects', 'proxy', 'headers', 'timings', 'tls', 'server_date', 'server_time', 'clock_skew_seconds',
    'body_bytes', 'body_truncated', 'body_excerpt', 'json']


def test_reach_reports_status_date_skew_and_the_json_body():
    server = Replier(http_reply(headers=[('Content-Type', 'application/json'),
                                         ('Date', 'Sun, 06 Nov 1994 08:49:37 GMT'),
                                         ('Set-Cookie', 'session=abc123')], body=DISCOVERY))
    expect = {'status': [200], 'assertions': ["contains(issuer, 'another-tenant')"]}
    try:
        outcome = _http.reach(args(
            urls=[{'url': 'http://127.0.0.1:%d/tenant/v2.0/.well-known/openid-configuration' % server.port,
                   'purpose': 'oidc_discovery', 'expect': expect}],
            headers={'Authorization': SECRET}), environ={})
    finally:
        server.close()

    result = outcome['results'][0]
    assert list(result) == RESULT_KEYS
    assert result['ok'] is True and result['error_class'] is None and result['message'] is None
    assert result['status'] == 200 and result['purpose'] == 'oidc_discovery'
    # expect is echoed unchanged and never evaluated: the assertion would not hold, the URL is still ok.
    assert result['expect'] == expect and result['expect'] is not expect
    assert result['json'] == json.loads(DISCOVERY)
    assert result['body_excerpt'] == DISCOVERY.decode()[:300] and result['body_bytes'] == len(DISCOVERY)
    assert result['server_time'] == '1994-11-06T08:49:37Z'
    assert result['clock_skew_seconds'] > 900000000  # this host is decades ahead of 1994
    assert result['headers']['set-cookie'] == '********'
    assert result['tls'] is None
    assert SECRET not in json.dumps(outcome)
    assert outcome['summary'] == dict(outcome['summary'], total=1, ok=1, errors=0, by_class={}, deadline_reached=False)
    assert 'intercepted' not in outcome['summary']


def test_any_status_is_an_observation_and_refused_is_a_class():
    unexpected = Replier(http_reply('503 Service Unavailable', headers=[('Content-Type', 'text/html')],
                                    body=b'<html>blocked</html>'))
    not_json = Replier(http_reply(headers=[('Content-Type', 'application/json')], body=b'<html>proxy login</html>'))
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    try:
        outcome = _http.reach(args(urls=[
            {'url': 'http://127.0.0.1:%d/' % unexpected.port, 'expect': {'status': [200]}},
            {'url': 'http://127.0.0.1:%d/' % not_json.port, 'expect': {'assertions': ['issuer']}},
            {'url': 'http://127.0.0.1:%d/' % refused_port, 'purpose': 'token_endpoint'},
        ], timeout=3), environ={})
    finally:
        unexpected.close()
        not_json.close()

    status, body, refused = outcome['results']
    assert status['ok'] is True and status['error_class'] is None and status['status'] == 503
    assert status['message'] is None and status['expect'] == {'status': [200]}
    assert status['body_excerpt'] == '<html>blocked</html>' and status['json'] is None
    assert body['ok'] is True and body['json'] is None and body['body_excerpt'] == '<html>proxy login</html>'
    assert refused['error_class'] == 'refused' and refused['status'] is None and refused['ok'] is False
    assert refused['purpose'] == 'token_endpoint' and refused['expect'] is None and refused['json'] is None
    assert refused['message'].startswith('http://127.0.0.1:%d/: the connection was refused' % refused_port)
    assert outcome['summary']['by_class'] == {'refused': 1}
    assert outcome['summary']['ok'] == 2 and outcome['summary']['errors'] == 1


def test_a_redirect_loop_stops_at_max_redirects_with_the_last_redirect_as_the_answer():
    loop = Replier(b'')
    loop.reply = http_reply('302 Found', headers=[('Location', 'http://127.0.0.1:%d/again' % loop.port)])
    try:
        outcome = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/' % loop.port}], max_redirects=2), environ={})
    finally:
        loop.close()
    result = outcome['results'][0]
    assert result['ok'] is True and result['status'] == 302 and len(result['redirects']) == 2
    assert result['final_url'] == 'http://127.0.0.1:%d/again' % loop.port


def test_deadline_gives_every_url_a_result_in_bounded_time():
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(16)  # accepts (in the kernel) and never answers
    try:
        start = time.monotonic()
        outcome = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/%d' % (silent.getsockname()[1], i)}
                                         for i in range(3)], timeout=30, deadline=0.6, max_workers=2), environ={})
        elapsed = time.monotonic() - start
    finally:
        silent.close()

    assert elapsed < 1.5
    assert [r['error_class'] for r in outcome['results']] == ['deadline'] * 3
    assert 'still waiting for the response at the deadline of 0.6 s' in outcome['results'][0]['message']
    assert 'not started before the deadline of 0.6 s: every worker was busy' in outcome['results'][2]['message']
    assert [r['purpose'] for r in outcome['results']] == ['extra'] * 3
    assert outcome['summary']['deadline_reached'] is True


def test_redirects_are_followed_and_secret_headers_stay_with_their_host():
    final = Replier(http_reply(body=b'{}'))
    hop = Replier(http_reply('302 Found', headers=[('Location', 'http://localhost:%d/final' % final.port)]))
    try:
        outcome = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/start' % hop.port}],
                                   headers={'Authorization': SECRET}), environ={})
    finally:
        final.close()
        hop.close()
    result = outcome['results'][0]
    assert result['ok'] is True
    assert result['redirects'] == [{'status': 302, 'url': 'http://localhost:%d/final' % final.port}]
    assert result['final_url'] == 'http://localhost:%d/final' % final.port


# --- property-based: nothing a user or a server sends gives a traceback -------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
argument_values = st.one_of(json_values, st.sampled_from(
    ['GET', 'HEAD', 'POST', 'https://a.example/', 'http://[::1', 'ftp://x', '', 'issuer', 'contains(', 'DigiCert*']))
url_items = st.one_of(
    argument_values,
    st.fixed_dictionaries({'url': argument_values}, optional=dict(
        {k: argument_values for k in ('name', 'method', 'purpose', 'headers', 'timeout', 'follow_redirects')},
        expect=st.one_of(argument_values, st.fixed_dictionaries({}, optional={
            'status': argument_values, 'assertions': argument_values})))))


@given(st.fixed_dictionaries({'urls': st.lists(url_items, max_size=3)}, optional={
    k: argument_values for k in ('method', 'headers', 'timeout', 'deadline', 'max_workers',
                                 'follow_redirects', 'max_redirects', 'validate_certs', 'proxy', 'no_proxy',
                                 'max_body_bytes')}))
@settings(max_examples=300, deadline=None)
def test_random_arguments_raise_only_argument_errors(params):
    try:
        targets, dummy = _http.normalise(params, environ={})
    except _http.ArgumentError:
        pass
    else:
        for target in targets:
            assert target['purpose'] in _http.PURPOSES
            assert target['expect'] is None or set(target['expect']) <= {'status', 'assertions'}
    _http.secret_values(params, {})


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_random_date_headers_never_raise(value):
    timestamp = _http.parse_http_date(value)
    assert timestamp is None or isinstance(timestamp, float)
    _http.clock_skew(value, time.time())


@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
       st.one_of(st.none(), st.sampled_from(['application/json', 'text/html', 'application/x+json; charset=x', ''])),
       st.booleans())
@settings(max_examples=300, deadline=None)
def test_random_bodies_never_raise(body, content_type, truncated):
    value = _http.parse_json_body(body, content_type, truncated)
    json.dumps(value, allow_nan=False)
    if truncated:
        assert value is None


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@given(st.one_of(
    st.binary(max_size=400),
    st.builds(lambda status, name, value, body: ('HTTP/1.1 %s\r\n%s: %s\r\nContent-Type: application/json\r\n\r\n'
                                                 % (status, name, value)).encode('latin-1') + body,
              st.one_of(st.integers(0, 999).map(str), header_text), st.sampled_from(['Date', 'Location', 'X-A']),
              header_text, st.binary(max_size=200))))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_server_bytes_give_a_result_not_a_traceback(reply):
    server = Replier(reply)
    try:
        start = time.monotonic()
        outcome = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/' % server.port,
                                          'expect': {'assertions': ['@']}}], timeout=1.0, deadline=3.0, max_redirects=1), environ={})
        assert time.monotonic() - start < 2.5
    finally:
        server.close()
    result = outcome['results'][0]
    assert result['error_class'] is None or result['error_class'] in ERROR_CLASSES
    assert result['ok'] is (result['error_class'] is None)
    assert result['expect'] == {'assertions': ['@']}
    assert result['ok'] or result['json'] is None
    json.dumps(outcome, allow_nan=False)


class Recorder(Replier):
    """A Replier that keeps what each connection sent (one recv is enough for a small form)."""

    def __init__(self, reply):
        self.received = []
        super(Recorder, self).__init__(reply)

    def _serve(self):
        while True:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(2.0)
                data = b''
                while b'\r\n\r\n' not in data or len(data.partition(b'\r\n\r\n')[2]) < int(
                        (re.search(br'Content-Length: (\d+)', data, re.I) or [0, b'0'])[1]):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data)
                conn.sendall(self.reply)
            except OSError:
                pass
            finally:
                conn.close()


def test_a_form_is_posted_and_the_answers_tokens_stay_out_but_the_sealed_access_token():
    """The token refresh from a services server (issue 16): the one POST, its secrets hidden, its refresh and ID tokens
    never returned; the access token only sealed with the caller's key (the raw result crosses the connection)."""
    answer = json.dumps({'token_type': 'Bearer', 'scope': 'https://outlook.office365.com/IMAP.AccessAsUser.All',
                         'expires_in': 3599, 'access_token': 'eyJ.access.token', 'refresh_token': 'NEW-RT-0.AXYZ',
                         'id_token': 'eyJ.id.token'}).encode()
    server = Recorder(http_reply(headers=[('Content-Type', 'application/json')], body=answer))
    form = {'grant_type': 'refresh_token', 'client_id': 'app-id', 'client_secret': 'cs~SECRET-VALUE',
            'refresh_token': 'OLD-RT-0.SECRET', 'scope': 'https://outlook.office365.com/IMAP.AccessAsUser.All offline_access'}
    try:
        outcome = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/tenant/oauth2/v2.0/token' % server.port,
                                          'purpose': 'token_endpoint', 'form': form}], seal_key='k' * 64), environ={})
    finally:
        server.close()
    request = server.received[0].decode()
    assert request.startswith('POST /tenant/oauth2/v2.0/token HTTP/1.1')
    assert 'application/x-www-form-urlencoded' in request
    assert 'grant_type=refresh_token' in request and 'refresh_token=OLD-RT-0.SECRET' in request
    result = outcome['results'][0]
    assert result['method'] == 'POST' and result['status'] == 200 and result['ok']
    sealed = result['json'].pop('access_token_sealed')
    assert result['json'] == {'token_type': 'Bearer', 'scope': 'https://outlook.office365.com/IMAP.AccessAsUser.All',
                              'expires_in': 3599}
    assert _seal.unseal('k' * 64, sealed) == 'eyJ.access.token' and _seal.unseal('x' * 64, sealed) != 'eyJ.access.token'
    assert result['body_excerpt'] is None
    text = json.dumps(outcome)
    for secret in ('NEW-RT-0.AXYZ', 'eyJ.id.token', 'cs~SECRET-VALUE', 'OLD-RT-0.SECRET', 'eyJ.access.token'):
        assert secret not in text
    assert {'cs~SECRET-VALUE', 'OLD-RT-0.SECRET'} <= _http.secret_values({'urls': [{'url': 'x', 'form': form}]})
    assert 'refresh_token' not in _http.secret_values({'urls': [{'url': 'x', 'form': form}]})  # grant_type is shown
    server = Recorder(http_reply(headers=[('Content-Type', 'application/json')], body=answer))
    try:  # without a key the access token is not returned at all
        bare = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/t' % server.port, 'form': form}]), environ={})
    finally:
        server.close()
    assert 'access_token' not in bare['results'][0]['json'] and 'access_token_sealed' not in bare['results'][0]['json']


@pytest.mark.parametrize('item, message', [
    ({'url': 'http://x/', 'form': {}}, 'non-empty dictionary'),
    ({'url': 'http://x/', 'form': 'a=b'}, 'non-empty dictionary'),
    ({'url': 'http://x/', 'form': {'a': ['b']}}, 'each field must be a string'),
    ({'url': 'http://x/', 'form': {'a': 'b'}, 'method': 'GET'}, 'a form is sent with POST'),
])
def test_a_bad_form_is_named(item, message):
    with pytest.raises(_http.ArgumentError, match=message):
        _http.normalise(args(urls=[item]))


def test_a_form_is_not_redirected():
    targets, dummy = _http.normalise(args(urls=[{'url': 'http://x/', 'form': {'a': 'b'}, 'follow_redirects': True}]))
    assert targets[0]['method'] == 'POST' and targets[0]['follow_redirects'] is False
