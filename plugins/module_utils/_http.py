# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""HTTP(S) reachability as the host itself sees it: the observation logic of url_reach.

Facts, not verdicts (docs/contract.md): what came back (status, headers, the certificate chain's
subjects and issuers, the JSON body) is returned as seen; whether a status was the expected one,
whether an assertion holds or whether something intercepts TLS is the judge's, on the controller.
A URL's ``expect`` travels with it, validated for shape only and echoed unchanged.

Each URL is requested with ``requests`` in a worker thread of a small pool of daemon threads.
A request never raises out of here: a URL that cannot be reached becomes a result with an error
class of _errors.ERROR_CLASSES (the one map, _errors.classify_exception) and a message naming the
URL, the cause and the fix; any HTTP response, whatever its status, is an observation made. The connection
classes below time TCP, the proxy tunnel and TLS, and keep the certificate (and, where Python
shows it, the chain) that the server presented on the very connection the request used. When
the verified handshake fails on a certificate, one more handshake without verification (through
the same proxy) fetches the certificate that was refused, so the result still shows it.

Time is bounded twice: each URL by its own timeout (the whole exchange, redirects and body
included), the whole call by a deadline. The calling thread is the clock: when a URL runs over,
it records the result (class ``timeout`` or ``deadline``) and shuts the URL's sockets down, so
no result is ever lost and nothing waits for a stuck worker.
"""

import calendar
import datetime
import email.utils
import json
import math
import os
import re
import socket
import ssl
import threading
import time
import traceback

try:
    from urllib.parse import unquote, urljoin, urlsplit
except ImportError:  # pragma: no cover (Python 2 is not supported by the probes)
    unquote = urljoin = urlsplit = None

try:
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # reported by the module through missing_required_lib
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract, _errors, _proxy, _seal, _tls
from ansible_collections.ece_o365.preflight.plugins.module_utils._errors import ERROR_CLASSES, describe

METHODS = ('GET', 'HEAD', 'OPTIONS')  # read-only: url_reach never sends a method that changes state
# The one POST url_reach sends: a form to an OAuth2 token endpoint (a refresh-token redemption, as ECE's
# services server makes it). It reads a token and changes nothing the preflight could see; its answer's
# refresh and ID tokens are never returned, nor is its body's text, and its access token only sealed with
# O(seal_key) (_seal: the raw result crosses the connection, and -vvvv prints it), else not at all.
FORM_METHOD = 'POST'
NEVER_RETURNED_KEYS = ('refresh_token', 'id_token', 'access_token')
SEALED_KEY = 'access_token_sealed'
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
SECRET_HEADERS = ('authorization', 'proxy-authorization', 'cookie', 'set-cookie')
SECRET_HEADER_WORDS = re.compile(r'auth|token|secret|password|passwd|api-?key|session|cookie', re.I)
REDACTED = '********'
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
EXCERPT_CHARS = 300      # characters of the body kept in body_excerpt
DETAIL_CHARS = 400       # exception text kept in a message
MAX_JSON_DEPTH = 64      # a JSON body nested deeper is not returned parsed (json: null)
PURPOSES = _contract.PURPOSES
EXPECT_KEYS = ('status', 'assertions')
DEFAULTS = {
    'method': 'GET',
    'headers': {},
    'timeout': 10.0,
    'follow_redirects': True,
    'max_redirects': 10,
    'validate_certs': True,
    'ca_path': None,
    'proxy': None,
    'no_proxy': None,
    'deadline': 60.0,
    'max_workers': 16,
    'max_body_bytes': 1048576,
    'fail_on_error': False,
}
PER_URL = ('method', 'headers', 'timeout', 'follow_redirects')
PHASES = {
    'queued': 'waiting for a free worker',
    'connect': 'resolving the name or connecting',
    'proxy': 'waiting for the proxy to open the tunnel',
    'tls': 'in the TLS handshake',
    'response': 'waiting for the response',
    'body': 'reading the body',
    'certificate': 'fetching the refused certificate',
    'done': 'finishing',
}


class ArgumentError(ValueError):
    """A bad argument; the message names the item (e.g. urls[2].method) and what is wrong."""


# --- argument validation -------------------------------------------------------------------

def _is_secret_header(name):
    return name.lower() in SECRET_HEADERS or bool(SECRET_HEADER_WORDS.search(name))


def _headers(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArgumentError('%s: must be a dictionary of header names and values' % where)
    headers = {}
    for name, content in value.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise ArgumentError('%s: %r is not a valid HTTP header name' % (where, name))
        if content is None:
            content = ''
        if isinstance(content, bool) or not isinstance(content, (str, int, float)):
            raise ArgumentError('%s.%s: the value must be a string' % (where, name))
        content = str(content)
        if '\r' in content or '\n' in content or '\0' in content:
            raise ArgumentError('%s.%s: the value must not contain line breaks or NUL' % (where, name))
        headers[name] = content
    return headers


def _form(value, where):
    """A form's fields as strings, or None; a field that is None is left out."""
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise ArgumentError('%s: must be a non-empty dictionary of form fields' % where)
    fields = {}
    for name, content in value.items():
        if content is None:
            continue
        if not isinstance(name, str) or isinstance(content, (bool, dict, list)):
            raise ArgumentError('%s.%s: each field must be a string' % (where, name))
        fields[name] = str(content)
    return fields


