# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The windows_selftest playbook's temporary listener, on a POSIX host (run by ansible.builtin.script).

    selftest_listener.py start SECONDS   print {"port", "closed_port", "pid"} and leave a listener on
                                         127.0.0.1:port that stops by itself after SECONDS
    selftest_listener.py stop PID PORT   stop that listener (only if PID is still it), print {"stopped"}

The listener answers every connection that sends an HTTP request with "204 No Content" and closes any
other; it serves loopback only and writes nothing. closed_port is a port that was free a moment ago and
on which nothing listens. The PowerShell counterpart is windows_selftest_listener.ps1.
"""

import json
import os
import signal
import socket
import sys
import time

MARKER = 'selftest_listener'
REPLY = b'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
READ_SECONDS = 2.0


def _free_port():
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]
    finally:
        probe.close()


def _serve(listener, seconds):
    stop_at = time.monotonic() + seconds
    listener.settimeout(0.5)
    while time.monotonic() < stop_at:
        try:
            conn, _peer = listener.accept()
        except socket.timeout:
            continue
        try:
            conn.settimeout(READ_SECONDS)
            seen = b''
            while b'\r\n\r\n' not in seen and len(seen) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                seen += chunk
            if b'\r\n\r\n' in seen:
                conn.sendall(REPLY)
        except (OSError, socket.timeout):
            pass
        finally:
            conn.close()
    listener.close()


def start(seconds):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    closed_port = _free_port()
    pid = os.fork()
    if pid:
        listener.close()
        print(json.dumps({'port': port, 'closed_port': closed_port, 'pid': pid, 'seconds': seconds}))
        return 0
    # The child: its own session, no terminal, nothing the connection waits for.
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        _serve(listener, seconds)
    finally:
        os._exit(0)  # pylint: disable=protected-access


def stop(pid, port):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            cmdline = handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except (IOError, OSError):
        print(json.dumps({'stopped': False, 'reason': 'process %d had already ended' % pid, 'port': port}))
        return 0
    if MARKER not in cmdline:
        print(json.dumps({'stopped': False, 'reason': 'process %d is not the listener' % pid, 'port': port}))
        return 0
    os.kill(pid, signal.SIGTERM)
    print(json.dumps({'stopped': True, 'pid': pid, 'port': port}))
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == 'start':
        return start(max(1, min(int(argv[1]), 3600)))
    if len(argv) == 3 and argv[0] == 'stop':
        return stop(int(argv[1]), int(argv[2]))
    sys.stderr.write('usage: selftest_listener.py start SECONDS | stop PID PORT\n')
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
