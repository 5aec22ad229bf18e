# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""TLS helpers shared by the network probes: contexts, error classes, certificate facts.

A probe always completes the handshake without verification first, so that it can report the
certificate it was shown, and then verifies chain and host name itself. That is how it tells
"untrusted" from "wrong host" from "expired" instead of stopping at the first error.
"""

import binascii
import datetime
import hashlib
import ssl

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors

try:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # reported by the modules through missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc


def observing_context():
    """A client context that completes any handshake, for looking at what the server presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def verifying_context(ca_file=None):
    """A client context that verifies the chain against CA_FILE, else the system store."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    context.check_hostname = False  # host name checked separately, so both facts are reported
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def classify_ssl_error(exc):
    """Map an ssl exception to an error class of _errors.ERROR_CLASSES (see _errors.classify_exception)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _errors.certificate_class(exc)
    return 'tls_handshake'


class TLSOverStream(object):
    """TLS over a socket-like STREAM that is itself TLS (a target behind an https:// proxy).

    Python's SSLSocket cannot wrap another SSLSocket, so the inner session is an SSLObject fed
    through memory BIOs. It offers what the probes use of a socket: recv, sendall, settimeout,
    close, version, cipher, getpeercert.
    """

    def __init__(self, stream, context, server_hostname=None):
        self.stream = stream
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_hostname)
        self._io(self.tls.do_handshake)

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.stream.sendall(data)

    def _io(self, operation, *args):
        while True:
            try:
                value = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self.stream.recv(16384)
                if not data:
                    self.incoming.write_eof()
                else:
                    self.incoming.write(data)
                continue
            self._flush()
            return value

    def recv(self, size):
        try:
            return self._io(self.tls.read, size)
        except ssl.SSLZeroReturnError:
            return b''

    def sendall(self, data):
        view = memoryview(data)
        while view:
            sent = self._io(self.tls.write, view)
            view = view[sent:]

    def settimeout(self, value):
        self.stream.settimeout(value)

    def close(self):
        self.stream.close()

    def version(self):
        return self.tls.version()

    def cipher(self):
        return self.tls.cipher()

    def getpeercert(self, binary_form=False):
        return self.tls.getpeercert(binary_form)

    def get_unverified_chain(self):
        getter = getattr(self.tls, 'get_unverified_chain', None)
        return getter() if getter else None


def _name(name):
    parts = []
    for attribute in name:
        try:
            label = attribute.oid._name
        except AttributeError:
            label = attribute.oid.dotted_string
        parts.append('%s=%s' % (label, attribute.value))
    return ','.join(parts)


def _common_name(name):
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def _utc(cert, attribute):
    value = getattr(cert, attribute + '_utc', None)  # cryptography >= 42
    if value is None:
        value = getattr(cert, attribute).replace(tzinfo=datetime.timezone.utc)
    return value


def load_der(der):
    return x509.load_der_x509_certificate(der)


def certificate_facts(der, now=None):
    """Subject, issuer, SANs, validity and fingerprint of a DER certificate."""
    cert = load_der(der)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        sans = ['DNS:%s' % n for n in san.get_values_for_type(x509.DNSName)]
        sans += ['IP:%s' % n for n in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        sans = []
    not_before, not_after = _utc(cert, 'not_valid_before'), _utc(cert, 'not_valid_after')
    return {
        'subject': _name(cert.subject),
        'subject_cn': _common_name(cert.subject),
        'issuer': _name(cert.issuer),
        'issuer_cn': _common_name(cert.issuer),
        'sans': sans,
        'serial': '%x' % cert.serial_number,
        'not_before': not_before.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'days_left': int((not_after - now).total_seconds() // 86400),
        'expired': not_after < now or not_before > now,
        'self_signed': cert.issuer == cert.subject,
        'sha256_fingerprint': fingerprint(der),
    }


def fingerprint(der):
    """SHA-256 fingerprint as colon-separated upper-case hex, as browsers and openssl show it."""
    digest = binascii.hexlify(hashlib.sha256(der).digest()).decode().upper()
    return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


def normalise_fingerprint(value):
    return value.replace(':', '').replace(' ', '').upper()


def hostname_matches(der, hostname):
    """True when the certificate names HOSTNAME (DNS SAN with one-label wildcards, or IP SAN)."""
    cert = load_der(der)
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return False
    hostname = hostname.rstrip('.').lower()
    for ip in san.get_values_for_type(x509.IPAddress):
        if str(ip) == hostname:
            return True
    for pattern in san.get_values_for_type(x509.DNSName):
        pattern = pattern.rstrip('.').lower()
        if pattern == hostname:
            return True
        if pattern.startswith('*.') and '.' in hostname:
            label, rest = hostname.split('.', 1)
            if label and rest == pattern[2:]:
                return True
    return False


def issued_by(der, ca_pem_or_der):
    """True when the certificate DER was signed by the CA certificate given (PEM or DER)."""
    cert = load_der(der)
    if b'-----BEGIN' in ca_pem_or_der:
        ca = x509.load_pem_x509_certificate(ca_pem_or_der)
    else:
        ca = x509.load_der_x509_certificate(ca_pem_or_der)
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except Exception:  # signature, name or algorithm mismatch: not this CA
        return False
