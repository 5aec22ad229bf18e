# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Authentication against Microsoft Entra ID, shared by every module that talks to Microsoft.

One argument spec (tenant, client id, secret or certificate, authority, cloud, proxy, CA bundle,
timeout) with no_log on every secret, documented once in the ``ece_o365.preflight.auth`` doc
fragment; one table of the clouds' documented hosts; msal built with an HTTP session of its own
(so REQUESTS_CA_BUNDLE and proxy variables cannot override what the task asked for); and the
classification of what comes back: msal's result dicts (AADSTS errors, see _aadsts) and the
exceptions requests raises (TLS and connection failures become _errors classes, never tracebacks).
"""

import base64
import binascii
import datetime
import hashlib
import json
import logging
import math
import os
import re
import ssl
import time
import traceback

from ansible_collections.ece_o365.preflight.plugins.module_utils import _aadsts, _errors, _proxy, _throttle, _tls

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover (Python 2 is not supported)
    urlsplit = None

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
    _SessionBase = requests.Session
except ImportError:  # reported by the modules through missing_required_lib
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    _SessionBase = object

try:
    import msal
    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None
    # msal logs a traceback (logger.exception) for an answer that is not JSON; the result reports it
    # instead. A handler of its own keeps Python's last-resort handler from printing it on stderr.
    logging.getLogger('msal').addHandler(logging.NullHandler())
except ImportError:  # reported by the modules through missing_required_lib
    msal = None
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()

# The clouds, by the hosts Microsoft documents for them ("National clouds" in the Microsoft
# identity platform docs, "Microsoft Graph national cloud deployments", and the Exchange Online
# endpoints of each Microsoft 365 instance). One place for these facts.
#   authority_host: Entra ID's token service; graph: the Microsoft Graph resource and root;
#   exchange: the Exchange Online resource (IMAP/POP/SMTP scopes, Exchange admin API);
#   imap_host, pop3_host, smtp_host: the mail servers ECE connects to in that cloud, checked against Microsoft's
#   endpoint tables (issue 12):
#   - public: outlook.office365.com (IMAP 993, POP 995) and smtp.office365.com (587),
#     https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/pop3-and-imap4/pop3-and-imap4
#   - usgov (GCC High): "outlook.office365.us | TCP: 143, 25, 587, 993, 995" (endpoint set 5); Microsoft lists no
#     smtp.office365.us, so SMTP submission is outlook.office365.us:587 too,
#     https://learn.microsoft.com/en-us/microsoft-365/enterprise/microsoft-365-u-s-government-gcc-high-endpoints
#   - usgov_dod: "outlook-dod.office365.us, webmail.apps.mil | TCP: 143, 25, 587, 993, 995" (endpoint set 4); no
#     smtp-dod host is listed, so SMTP is outlook-dod.office365.us:587,
#     https://learn.microsoft.com/en-us/microsoft-365/enterprise/microsoft-365-u-s-government-dod-endpoints
#     (EmailEngine, a public client, does the same: https://github.com/postalsys/emailengine/blob/master/lib/oauth2-apps.js)
#   - china (21Vianet): Microsoft's table covers the mail ports only as "*.partner.outlook.cn | TCP: 587, 993, 995"
#     (endpoint set 20 of the current table); partner.outlook.cn (IMAP 993, POP 995) and smtp.partner.outlook.cn
#     (587) are the names public clients configure under it (field),
#     https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges-21vianet
CLOUDS = {
    'public': {
        'name': 'Microsoft Entra ID (global service)',
        'authority_host': 'login.microsoftonline.com',
        'graph': 'https://graph.microsoft.com',
        'exchange': 'https://outlook.office365.com',
        'mail_scope_resource': 'https://outlook.office.com',
        'imap_host': 'outlook.office365.com', 'pop3_host': 'outlook.office365.com', 'smtp_host': 'smtp.office365.com',
    },
    'usgov': {
        'name': 'Microsoft 365 GCC High (Azure Government)',
        'authority_host': 'login.microsoftonline.us',
        'graph': 'https://graph.microsoft.us',
        'exchange': 'https://outlook.office365.us',
        'mail_scope_resource': 'https://outlook.office365.us',
        'imap_host': 'outlook.office365.us', 'pop3_host': 'outlook.office365.us', 'smtp_host': 'outlook.office365.us',
    },
    'usgov_dod': {
        'name': 'Microsoft 365 DoD (Azure Government)',
        'authority_host': 'login.microsoftonline.us',
        'graph': 'https://dod-graph.microsoft.us',
        'exchange': 'https://outlook-dod.office365.us',
        'mail_scope_resource': 'https://outlook-dod.office365.us',
        'imap_host': 'outlook-dod.office365.us', 'pop3_host': 'outlook-dod.office365.us',
        'smtp_host': 'outlook-dod.office365.us',
    },
    'china': {
        'name': 'Microsoft 365 operated by 21Vianet',
        # login.chinacloudapi.cn is the older name of the same service (msal calls it deprecated).
        'authority_host': 'login.partner.microsoftonline.cn',
        'graph': 'https://microsoftgraph.chinacloudapi.cn',
        'exchange': 'https://partner.outlook.cn',
        'mail_scope_resource': 'https://partner.outlook.cn',
        'imap_host': 'partner.outlook.cn', 'pop3_host': 'partner.outlook.cn', 'smtp_host': 'smtp.partner.outlook.cn',
    },
}

# The delegated permissions ECE's token carries (TAC checklist item 3), without the resource prefix.
MAIL_PERMISSIONS = ('IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send')
# What a delegated grant asks for by default: what ECE most often uses, IMAP and SMTP. Asking for a permission
# nobody consented (often POP) gives AADSTS65001, so ask only for the protocols in use (issue 12).
DEFAULT_MAIL_PERMISSIONS = ('IMAP.AccessAsUser.All', 'SMTP.Send')
# The Exchange Online delegated permission each protocol needs (Microsoft's OAuth guide for IMAP, POP and SMTP:
# https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
PROTOCOL_PERMISSION = {'imap': 'IMAP.AccessAsUser.All', 'pop3': 'POP.AccessAsUser.All', 'smtp': 'SMTP.Send'}
# msal adds these to every delegated request itself (and refuses them in the scope list); offline_access is what
# returns a new refresh token. A refresh sent without msal (url_reach, from a services server) adds them too, so that
# both ask the token endpoint for the same thing.
MSAL_RESERVED_SCOPES = ('offline_access', 'openid', 'profile')


def mail_scopes(cloud, protocols):
    """The delegated scopes a refresh for PROTOCOLS asks for, with CLOUD's resource prefix, in the protocols' order
    (a refresh that asks for a permission without consent gets AADSTS65001)."""
    resource = CLOUDS[cloud or 'public']['mail_scope_resource']
    return ['%s/%s' % (resource, PROTOCOL_PERMISSION[p]) for p in ('imap', 'pop3', 'smtp') if p in protocols]


# Claims worth showing from an access token and an id_token. Values are checked for type and cut
# to size: the token is the identity provider's, the module only reads it.
ACCESS_TOKEN_CLAIMS = ('aud', 'iss', 'tid', 'oid', 'sub', 'upn', 'unique_name', 'preferred_username', 'name',
                       'scp', 'roles', 'appid', 'azp', 'app_displayname', 'idtyp', 'ver', 'iat', 'nbf', 'exp')
ID_TOKEN_CLAIMS = ('aud', 'iss', 'tid', 'oid', 'sub', 'preferred_username', 'upn', 'email', 'name', 'iat', 'exp')
MAX_TOKEN = 65536
MAX_CLAIM_TEXT = 512
MAX_CLAIM_ITEMS = 200


def argument_spec():
    """The authentication options, documented in the ece_o365.preflight.auth doc fragment."""
    return dict(
        tenant=dict(type='str'),
        client_id=dict(type='str'),
        client_secret=dict(type='str', no_log=True),
        client_certificate_path=dict(type='path'),
        client_private_key_path=dict(type='path', no_log=False),  # a file name, not the key
        client_private_key_password=dict(type='str', no_log=True),
        client_certificate_thumbprint=dict(type='str'),
        authority=dict(type='str'),
        cloud=dict(type='str', default='public', choices=list(CLOUDS)),
        # Not no_log: a proxy without credentials is shown; PreflightModule masks a password in every output.
        proxy=dict(type='str', no_log=False),
        no_proxy=dict(type='list', elements='str'),  # a list or a comma-separated string, as everywhere
        ca_path=dict(type='path'),
        timeout=dict(type='float', default=10),
    )


MUTUALLY_EXCLUSIVE = [('client_secret', 'client_certificate_path')]
REQUIRED_BY = {
    'client_private_key_path': 'client_certificate_path',
    'client_private_key_password': 'client_certificate_path',
    'client_certificate_thumbprint': 'client_certificate_path',
}


MSAL_MINIMUM = (1, 19)  # instance_discovery=False


def _version(text):
    return tuple(int(part) for part in re.findall(r'\d+', text or '')[:2])


def missing_libraries():
    """[(library, import traceback or reason)] of the libraries the auth helper needs and cannot use."""
    missing = []
    if not HAS_REQUESTS:
        missing.append(('requests', REQUESTS_IMPORT_ERROR))
    if not HAS_MSAL:
        missing.append(('msal', MSAL_IMPORT_ERROR))
    elif _version(getattr(msal, '__version__', '')) < MSAL_MINIMUM:
        missing.append(('msal >= %d.%d' % MSAL_MINIMUM, 'msal %s is installed' % getattr(msal, '__version__', '?')))
    return missing


def proxy_password(proxy):
    """The password inside a proxy URL (for the module's no_log values), or None (_proxy's rules).

    A module should add all of _proxy.secrets(proxy, environ) instead: the decoded password, and the
    whole URL, which the results never show (they show _proxy.redact(proxy)).
    """
    return _proxy.password(proxy)


def url_parts(url):
    """(urlsplit(URL), its port), or (None, None) when the text is no URL: urlsplit raises ValueError on a
    bad IPv6 literal ('https://[::1') and .port on a port out of range, and an option must never become a
    traceback."""
    try:
        parts = urlsplit(url)
        return parts, parts.port
    except ValueError:
        return None, None


def resolve_authority(params):
    """(authority URL, explicit) from O(authority) or from O(tenant) and O(cloud)."""
    if params.get('authority'):
        return params['authority'].rstrip('/'), True
    host = CLOUDS[params.get('cloud') or 'public']['authority_host']
    return 'https://%s/%s' % (host, params['tenant'].strip()), False


def validate(params, need_client=True):
    """A message naming the bad option, or None. NEED_CLIENT: a token will be acquired here."""
    if params.get('timeout') is not None and not params['timeout'] > 0:
        return 'timeout must be more than 0 seconds, got %s' % params['timeout']
    if params.get('ca_path') and not os.path.isfile(params['ca_path']):
        return 'ca_path %s is not a readable file' % params['ca_path']
    for name in ('client_certificate_path', 'client_private_key_path'):
        if params.get(name) and not os.path.isfile(params[name]):
            return '%s %s is not a readable file' % (name, params[name])
    if _proxy.problem(params.get('proxy')):
        # The one proxy rule set (http:// and https:// only; socks5:// would fail at the first request with
        # "Missing dependencies for SOCKS support"): the same message as port_probe and url_reach.
        return _proxy.problem(params.get('proxy'))
    if not need_client:
        return None
    if not params.get('client_id'):
        return 'client_id is required to acquire a token'
    if not params.get('tenant') and not params.get('authority'):
        return 'one of tenant or authority is required (tenant: the directory id or a verified domain)'
    if params.get('authority'):
        parts, _port = url_parts(params['authority'])
        if parts is None or parts.scheme != 'https' or not parts.hostname or not parts.path.strip('/'):
            return ('authority must be an https URL with the tenant as its path, e.g. '
                    'https://login.microsoftonline.com/<tenant id>; got %s' % params['authority'])
    elif not re.match(r'^[A-Za-z0-9.-]+$', params['tenant'].strip()):
        return 'tenant must be a directory (tenant) id or a domain name, got %r' % params['tenant']
    return None


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read().decode('utf-8', 'replace')


_PEM_CERT = re.compile(r'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.DOTALL)
_PEM_KEY = re.compile(r'-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----',
                      re.DOTALL)


def certificate_credential(params):
    """msal's client_credential dict for a certificate, and facts about it (no key material).

    Raises ValueError naming the file when the PEM pieces are missing.
    """
    cert_text = _read(params['client_certificate_path'])
    certs = _PEM_CERT.findall(cert_text)
    if not certs:
        raise ValueError('client_certificate_path %s holds no PEM certificate' % params['client_certificate_path'])
    key_path = params.get('client_private_key_path') or params['client_certificate_path']
    keys = _PEM_KEY.findall(_read(key_path))
    if not keys:
        raise ValueError('%s holds no PEM private key (set client_private_key_path to the key file)' % key_path)
    der = ssl.PEM_cert_to_DER_cert(certs[0])
    credential = {'private_key': keys[0], 'public_certificate': certs[0]}
    if params.get('client_private_key_password'):
        credential['passphrase'] = params['client_private_key_password']
    facts = {'sha1_thumbprint': hashlib.sha1(der).hexdigest().upper(),
             'sha256_thumbprint': hashlib.sha256(der).hexdigest().upper()}
    if params.get('client_certificate_thumbprint'):
        # A SHA-1 thumbprint given: msal signs RS256 with x5t (what ADFS and older setups expect).
        credential['thumbprint'] = _tls.normalise_fingerprint(params['client_certificate_thumbprint'])
    return credential, facts


class PreflightSession(_SessionBase):
    """requests.Session for msal and Graph that only does what the task asked for.

    trust_env is off, so REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and the proxy variables cannot
    override O(ca_path) and O(proxy) (LAB-FINDINGS: they override msal's verify= otherwise).
    The proxy is chosen per request host (_proxy.select, NO_PROXY honoured), time is bounded per
    request and by an overall deadline, and every exchange is recorded (method, URL without its
    query, status, milliseconds) for the result. msal's user-realm look-up, which drops the port,
    is sent to the explicit authority's port.
    """

    def __init__(self, ca_path=None, proxy=None, no_proxy=None, environ=None, timeout=10.0, deadline=None,
                 authority=None):
        super(PreflightSession, self).__init__()
        self.trust_env = False
        self.proxies = {}
        self.trust_store = ca_path or system_trust_store()
        self.verify = ca_path or _system_verify()
        self.explicit_proxy = proxy
        self.no_proxy = no_proxy
        self.environ = dict(environ or {})
        self.timeout = timeout
        self.deadline = deadline
        self.exchanges = []
        self.last_response = None
        self.proxies_used = set()
        self._userrealm = None
        if authority:
            parts, port = url_parts(authority)
            if port:
                self._userrealm = ('https://%s/common/userrealm/' % parts.hostname,
                                   'https://%s:%d/common/userrealm/' % (parts.hostname, port))

    def proxy_for(self, url):
        """The proxy for URL by _proxy's rules (normalised to http:// without a scheme; no_proxy a string or list)."""
        parts = urlsplit(url)
        return _proxy.select(parts.hostname or '', self.explicit_proxy, self.environ, self.no_proxy,
                             scheme=parts.scheme.lower() or 'https')

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        if self._userrealm and url.startswith(self._userrealm[0]):
            url = self._userrealm[1] + url[len(self._userrealm[0]):]
        timeout = kwargs.get('timeout') or self.timeout
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded('the deadline passed before %s %s' % (method, _no_query(url)))
            timeout = min(timeout, remaining)
        kwargs['timeout'] = timeout
        proxy = self.proxy_for(url)
        kwargs['proxies'] = {'http': proxy, 'https': proxy} if proxy else {}
        if proxy:
            self.proxies_used.add(_proxy.redact(proxy))
        kwargs.setdefault('allow_redirects', False)  # an identity provider or Graph never redirects an API call
        started = time.monotonic()
        entry = {'method': method.upper(), 'url': _no_query(url), 'status': None, 'elapsed_ms': None}
        self.exchanges.append(entry)
        try:
            response = super(PreflightSession, self).request(method, url, *args, **kwargs)
        finally:
            entry['elapsed_ms'] = int((time.monotonic() - started) * 1000)
        entry['status'] = response.status_code
        self.last_response = response
        return response


class DeadlineExceeded(Exception):
    """The call's overall deadline passed before a request could start."""


def _no_query(url):
    return url.split('?', 1)[0]


def system_trust_store():
    """What 'the system trust store' is on this host, for the result."""
    paths = ssl.get_default_verify_paths()
    return 'system (%s)' % (paths.cafile or paths.capath or 'OpenSSL default')


def _system_verify():
    """The system CA bundle as requests takes it (True would mean certifi's bundle instead)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, paths.capath, paths.openssl_capath):
        if candidate and os.path.exists(candidate):
            return candidate
    return True


def make_session(params, environ, deadline=None):
    authority, explicit = resolve_authority(params) if (params.get('tenant') or params.get('authority')) \
        else (None, False)
    return PreflightSession(ca_path=params.get('ca_path'), proxy=params.get('proxy'), no_proxy=params.get('no_proxy'),
                            environ=environ, timeout=params.get('timeout') or 10.0, deadline=deadline,
                            authority=authority if explicit else None)


def build_app(params, session, confidential):
    """The msal application: confidential (secret or certificate) or public (no credential)."""
    authority, explicit = resolve_authority(params)
    common = dict(authority=authority, http_client=session)
    if explicit:
        common['instance_discovery'] = False  # a private or national authority: no call to Microsoft's discovery
    if not confidential:
        return msal.PublicClientApplication(params['client_id'], **common)
    if params.get('client_certificate_path'):
        credential, _facts = certificate_credential(params)
    else:
        credential = params['client_secret']
    # azure_region=False: no regional endpoint, whatever MSAL_FORCE_REGION in the environment says.
    return msal.ConfidentialClientApplication(params['client_id'], client_credential=credential,
                                              azure_region=False, **common)


# -- what comes back ---------------------------------------------------------------------------

def classify_exception(exc):
    """(error class of _errors.ERROR_CLASSES, detail) for what requests or msal raised.

    Never raises. The one map of every module (_errors.classify_exception): TLS failures told apart
    (untrusted, wrong host, expired, handshake) as port_probe tells them, DeadlineExceeded as class
    deadline, and a proxy that cannot be resolved or reached named as the cause (proxy_dns,
    proxy_unreachable), its password hidden.
    """
    return _errors.classify_exception(exc)


def _b64url(segment):
    segment = segment.strip()
    if not re.match(r'^[A-Za-z0-9_-]*$', segment):
        raise ValueError('not base64url')
    return base64.urlsafe_b64decode(segment + '=' * (-len(segment) % 4))


def token_format(token):
    """V(jwt) (three base64url parts with JSON), V(encrypted) (five parts: JWE), else V(opaque)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        return 'opaque'
    parts = token.split('.')
    if len(parts) == 5:
        return 'encrypted'
    return 'jwt' if decode_claims(token) is not None else 'opaque'


def decode_claims(token, wanted=None):
    """The payload of a JWT as a dict (only the WANTED names, when given), or None.

    Best effort and deliberately without signature verification: the module reports what the
    token says, it does not decide whether to trust it. Never raises, whatever TOKEN is.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        return None
    parts = token.split('.')
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url(parts[0]).decode('utf-8'))
        payload = json.loads(_b64url(parts[1]).decode('utf-8'))
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    out = {}
    for name, value in payload.items():
        if wanted is not None and name not in wanted:
            continue
        clean = _clean_claim(value)
        if clean is not None:
            out[name] = clean
    return out


def _clean_claim(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 53 else None
    if isinstance(value, float):
        return int(value) if not math.isnan(value) and abs(value) < 2 ** 53 else None
    if isinstance(value, str):
        return value[:MAX_CLAIM_TEXT]
    if isinstance(value, list):
        items = [item[:MAX_CLAIM_TEXT] for item in value[:MAX_CLAIM_ITEMS] if isinstance(item, str)]
        return items
    return None


def _utc(epoch):
    try:
        return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def owner_facts(claims, id_claims=None, grant=None):
    """Whose token it is and what kind, from the access token's CLAIMS and the id token's ID_CLAIMS (dicts or None).

    token_kind: V(delegated) when the access token has C(scp), V(app-only) when it has C(roles) and no C(scp) (not
    by the absence of C(upn): a delegated v1 token of a guest or personal account carries C(unique_name) and no
    C(upn)); without either, the C(idtyp) claim, else the GRANT (client_credentials is app-only), else None.
    token_owner: C(upn), else C(preferred_username) (id token first), else C(unique_name); token_owner_claim names
    the claim it came from. oid: the C(oid) claim (the user's object id; an app-only token's is its service
    principal's). Claims: https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
    """
    claims = claims or {}
    id_claims = id_claims or {}
    if claims.get('scp'):
        kind = 'delegated'
    elif claims.get('roles'):
        kind = 'app-only'
    elif claims.get('idtyp') in ('app', 'user'):
        kind = 'app-only' if claims['idtyp'] == 'app' else 'delegated'
    elif grant:
        kind = 'app-only' if grant == 'client_credentials' else 'delegated'
    else:
        kind = None
    owner = owner_claim = None
    for name, sources in (('upn', (claims, id_claims)), ('preferred_username', (id_claims, claims)),
                          ('unique_name', (claims, id_claims))):
        value = next((source[name] for source in sources if isinstance(source.get(name), str) and source[name]),
                     None)
        if value:
            owner, owner_claim = value, name
            break
    oid = claims.get('oid') or id_claims.get('oid')
    return {'oid': oid if isinstance(oid, str) else None, 'token_kind': kind, 'token_owner': owner,
            'token_owner_claim': owner_claim}


def token_facts(result, grant, refresh_token_sent=None, now=None):
    """The result facts of a successful msal reply (never the token itself).

    expires_in is the token response's own value, the real remaining lifetime; lifetime_seconds is exp - iat
    of the access token as read. Entra back-dates iat and nbf by about 5 minutes, so lifetime_seconds is about
    300 s more than expires_in for a fresh token (Microsoft's sample: exp - iat = 3900 s for a 60-minute token,
    https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens). Judge the token's edge by
    expires_in (or expires_at), not by lifetime_seconds.
    """
    now = now if now is not None else time.time()
    access_token = result.get('access_token')
    claims = decode_claims(access_token, ACCESS_TOKEN_CLAIMS)
    id_claims = decode_claims(result.get('id_token'), ID_TOKEN_CLAIMS) if result.get('id_token') else None
    if id_claims is None and isinstance(result.get('id_token_claims'), dict):
        id_claims = {k: _clean_claim(v) for k, v in result['id_token_claims'].items()
                     if k in ID_TOKEN_CLAIMS and _clean_claim(v) is not None}
    expires_in = result.get('expires_in')
    expires_in = int(expires_in) if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) \
        else None
    lifetime = None
    if claims and isinstance(claims.get('exp'), int) and isinstance(claims.get('iat'), int):
        lifetime = claims['exp'] - claims['iat']
    elif expires_in is not None:
        lifetime = expires_in
    rotated = False
    new_refresh = result.get('refresh_token')
    if grant == 'refresh_token' and isinstance(new_refresh, str) and refresh_token_sent:
        rotated = new_refresh != refresh_token_sent
    scopes = result.get('scope')
    facts = {
        'acquired': True,
        'token_type': result.get('token_type'),
        'expires_in': expires_in,
        'lifetime_seconds': lifetime,
        'expires_at': _utc(claims['exp']) if claims and isinstance(claims.get('exp'), int)
        else (_utc(now + expires_in) if expires_in is not None else None),
        'scopes': scopes.split() if isinstance(scopes, str) else [],
        'access_token_format': token_format(access_token),
        'claims': claims,
        'id_token_claims': id_claims,
        'token_source': result.get('token_source'),
        'refresh_token_returned': isinstance(new_refresh, str),
        'refresh_token_rotated': rotated,
    }
    facts.update(owner_facts(claims, id_claims, grant))
    return facts


# Microsoft's own failures at the token endpoint: AADSTS50000 (TokenIssuanceError, HTTP 500 server_error) and the
# OAuth2 errors server_error / temporarily_unavailable ("Retry the request"). Class entra_outage, retried.
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
OUTAGE_CODES = (50000,)
OUTAGE_ERRORS = ('server_error', 'temporarily_unavailable')


def is_outage(aadsts_facts):
    """Whether Entra's error facts say its sign-in service failed (not the tenant's configuration)."""
    if not aadsts_facts:
        return False
    return aadsts_facts.get('code') in OUTAGE_CODES or (
        aadsts_facts.get('code') is None and aadsts_facts.get('oauth_error') in OUTAGE_ERRORS) or (
        aadsts_facts.get('oauth_error') == 'server_error')


def failure_facts(result):
    """(error class, AADSTS facts, message) of a refused msal reply."""
    facts = _aadsts.parse(result)
    if facts is None:
        return 'protocol', None, 'the identity provider answered without a token and without an error body'
    if is_outage(facts):
        return 'entra_outage', facts, _aadsts.summary(facts)
    return 'aadsts', facts, _aadsts.summary(facts)


def response_failure(session):
    """(error class, AADSTS facts, detail) from the last HTTP response the session saw, or None.

    msal raises (ValueError, RuntimeError) instead of returning the body when OpenID discovery
    fails, e.g. AADSTS90002 for an unknown tenant, or when a proxy answers with an HTML page.
    """
    response = getattr(session, 'last_response', None)
    if response is None or response.status_code < 400:
        return None
    try:
        body = response.content[:_aadsts.MAX_BODY]
    except Exception:  # pylint: disable=broad-except
        body = b''
    facts = _aadsts.parse(body) if body.lstrip().startswith(b'{') else None
    if facts and facts['code'] is not None:
        return ('entra_outage' if is_outage(facts) else 'aadsts'), facts, _aadsts.summary(facts)
    return 'http_status', None, 'HTTP %d from %s' % (response.status_code, _no_query(response.url or ''))


# Entra answers 429 (throttled) or 503 (unavailable) with Retry-After: the one throttling policy
# (_throttle) decides. msal caches such an answer for its application object, so a retry needs a new
# one. Without a deadline of the caller's, the waits must end within O(timeout) of the first such answer.


def acquire(params, environ, grant, scopes, credentials=None, deadline=None):
    """Acquire a token. Returns (facts, access_token or None, session); never raises for the network.

    GRANT: client_credentials, refresh_token or password. CREDENTIALS: refresh_token, or
    username and password. FACTS hold acquired, ok, error_class, message, aadsts and the token facts.
    A 429 or 503 is retried as _throttle decides, else the class is throttled, naming the Retry-After.
    """
    credentials = credentials or {}
    session = make_session(params, environ, deadline)
    authority, _explicit = resolve_authority(params)
    facts = {'acquired': False, 'grant': grant, 'authority': authority, 'cloud': params.get('cloud') or 'public',
             'client_id': params.get('client_id'), 'scopes_requested': list(scopes), 'ok': False,
             'error_class': None, 'message': None, 'aadsts': None}
    started = time.monotonic()
    throttle = None
    token = None
    while True:
        session.last_response = None
        token = _attempt(params, session, grant, scopes, credentials, facts, authority)
        response = session.last_response
        outage = token is None and facts['error_class'] == 'entra_outage'
        if response is None or (response.status_code not in _throttle.STATUSES and not outage):
            break
        if throttle is None:  # the caller's deadline, else O(timeout) from the first throttled answer
            throttle = _throttle.Throttle(deadline if deadline is not None
                                          else time.monotonic() + (params.get('timeout') or 10.0))
        try:
            throttle.wait(response.headers.get('Retry-After'))
        except _throttle.Exhausted as exc:
            if outage and response.status_code not in _throttle.STATUSES:
                _outage(facts, authority, response, exc)
            else:
                _throttled(facts, authority, response, exc)
            break
    facts['retries'] = throttle.retries if throttle else 0
    facts['ok'] = facts['error_class'] is None
    facts['elapsed_ms'] = int((time.monotonic() - started) * 1000)
    facts['requests'] = list(session.exchanges)
    facts['proxy'] = sorted(session.proxies_used)[0] if session.proxies_used else None
    facts['trust_store'] = session.trust_store
    return facts, token, session


def _attempt(params, session, grant, scopes, credentials, facts, authority):
    """One msal token request with a new application (msal caches a throttled answer per application);
    fills FACTS and returns the access token, or None."""
    confidential = bool(params.get('client_secret') or params.get('client_certificate_path'))
    try:
        app = build_app(params, session, confidential)
        if grant == 'client_credentials':
            result = app.acquire_token_for_client(scopes=list(scopes))
        elif grant == 'refresh_token':
            result = app.acquire_token_by_refresh_token(credentials['refresh_token'], scopes=list(scopes))
        else:
            result = app.acquire_token_by_username_password(credentials['username'], credentials['password'],
                                                            scopes=list(scopes))
    except Exception as exc:  # pylint: disable=broad-except
        # msal raises for TLS/connection failures and for failed OpenID discovery: classify, never raise.
        answered = response_failure(session) if not _is_transport(exc) else None
        if answered:
            facts['error_class'], facts['aadsts'], detail = answered
        else:
            facts['error_class'], detail = classify_exception(exc)
            detail = _not_json(session, exc) or detail
        facts['message'] = _message(facts, authority, detail)
        return None
    if isinstance(result, dict) and result.get('access_token'):
        facts.update(token_facts(result, grant, credentials.get('refresh_token')))
        facts.update(error_class=None, aadsts=None)
        if facts['token_owner']:
            facts['message'] = 'token acquired for %s (client %s)' % (facts['token_owner'], facts['client_id'])
        elif facts['token_kind'] == 'delegated':
            facts['message'] = 'delegated token acquired for object id %s (client %s), without a user name claim' % (
                facts['oid'], facts['client_id'])
        else:
            facts['message'] = 'app-only token acquired for client %s' % facts['client_id']
        facts['_refresh_token'] = result.get('refresh_token')  # for the caller's no_log values only
        return result['access_token']
    facts['error_class'], facts['aadsts'], detail = failure_facts(result if isinstance(result, dict) else {})
    facts['message'] = _message(facts, authority, detail)
    return None


def _throttled(facts, authority, response, exhausted):
    """Turn FACTS into the throttled finding: the status, the Retry-After and why it was not waited for."""
    header = response.headers.get('Retry-After')
    detail = 'HTTP %d from %s, Retry-After: %s; %s' % (
        response.status_code, _no_query(response.url or ''), header if header is not None else '(none)',
        exhausted.detail)
    facts.update(acquired=False, error_class='throttled', aadsts=None,
                 message=_errors.describe('throttled', authority, detail))


def _outage(facts, authority, response, exhausted):
    """FACTS after Microsoft's sign-in service kept failing: class entra_outage, Microsoft's text and the retries."""
    detail = 'HTTP %d from %s after %d retries: %s; %s' % (
        response.status_code, _no_query(response.url or ''), exhausted.retries,
        _aadsts.summary(facts['aadsts']) if facts.get('aadsts') else 'no error body',
        'the next wait would pass the deadline' if exhausted.past_deadline else 'no retry left')
    facts.update(acquired=False, error_class='entra_outage', message=_errors.describe('entra_outage', authority,
                                                                                      detail))


def _not_json(session, exc):
    """A clear detail when msal could not parse the answer as JSON (an HTML page instead), else None."""
    response = session.last_response
    if response is None or not isinstance(exc, ValueError):
        return None
    return 'HTTP %d %s from %s instead of JSON' % (response.status_code, response.headers.get('Content-Type') or
                                                   'without a Content-Type', _no_query(response.url or ''))


def _is_transport(exc):
    return any(isinstance(item, (OSError, ssl.SSLError, DeadlineExceeded)) or (
        requests is not None and isinstance(item, requests.exceptions.RequestException))
        for item in _errors.chain(exc))


def _message(facts, authority, detail):
    if facts['error_class'] == 'entra_outage':
        return _errors.describe('entra_outage', authority, detail)
    if facts['error_class'] == 'aadsts':
        return '%s: %s' % (authority, detail)
    where = authority
    if facts['error_class'] in _errors.ERROR_CLASSES:
        return _errors.describe(facts['error_class'], where, detail)
    return '%s: %s' % (where, detail)


def default_scopes(grant, cloud):
    """The scopes asked for when the task names none: app-only Graph, or ECE's usual mail scopes (IMAP, SMTP)."""
    endpoints = CLOUDS[cloud or 'public']
    if grant == 'client_credentials':
        return ['%s/.default' % endpoints['graph']]
    return ['%s/%s' % (endpoints['mail_scope_resource'], name) for name in DEFAULT_MAIL_PERMISSIONS]


# -- app-only tokens for the read modules (tenant_info, mailbox_settings) ------------------------

# An app-only read module takes either a token or the credentials to get one.
APP_ONLY_MUTUALLY_EXCLUSIVE = MUTUALLY_EXCLUSIVE + [('access_token', 'client_secret'),
                                                    ('access_token', 'client_certificate_path')]


def app_only_problem(params, service, url_option):
    """The first problem with an app-only read module's common arguments, or None.

    Covers the auth options, the token-or-credentials choice, a positive deadline and an https
    SERVICE root in URL_OPTION (graph_url, exchange_url).
    """
    problem = validate(params, need_client=not params.get('access_token')) or validate_app_only(params, service)
    if not problem and not params['deadline'] > 0:
        problem = 'deadline must be more than 0 seconds, got %s' % params['deadline']
    if not problem and params.get(url_option):
        parts, _port = url_parts(params[url_option])
        if not params[url_option].startswith('https://') or parts is None or not parts.hostname:
            problem = '%s must be an https URL, got %s' % (url_option, params[url_option])
    return problem


def validate_app_only(params, service):
    """A message when neither a token nor an app credential is given, or the certificate is unusable."""
    if not params.get('access_token') and not (params.get('client_secret') or params.get('client_certificate_path')):
        return 'give access_token, or client_secret or client_certificate_path to acquire an app-only %s token' % service
    if params.get('client_certificate_path'):
        try:
            certificate_credential(params)
        except (ValueError, OSError) as exc:
            return str(exc)
    return None


def app_token_facts(source, token, acquired=None):
    """What an app-only token says about itself (never the token): app, tenant, audience, roles, expiry;
    with ACQUIRED (acquire's facts), whether it was acquired: ok, error_class, message, aadsts."""
    claims = decode_claims(token, ('appid', 'azp', 'tid', 'aud', 'roles', 'exp')) or {}
    roles = claims.get('roles')
    facts = {'source': source, 'acquired': bool(token), 'app_id': claims.get('appid') or claims.get('azp'),
             'tenant_id': claims.get('tid'), 'audience': claims.get('aud'),
             'roles': roles if isinstance(roles, list) else [],  # the token's text, not always a list
             'expires_at': None, 'ok': bool(token), 'error_class': None, 'message': None, 'aadsts': None}
    if isinstance(claims.get('exp'), int):
        facts['expires_at'] = _utc(claims['exp'])  # None for a year Python cannot show
    if acquired:
        facts.update(ok=acquired['ok'], error_class=acquired['error_class'], message=acquired['message'],
                     aadsts=acquired['aadsts'], acquired=acquired['acquired'])
    return facts


def app_only_token(module, params, environ, resource, deadline):
    """(token or None, facts): the given access_token, else a client-credentials token for RESOURCE.

    Registers the token and any proxy password with the module's no_log values, so that neither
    can appear in its output.
    """
    password = proxy_password(params.get('proxy'))
    if password:
        module.no_log_values.add(password)
    if params.get('access_token'):
        return params['access_token'], app_token_facts('given', params['access_token'])
    acquired, token, _session = acquire(params, environ, 'client_credentials', ['%s/.default' % resource],
                                        deadline=deadline)
    acquired.pop('_refresh_token', None)
    if token:
        module.no_log_values.add(token)
    return token, app_token_facts('acquired', token, acquired)