def _merge_headers(base, override):
    merged = dict(base)
    for name, content in override.items():
        for existing in [n for n in merged if n.lower() == name.lower()]:
            del merged[existing]
        merged[name] = content
    return merged


def _number(value, where, minimum, maximum, kind=float):
    if isinstance(value, bool):
        raise ArgumentError('%s: must be a number, not %r' % (where, value))
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ArgumentError('%s: must be a number, not %r' % (where, value))
    if math.isnan(number) or not minimum <= number <= maximum:
        raise ArgumentError('%s: must be between %s and %s, not %r' % (where, minimum, maximum, value))
    return number


def _expect(value, where):
    """EXPECT as given (None when absent), after checking its shape: {status: [int], assertions: [str]}.

    Never evaluated here: the judge evaluates it on the controller. Keys Ansible fills with None
    for suboptions not given are left out, so the result echoes what the play said.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ArgumentError('%s: must be a dictionary with status and/or assertions' % where)
    unknown = sorted(str(k) for k in value if k not in EXPECT_KEYS)
    if unknown:
        raise ArgumentError('%s: unknown key(s) %s (known: %s)' % (where, ', '.join(unknown), ', '.join(EXPECT_KEYS)))
    expect = {}
    status = value.get('status')
    if status is not None:
        if not isinstance(status, (list, tuple)):
            raise ArgumentError('%s.status: must be a list of HTTP status codes' % where)
        for i, code in enumerate(status):
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                raise ArgumentError('%s.status[%d]: must be an HTTP status code (100-599), not %r' % (where, i, code))
        expect['status'] = list(status)
    assertions = value.get('assertions')
    if assertions is not None:
        if not isinstance(assertions, (list, tuple)):
            raise ArgumentError('%s.assertions: must be a list of JMESPath expressions' % where)
        for i, item in enumerate(assertions):
            if not isinstance(item, str) or not item.strip():
                raise ArgumentError('%s.assertions[%d]: must be a non-empty JMESPath expression (a string), not %r'
                                    % (where, i, item))
        expect['assertions'] = list(assertions)
    return expect


def _purpose(value, where):
    if value is None:
        return 'extra'
    if not isinstance(value, str) or value not in PURPOSES:
        raise ArgumentError('%s: %r is not one of %s' % (where, value, ', '.join(PURPOSES)))
    return value


def _url(value, where):
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError('%s: must be an http:// or https:// URL' % where)
    value = value.strip()
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of range or not a number
        host = parts.hostname
    except ValueError as exc:
        raise ArgumentError('%s: %r is not a valid URL (%s)' % (where, _proxy.redact(value), exc))
    if parts.scheme.lower() not in ('http', 'https') or not host:
        raise ArgumentError('%s: %r is not an http:// or https:// URL with a host' % (where, _proxy.redact(value)))
    if any(c in value for c in '\r\n\0 \t'):
        raise ArgumentError('%s: %r contains white space or control characters' % (where, _proxy.redact(value)))
    return value, parts.scheme.lower(), host, port or (443 if parts.scheme.lower() == 'https' else 80)


def _option(params, name):
    value = params.get(name)
    return DEFAULTS[name] if value is None else value


def normalise(params, environ=None):
    """Validated targets and call options from module-style PARAMS; raises ArgumentError.

    Every URL's own method, headers, timeout and follow_redirects override the top-level ones
    (headers merge, the URL's winning); its purpose and expect are its own.
    """
    environ = environ if environ is not None else {}
    if not isinstance(params, dict):
        raise ArgumentError('the arguments must be a dictionary')
    options = {
        'validate_certs': bool(_option(params, 'validate_certs')),
        'follow_redirects': bool(_option(params, 'follow_redirects')),
        'max_redirects': int(_number(_option(params, 'max_redirects'), 'max_redirects', 0, 50, int)),
        'deadline': _number(_option(params, 'deadline'), 'deadline', 0.1, 3600),
        'timeout': _number(_option(params, 'timeout'), 'timeout', 0.05, 3600),
        'max_workers': int(_number(_option(params, 'max_workers'), 'max_workers', 1, 64, int)),
        'max_body_bytes': int(_number(_option(params, 'max_body_bytes'), 'max_body_bytes', 0, 64 * 1048576, int)),
        'fail_on_error': bool(_option(params, 'fail_on_error')),
        'headers': _headers(params.get('headers'), 'headers'),
        'method': _method(_option(params, 'method'), 'method'),
        'warnings': [],
    }
    proxy = params.get('proxy')
    problem = _proxy.problem(proxy)  # the one rule set: http:// and https:// only, named with its password hidden
    if problem:
        raise ArgumentError(problem)
    options['proxy'] = _proxy.normalise(proxy)
    no_proxy = params.get('no_proxy')
    if no_proxy is not None:
        if isinstance(no_proxy, str):
            no_proxy = [no_proxy]
        if not isinstance(no_proxy, (list, tuple)) or not all(isinstance(e, str) for e in no_proxy):
            raise ArgumentError('no_proxy: must be a list of host names, domains, addresses or networks, '
                                'or one comma-separated string of them')
        no_proxy = _proxy.no_proxy_entries(no_proxy)
    options['no_proxy'] = no_proxy
    options['verify'] = _verify(params, environ, options)
    options['environ'] = dict(environ)

    urls = params.get('urls')
    if not isinstance(urls, (list, tuple)) or not urls:
        raise ArgumentError('urls: must be a non-empty list of URLs to request')
    targets = []
    for index, item in enumerate(urls):
        where = 'urls[%d]' % index
        if isinstance(item, str):
            item = {'url': item}
        if not isinstance(item, dict):
            raise ArgumentError('%s: must be a dictionary with at least url' % where)
        url, scheme, host, port = _url(item.get('url'), where + '.url')
        target = {
            'index': index, 'url': url, 'scheme': scheme, 'host': host, 'port': port,
            'name': item.get('name') if item.get('name') else _proxy.redact(url),
            'method': _method(item['method'], where + '.method') if item.get('method') is not None else options['method'],
            'purpose': _purpose(item.get('purpose'), where + '.purpose'),
            'expect': _expect(item.get('expect'), where + '.expect'),
            'headers': _merge_headers(options['headers'], _headers(item.get('headers'), where + '.headers')),
            'timeout': (_number(item['timeout'], where + '.timeout', 0.05, 3600)
                        if item.get('timeout') is not None else options['timeout']),
            'follow_redirects': (bool(item['follow_redirects']) if item.get('follow_redirects') is not None
                                 else options['follow_redirects']),
            'verify': options['verify'] is not False,
            'form': _form(item.get('form'), where + '.form'),
            'seal_key': params.get('seal_key') or None,
        }
        if target['form'] is not None:
            if item.get('method') is not None and str(item['method']).upper() != FORM_METHOD:
                raise ArgumentError('%s: a form is sent with POST, not %s' % (where, item['method']))
            # A token request is answered where it is sent: a redirect is the answer, not a place to resend a secret.
            target['method'], target['follow_redirects'] = FORM_METHOD, False
        if not isinstance(target['name'], str):
            target['name'] = str(target['name'])
        targets.append(target)
    return targets, options


def _method(value, where):
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ArgumentError('%s: %r is not allowed: url_reach only reads, with %s'
                            % (where, value, ', '.join(METHODS)))
    return value.upper()


def _verify(params, environ, options):
    """What requests' verify= gets: False, a CA bundle path, or True (requests' default bundle)."""
    if not options['validate_certs']:
        return False
    ca_path = params.get('ca_path')
    if ca_path:
        if not isinstance(ca_path, str) or not os.path.exists(ca_path):
            raise ArgumentError('ca_path: %r does not exist on this host' % (ca_path,))
        return ca_path
    for variable in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        value = environ.get(variable)
        if value:
            if os.path.exists(value):
                return value
            options['warnings'].append('%s names %s, which does not exist on this host: using the default CA bundle '
                                       'of requests instead' % (variable, value))
            break
    return True


def secret_values(params, environ=None):
    """Strings that must never appear in output: secret-looking header values and proxy or URL passwords."""
    secrets = set()

    def add(value):
        if isinstance(value, str) and len(value) >= 4:
            secrets.add(value)
            scheme, dummy, credentials = value.partition(' ')
            if credentials and len(credentials) >= 4 and re.match(r'^[A-Za-z-]+$', scheme):
                secrets.add(credentials)

    def add_url(url):
        if not isinstance(url, str) or '@' not in url:
            return
        try:
            parts = urlsplit(url if '://' in url else 'http://' + url)
            password = parts.password
        except ValueError:
            return
        if password:
            add(password)
            add(unquote(password))

    def add_headers(headers):
        if isinstance(headers, dict):
            for name, value in headers.items():
                if isinstance(name, str) and _is_secret_header(name) and value is not None:
                    add(str(value))
    # A form's secret-looking fields (client_secret, refresh_token, password, client_assertion) by the same
    # rule as headers; its other fields (grant_type, scope, client_id) are shown.
    add_form = add_headers

    params = params if isinstance(params, dict) else {}
    add_headers(params.get('headers'))
    proxy = params.get('proxy') if isinstance(params.get('proxy'), str) else None
    for value in _proxy.secrets(proxy, environ):  # passwords, and whole proxy URLs that carry one
        add(value)
    for item in params.get('urls') or []:
        if isinstance(item, dict):
            add_headers(item.get('headers'))
            add_form(item.get('form'))
            add_url(item.get('url'))
        else:
            add_url(item)
    return secrets


def scrub(value, secrets):
    """VALUE (any JSON-like structure) with every secret string replaced by ********."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return dict((scrub(k, secrets), scrub(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    return value


