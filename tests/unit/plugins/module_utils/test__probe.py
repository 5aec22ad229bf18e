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
