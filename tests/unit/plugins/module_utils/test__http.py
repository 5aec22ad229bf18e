# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""url_reach's logic: argument validation, Date and clock skew, assertions, issuers, error classes.

The last tests run reach() against throw-away servers on 127.0.0.1 that answer with what a test
(or hypothesis) gives them, and against a port nobody listens on.
"""

import datetime
import json
import socket
import ssl
import threading
import time

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _http, _tls
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
              {'url': 'http://b.example:8080/x', 'name': 'b', 'method': 'head', 'status_code': [200, 401],
               'timeout': 2, 'headers': {'accept': 'text/plain'}}],
        headers={'Accept': 'application/json', 'User-Agent': 'ece'}, timeout=7))

    first, second = targets
    assert first['method'] == 'GET' and first['status_code'] == [200] and first['timeout'] == 7.0
    assert first['port'] == 443 and first['name'] == 'https://a.example/'
    assert second['method'] == 'HEAD' and second['status_code'] == [200, 401] and second['timeout'] == 2.0
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
    (dict(urls=[{'url': 'https://a/', 'status_code': [200, 99]}]), 'urls[0].status_code[1]: must be between 100 and 599'),
    (dict(status_code=[]), 'status_code: must be a non-empty list'),
    (dict(timeout=0), 'timeout: must be between'),
    (dict(deadline='soon'), "deadline: must be a number, not 'soon'"),
    (dict(max_workers=0), 'max_workers: must be between 1 and 64'),
    (dict(urls=[{'url': 'https://a/', 'headers': {'X-Bad': 'a\r\nInjected: 1'}}]),
     'urls[0].headers.X-Bad: the value must not contain line breaks'),
    (dict(headers={'Bad Name': 'x'}), "headers: 'Bad Name' is not a valid HTTP header name"),
    (dict(urls=[{'url': 'https://a/'}, {'url': 'https://b/', 'assertions': ['issuer', 'contains(issuer,']}]),
     "urls[1].assertions[1]: 'contains(issuer,' is not a valid JMESPath expression"),
    (dict(urls=[{'url': 'https://a/', 'assertions': [{'query': 'a', 'equal': 1}]}]),
     'urls[0].assertions[0]: unknown key(s) equal'),
    (dict(urls=[{'url': 'https://a/', 'assertions': [42]}]), 'urls[0].assertions[0]: must be a JMESPath expression'),
    (dict(urls=[{'url': 'https://a/', 'method': 'HEAD', 'assertions': ['issuer']}]),
     'urls[0].assertions: a HEAD request has no body'),
    (dict(expected_ca_certs=['AB:CD', 'not a cert']), 'expected_ca_certs[0]: neither a SHA-256 fingerprint'),
    (dict(expected_ca_certs=['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----']),
     'expected_ca_certs[0]: the PEM certificate does not parse'),
    (dict(urls=[{'url': 'https://a/', 'expected_issuers': ['DigiCert*', 'XX=bad']}]),
     "urls[0].expected_issuers[1]: unknown attribute 'xx'"),
    (dict(expected_issuers=['']), 'expected_issuers[0]: must be a non-empty issuer name'),
    (dict(proxy='ftp://proxy:21'), "proxy: 'ftp://proxy:21' is not an http://"),
    (dict(proxy='http://u:%s@proxy:notaport' % PROXY_PASSWORD), 'proxy:'),
    (dict(ca_path='/nonexistent/ca.pem'), "ca_path: '/nonexistent/ca.pem' does not exist on this host"),
])
def test_bad_arguments_name_the_item(params, message):
    with pytest.raises(_http.ArgumentError) as excinfo:
        _http.normalise(args(**params))
    assert message in str(excinfo.value)
    assert PROXY_PASSWORD not in str(excinfo.value)


def test_proxy_without_scheme_is_http():
    dummy, options = _http.normalise(args(proxy='proxy.corp.invalid:3128', no_proxy=['localhost', '.corp.invalid']))
    assert options['proxy'] == 'http://proxy.corp.invalid:3128'
    assert options['no_proxy'] == 'localhost,.corp.invalid'


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

    assert {SECRET, 'pl4nted-t0ken-value', 'k3y-value', PROXY_PASSWORD, 'url-pa55word', 'env-pa55'} <= secrets
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


# --- assertions -----------------------------------------------------------------------------------

DISCOVERY = json.dumps({
    'issuer': 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0',
    'token_endpoint': 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token',
    'scopes_supported': ['openid', 'profile', 'email', 'offline_access'],
    'count': 0,
}).encode()


def compiled(*items):
    return _http._assertions(list(items), 'assertions')


def test_assertions_pass_and_fail_with_values():
    results, passed = _http.evaluate_assertions(compiled(
        "contains(issuer, '9188040d-6c67-4c5b-b112-36a304b66dad')",
        {'query': 'length(scopes_supported)', 'equals': 4},
        "contains(issuer, 'another-tenant')",
        'count',                                   # 0 is true in JMESPath
        {'query': 'count', 'equals': False},       # but not equal to false
        'missing_key',
    ), DISCOVERY)

    assert [r['passed'] for r in results] == [True, True, False, True, False, False]
    assert results[1]['value'] == 4 and results[1]['equals'] == 4
    assert results[2]['value'] is False and results[2]['error'] is None
    assert results[5]['value'] is None
    assert 'equals' not in results[0]
    assert passed is False


def test_assertions_on_bodies_that_are_not_json():
    for body, text in ((b'<html>blocked by proxy</html>', 'the body is not JSON'),
                       (b'', 'the response has no body'), (None, 'the response has no body'),
                       (b'\xff\xfe\x00', 'the body is not JSON')):
        results, passed = _http.evaluate_assertions(compiled('issuer'), body)
        assert passed is False
        assert results[0]['error'].startswith(text)
    results, passed = _http.evaluate_assertions(compiled('issuer'), DISCOVERY, truncated=True)
    assert passed is False and 'larger than max_body_bytes' in results[0]['error']


def test_assertion_that_fails_to_evaluate_and_long_values():
    results, passed = _http.evaluate_assertions(compiled('abs(issuer)', '@'), DISCOVERY)
    assert results[0]['passed'] is False and results[0]['error'].startswith('the query failed:')
    assert results[1]['passed'] is True
    big = json.dumps({'items': ['x' * 100] * 100}).encode()
    results, dummy = _http.evaluate_assertions(compiled('items'), big)
    assert results[0]['truncated'] is True and len(results[0]['value']) == _http.MAX_VALUE_CHARS + 3


def test_no_assertions():
    assert _http.evaluate_assertions([], DISCOVERY) == ([], None)


@pytest.mark.parametrize('value, truth', [
    (None, False), (False, False), ('', False), ([], False), ({}, False),
    (0, True), (0.0, True), ('x', True), ([0], True), ({'a': None}, True), (True, True)])
def test_jmespath_truthiness(value, truth):
    assert _http.jmespath_truthy(value) is truth


@pytest.mark.parametrize('left, right, equal', [
    (1, 1.0, True), (True, 1, False), (0, False, False), ('1', 1, False), ([1, {'a': True}], [1.0, {'a': True}], True),
    ({'a': 1}, {'a': 1, 'b': 2}, False), (None, None, True), ([1, 2], [2, 1], False)])
def test_json_equal(left, right, equal):
    assert _http.json_equal(left, right) is equal


# --- issuers and interception ---------------------------------------------------------------------

def make_ca(name_attributes):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in name_attributes])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_leaf(ca, ca_key, host='login.microsoftonline.com'):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=10))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope='module')
def microsoft_and_inspector():
    microsoft, microsoft_key = make_ca([(NameOID.COUNTRY_NAME, 'US'),
                                        (NameOID.ORGANIZATION_NAME, 'Microsoft Corporation'),
                                        (NameOID.COMMON_NAME, 'Microsoft Azure RSA TLS Issuing CA 04')])
    inspector, inspector_key = make_ca([(NameOID.ORGANIZATION_NAME, 'Corp'),
                                        (NameOID.COMMON_NAME, 'Corp TLS Inspection CA')])
    return {
        'microsoft': microsoft, 'genuine': make_leaf(microsoft, microsoft_key),
        'inspector': inspector, 'forged': make_leaf(inspector, inspector_key),
    }


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize('pattern, matches', [
    ('Microsoft Azure RSA TLS Issuing CA 04', True),
    ('microsoft azure rsa tls issuing ca 04', True),
    ('Microsoft Azure * TLS Issuing CA *', True),
    ('Microsoft Azure RSA TLS Issuing CA 0?', True),
    ('Microsoft Azure RSA TLS Issuing CA', False),
    ('O=Microsoft Corporation', True),
    ('O=Microsoft Corporation, C=US', True),
    ('CN=Microsoft Azure*, O=Microsoft Corporation, C=US', True),
    ('commonName=Microsoft Azure RSA TLS Issuing CA 04', True),
    ('2.5.4.10=Microsoft Corporation', True),
    ('O=Microsoft Corporation, C=DE', False),
    ('O=DigiCert Inc', False),
])
def test_issuer_patterns(microsoft_and_inspector, pattern, matches):
    issuer = _http._name_attributes(microsoft_and_inspector['microsoft'].subject)
    assert _http.issuer_matches(_http.parse_issuer_pattern(pattern), issuer) is matches


def test_dn_with_escaped_comma():
    kind, attributes, dummy = _http.parse_issuer_pattern(r'O=Contoso\, Ltd, C=US')
    assert kind == 'dn' and attributes == [('2.5.4.10', 'Contoso, Ltd'), ('2.5.4.6', 'US')]


def test_interception_by_issuer_name(microsoft_and_inspector):
    expected = _http._issuers(['Microsoft Azure * TLS Issuing CA *', 'DigiCert*'], 'expected_issuers')

    assert _http.interception([microsoft_and_inspector['genuine']], expected, []) == (
        False, 'issuer Microsoft Azure * TLS Issuing CA *')
    assert _http.interception([microsoft_and_inspector['forged']], expected, []) == (True, None)
    # Nothing expected, or nothing seen: no verdict.
    assert _http.interception([microsoft_and_inspector['forged']], [], []) == (None, None)
    assert _http.interception([], expected, []) == (None, None)


def test_interception_by_ca_certificate_and_fingerprint(microsoft_and_inspector):
    microsoft_pem = pem(microsoft_and_inspector['microsoft'])
    by_pem = _http._ca_certs([microsoft_pem], 'expected_ca_certs')
    assert _http.interception([microsoft_and_inspector['genuine']], [], by_pem)[0] is False
    assert _http.interception([microsoft_and_inspector['forged']], [], by_pem) == (True, None)

    microsoft_der = microsoft_and_inspector['microsoft'].public_bytes(serialization.Encoding.DER)
    fingerprint = _tls.fingerprint(microsoft_der)
    for spelling in (fingerprint, fingerprint.replace(':', '').lower()):
        by_fingerprint = _http._ca_certs([spelling], 'expected_ca_certs')
        # A fingerprint matches a certificate the server sent (the chain, where Python shows it).
        chain = [microsoft_and_inspector['genuine'], microsoft_der]
        intercepted, matched = _http.interception(chain, [], by_fingerprint)
        assert intercepted is False and matched.startswith('fingerprint ')
        assert _http.interception([microsoft_and_inspector['forged']], [], by_fingerprint) == (True, None)


# --- error classes of exceptions --------------------------------------------------------------

def wrapped(inner, outer=requests.exceptions.ConnectionError):
    """inner wrapped as requests does: outer(MaxRetryError(reason=inner))."""
    retry = urllib3.exceptions.MaxRetryError(None, 'https://a/', reason=inner)
    return outer(retry)


def verify_error(code, message):
    error = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s' % message)
    error.verify_code, error.verify_message = code, message
    return error


@pytest.mark.parametrize('exc, error_class', [
    (wrapped(urllib3.exceptions.NewConnectionError(None, 'refused')), 'protocol'),
    (wrapped(ConnectionRefusedError(111, 'Connection refused')), 'refused'),
    (wrapped(socket.gaierror(-2, 'Name or service not known')), 'dns'),
    (wrapped(urllib3.exceptions.ConnectTimeoutError(None, 'timed out'), requests.exceptions.ConnectTimeout), 'timeout'),
    (requests.exceptions.ReadTimeout('read timed out'), 'timeout'),
    (wrapped(OSError(101, 'Network is unreachable')), 'unreachable'),
    (wrapped(verify_error(10, 'certificate has expired'), requests.exceptions.SSLError), 'cert_expired'),
    (wrapped(verify_error(62, 'Hostname mismatch'), requests.exceptions.SSLError), 'cert_hostname'),
    (wrapped(verify_error(64, 'IP address mismatch'), requests.exceptions.SSLError), 'cert_hostname'),
    (wrapped(verify_error(19, 'self-signed certificate in certificate chain'), requests.exceptions.SSLError),
     'cert_untrusted'),
    (wrapped(ssl.SSLEOFError(8, 'EOF occurred in violation of protocol'), requests.exceptions.SSLError), 'tls_handshake'),
    (wrapped(urllib3.exceptions.ProxyError('Unable to connect to proxy', OSError('Tunnel connection failed: 407 Proxy '
                                                                                 'Authentication Required')),
             requests.exceptions.ProxyError), 'proxy'),
    (requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        'Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))), 'reset'),
    (requests.exceptions.TooManyRedirects('Exceeded 30 redirects.'), 'http_status'),
    (ValueError('something odd'), 'protocol'),
])
def test_classify_exception(exc, error_class):
    assert _http.classify_exception(exc)[0] == error_class


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


def test_reach_reports_status_date_skew_and_assertions():
    server = Replier(http_reply(headers=[('Content-Type', 'application/json'),
                                         ('Date', 'Sun, 06 Nov 1994 08:49:37 GMT'),
                                         ('Set-Cookie', 'session=abc123')], body=DISCOVERY))
    try:
        outcome = _http.reach(args(
            urls=[{'url': 'http://127.0.0.1:%d/tenant/v2.0/.well-known/openid-configuration' % server.port,
                   'assertions': ["contains(issuer, '9188040d-6c67-4c5b-b112-36a304b66dad')"]}],
            headers={'Authorization': SECRET}), environ={})
    finally:
        server.close()

    result = outcome['results'][0]
    assert result['ok'] is True and result['error_class'] is None and result['status'] == 200
    assert result['server_time'] == '1994-11-06T08:49:37Z'
    assert result['clock_skew_seconds'] > 900000000  # this host is decades ahead of 1994
    assert result['assertions_passed'] is True and result['assertions'][0]['value'] is True
    assert result['headers']['set-cookie'] == '********'
    assert result['request_headers'] == ['Authorization'] and result['tls'] is None and result['intercepted'] is None
    assert SECRET not in json.dumps(outcome)
    assert outcome['summary'] == dict(outcome['summary'], total=1, ok=1, errors=0, by_class={}, deadline_reached=False)


def test_reach_status_assertion_and_refused_classes():
    unexpected = Replier(http_reply('503 Service Unavailable', body=b'<html>blocked</html>'))
    not_json = Replier(http_reply(body=b'<html>proxy login</html>'))
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    try:
        outcome = _http.reach(args(urls=[
            {'url': 'http://127.0.0.1:%d/' % unexpected.port},
            {'url': 'http://127.0.0.1:%d/' % not_json.port, 'assertions': ['issuer']},
            {'url': 'http://127.0.0.1:%d/' % refused_port},
        ], timeout=3), environ={})
    finally:
        unexpected.close()
        not_json.close()

    status, assertion, refused = outcome['results']
    assert status['error_class'] == 'http_status' and status['status'] == 503
    assert 'status 503 Service Unavailable, expected 200' in status['error']
    assert status['body_excerpt'] == '<html>blocked</html>'
    assert assertion['error_class'] == 'assertion' and assertion['assertions_passed'] is False
    assert 'the body is not JSON' in assertion['error']
    assert refused['error_class'] == 'refused' and refused['status'] is None
    assert refused['error'].startswith('http://127.0.0.1:%d/: the connection was refused' % refused_port)
    assert outcome['summary']['by_class'] == {'http_status': 1, 'assertion': 1, 'refused': 1}


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
    assert 'still waiting for the response at the deadline of 0.6 s' in outcome['results'][0]['error']
    assert 'not started before the deadline of 0.6 s: every worker was busy' in outcome['results'][2]['error']
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
    st.fixed_dictionaries({'url': argument_values}, optional={
        k: argument_values for k in ('name', 'method', 'status_code', 'headers', 'timeout', 'follow_redirects',
                                     'assertions', 'expected_issuers', 'expected_ca_certs')}))


@given(st.fixed_dictionaries({'urls': st.lists(url_items, max_size=3)}, optional={
    k: argument_values for k in ('method', 'status_code', 'headers', 'timeout', 'deadline', 'max_workers',
                                 'follow_redirects', 'max_redirects', 'validate_certs', 'proxy', 'no_proxy',
                                 'expected_issuers', 'expected_ca_certs', 'max_body_bytes')}))
@settings(max_examples=300, deadline=None)
def test_random_arguments_raise_only_argument_errors(params):
    try:
        _http.normalise(params, environ={})
    except _http.ArgumentError:
        pass
    _http.secret_values(params, {})


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_random_date_headers_never_raise(value):
    timestamp = _http.parse_http_date(value)
    assert timestamp is None or isinstance(timestamp, float)
    _http.clock_skew(value, time.time())


@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
       st.lists(st.sampled_from(['@', 'issuer', 'length(@)', 'abs(@)', 'a.b[0]', 'contains(@, `1`)', "sort(@)",
                                 '[*].x', 'keys(@)', 'max_by(@, &x)']), min_size=1, max_size=4),
       st.one_of(st.none(), json_values))
@settings(max_examples=300, deadline=None)
def test_random_bodies_and_queries_never_raise(body, queries, equals):
    items = [q if equals is None else {'query': q, 'equals': equals} for q in queries]
    results, passed = _http.evaluate_assertions(compiled(*items), body)
    assert passed in (True, False)
    assert all(isinstance(r['passed'], bool) for r in results)
    json.dumps(results)


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
        outcome = _http.reach(args(urls=[{'url': 'http://127.0.0.1:%d/' % server.port, 'assertions': ['@']}],
                                   timeout=1.0, deadline=3.0, max_redirects=1), environ={})
        assert time.monotonic() - start < 2.5
    finally:
        server.close()
    result = outcome['results'][0]
    assert result['error_class'] is None or result['error_class'] in ERROR_CLASSES
    assert result['ok'] is (result['error_class'] is None)
    json.dumps(outcome)