# --- parsing: Date, clock skew, JSON -----------------------------------------------------------

def parse_http_date(value):
    """Seconds since the epoch of an HTTP Date header value, or None when it does not parse."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = email.utils.parsedate_tz(value.strip())
        if parsed is None or parsed[0] is None:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        # A real calendar date and time (parsedate_tz would roll 31 February over into March).
        moment = datetime.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=datetime.timezone.utc)
        timestamp = calendar.timegm(moment.timetuple()) - (parsed[9] or 0)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if not 0 <= timestamp < 253402300800:  # 1970..9999: anything else is not a clock
        return None
    return float(timestamp)


def iso_utc(timestamp):
    if timestamp is None:
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(timestamp))


def clock_skew(date_value, local_time):
    """This host's clock minus the server's, in seconds (positive: this host is ahead).

    LOCAL_TIME is this host's time when the server wrote the header (the middle of the request).
    A Date header has whole seconds, so the server's time is taken as the middle of that second.
    """
    server = parse_http_date(date_value)
    if server is None or local_time is None:
        return None
    return round(local_time - (server + 0.5), 1)


JSON_TYPES = re.compile(r'^\s*application/(?:[\w.+-]+\+)?json\s*(?:;|$)', re.I)


def _reject_constant(name):
    raise ValueError('%s is not JSON' % name)


def _depth(value):
    """How deeply VALUE nests (iteratively: a hostile body must not exhaust the stack here either)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json_body(body, content_type=None, truncated=False):
    """The body parsed as JSON, or None: when it was cut at max_body_bytes, is empty, is not JSON
    (NaN and Infinity are not), nests deeper than MAX_JSON_DEPTH, or its Content-Type names another
    type than JSON (a missing or text/plain type is tried)."""
    if truncated or not body:
        return None
    if content_type:
        media = content_type.split(';', 1)[0].strip().lower()
        if not JSON_TYPES.match(content_type) and media not in ('text/plain', 'text/json', 'application/octet-stream'):
            return None
    try:
        text = body.decode('utf-8-sig') if isinstance(body, bytes) else body
        value = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if _depth(value) > MAX_JSON_DEPTH:
        return None
    return value


