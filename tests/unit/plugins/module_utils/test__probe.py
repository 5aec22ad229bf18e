# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""port_probe's parsing and dialogue logic over real socket pairs, with fixed and random server bytes."""

import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _probe


def _dialogue(server_bytes, protocol, timeout=2.0):
    """Run greet() against a socket pair whose far end sends SERVER_BYTES then closes."""
    client, server = socket.socketpair()

    def serve():
        try:
            server.sendall(server_bytes)
            server.shutdown(socket.SHUT_WR)  # like a server that said all it will say
            server.settimeout(timeout + 1)
            while server.recv(4096):  # drain what the client sends until it closes
                pass
        except OSError:
            pass
        finally:
            server.close()

    thread = threading.Thread(target=serve)
    thread.start()
    result = _probe.new_result({'host': 'h', 'port': 1, 'mode': 'tcp', 'protocol': protocol}, {})
    try:
        _probe.greet(_probe._Line(client, time.monotonic() + timeout), protocol, result)
        return result, None
    except _probe.ProbeError as exc:
        return result, exc
    finally:
        client.close()
        thread.join()


def test_smtp_ehlo_capabilities_and_auth_mechanisms():
    reply = (b'220 outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n'
             b'250-outlook.office365.com Hello\r\n250-SIZE 157286400\r\n250-STARTTLS\r\n'
             b'250-AUTH LOGIN XOAUTH2\r\n250 SMTPUTF8\r\n')
    result, error = _dialogue(reply, 'smtp')
    assert error is None
    assert result['banner'].startswith('220 outlook.office365.com')
    assert result['auth_mechanisms'] == ['LOGIN', 'XOAUTH2']
    assert _probe.starttls_offered('smtp', result['capabilities'])


def test_imap_capability_from_the_capability_command():
    reply = (b'* OK The Microsoft Exchange IMAP4 service is ready.\r\n'
             b'* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID\r\np1 OK CAPABILITY completed.\r\n')
    result, error = _dialogue(reply, 'imap')
    assert error is None and result['auth_mechanisms'] == ['PLAIN', 'XOAUTH2']
    assert not _probe.starttls_offered('imap', result['capabilities'])


def test_pop3_capa_sasl_line():
    reply = b'+OK The Microsoft Exchange POP3 service is ready.\r\n+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nSTLS\r\n.\r\n'
    result, error = _dialogue(reply, 'pop3')
    assert error is None and result['auth_mechanisms'] == ['PLAIN', 'XOAUTH2']
    assert _probe.starttls_offered('pop3', result['capabilities'])


@pytest.mark.parametrize('protocol, reply, detail', [
    ('smtp', b'HTTP/1.1 400 Bad Request\r\n\r\n', 'not an SMTP reply'),
    ('imap', b'\x16\x03\x01\x00\x05hello\r\n', 'not an IMAP greeting'),
    ('pop3', b'-ERR go away\r\n', 'not a POP3 greeting'),
    ('smtp', b'554 5.7.1 no service\r\n', 'SMTP greeting 554'),
    ('imap', b'* OK hi\r\n' + b'* CAPABILITY X\r\n' * 300, 'more than 200 lines'),
    ('pop3', b'+OK ' + b'x' * 9000 + b'\r\n', 'longer than 8192 bytes'),
])
def test_broken_servers_are_protocol_errors(protocol, reply, detail):
    _result, error = _dialogue(reply, protocol)
    assert error.error_class == 'protocol' and detail in error.detail


def test_a_server_that_hangs_up_is_reset():
    _result, error = _dialogue(b'220 ready\r\n', 'smtp')
    assert error.error_class == 'reset'


def test_a_slow_server_hits_the_targets_timeout_not_a_recv_timeout():
    client, server = socket.socketpair()
    stop = threading.Event()

    def drip():  # one byte every 0.1 s: each recv succeeds, the line never completes in time
        while not stop.is_set():
            try:
                server.send(b'2')
            except OSError:
                return
            time.sleep(0.1)

    thread = threading.Thread(target=drip)
    thread.start()
    started = time.monotonic()
    with pytest.raises(_probe.ProbeError) as err:
        _probe._Line(client, time.monotonic() + 0.5).readline()
    stop.set()
    thread.join()
    client.close()
    server.close()
    assert err.value.error_class == 'timeout' and time.monotonic() - started < 1.0


