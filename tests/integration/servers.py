# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw TCP servers for the probes' integration and reliability tests: one handler per connection, each in
its thread, and the handlers of servers that misbehave on purpose (HOSTILE)."""

import socket
import struct
import threading
import time


class RawServer:
    """A TCP server on 127.0.0.1 running HANDLER(conn, stopped) per connection in its own thread."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn, self.stopped)
        except OSError:  # ssl.SSLError included: clients that refuse our certificate are expected
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()


def hold(conn, stopped, limit=20.0):
    """Keep the connection, saying nothing, until the client closes it, the test ends, or LIMIT passes."""
    conn.settimeout(0.2)
    end = time.monotonic() + limit
    while not stopped.is_set() and time.monotonic() < end:
        try:
            if not conn.recv(4096):
                return
        except socket.timeout:
            continue


# -- servers that misbehave on purpose, one way each (port_probe's and the reliability suite's) --------------

def slow_banner(conn, stopped):
    """An SMTP banner one byte a second: no single read times out, the probe's own timeout must."""
    for byte in b"220 slow.example ESMTP\r\n":
        if stopped.wait(1.0):
            return
        conn.sendall(bytes([byte]))


def garbage(conn, stopped):
    """Binary bytes that are no protocol at all, at once, then silence."""
    conn.sendall(bytes(range(256)) * 4)
    hold(conn, stopped)


def endless_capabilities(conn, stopped):
    """An IMAP greeting, then CAPABILITY lines without end (never the tagged reply)."""
    conn.sendall(b"* OK IMAP ready\r\n")
    conn.recv(100)
    for _line in range(100000):
        if stopped.is_set():
            return
        conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n")


def tls_cut_midway(conn, stopped):
    """Reads the ClientHello, then hangs up: a TLS handshake cut halfway (a FIN: all it was sent is read)."""
    read_tls_record(conn)
    conn.close()


def read_tls_record(conn, limit=5.0):
    """Read one whole TLS record (the ClientHello) from CONN; bytes left unread would make close() a RST."""
    conn.settimeout(limit)
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def starttls_refused(conn, stopped):
    """SMTP that lists STARTTLS in EHLO and then refuses it (454)."""
    conn.sendall(b"220 mail.example ESMTP\r\n")
    conn.recv(200)
    conn.sendall(b"250-mail.example\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n")
    conn.recv(200)
    conn.sendall(b"454 4.7.0 TLS not available due to local problem\r\n")
    hold(conn, stopped)


def starttls_absent(conn, stopped):
    """SMTP whose EHLO does not list STARTTLS."""
    conn.sendall(b"220 mail.example ESMTP\r\n")
    conn.recv(200)
    conn.sendall(b"250-mail.example\r\n250 AUTH LOGIN\r\n")
    hold(conn, stopped)


def silent(conn, stopped):
    """Accepts and never says a word."""
    hold(conn, stopped)


def reset_now(conn, _stopped):
    """Accepts, then closes with SO_LINGER 0: the kernel sends a RST, not a FIN."""
    abort(conn)


def abort(conn):
    """Close CONN with a RST (SO_LINGER on, zero seconds), as a firewall or a crashed server does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


HOSTILE = {"slow_banner": slow_banner, "garbage": garbage, "endless_capabilities": endless_capabilities,
           "tls_cut_midway": tls_cut_midway, "starttls_refused": starttls_refused,
           "starttls_absent": starttls_absent, "silent": silent, "reset_now": reset_now}


def serve_all(handlers):
    """{name: RawServer} for {name: handler}; close each with close_all."""
    return {name: RawServer(handler) for name, handler in handlers.items()}


def close_all(servers):
    for server in servers.values():
        server.close()
