# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The error vocabulary and the one map from an exception to its class."""

import socket
import ssl

import pytest
import requests
import urllib3

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors


def test_every_class_has_a_meaning_and_a_fix():
    for name, (meaning, fix) in _errors.ERROR_CLASSES.items():
        assert meaning and fix and name == name.lower()


def test_the_names_are_exported_sorted():
    assert _errors.ERROR_CLASS_NAMES == tuple(sorted(_errors.ERROR_CLASSES))
    assert {'proxy', 'proxy_dns', 'proxy_unreachable', 'deadline'} <= set(_errors.ERROR_CLASS_NAMES)


def test_message_names_where_cause_detail_and_fix():
    text = _errors.describe('timeout', 'outlook.office365.com:993', 'timed out')
    assert text.startswith('outlook.office365.com:993: no answer in time')
    assert '(timed out)' in text and 'Fix: open the port outbound' in text
    text = _errors.describe('proxy_dns', 'login.microsoftonline.com:443', 'proxy http://u:********@p.invalid:3128: x')
    assert text.startswith("login.microsoftonline.com:443: the proxy's own name does not resolve (proxy http://u:")
    assert 'Fix: check the proxy host name' in text


def verify_error(code, message):
    error = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s' % message)
    error.verify_code, error.verify_message = code, message
    return error


def wrapped(inner, outer=requests.exceptions.ConnectionError):
    """INNER wrapped as requests does: outer(MaxRetryError(reason=inner))."""
    return outer(urllib3.exceptions.MaxRetryError(None, 'https://a/', reason=inner))


class DeadlineExceeded(Exception):
    pass


@pytest.mark.parametrize('exc, error_class', [
    (socket.gaierror(-2, 'Name or service not known'), 'dns'),
    (ConnectionRefusedError(111, 'Connection refused'), 'refused'),
    (socket.timeout('timed out'), 'timeout'),
    (ConnectionResetError(104, 'Connection reset by peer'), 'reset'),
    (BrokenPipeError(32, 'Broken pipe'), 'reset'),
    (OSError(101, 'Network is unreachable'), 'unreachable'),
    (OSError(113, 'No route to host'), 'unreachable'),
    (OSError(1, 'Operation not permitted'), 'reset'),
    (verify_error(10, 'certificate has expired'), 'cert_expired'),
    (verify_error(9, 'certificate is not yet valid'), 'cert_expired'),
    (verify_error(62, 'Hostname mismatch'), 'cert_hostname'),
    (verify_error(64, 'IP address mismatch'), 'cert_hostname'),
    (verify_error(20, 'unable to get local issuer certificate'), 'cert_untrusted'),
    (ssl.SSLEOFError(8, 'EOF occurred in violation of protocol'), 'tls_handshake'),
    (ssl.SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number'), 'tls_handshake'),
    (ValueError('not an SMTP reply'), 'protocol'),
    (DeadlineExceeded('the deadline passed'), 'deadline'),
    # requests and urllib3, known by name
    (wrapped(urllib3.exceptions.NewConnectionError(None, 'refused')), 'protocol'),
    (wrapped(ConnectionRefusedError(111, 'Connection refused')), 'refused'),
    (wrapped(socket.gaierror(-2, 'Name or service not known')), 'dns'),
    (wrapped(urllib3.exceptions.ConnectTimeoutError(None, 'timed out'), requests.exceptions.ConnectTimeout), 'timeout'),
    (requests.exceptions.ReadTimeout('read timed out'), 'timeout'),
    (wrapped(verify_error(19, 'self-signed certificate in certificate chain'), requests.exceptions.SSLError),
     'cert_untrusted'),
    (wrapped(ssl.SSLEOFError(8, 'EOF occurred in violation of protocol'), requests.exceptions.SSLError),
     'tls_handshake'),
    (requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        'Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))), 'reset'),
    (requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError(
        'Connection aborted.', __import__('http.client').client.BadStatusLine('garbage'))), 'protocol'),
    # A proxy between: the proxy's own name and port are named as the cause.
    (wrapped(urllib3.exceptions.ProxyError('Cannot connect to proxy.', socket.gaierror(-2, 'Name or service not known')),
             requests.exceptions.ProxyError), 'proxy_dns'),
    (wrapped(urllib3.exceptions.ProxyError('Cannot connect to proxy.', ConnectionRefusedError(111, 'refused')),
             requests.exceptions.ProxyError), 'proxy_unreachable'),
    (wrapped(urllib3.exceptions.ProxyError('Unable to connect to proxy', OSError(
        'Tunnel connection failed: 407 Proxy Authentication Required')), requests.exceptions.ProxyError), 'proxy'),
])
def test_one_map_for_every_module(exc, error_class):
    found, detail = _errors.classify_exception(exc)
    assert found == error_class, detail
    assert found in _errors.ERROR_CLASSES and detail


@pytest.mark.parametrize('exc, where, error_class', [
    (socket.gaierror(-2, 'Name or service not known'), 'proxy', 'proxy_dns'),
    (ConnectionRefusedError(111, 'Connection refused'), 'proxy', 'proxy_unreachable'),
    (socket.timeout('timed out'), 'proxy', 'proxy_unreachable'),
    (OSError(113, 'No route to host'), 'proxy', 'proxy_unreachable'),
    (ConnectionResetError(104, 'reset'), 'proxy', 'proxy'),
    (socket.timeout('timed out'), 'tunnel', 'timeout'),
    (ConnectionResetError(104, 'reset'), 'tunnel', 'proxy'),
    (socket.gaierror(-2, 'Name or service not known'), None, 'dns'),
])
def test_where_says_whether_the_proxy_was_being_reached(exc, where, error_class):
    assert _errors.classify_exception(exc, where=where, proxy='http://u:pw@proxy.invalid:3128')[0] == error_class


def test_a_proxy_detail_names_the_proxy_without_its_password():
    error_class, detail = _errors.classify_exception(socket.gaierror(-2, 'Name or service not known'), where='proxy',
                                                     proxy='http://ece:Pl4nted@proxy.invalid:3128')
    assert error_class == 'proxy_dns'
    assert detail == 'proxy http://ece:********@proxy.invalid:3128: cannot resolve its name (Name or service not known)'


def test_passwords_in_exception_texts_are_hidden():
    exc = ValueError('could not use http://ece:Pl4nted@proxy.invalid:3128 today')
    assert 'Pl4nted' not in _errors.classify_exception(exc)[1]


def test_classification_never_raises():
    class Hostile(Exception):
        def __str__(self):
            raise RuntimeError('no text')
    error_class, dummy = _errors.classify_exception(Hostile())
    assert error_class in _errors.ERROR_CLASSES