# --- the connections: timings and the peer certificate ----------------------------------------

_CURRENT = threading.local()  # the _Attempt of the request running in this thread


def _attempt():
    return getattr(_CURRENT, 'attempt', None)


def _peer(sock):
    """(leaf DER, chain DERs, TLS version, cipher name) of a TLS socket, as far as Python shows them."""
    try:
        der = sock.getpeercert(True)
    except (AttributeError, ValueError, OSError):
        return None
    if not der:
        return None
    chain = [der]
    for holder in (sock, getattr(sock, '_sslobj', None), getattr(sock, 'sslobj', None)):
        getter = getattr(holder, 'get_unverified_chain', None)
        if getter is None:
            continue
        try:
            certs = getter() or []
            ders = [c if isinstance(c, bytes) else c.public_bytes(getattr(ssl, '_ssl').ENCODING_DER) for c in certs]
        except Exception:  # a private or newer API: fall back to the leaf alone
            continue
        if ders and ders[0] == der:
            chain = ders
            break
    try:
        version = sock.version()
        cipher = sock.cipher()
    except (AttributeError, ValueError, OSError):
        version, cipher = None, None
    return {'der': der, 'chain': chain, 'version': version, 'cipher': cipher[0] if cipher else None}


def _origin(conn):
    host = getattr(conn, '_tunnel_host', None) or conn.host
    port = getattr(conn, '_tunnel_port', None) or conn.port
    return (str(host).strip('[]').lower(), int(port or 443))


if HAS_REQUESTS:
    class _TimedMixin(object):
        """Times connect phases and keeps the peer certificate, for the _Attempt of this thread."""

        def _new_conn(self):
            attempt = _attempt()
            start = time.monotonic()
            if attempt is not None:
                attempt.phase = 'connect'
            sock = super(_TimedMixin, self)._new_conn()
            if attempt is not None:
                attempt.add_socket(sock)
                attempt.timing['tcp_ms'] = _ms(time.monotonic() - start)
                attempt.phase = 'tls' if isinstance(self, HTTPSConnection) else 'response'
            return sock

        def _tunnel(self):
            attempt = _attempt()
            start = time.monotonic()
            if attempt is not None:
                attempt.phase = 'proxy'
            try:
                super(_TimedMixin, self)._tunnel()
            finally:
                if attempt is not None:
                    attempt.timing['proxy_tunnel_ms'] = _ms(time.monotonic() - start)
                    attempt.phase = 'tls'

        def connect(self):
            attempt = _attempt()
            start = time.monotonic()
            if attempt is not None:
                for key in ('tcp_ms', 'proxy_tunnel_ms', 'tls_ms'):
                    attempt.timing[key] = None
                attempt.new_connection = True
            try:
                super(_TimedMixin, self).connect()
            finally:
                if attempt is not None:
                    attempt.connect_seconds += time.monotonic() - start
            if attempt is not None:
                if isinstance(self, HTTPSConnection):
                    used = sum(attempt.timing.get(k) or 0 for k in ('tcp_ms', 'proxy_tunnel_ms'))
                    attempt.timing['tls_ms'] = max(0.0, round(_ms(time.monotonic() - start) - used, 1))
                    peer = _peer(self.sock)
                    if peer is not None:
                        attempt.peers[_origin(self)] = peer
                attempt.phase = 'response'

    class _HTTPConnection(_TimedMixin, HTTPConnection):
        pass

    class _HTTPSConnection(_TimedMixin, HTTPSConnection):
        pass

    class _HTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConnection

    class _HTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConnection

    class _ObservingAdapter(HTTPAdapter):
        """An adapter whose pools (direct and through proxies) use the observing connections."""

        @staticmethod
        def _install(manager):
            classes = getattr(manager, 'pool_classes_by_scheme', None)
            if isinstance(classes, dict) and classes.get('https') is HTTPSConnectionPool:
                manager.pool_classes_by_scheme = {'http': _HTTPConnectionPool, 'https': _HTTPSConnectionPool}
            return manager

        def init_poolmanager(self, *args, **kwargs):
            super(_ObservingAdapter, self).init_poolmanager(*args, **kwargs)
            self._install(self.poolmanager)

        def proxy_manager_for(self, *args, **kwargs):
            return self._install(super(_ObservingAdapter, self).proxy_manager_for(*args, **kwargs))


