# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The unit tests' own certificates and small scripted TLS mail servers on 127.0.0.1 (test__mail.py).

Certs writes a test CA and the leaves the tests need: good (127.0.0.1, localhost, outlook.office365.com),
wrong_host (wrong.example.invalid only), server_name_only (outlook.office365.com only), expired, and
untrusted (the good names, issued by a CA nobody trusts). MailServer speaks just enough IMAP or POP3
(TLS at once) or SMTP (STARTTLS first) from a script: one reply per line the client sends, and it
records every line it received, so a test can tell whether a token ever reached it.
"""

import datetime
import ipaddress
import os
import socket
import ssl
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

GOOD_NAMES = ('127.0.0.1', 'localhost', 'outlook.office365.com')
LIMIT = 5.0  # no server thread waits longer than this for its client


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(names):
    entries = []
    for value in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            entries.append(x509.DNSName(value))
    return x509.SubjectAlternativeName(entries)


def _issue(subject, key, issuer, issuer_key, names=None, ca=False, days=(-1, 30)):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=days[0]))
               .not_valid_after(now + datetime.timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(_san(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Certs:
    """ca.pem and <case>.pem / <case>.key in DIRECTORY; paths in .ca and .pair(case)."""

    __test__ = False

    def __init__(self, directory):
        self.directory = directory
        ca_key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name, other_name = _name('ece_o365 preflight unit test CA'), _name('a CA nobody trusts')
        ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True, days=(-2, 60))
        self.ca = os.path.join(directory, 'ca.pem')
        with open(self.ca, 'wb') as handle:
            handle.write(ca.public_bytes(serialization.Encoding.PEM))
        leaves = {
            'good': (GOOD_NAMES, ca_name, ca_key, (-1, 30)),
            'wrong_host': (('wrong.example.invalid',), ca_name, ca_key, (-1, 30)),
            'server_name_only': (('outlook.office365.com',), ca_name, ca_key, (-1, 30)),
            'expired': (GOOD_NAMES, ca_name, ca_key, (-30, -1)),
            'untrusted': (GOOD_NAMES, other_name, other_key, (-1, 30)),
        }
        for case, (names, issuer, issuer_key, days) in leaves.items():
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _issue(_name('%s test server' % case), key, issuer, issuer_key, names, days=days)
            with open(self._path(case, 'pem'), 'wb') as handle:
                handle.write(cert.public_bytes(serialization.Encoding.PEM))
            with open(self._path(case, 'key'), 'wb') as handle:
                handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))

    def _path(self, case, ext):
        return os.path.join(self.directory, '%s.%s' % (case, ext))

    def pair(self, case):
        """(certificate path, key path) of a case."""
        return self._path(case, 'pem'), self._path(case, 'key')


# What a scripted server says when the script leaves it to the protocol.
GREETINGS = {'imap': b'* OK The Microsoft Exchange IMAP4 service is ready.\r\n',
             'pop3': b'+OK The Microsoft Exchange POP3 service is ready.\r\n',
             'smtp': b'220 outlook.office365.com Microsoft ESMTP MAIL Service ready\r\n'}
SMTP_EHLO_PLAIN = b'250-outlook.office365.com Hello\r\n250-SIZE 157286400\r\n250-STARTTLS\r\n250 8BITMIME\r\n'
SMTP_STARTTLS_GO = b'220 2.0.0 SMTP server ready\r\n'
GARBAGE = object()  # as the greeting: bytes that are no TLS record, written under the TLS session


class Connection:
    """What one client did: lines before TLS (SMTP), lines after it, and when it came and was last answered."""

    def __init__(self):
        self.plain = []
        self.received = []
        self.accepted = time.monotonic()
        self.answered = None
        self.tls = False
        self.sock = None


class MailServer:
    """A scripted IMAP, POP3 or SMTP server on 127.0.0.1 with CERT_PAIR; use as a context manager.

    REPLIES: one entry per line the client sends after TLS, each bytes, None (say nothing) or a
    callable(line) -> bytes; after the last, lines are still read and recorded until the client
    closes. IMAP and POP3 send GREETING after the handshake (GARBAGE: non-TLS bytes instead); SMTP
    greets in plain text, answers EHLO with EHLO_PLAIN and STARTTLS with STARTTLS_REPLY, then the
    handshake. After a 354 reply an SMTP server reads the message up to its "." line as one line.
    MEET: wait (at most LIMIT s) before greeting until that many clients have connected.
    """

    def __init__(self, protocol, cert_pair, replies, greeting=None, ehlo_plain=SMTP_EHLO_PLAIN,
                 starttls_reply=SMTP_STARTTLS_GO, meet=0, silent=False):
        self.protocol = protocol
        self.replies = list(replies)
        self.greeting = GREETINGS[protocol] if greeting is None else greeting
        self.ehlo_plain = ehlo_plain
        self.starttls_reply = starttls_reply
        self.meet = meet
        self.silent = silent
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*cert_pair)
        self.connections = []
        self.lock = threading.Condition()
        self.stopped = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    @property
    def received(self):
        """Every line received after TLS, on every connection."""
        return [line for conn in self.connections for line in conn.received]

    @property
    def plain(self):
        return [line for conn in self.connections for line in conn.plain]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept(): closing alone does not
        except OSError:
            pass
        self.sock.close()
        until = time.monotonic() + 1.0  # clients that closed: their threads end at once
        for thread in self.threads[1:]:
            thread.join(max(0.0, until - time.monotonic()))
        self.stopped.set()
        with self.lock:
            self.lock.notify_all()
        for record in list(self.connections):
            try:
                record.sock.shutdown(socket.SHUT_RDWR)  # wakes a server thread still reading
            except (AttributeError, OSError):
                pass
        for thread in self.threads[1:]:
            thread.join(LIMIT)

    def _accept(self):
        while not self.stopped.is_set():
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            record = Connection()
            with self.lock:
                self.connections.append(record)
                self.lock.notify_all()
            thread = threading.Thread(target=self._serve, args=(conn, record), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn, record):
        record.sock = conn
        conn.settimeout(LIMIT)
        reader = _Reader(conn, self.stopped)
        try:
            if self.silent:
                reader.until_closed(record.plain)
                return
            if self.protocol == 'smtp':
                for reply in (self.greeting, self.ehlo_plain, self.starttls_reply):
                    if record.plain or reply is not self.greeting:
                        line = reader.line()
                        if line is None:
                            return
                        record.plain.append(line)
                    conn.sendall(reply)
                if not self.starttls_reply.startswith(b'220'):
                    reader.until_closed(record.plain)
                    return
            conn = record.sock = self.context.wrap_socket(conn, server_side=True)
            record.tls = True
            reader = _Reader(conn, self.stopped)
            with self.lock:
                self.lock.wait_for(lambda: len(self.connections) >= self.meet or self.stopped.is_set(), LIMIT)
            if self.greeting is GARBAGE:
                os.write(conn.fileno(), b'this is not a TLS record\r\n' * 8)
                reader.until_closed(record.received)
                return
            if self.protocol != 'smtp':
                conn.sendall(self.greeting)
            self._dialogue(conn, reader, record)
        except (OSError, ValueError):  # ssl.SSLError included: a client that refuses the certificate
            pass
        finally:
            conn.close()

    def _dialogue(self, conn, reader, record):
        replies = list(self.replies)
        while replies:
            line = reader.line()
            if line is None:
                return
            if self.protocol == 'smtp' and record.received and record.received[-1] == 'DATA':
                while line is not None and line != '.':
                    line = reader.line()
                line = '<message>'
            record.received.append(line)
            reply = replies.pop(0)
            reply = reply(line) if callable(reply) else reply
            record.answered = time.monotonic()  # before the reply: the client cannot go on before it
            if reply:
                conn.sendall(reply)
        reader.until_closed(record.received)


class _Reader:
    def __init__(self, conn, stopped):
        self.conn = conn
        self.stopped = stopped
        self.buffer = b''

    def line(self):
        """The next line without its CRLF, or None when the client closed or the server stops."""
        while b'\n' not in self.buffer:
            if self.stopped.is_set():
                return None
            chunk = self.conn.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        return line.rstrip(b'\r').decode('utf-8', 'replace')

    def until_closed(self, into):
        while True:
            line = self.line()
            if line is None:
                return
            into.append(line)


def overlap(connections):
    """The most connections that were between accepted and last answered at one time."""
    spans = [(c.accepted, c.answered or c.accepted) for c in connections]
    return max(sum(1 for start, end in spans if start <= moment <= end) for moment, _end in spans) if spans else 0