@given(st.binary(max_size=3000), st.sampled_from(['smtp', 'imap', 'pop3']))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_server_bytes_never_raise_anything_but_a_probe_error(data, protocol):
    _result, error = _dialogue(data, protocol, timeout=1.0)
    assert error is None or error.error_class in ('protocol', 'reset', 'timeout')


@pytest.mark.parametrize('target, mode, protocol', [
    ({'host': 'h', 'port': 993}, 'tls', 'imap'),
    ({'host': 'h', 'port': 995}, 'tls', 'pop3'),
    ({'host': 'h', 'port': 587}, 'starttls', 'smtp'),
    ({'host': 'h', 'port': 443}, 'tls', 'https'),
    ({'host': 'h', 'port': 8443}, 'tcp', 'none'),
    ({'host': 'h', 'port': 8443, 'mode': 'tls'}, 'tls', 'none'),
    ({'host': 'h', 'port': 2525, 'protocol': 'smtp'}, 'tcp', 'smtp'),
    ({'host': 'h', 'port': 10993, 'mode': 'tls', 'protocol': 'imap'}, 'tls', 'imap'),
    ({'host': 'h', 'port': 587, 'mode': 'tcp'}, 'tcp', 'smtp'),
])
def test_auto_mode_and_protocol_follow_the_port(target, mode, protocol):
    resolved = _probe.resolve_target(dict(target), 5)
    assert (resolved['mode'], resolved['protocol'], resolved['timeout']) == (mode, protocol, 5)


@pytest.mark.parametrize('target, message', [
    ({'host': '', 'port': 1}, 'targets[0]: host is required'),
    ({'host': 'h', 'port': 70000}, 'targets[0] (h:70000): port must be 1-65535'),
    ({'host': 'h', 'port': 1, 'timeout': 0}, 'timeout must be more than 0'),
    ({'host': 'h', 'port': 1, 'mode': 'starttls', 'protocol': 'none'}, 'mode starttls needs protocol'),
    ({'host': 'h', 'port': 443, 'mode': 'tcp', 'protocol': 'https'}, 'protocol https needs mode tls'),
])
def test_bad_targets_are_named(target, message):
    resolved = _probe.resolve_target(dict(target), 5)
    resolved['timeout'] = target.get('timeout', 5)
    assert message in _probe.validate_target(0, resolved)


def test_parsers_on_edge_cases():
    assert _probe.parse_ehlo(['greeting', 'AUTH=LOGIN PLAIN', 'auth xoauth2', '']) == (
        ['AUTH=LOGIN PLAIN', 'auth xoauth2'], ['LOGIN', 'PLAIN', 'XOAUTH2'])
    assert _probe.parse_imap_capabilities('* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready')[1] == ['XOAUTH2']
    assert _probe.parse_imap_capabilities('* BYE') == ([], [])
    assert _probe.parse_pop3_capa(['USER', 'SASL']) == (['USER', 'SASL'], [])


# -- purpose, error_class and the proxy named as the cause -------------------------------------

def _listener():
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    return server


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _probe_one(target, settings=None, environ=None):
    resolved = _probe.resolve_target(dict(target), 3)
    assert _probe.validate_target(0, resolved) is None
    return _probe.probe_target(resolved, settings or {}, environ or {})


def test_a_target_echoes_its_purpose_and_has_no_message_when_ok():
    server = _listener()
    try:
        result = _probe_one({'host': '127.0.0.1', 'port': server.getsockname()[1], 'purpose': 'imap'})
    finally:
        server.close()
    assert result['ok'] is True and result['error_class'] is None and result['message'] is None
    assert result['purpose'] == 'imap' and 'error' not in result
    assert _probe_one({'host': '127.0.0.1', 'port': _closed_port()})['purpose'] == 'extra'


def test_a_bad_purpose_is_named():
    resolved = _probe.resolve_target({'host': 'h', 'port': 1, 'purpose': 'smtp'}, 5)
    assert "purpose must be one of token_endpoint" in _probe.validate_target(0, resolved)


def test_a_proxy_whose_name_does_not_resolve_is_the_cause():
    proxy = 'http://ece:Pl4nted-pw@proxy.preflight-unit-test.invalid:3128'
    result = _probe_one({'host': 'login.microsoftonline.com', 'port': 443}, {'proxy': proxy})
    assert result['error_class'] == 'proxy_dns', result['message']
    assert result['message'].startswith("login.microsoftonline.com:443: the proxy's own name does not resolve "
                                        "(proxy http://ece:********@proxy.preflight-unit-test.invalid:3128: "
                                        "cannot resolve proxy.preflight-unit-test.invalid")
    assert 'Fix: check the proxy host name' in result['message']
    assert result['proxy'] == 'http://ece:********@proxy.preflight-unit-test.invalid:3128'
    assert 'Pl4nted-pw' not in repr(result)