def _ms(seconds):
    return round(seconds * 1000.0, 1)


# --- one URL -------------------------------------------------------------------------------

class _Attempt(object):
    """What is known about one URL's request so far; written by its worker, read by the clock."""

    def __init__(self, target):
        self.target = target
        self.phase = 'queued'
        self.started = None          # monotonic time the worker picked it up
        self.lock = threading.Lock()
        self.result = None
        self.sockets = []
        self.peers = {}              # (host, port) -> peer certificate facts of that origin's connection
        self.timing = {'tcp_ms': None, 'proxy_tunnel_ms': None, 'tls_ms': None}
        self.connect_seconds = 0.0
        self.new_connection = False
        self.hops = []
        self.final_url = None
        self.proxy = None
        self.status = None
        self.reason = None
        self.headers = None
        self.date = None
        self.local_time = None
        self.first_byte_ms = None
        self.body = None
        self.truncated = False
        self.body_bytes = None
        self.observed = None         # peer facts from the unverified handshake after a certificate error
        self.budget_end = None

    def add_socket(self, sock):
        self.sockets.append(sock)

    def abort(self):
        """Shut the request's sockets down so a worker blocked on them returns at once."""
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass

    def finish(self, result):
        """Record RESULT unless one was recorded already (the clock and the worker race); True if it won."""
        with self.lock:
            if self.result is not None:
                return False
            self.result = result
            return True


def _redirect_target(response, url):
    location = response.headers.get('Location')
    if response.status_code not in REDIRECT_STATUSES or not location:
        return None
    return urljoin(url, location.strip())


def _run(attempt, options, budget_end, secrets):
    """The worker's side of one URL: request, follow redirects, read the body; any response is a result."""
    target = attempt.target
    _CURRENT.attempt = attempt
    session = None
    try:
        session = requests.Session()
        session.trust_env = False  # proxies and CA bundle are chosen here, from arguments and environ
        adapter = _ObservingAdapter(max_retries=0)
        session.mount('https://', adapter)
        session.mount('http://', adapter)
        url, method, headers = target['url'], target['method'], dict(target['headers'])
        for hop in range(options['max_redirects'] + 1):
            remaining = budget_end - time.monotonic()
            if remaining <= 0:
                raise requests.exceptions.Timeout('no time left for %s' % _proxy.redact(url))
            scheme = urlsplit(url).scheme.lower()
            hop_host = urlsplit(url).hostname or ''
            attempt.proxy = _proxy.select(hop_host, explicit=options['proxy'], environ=options['environ'],
                                          no_proxy=options['no_proxy'], scheme=scheme)
            unusable = _proxy.problem(attempt.proxy, _proxy.source(options['proxy'], options['environ'], scheme))
            if unusable:  # from the environment (the option was checked before any request)
                return _result(attempt, 'proxy', unusable, secrets)
            proxies = {scheme: attempt.proxy} if attempt.proxy else {}
            attempt.final_url = url
            attempt.new_connection = False
            attempt.connect_seconds = 0.0
            attempt.phase = 'connect'
            sent_wall, sent = time.time(), time.monotonic()
            response = session.request(method, url, headers=headers, timeout=(remaining, remaining), data=target.get('form'),
                                       allow_redirects=False, stream=True, verify=options['verify'], proxies=proxies)
            received = time.monotonic()
            attempt.status, attempt.reason = response.status_code, response.reason
            attempt.headers = response.headers
            attempt.first_byte_ms = _ms(max(0.0, received - sent - attempt.connect_seconds))
            attempt.local_time = sent_wall + (received - sent) / 2.0
            attempt.date = response.headers.get('Date')
            if not attempt.new_connection:
                attempt.timing.update({'tcp_ms': None, 'proxy_tunnel_ms': None, 'tls_ms': None})
            following = _redirect_target(response, url) if target['follow_redirects'] else None
            if following is None or hop == options['max_redirects']:
                break  # at max_redirects, the last redirect is the final response: a fact for the judge
            response.close()
            attempt.hops.append({'status': response.status_code, 'url': _proxy.redact(following)})
            new_host = urlsplit(following).hostname or ''
            if new_host.lower() != hop_host.lower():  # as requests does: credentials stay with their host
                headers = dict((n, v) for n, v in headers.items() if not _is_secret_header(n))
            if response.status_code == 303 and method != 'HEAD':
                method = 'GET'
            url = following
        attempt.phase = 'body'
        if method != 'HEAD':
            chunks, size, limit = [], 0, options['max_body_bytes']
            for chunk in response.iter_content(16384):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    attempt.truncated = True
                    break
            body = b''.join(chunks)[:limit]
            attempt.body, attempt.body_bytes = body, len(body)
        response.close()
        attempt.phase = 'done'
        return _finish(attempt, secrets)
    except Exception as exc:  # every failure is a finding; classify it
        error_class, detail = classify_exception(exc, attempt)
        if error_class == 'timeout' and options.get('call_deadline') is not None and \
                budget_end >= options['call_deadline'] and time.monotonic() >= budget_end:
            # The call's deadline, not the URL's own timeout, cut it short: the same class the clock gives.
            error_class, detail = 'deadline', 'still %s at the deadline of %s s' % (
                PHASES.get(attempt.phase, attempt.phase), _seconds(options['deadline']))
        if error_class in ('cert_untrusted', 'cert_hostname', 'cert_expired'):
            _observe_refused_certificate(attempt, options, budget_end)
        return _result(attempt, error_class, detail, secrets)
    finally:
        _CURRENT.attempt = None
        if session is not None:
            try:
                session.close()
            except Exception:  # closing is best effort
                pass


