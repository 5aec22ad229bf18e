# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Certificates for the probes' integration tests: one test CA and the four server cases.

good: names 127.0.0.1, localhost and outlook.office365.com, issued by the test CA;
expired: same names, expired yesterday; wrong_host: names only wrong.example.invalid;
self_signed: its own issuer, names 127.0.0.1 and localhost.
Besides those (not in CASES): missing_intermediate: the good names, issued by an intermediate CA
under the test CA, and the file holds the leaf alone, so a server presenting it sends no
intermediate and a client trusting only the root cannot build the chain.
"""

import datetime
import os

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

GOOD_NAMES = ("127.0.0.1", "localhost", "outlook.office365.com", "login.microsoftonline.com")


def _self_signed(names):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = []
    for value in names:
        try:
            import ipaddress
            sans.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            sans.append(x509.DNSName(value))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


class TestCerts:
    """Writes <dir>/ca.pem and <case>.pem / <case>.key for each case; paths in .ca and .pair(case)."""

    CASES = ("good", "expired", "wrong_host", "self_signed")
    __test__ = False  # a helper, not a test class, wherever a test module imports it

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        ca = trustme.CA(organization_name="ece_o365 preflight test CA")
        self.ca = os.path.join(directory, "ca.pem")
        ca.cert_pem.write_to_path(self.ca)
        now = datetime.datetime.now(datetime.timezone.utc)
        leaves = {
            "good": ca.issue_cert(*GOOD_NAMES),
            "expired": ca.issue_cert(*GOOD_NAMES, not_before=now - datetime.timedelta(days=30),
                                     not_after=now - datetime.timedelta(days=1)),
            "wrong_host": ca.issue_cert("wrong.example.invalid"),
        }
        for case, leaf in leaves.items():
            with open(self._path(case, "pem"), "wb") as handle:
                for blob in leaf.cert_chain_pems:
                    handle.write(blob.bytes())
            leaf.private_key_pem.write_to_path(self._path(case, "key"))
        orphan = ca.create_child_ca().issue_cert(*GOOD_NAMES)
        orphan.cert_chain_pems[0].write_to_path(self._path("missing_intermediate", "pem"))  # the leaf only
        orphan.private_key_pem.write_to_path(self._path("missing_intermediate", "key"))
        cert, key = _self_signed(("127.0.0.1", "localhost"))
        with open(self._path("self_signed", "pem"), "wb") as handle:
            handle.write(cert)
        with open(self._path("self_signed", "key"), "wb") as handle:
            handle.write(key)

    def _path(self, case, ext):
        return os.path.join(self.directory, "%s.%s" % (case, ext))

    def pair(self, case):
        """(certificate chain path, key path) for a case."""
        return self._path(case, "pem"), self._path(case, "key")