def test_a_proxy_that_refuses_is_the_cause():
    port = _closed_port()
    result = _probe_one({'host': 'login.microsoftonline.com', 'port': 443},
                        environ={'HTTPS_PROXY': 'http://127.0.0.1:%d' % port})
    assert result['error_class'] == 'proxy_unreachable', result['message']
    assert 'proxy http://127.0.0.1:%d: 127.0.0.1:%d: Connection refused' % (port, port) in result['message']
    assert result['proxy'] == 'http://127.0.0.1:%d' % port


def test_a_socks_proxy_from_the_environment_is_class_proxy_naming_the_variable():
    result = _probe_one({'host': 'login.microsoftonline.com', 'port': 443},
                        environ={'https_proxy': 'socks5://u:Pl4nted-pw@127.0.0.1:1080'})
    assert result['error_class'] == 'proxy'
    assert ('https_proxy must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. http://proxy.corp.example:3128; '
            'socks5:// proxies are not supported, got socks5://u:********@127.0.0.1:1080') in result['message']
    assert 'Pl4nted-pw' not in repr(result)


def test_deadline_results_carry_purpose_and_error_class():
    server = _listener()  # accepts in the kernel, never answers: the TLS handshake waits
    try:
        target = _probe.resolve_target({'host': '127.0.0.1', 'port': server.getsockname()[1], 'mode': 'tls',
                                        'purpose': 'pop3', 'timeout': 5}, 5)
        (result,) = _probe.probe_all([target], {}, {}, 0.3, 4)
    finally:
        server.close()
    assert (result['error_class'], result['purpose'], result['ok']) == ('deadline', 'pop3', False)


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 that is its own CA: (cert path, key path)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'preflight unit proxy')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(u'127.0.0.1'))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / 'cert.pem', tmp_path / 'key.pem'
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _pipe(source, sink):
    try:
        while True:
            data = source.recv(16384)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.close()
            except OSError:
                pass


def test_an_https_proxy_carries_tls_inside_its_own_tls(tmp_path):
    """https:// proxies are accepted by the one rule set: TLS to the proxy, CONNECT, the target's TLS inside."""
    import ssl
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    target, proxy = _listener(), _listener()
    seen = []

    def serve_target():
        conn, dummy = target.accept()
        try:
            tls = context.wrap_socket(conn, server_side=True)
            tls.recv(1)  # hold until the client closes
            tls.close()
        except OSError:
            pass

    def serve_proxy():
        conn, dummy = proxy.accept()
        tls = context.wrap_socket(conn, server_side=True)
        data = b''
        while b'\r\n\r\n' not in data:
            data += tls.recv(4096)
        seen.append(data)
        upstream = socket.create_connection(('127.0.0.1', target.getsockname()[1]))
        tls.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
        threading.Thread(target=_pipe, args=(upstream, tls), daemon=True).start()
        _pipe(tls, upstream)

    threads = [threading.Thread(target=serve_target, daemon=True), threading.Thread(target=serve_proxy, daemon=True)]
    for thread in threads:
        thread.start()
    proxy_port, target_port = proxy.getsockname()[1], target.getsockname()[1]
    proxy_url = 'https://ece:Pl4nted-pw@127.0.0.1:%d' % proxy_port
    try:
        result = _probe_one({'host': '127.0.0.1', 'port': target_port, 'mode': 'tls',
                             'protocol': 'https', 'purpose': 'token_endpoint'},
                            {'proxy': proxy_url, 'ca_path': cert})
    finally:
        target.close()
        proxy.close()
    assert result['ok'] is True, result['message']
    assert result['proxy'] == 'https://ece:********@127.0.0.1:%d' % proxy_port
    assert result['tls']['verified'] is True and result['tls']['certificate']['subject_cn'] == 'preflight unit proxy'
    assert 'proxy_ms' in result['timings']
    assert seen[0].startswith(b'CONNECT 127.0.0.1:%d HTTP/1.1' % target_port)
    assert b'Proxy-Authorization: Basic ' in seen[0]