def _finish(attempt, secrets):
    """Result of a request that completed. Any status is an observation made; only a proxy that
    answered an http:// request with 407 itself stands between the host and the URL."""
    if attempt.status == 407 and attempt.proxy:
        return _result(attempt, 'proxy', 'the proxy %s answered 407 %s: it wants credentials'
                       % (_proxy.redact(attempt.proxy), attempt.reason or ''), secrets)
    return _result(attempt, None, None, secrets)


def _text(exc):
    return _errors.text(exc)[:DETAIL_CHARS]


def classify_exception(exc, attempt=None):
    """(error class, detail) for an exception out of requests / urllib3 / ssl / socket.

    The class comes from the one map, _errors.classify_exception, told whether the request was
    reaching its proxy; the detail is worded for url_reach (the phase, the proxy, the timeout).
    """
    proxy = attempt.proxy if attempt is not None else None
    phase = attempt.phase if attempt is not None else None
    via = ' via proxy %s' % _proxy.redact(proxy) if proxy else ''
    if attempt is not None and phase == 'aborted':  # the clock shut the sockets: the URL ran out of time
        return 'timeout', 'no answer in %s s while waiting%s' % (_seconds(attempt.target['timeout']), via)
    where = None
    if proxy and phase == 'connect':
        where = 'proxy'   # with a proxy, the TCP connection is the proxy's
    elif proxy and phase == 'proxy':
        where = 'tunnel'
    error_class, detail = _errors.classify_exception(exc, where=where, proxy=proxy)
    items = _errors.chain(exc)
    if error_class == 'proxy':
        status = re.search(r'Tunnel connection failed: (\d{3}[^\'"]*)', ' '.join(_text(i) for i in items))
        if status and attempt is not None:
            detail = 'proxy %s: the proxy answered "%s" to CONNECT %s:%s' % (
                _proxy.redact(proxy), status.group(1).strip(), attempt.target['host'], attempt.target['port'])
        elif not detail.startswith('proxy '):
            detail = 'proxy %s: %s' % (_proxy.redact(proxy) or '?', detail)
    elif error_class in ('cert_untrusted', 'cert_hostname', 'cert_expired', 'tls_handshake'):
        detail = '%s%s' % (detail, via)
    elif error_class == 'dns':
        detail = 'cannot resolve %s (%s)' % (attempt.target['host'] if attempt else '?', detail)
    elif error_class == 'refused':
        detail = 'connection refused%s' % via
    elif error_class == 'timeout' and where != 'tunnel':
        detail = 'no answer in %s s while %s%s' % (
            _seconds(attempt.target['timeout']) if attempt else '?', PHASES.get(phase) or 'waiting', via)
    elif error_class == 'reset':
        detail = 'the connection was closed %s: %s' % (PHASES.get(phase, phase or ''), detail)
    return error_class, detail


def _seconds(value):
    return ('%.2f' % value).rstrip('0').rstrip('.')


def _read_line(sock, limit=8192):
    data = b''
    while not data.endswith(b'\n') and len(data) < limit:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode('latin-1')


