# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shared auth helper: its argument spec against the doc fragment, the clouds table, msal's HTTP
session, claims decoding (fixed and random input) and the classification of failures, the TLS
and connection ones against real local servers."""

import base64
import datetime
import json
import socket
import ssl
import threading
import time

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.doc_fragments.auth import ModuleDocFragment
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth
from ansible_collections.ece_o365.preflight.plugins.module_utils._errors import ERROR_CLASSES


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip('=')


def jwt(payload, header=None):
    return '%s.%s.%s' % (_b64(header or {'alg': 'RS256', 'typ': 'JWT'}), _b64(payload), 'c2lnbmF0dXJl')


# -- the argument spec and its documentation ------------------------------------------------------

def test_every_option_is_documented_once_in_the_fragment_with_its_type_default_and_choices():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    spec = _auth.argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc['type'] == option['type'], name
        assert doc.get('default') == option.get('default'), name
        assert doc.get('choices') == option.get('choices'), name


def test_no_log_on_every_secret_and_explicitly_off_on_names_that_only_look_secret():
    spec = _auth.argument_spec()
    for name in ('client_secret', 'client_private_key_password'):
        assert spec[name]['no_log'] is True, name
    assert spec['client_private_key_path']['no_log'] is False
    # The proxy is shown (a proxy without credentials must be visible); PreflightModule masks its password.
    assert spec['proxy']['no_log'] is False


def test_the_clouds_table_holds_the_documented_hosts():
    clouds = _auth.CLOUDS
    assert clouds['public']['authority_host'] == 'login.microsoftonline.com'
    assert clouds['usgov']['graph'] == 'https://graph.microsoft.us'
    assert clouds['usgov']['exchange'] == 'https://outlook.office365.us'
    assert clouds['usgov_dod']['graph'] == 'https://dod-graph.microsoft.us'
    assert clouds['usgov_dod']['authority_host'] == 'login.microsoftonline.us'
    assert clouds['china']['graph'] == 'https://microsoftgraph.chinacloudapi.cn'
    assert clouds['china']['exchange'] == 'https://partner.outlook.cn'
    # the mail hosts per cloud, as Microsoft's endpoint tables list them (issue 12)
    assert [clouds['public'][k] for k in ('imap_host', 'pop3_host', 'smtp_host')] == [
        'outlook.office365.com', 'outlook.office365.com', 'smtp.office365.com']
    assert {clouds['usgov'][k] for k in ('imap_host', 'pop3_host', 'smtp_host')} == {'outlook.office365.us'}
    assert {clouds['usgov_dod'][k] for k in ('imap_host', 'pop3_host', 'smtp_host')} == {'outlook-dod.office365.us'}
    assert [clouds['china'][k] for k in ('imap_host', 'pop3_host', 'smtp_host')] == [
        'partner.outlook.cn', 'partner.outlook.cn', 'smtp.partner.outlook.cn']
    assert sorted(clouds) == ['china', 'public', 'usgov', 'usgov_dod']
    for cloud in clouds.values():
        assert '://' not in cloud['authority_host']
        assert all(cloud[key].startswith('https://') for key in ('graph', 'exchange', 'mail_scope_resource'))


@pytest.mark.parametrize('params, authority, explicit', [
    ({'tenant': 'contoso.com', 'cloud': 'public'}, 'https://login.microsoftonline.com/contoso.com', False),
    ({'tenant': ' t1 ', 'cloud': 'china'}, 'https://login.partner.microsoftonline.cn/t1', False),
    ({'tenant': 'x', 'authority': 'https://127.0.0.1:8443/t2/'}, 'https://127.0.0.1:8443/t2', True),
])
def test_authority_from_tenant_and_cloud_or_explicit(params, authority, explicit):
    assert _auth.resolve_authority(params) == (authority, explicit)


@pytest.mark.parametrize('params, message', [
    ({'client_id': 'c'}, 'one of tenant or authority'),
    ({'tenant': 't'}, 'client_id is required'),
    ({'client_id': 'c', 'authority': 'http://127.0.0.1/t'}, 'authority must be an https URL'),
    ({'client_id': 'c', 'authority': 'https://127.0.0.1/'}, 'with the tenant as its path'),
    ({'client_id': 'c', 'tenant': 'a/b'}, 'tenant must be a directory'),
    ({'client_id': 'c', 'tenant': 't', 'timeout': 0}, 'timeout must be more than 0'),
    ({'client_id': 'c', 'tenant': 't', 'ca_path': '/nonexistent.pem'}, 'ca_path /nonexistent.pem'),
    ({'client_id': 'c', 'tenant': 't', 'client_certificate_path': '/nonexistent.pem'}, 'client_certificate_path'),
])
def test_validation_names_the_bad_option(params, message):
    assert message in _auth.validate(params)


def test_validation_without_a_client_only_checks_files_and_numbers():
    assert _auth.validate({'timeout': 5}, need_client=False) is None


def test_default_scopes_per_grant_and_cloud():
    assert _auth.default_scopes('client_credentials', 'usgov') == ['https://graph.microsoft.us/.default']
    # what ECE most often uses, IMAP and SMTP: asking for POP too would be AADSTS65001 where only IMAP and SMTP are
    # consented (issue 12)
    assert _auth.default_scopes('refresh_token', 'public') == [
        'https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send']
    assert _auth.default_scopes('password', 'usgov_dod') == [
        'https://outlook-dod.office365.us/IMAP.AccessAsUser.All', 'https://outlook-dod.office365.us/SMTP.Send']


def test_proxy_password_for_the_no_log_values():
    assert _auth.proxy_password('http://ece:S3cret@proxy:3128') == 'S3cret'
    assert _auth.proxy_password('proxy:3128') is None and _auth.proxy_password(None) is None


def test_certificate_credential_reads_pem_and_computes_both_thumbprints(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate('app', key, key, 'app')
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    combined = tmp_path / 'both.pem'
    combined.write_bytes(pem + key_pem)
    credential, facts = _auth.certificate_credential({'client_certificate_path': str(combined)})
    assert credential['private_key'].startswith('-----BEGIN PRIVATE KEY-----') and 'thumbprint' not in credential
    assert facts['sha1_thumbprint'] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert facts['sha256_thumbprint'] == cert.fingerprint(hashes.SHA256()).hex().upper()
    only_cert = tmp_path / 'cert.pem'
    only_cert.write_bytes(pem)
    with pytest.raises(ValueError, match='no PEM private key'):
        _auth.certificate_credential({'client_certificate_path': str(only_cert)})
    credential, _facts = _auth.certificate_credential({
        'client_certificate_path': str(only_cert), 'client_private_key_path': str(combined),
        'client_certificate_thumbprint': 'ab:cd:ef', 'client_private_key_password': 'pw'})
    assert credential['thumbprint'] == 'ABCDEF' and credential['passphrase'] == 'pw'


# -- claims -------------------------------------------------------------------------------------

def test_claims_of_an_entra_access_token_and_only_the_names_asked_for():
    token = jwt({'aud': 'https://outlook.office.com', 'scp': 'IMAP.AccessAsUser.All SMTP.Send', 'roles': ['A', 1],
                 'upn': 'support@contoso.com', 'iat': 1000, 'exp': 4600.0, 'xms_secret': 'x', 'nested': {'a': 1}})
    claims = _auth.decode_claims(token, _auth.ACCESS_TOKEN_CLAIMS)
    assert claims == {'aud': 'https://outlook.office.com', 'scp': 'IMAP.AccessAsUser.All SMTP.Send', 'roles': ['A'],
                      'upn': 'support@contoso.com', 'iat': 1000, 'exp': 4600}
    assert _auth.token_format(token) == 'jwt'


@pytest.mark.parametrize('token, form', [
    ('opaque-token-value', 'opaque'),
    ('a.b.c.d.e', 'encrypted'),
    ('%s.%s.sig' % (_b64({'alg': 'RS256'}), _b64(['not', 'a', 'dict'])), 'opaque'),
    ('%s.!!!.sig' % _b64({'alg': 'RS256'}), 'opaque'),
    (None, 'opaque'),
])
def test_unreadable_tokens_give_no_claims(token, form):
    assert _auth.decode_claims(token) is None
    assert _auth.token_format(token) == form


def _containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     _containers,
                     max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=200),
    st.builds(lambda h, p, s: '%s.%s.%s' % (h, p, s), st.text(max_size=30), st.text(max_size=60), st.text(max_size=10)),
    st.builds(lambda h, p: '%s.%s.sig' % (_b64(h), _b64(p)), _json, _json),
    st.builds(lambda raw: '%s.%s.sig' % (_b64({'alg': 'none'}), base64.urlsafe_b64encode(raw).decode()),
              st.binary(max_size=60)),
))
def test_decode_claims_never_raises_and_returns_plain_values(token):
    claims = _auth.decode_claims(token)
    assert claims is None or isinstance(claims, dict)
    for value in (claims or {}).values():
        assert isinstance(value, (bool, int, str, list))
        if isinstance(value, list):
            assert all(isinstance(item, str) for item in value)
    _auth.token_format(token)


def test_token_facts_lifetime_owner_and_rotation():
    now = 1764000000
    access = jwt({'aud': 'https://outlook.office.com', 'upn': 'jdoe@contoso.com', 'iat': now, 'exp': now + 4000})
    ident = jwt({'preferred_username': 'jdoe@contoso.com', 'aud': 'client', 'name': 'John'})
    facts = _auth.token_facts({'access_token': access, 'id_token': ident, 'expires_in': 3999, 'scope': 'a b',
                               'refresh_token': 'new', 'token_source': 'identity_provider', 'token_type': 'Bearer'},
                              'refresh_token', refresh_token_sent='old', now=now)
    assert facts['lifetime_seconds'] == 4000 and facts['expires_in'] == 3999 and facts['scopes'] == ['a', 'b']
    assert facts['token_owner'] == 'jdoe@contoso.com' and facts['id_token_claims']['name'] == 'John'
    assert facts['refresh_token_rotated'] is True and facts['refresh_token_returned'] is True
    assert facts['expires_at'] == '2025-11-24T17:06:40Z'
    assert 'access_token' not in facts and 'new' not in json.dumps(facts)
    opaque = _auth.token_facts({'access_token': 'opaque', 'expires_in': 3600}, 'client_credentials', now=now)
    assert opaque['claims'] is None and opaque['lifetime_seconds'] == 3600 and opaque['token_owner'] is None
    assert opaque['refresh_token_rotated'] is False and opaque['access_token_format'] == 'opaque'


# Microsoft's published sample access tokens (payloads as published, signatures left out), from
# https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens ("Token formats"). The v1.0 sample is a
# delegated token of a guest (idp: another tenant): unique_name and no upn. Both have exp - iat = 3900 s: Entra
# back-dates iat and nbf by 5 minutes on a 60-minute token.
MS_V1_SAMPLE = {
    'aud': 'ef1da9d4-ff77-4c3e-a005-840c3f830745', 'iss': 'https://sts.windows.net/fa15d692-e9c7-4460-a743-29f29522229/',
    'iat': 1537233106, 'nbf': 1537233106, 'exp': 1537237006, 'acr': '1', 'amr': ['wia'],
    'appid': '75dbe77f-10a3-4e59-85fd-8c127544f17c', 'appidacr': '0', 'email': 'AbeLi@microsoft.com',
    'family_name': 'Lincoln', 'given_name': 'Abe (MSFT)', 'idp': 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd0122247/',
    'ipaddr': '222.222.222.22', 'name': 'abeli', 'oid': '02223b6b-aa1d-42d4-9ec0-1b2bb9194438', 'rh': 'I',
    'scp': 'user_impersonation', 'sub': 'l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA',
    'tid': 'fa15d692-e9c7-4460-a743-29f2956fd429', 'unique_name': 'abeli@microsoft.com', 'uti': 'FVsGxYXI30-TuikuuUoFAA',
    'ver': '1.0'}
MS_V2_SAMPLE = {
    'aud': '6e74172b-be56-4843-9ff4-e66a39bb12e3',
    'iss': 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
    'iat': 1537231048, 'nbf': 1537231048, 'exp': 1537234948, 'azp': '6e74172b-be56-4843-9ff4-e66a39bb12e3',
    'azpacr': '0', 'name': 'Abe Lincoln', 'oid': '690222be-ff1a-4d56-abd1-7e4f7d38e474',
    'preferred_username': 'abeli@microsoft.com', 'rh': 'I', 'scp': 'access_as_user',
    'sub': 'HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ', 'tid': '72f988bf-86f1-41af-91ab-2d7cd011db47',
    'uti': 'fqiBqXLPj0eQa82S-IYFAA', 'ver': '2.0'}


def test_microsofts_v1_sample_of_a_guest_is_delegated_owned_by_its_unique_name():
    facts = _auth.token_facts({'access_token': jwt(MS_V1_SAMPLE), 'expires_in': 3599}, 'refresh_token')
    assert facts['token_kind'] == 'delegated'  # scp, although no upn (the old code called it app-only)
    assert facts['token_owner'] == 'abeli@microsoft.com' and facts['token_owner_claim'] == 'unique_name'
    assert facts['oid'] == '02223b6b-aa1d-42d4-9ec0-1b2bb9194438'
    # back-dated iat: the token's own span is 3900 s, the response's expires_in stays the real lifetime
    assert facts['lifetime_seconds'] == 3900 and facts['expires_in'] == 3599


def test_microsofts_v2_sample_is_owned_by_its_preferred_username():
    facts = _auth.token_facts({'access_token': jwt(MS_V2_SAMPLE), 'expires_in': 3600}, 'refresh_token')
    assert (facts['token_kind'], facts['token_owner'], facts['token_owner_claim'], facts['lifetime_seconds']) == (
        'delegated', 'abeli@microsoft.com', 'preferred_username', 3900)


@pytest.mark.parametrize('claims, id_claims, grant, kind, owner, claim', [
    # upn first, even when the id token names someone else (preferred_username is the sign-in name)
    ({'scp': 'SMTP.Send', 'upn': 'box@contoso.com', 'unique_name': 'u@x'}, {'preferred_username': 'other@contoso.com'},
     'refresh_token', 'delegated', 'box@contoso.com', 'upn'),
    ({'scp': 'SMTP.Send'}, {'preferred_username': 'id@contoso.com', 'upn': 'idupn@contoso.com'}, 'refresh_token',
     'delegated', 'idupn@contoso.com', 'upn'),
    ({'scp': 'SMTP.Send', 'preferred_username': 'at@contoso.com'}, {'preferred_username': 'id@contoso.com'},
     'password', 'delegated', 'id@contoso.com', 'preferred_username'),
    ({'scp': 'SMTP.Send', 'unique_name': 'live.com#guest@outlook.com'}, None, 'refresh_token', 'delegated',
     'live.com#guest@outlook.com', 'unique_name'),
    # roles and no scp: app-only, whatever the grant says
    ({'roles': ['User.Read.All'], 'oid': 'sp'}, None, 'refresh_token', 'app-only', None, None),
    # scp wins over roles (a delegated token may carry the user's app roles)
    ({'roles': ['Admin'], 'scp': 'IMAP.AccessAsUser.All', 'upn': 'a@b'}, None, 'client_credentials', 'delegated',
     'a@b', 'upn'),
    # neither: idtyp, else the grant
    ({'idtyp': 'app'}, None, 'refresh_token', 'app-only', None, None),
    ({'idtyp': 'user', 'upn': 'a@b'}, None, 'client_credentials', 'delegated', 'a@b', 'upn'),
    ({}, None, 'client_credentials', 'app-only', None, None),
    (None, None, 'refresh_token', 'delegated', None, None),
    (None, None, None, None, None, None),
])
def test_owner_facts_kind_by_scp_and_roles_owner_by_upn_preferred_username_unique_name(
        claims, id_claims, grant, kind, owner, claim):
    facts = _auth.owner_facts(claims, id_claims, grant)
    assert (facts['token_kind'], facts['token_owner'], facts['token_owner_claim']) == (kind, owner, claim)


def test_owner_facts_oid_from_the_access_token_else_the_id_token():
    assert _auth.owner_facts({'oid': 'a', 'scp': 'x'}, {'oid': 'b'})['oid'] == 'a'
    assert _auth.owner_facts({'scp': 'x'}, {'oid': 'b'})['oid'] == 'b'
    assert _auth.owner_facts({'scp': 'x', 'oid': ['not', 'text']})['oid'] is None


def test_lifetime_is_exp_minus_iat_and_expires_in_the_responses():
    now = 1764000000
    access = jwt({'scp': 'x', 'upn': 'a@b', 'iat': now - 300, 'nbf': now - 300, 'exp': now + 4000})
    facts = _auth.token_facts({'access_token': access, 'expires_in': 4000}, 'refresh_token', now=now)
    assert facts['lifetime_seconds'] == 4300 and facts['expires_in'] == 4000
    assert facts['expires_at'] == _auth._utc(now + 4000)


def test_outage_replies_are_their_own_class_never_aadsts():
    body = {'error': 'server_error', 'error_codes': [50000], 'error_description':
            'AADSTS50000: There was an error issuing a token or an issue with our sign-in service.\r\nTrace ID: t'}
    error_class, facts, message = _auth.failure_facts(body)
    assert error_class == 'entra_outage' and facts['code'] == 50000 and 'service health' in message
    assert _auth.failure_facts({'error': 'server_error', 'error_description': 'oops'})[0] == 'entra_outage'
    assert _auth.failure_facts({'error': 'temporarily_unavailable'})[0] == 'entra_outage'
    # a wrong secret stays aadsts
    assert _auth.failure_facts({'error': 'invalid_client', 'error_codes': [7000215]})[0] == 'aadsts'
    assert 'entra_outage' in ERROR_CLASSES


def test_refused_replies_become_aadsts_findings():
    error_class, facts, message = _auth.failure_facts({
        'error': 'invalid_client', 'error_codes': [7000222],
        'error_description': 'AADSTS7000222: The provided client secret keys for app x are expired.\r\nTrace ID: t'})
    assert error_class == 'aadsts' and facts['code'] == 7000222 and 'create a new client secret' in message
    assert _auth.failure_facts({})[0] == 'protocol'


# -- the session and the failures, against real local servers -----------------------------------

def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer_key, issuer, hosts=(), days=30, ca=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=60)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if hosts:
        import ipaddress
        names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class PKI(object):
    def __init__(self, directory):
        self.directory = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _certificate('Unit CA', self.ca_key, self.ca_key, 'Unit CA', days=365, ca=True)
        self.ca_path = self._write('ca.pem', self.ca.public_bytes(serialization.Encoding.PEM))
        other_key = ec.generate_private_key(ec.SECP256R1())
        other = _certificate('Other CA', other_key, other_key, 'Other CA', days=365, ca=True)
        self.other_ca_path = self._write('other.pem', other.public_bytes(serialization.Encoding.PEM))

    def _write(self, name, data):
        path = self.directory / name
        path.write_bytes(data)
        return str(path)

    def server_context(self, hosts, days=30):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(hosts[0], key, self.ca_key, 'Unit CA', hosts=hosts, days=days)
        name = 'leaf-%s-%d' % (hosts[0], days)
        cert_path = self._write(name + '.pem', cert.public_bytes(serialization.Encoding.PEM))
        key_path = self._write(name + '.key', key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


class Server(object):
    """A loopback server: HANDLER(conn) per connection; TLS when CONTEXT is given."""

    def __init__(self, handler, context=None):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handler, self.context, self.paths = handler, context, []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _address = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            if self.context:
                conn = self.context.wrap_socket(conn, server_side=True)
            self.handler(self, conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def http_ok(server, conn):
    request = b''
    while b'\r\n\r\n' not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    server.paths.append(request.split(b' ')[1].decode())
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}')


def silent(server, conn):
    time.sleep(2)


def plain_http(server, conn):
    conn.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return PKI(tmp_path_factory.mktemp('pki'))


@pytest.fixture
def servers():
    started = []

    def start(handler, context=None):
        server = Server(handler, context)
        started.append(server)
        return server
    yield start
    for server in started:
        server.close()


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _failure(url, **session_args):
    session = _auth.PreflightSession(**dict({'timeout': 2.0}, **session_args))
    with pytest.raises(Exception) as excinfo:
        session.get(url)
    error_class, detail = _auth.classify_exception(excinfo.value)
    assert error_class in ERROR_CLASSES and detail
    return error_class, detail


def test_the_session_trusts_only_ca_path_whatever_requests_ca_bundle_says(pki, servers, monkeypatch):
    server = servers(http_ok, pki.server_context(['127.0.0.1']))
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', pki.other_ca_path)
    monkeypatch.setenv('CURL_CA_BUNDLE', pki.other_ca_path)
    session = _auth.PreflightSession(ca_path=pki.ca_path, environ={'HTTPS_PROXY': 'http://127.0.0.1:9',
                                                                   'NO_PROXY': '127.0.0.1'})
    reply = session.get('https://127.0.0.1:%d/x?secret=1' % server.port)
    assert reply.status_code == 200 and session.trust_env is False
    assert session.exchanges == [{'method': 'GET', 'url': 'https://127.0.0.1:%d/x' % server.port, 'status': 200,
                                  'elapsed_ms': session.exchanges[0]['elapsed_ms']}]
    # A plain requests.Session (trust_env on) takes the variable and fails: what msal would do by itself.
    with pytest.raises(requests.exceptions.SSLError):
        requests.Session().get('https://127.0.0.1:%d/x' % server.port, timeout=2)


def test_the_system_store_does_not_know_a_private_ca(pki, servers):
    server = servers(http_ok, pki.server_context(['127.0.0.1']))
    error_class, detail = _failure('https://127.0.0.1:%d/' % server.port)
    assert error_class == 'cert_untrusted' and 'unable to get local issuer certificate' in detail


@pytest.mark.parametrize('hosts, days, ca, expected', [
    (['127.0.0.1'], 30, 'other', 'cert_untrusted'),       # a TLS-inspecting proxy's CA, not the one trusted
    (['other.example'], 30, 'ca', 'cert_hostname'),
    (['127.0.0.1'], -1, 'ca', 'cert_expired'),
])
def test_tls_failures_are_told_apart(pki, servers, hosts, days, ca, expected):
    server = servers(http_ok, pki.server_context(hosts, days=days))
    ca_path = pki.ca_path if ca == 'ca' else pki.other_ca_path
    assert _failure('https://127.0.0.1:%d/' % server.port, ca_path=ca_path)[0] == expected


def test_connection_failures_are_classified(servers):
    assert _failure('https://127.0.0.1:%d/' % _closed_port())[0] == 'refused'
    assert _failure('https://login.preflight-unit-test.invalid/')[0] == 'dns'
    silent_server = servers(silent)
    assert _failure('https://127.0.0.1:%d/' % silent_server.port, timeout=0.3)[0] == 'timeout'
    plain = servers(plain_http)
    assert _failure('https://127.0.0.1:%d/' % plain.port)[0] in ('tls_handshake', 'reset')
    error_class, detail = _failure('https://127.0.0.1:%d/' % _closed_port(),
                                   proxy='http://ece:ProxyPw@127.0.0.1:%d' % _closed_port())
    # docs/contract.md: a proxy that cannot be reached is the cause named, not the target
    assert error_class == 'proxy_unreachable' and 'ProxyPw' not in detail


def cut_handshake(server, conn):
    """Read the whole ClientHello record, then hang up (a FIN inside the TLS handshake)."""
    data = b''
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], 'big'):
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


def test_a_handshake_cut_by_the_server_is_tls_handshake_as_port_probe_says(servers):
    error_class, detail = _failure('https://127.0.0.1:%d/' % servers(cut_handshake).port)
    assert error_class == 'tls_handshake' and 'EOF' in detail


def test_the_deadline_stops_the_next_request():
    session = _auth.PreflightSession(deadline=time.monotonic() - 1)
    with pytest.raises(_auth.DeadlineExceeded) as excinfo:
        session.get('https://127.0.0.1:1/')
    assert _auth.classify_exception(excinfo.value)[0] == 'deadline'


def test_proxy_per_host_from_the_argument_or_the_environment_with_no_proxy():
    explicit = _auth.PreflightSession(proxy='proxy.corp:3128', no_proxy='.internal')
    assert explicit.proxy_for('https://login.microsoftonline.com/t') == 'http://proxy.corp:3128'
    assert explicit.proxy_for('https://graph.internal/v1.0') is None
    environ = {'HTTPS_PROXY': 'http://env:8080', 'NO_PROXY': '127.0.0.1,.contoso.com'}
    from_env = _auth.PreflightSession(environ=environ)
    assert from_env.proxy_for('https://login.microsoftonline.com/t') == 'http://env:8080'
    assert from_env.proxy_for('https://127.0.0.1:8443/t') is None
    assert from_env.proxy_for('https://adfs.contoso.com/t') is None
    assert _auth.PreflightSession(proxy='', environ=environ).proxy_for('https://x.example/') is None


def test_msal_user_realm_look_up_goes_to_the_authoritys_port(pki, servers):
    server = servers(http_ok, pki.server_context(['127.0.0.1']))
    session = _auth.PreflightSession(ca_path=pki.ca_path, authority='https://127.0.0.1:%d/tenant' % server.port)
    assert session.get('https://127.0.0.1/common/userrealm/a@b.example?api-version=1.0').status_code == 200
    assert server.paths == ['/common/userrealm/a@b.example?api-version=1.0']


class _Response(object):
    def __init__(self, status, body, url='https://login.example/t/v2.0/.well-known/openid-configuration'):
        self.status_code, self.content, self.url = status, body, url


def test_failed_discovery_is_read_from_the_last_response():
    session = _auth.PreflightSession()
    session.last_response = _Response(400, json.dumps({
        'error': 'invalid_tenant', 'error_codes': [90002],
        'error_description': "AADSTS90002: Tenant 'contoso.invalid' not found."}).encode())
    error_class, facts, message = _auth.response_failure(session)
    assert error_class == 'aadsts' and facts['code'] == 90002 and 'Directory (tenant) ID' in message
    session.last_response = _Response(403, b'<html>Blocked by the proxy</html>')
    assert _auth.response_failure(session)[0] == 'http_status'
    session.last_response = _Response(200, b'{}')
    assert _auth.response_failure(session) is None


def test_acquire_reports_an_unreachable_authority_without_raising():
    params = {'authority': 'https://127.0.0.1:%d/tenant' % _closed_port(), 'client_id': 'c', 'client_secret': 's',
              'timeout': 2.0, 'cloud': 'public'}
    facts, token, _session = _auth.acquire(params, {}, 'client_credentials', ['https://graph.microsoft.com/.default'])
    assert token is None and facts['acquired'] is False and facts['ok'] is False and facts['error_class'] == 'refused'
    assert facts['message'].startswith(params['authority'] + ': the connection was refused')
    assert facts['requests'][0]['status'] is None


@pytest.mark.parametrize('roles', [True, 'Mail.Read', 5, {'a': 1}])
def test_app_token_facts_roles_is_always_a_list(roles):
    """Regression (reliability suite, inputs): a roles claim that is no list came out as is (True, a text),
    where callers iterate a list."""
    facts = _auth.app_token_facts('given', jwt({'appid': 'a', 'roles': roles, 'exp': 1800000000}))
    assert facts['roles'] == [] and facts['app_id'] == 'a' and facts['expires_at'] == '2027-01-15T08:00:00Z'