def _observe_refused_certificate(attempt, options, budget_end):
    """After a certificate error: one unverified handshake (through the same proxy) to see the certificate."""
    target = attempt.target
    host = urlsplit(attempt.final_url or target['url']).hostname or target['host']
    port = urlsplit(attempt.final_url or target['url']).port or 443
    remaining = min(budget_end - time.monotonic(), target['timeout'])
    if remaining <= 0.05:
        return
    attempt.phase = 'certificate'
    sock = None
    try:
        if attempt.proxy:
            scheme, proxy_host, proxy_port, auth = _proxy.parse(attempt.proxy)
            sock = socket.create_connection((proxy_host, proxy_port), timeout=remaining)
            attempt.add_socket(sock)
            sock.settimeout(max(0.05, budget_end - time.monotonic()))
            if scheme == 'https':  # TLS with the proxy first, verified as the request's was
                verify = options['verify']
                context = _tls.verifying_context(verify if isinstance(verify, str) else None)
                context.check_hostname = True
                if verify is False:
                    context = _tls.observing_context()
                sock = context.wrap_socket(sock, server_hostname=proxy_host)
            _proxy.connect(sock, host, port, auth, read_line=_read_line)
        else:
            sock = socket.create_connection((host, port), timeout=remaining)
            attempt.add_socket(sock)
        sock.settimeout(max(0.05, min(remaining, budget_end - time.monotonic())))
        if isinstance(sock, ssl.SSLSocket):
            tls = _tls.TLSOverStream(sock, _tls.observing_context(), server_hostname=host)
        else:
            tls = _tls.observing_context().wrap_socket(sock, server_hostname=host)
        try:
            peer = _peer(tls)
        finally:
            tls.close()
        if peer is not None:
            attempt.observed = peer
    except Exception:  # best effort: the request's own error is what the result reports
        pass
    finally:
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _tls_facts(attempt):
    """The tls part of a result: what the client was shown, never whether it is the expected issuer."""
    target = attempt.target
    url = attempt.final_url or target['url']
    parts = urlsplit(url)
    if parts.scheme.lower() != 'https':
        return None
    host = (parts.hostname or '').lower()
    port = parts.port or 443
    peer, source = attempt.peers.get((host, port)), 'connection'
    if peer is None and attempt.observed is not None:
        peer, source = attempt.observed, 'observation'
    if peer is None:
        return None
    # With verification on, a connection only completes its handshake when chain and name verify.
    verified = None if not target['verify'] else source == 'connection'
    try:
        certificate = _tls.certificate_facts(peer['der'])
        chain = []
        for der in peer['chain']:
            cert = _tls.load_der(der)
            chain.append({'subject': _tls._name(cert.subject), 'issuer': _tls._name(cert.issuer),
                          'sha256_fingerprint': _tls.fingerprint(der)})
        hostname_ok = _tls.hostname_matches(peer['der'], host)
    except Exception as exc:  # a certificate cryptography cannot read is still a finding, not a crash
        return {'version': peer['version'], 'cipher': peer['cipher'], 'source': source, 'verified': verified,
                'hostname_matches': None, 'certificate': None, 'chain': [],
                'error': 'the certificate does not parse: %s' % _text(exc)}
    return {
        'version': peer['version'],
        'cipher': peer['cipher'],
        'source': source,
        'verified': verified,
        'hostname_matches': hostname_ok,
        'certificate': certificate,
        'chain': chain,
        'error': None,
    }


def _response_headers(headers):
    if headers is None:
        return {}
    shown = {}
    for name, value in headers.items():
        key = name.lower()
        shown[key] = REDACTED if _is_secret_header(key) else value
    return shown


def _expect_copy(expect):
    return None if expect is None else dict((key, list(value)) for key, value in expect.items())


def _result(attempt, error_class, detail, secrets):
    """One result, in the schema documented in url_reach's RETURN (and _contract's url_result)."""
    target = attempt.target
    tls = _tls_facts(attempt)
    elapsed = time.monotonic() - attempt.started if attempt.started is not None else 0.0
    body_excerpt = None
    if attempt.body and target.get('form') is None:  # a token endpoint's answer carries tokens: only its JSON, filtered
        body_excerpt = attempt.body[:EXCERPT_CHARS * 4].decode('utf-8', 'replace')[:EXCERPT_CHARS]
    headers = attempt.headers if attempt.headers is not None else {}
    result = {
        'name': target['name'],
        'url': _proxy.redact(target['url']),
        'purpose': target['purpose'],
        'expect': _expect_copy(target['expect']),
        'ok': error_class is None,
        'error_class': error_class,
        'message': describe(error_class, _proxy.redact(target['url']), detail) if error_class else None,
        'status': attempt.status,
        'reason': attempt.reason,
        'method': target['method'],
        'final_url': _proxy.redact(attempt.final_url) if attempt.status is not None else None,
        'redirects': list(attempt.hops),
        'proxy': _proxy.redact(attempt.proxy),
        'headers': _response_headers(attempt.headers),
        'timings': {
            'total_ms': _ms(elapsed),
            'tcp_ms': attempt.timing.get('tcp_ms'),
            'proxy_tunnel_ms': attempt.timing.get('proxy_tunnel_ms'),
            'tls_ms': attempt.timing.get('tls_ms'),
            'first_byte_ms': attempt.first_byte_ms,
        },
        'tls': tls,
        'server_date': attempt.date,
        'server_time': iso_utc(parse_http_date(attempt.date)),
        'clock_skew_seconds': clock_skew(attempt.date, attempt.local_time),
        'body_bytes': attempt.body_bytes,
        'body_truncated': attempt.truncated,
        'body_excerpt': body_excerpt,
        'json': (parse_json_body(attempt.body, headers.get('Content-Type'), attempt.truncated)
                 if error_class is None else None),
    }
    if target.get('form') is not None and isinstance(result['json'], dict):
        token = result['json'].get('access_token')
        for key in NEVER_RETURNED_KEYS:
            result['json'].pop(key, None)
        if isinstance(token, str) and token and target.get('seal_key'):
            result['json'][SEALED_KEY] = _seal.seal(target['seal_key'], token)
    return scrub(result, secrets)


# --- many URLs ------------------------------------------------------------------------------

def reach(params, environ=None, clock=time.monotonic):
    """Request every URL of PARAMS concurrently; {'results': [...], 'summary': {...}, 'warnings': [...]}.

    Raises ArgumentError for bad arguments; never for a URL that fails (that is its result).
    """
    if not HAS_REQUESTS:
        raise ArgumentError('url_reach needs the requests library on the host')
    environ = dict(os.environ) if environ is None else environ
    targets, options = normalise(params, environ)
    secrets = secret_values(params, environ)
    if options['verify'] is False:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    start = clock()
    deadline = start + options['deadline']
    options['call_deadline'] = deadline if clock is time.monotonic else None
    attempts = [_Attempt(t) for t in targets]
    pending = list(attempts)
    queue_lock = threading.Lock()
    done = threading.Condition()

    def worker():
        while True:
            with queue_lock:
                if not pending or clock() >= deadline:
                    return
                attempt = pending.pop(0)
                attempt.started = clock()
            budget_end = min(attempt.started + attempt.target['timeout'], deadline)
            attempt.budget_end = budget_end
            try:
                result = _run(attempt, options, budget_end, secrets)
            except BaseException as exc:  # never lose a result, whatever happened  # pylint: disable=broad-except
                result = _safe_error(attempt, exc, secrets)
            attempt.finish(result)
            with done:
                done.notify_all()

    threads = []
    for dummy in range(min(options['max_workers'], len(attempts))):
        thread = threading.Thread(target=worker, name='url_reach')
        thread.daemon = True  # a worker stuck in a name lookup must not keep the module alive
        thread.start()
        threads.append(thread)

    grace = 0.25  # the worker's own timeout (from requests) comes first; the clock is the backstop
    deadline_reached = False
    with done:
        while True:
            now = clock()
            open_attempts = [a for a in attempts if a.result is None]
            if not open_attempts:
                break
            if now >= deadline:
                deadline_reached = True
                for attempt in open_attempts:
                    phase = attempt.phase
                    attempt.phase = 'aborted'
                    if phase == 'queued':
                        detail = 'not started before the deadline of %s s: every worker was busy' % (
                            _seconds(options['deadline']))
                    else:
                        detail = 'still %s at the deadline of %s s' % (PHASES.get(phase, phase),
                                                                       _seconds(options['deadline']))
                    if attempt.finish(_safe_error(attempt, None, secrets, 'deadline', detail)):
                        attempt.abort()
                break
            wake, stopped = deadline, False
            for attempt in open_attempts:
                if attempt.started is None:
                    continue
                limit = attempt.started + attempt.target['timeout'] + grace
                if now >= limit:
                    phase = attempt.phase
                    attempt.phase = 'aborted'
                    if attempt.finish(_safe_error(attempt, None, secrets, 'timeout', 'no answer in %s s while %s' % (
                            _seconds(attempt.target['timeout']), PHASES.get(phase, phase)))):
                        attempt.abort()
                    stopped = True
                else:
                    wake = min(wake, limit)
            if not stopped:
                done.wait(max(0.01, min(wake - now, 0.5)))

    results = [a.result for a in attempts]
    counts = {}
    for result in results:
        if result['error_class']:
            counts[result['error_class']] = counts.get(result['error_class'], 0) + 1
    summary = {
        'total': len(results),
        'ok': sum(1 for r in results if r['ok']),
        'errors': sum(1 for r in results if not r['ok']),
        'by_class': counts,
        'elapsed_ms': _ms(clock() - start),
        'deadline_reached': deadline_reached,
    }
    return {'results': results, 'summary': summary, 'warnings': list(options['warnings'])}


def _safe_error(attempt, exc, secrets, error_class=None, detail=None):
    """An error result that cannot itself fail: used by the clock and for unexpected exceptions."""
    if error_class is None:
        try:
            error_class, detail = classify_exception(exc, attempt)
        except Exception:  # classification itself must never lose the result
            error_class, detail = 'protocol', '%s: %s' % (type(exc).__name__, exc)
    try:
        return _result(attempt, error_class, detail, secrets)
    except Exception:  # the partial observations were inconsistent: report the error alone
        target = attempt.target
        return scrub({
            'name': target['name'], 'url': _proxy.redact(target['url']), 'purpose': target['purpose'],
            'expect': _expect_copy(target['expect']), 'ok': False, 'error_class': error_class,
            'message': describe(error_class, _proxy.redact(target['url']), detail),
            'status': None, 'reason': None, 'method': target['method'], 'final_url': None,
            'redirects': [], 'proxy': _proxy.redact(attempt.proxy),
            'headers': {}, 'timings': {'total_ms': None, 'tcp_ms': None, 'proxy_tunnel_ms': None, 'tls_ms': None,
                                       'first_byte_ms': None},
            'tls': None, 'server_date': None, 'server_time': None, 'clock_skew_seconds': None,
            'body_bytes': None, 'body_truncated': False, 'body_excerpt': None, 'json': None,
        }, secrets)


__all__ = ['ArgumentError', 'ERROR_CLASSES', 'HAS_REQUESTS', 'METHODS', 'PURPOSES', 'REQUESTS_IMPORT_ERROR',
           'classify_exception', 'clock_skew', 'normalise', 'parse_http_date', 'parse_json_body', 'reach', 'scrub',
           'secret_values']
