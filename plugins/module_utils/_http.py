# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""HTTP(S) reachability as the host itself sees it: the observation logic of url_reach.

Each URL is requested with ``requests`` in a worker thread of a small pool of daemon threads.
A request never raises out of here: every outcome becomes a result with an error class of
_errors.ERROR_CLASSES and a message naming the URL, the cause and the fix. The connection
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
import errno
import fnmatch
import http.client as http_client
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

try:
    import jmespath
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:  # reported by the module through missing_required_lib
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.ece_o365.preflight.plugins.module_utils import _proxy, _tls
from ansible_collections.ece_o365.preflight.plugins.module_utils._errors import ERROR_CLASSES, describe

METHODS = ('GET', 'HEAD', 'OPTIONS')  # read-only: url_reach never sends a method that changes state
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
SECRET_HEADERS = ('authorization', 'proxy-authorization', 'cookie', 'set-cookie')
SECRET_HEADER_WORDS = re.compile(r'auth|token|secret|password|passwd|api-?key|session|cookie', re.I)
REDACTED = '********'
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
FINGERPRINT = re.compile(r'^(?:[0-9A-Fa-f]{2}[: ]?){31}[0-9A-Fa-f]{2}$')
PEM_CERTIFICATE = re.compile(
    r'-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----')
MAX_VALUE_CHARS = 2048   # an assertion's value is cut to this many characters of JSON
EXCERPT_CHARS = 300      # body excerpt kept when the status or an assertion fails
DETAIL_CHARS = 400       # exception text kept in a message
DEFAULTS = {
    'method': 'GET',
    'status_code': [200],
    'headers': {},
    'timeout': 10.0,
    'follow_redirects': True,
    'max_redirects': 10,
    'validate_certs': True,
    'ca_path': None,
    'proxy': None,
    'no_proxy': None,
    'expected_issuers': [],
    'expected_ca_certs': [],
    'deadline': 60.0,
    'max_workers': 16,
    'max_body_bytes': 1048576,
    'fail_on_error': False,
}
PER_URL = ('method', 'status_code', 'headers', 'timeout', 'follow_redirects', 'expected_issuers',
           'expected_ca_certs')
# Short names in distinguished names (RFC 4514 and what openssl prints) -> dotted OIDs.
DN_ATTRIBUTES = {
    'cn': '2.5.4.3', 'commonname': '2.5.4.3',
    'o': '2.5.4.10', 'organizationname': '2.5.4.10',
    'ou': '2.5.4.11', 'organizationalunitname': '2.5.4.11',
    'c': '2.5.4.6', 'countryname': '2.5.4.6',
    'l': '2.5.4.7', 'localityname': '2.5.4.7',
    'st': '2.5.4.8', 's': '2.5.4.8', 'stateorprovincename': '2.5.4.8',
    'street': '2.5.4.9', 'streetaddress': '2.5.4.9',
    'serialnumber': '2.5.4.5',
    'dc': '0.9.2342.19200300.100.1.25', 'domaincomponent': '0.9.2342.19200300.100.1.25',
    'uid': '0.9.2342.19200300.100.1.1', 'userid': '0.9.2342.19200300.100.1.1',
    'emailaddress': '1.2.840.113549.1.9.1', 'e': '1.2.840.113549.1.9.1',
}
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


def _status_codes(value, where):
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgumentError('%s: must be a non-empty list of HTTP status codes' % where)
    return [int(_number(code, '%s[%d]' % (where, i), 100, 599, int)) for i, code in enumerate(value)]


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


def _issuers(value, where):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ArgumentError('%s: must be a list of issuer names' % where)
    patterns = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ArgumentError('%s[%d]: must be a non-empty issuer name (a CN, or a DN like "O=DigiCert Inc")'
                                % (where, i))
        patterns.append(parse_issuer_pattern(item, '%s[%d]' % (where, i)))
    return patterns


def parse_issuer_pattern(text, where='issuer'):
    """('cn', pattern) for a bare name, or ('dn', [(oid, pattern), ...]) for 'K=V, K=V'."""
    text = text.strip()
    parts = _split_dn(text)
    if len(parts) == 1 and '=' not in parts[0]:
        return ('cn', text, text)
    attributes = []
    for part in parts:
        key, sep, value = part.partition('=')
        key = key.strip().lower()
        if not sep or not key or not value.strip():
            raise ArgumentError('%s: %r is neither a name nor a distinguished name of KEY=VALUE parts' % (where, text))
        if re.match(r'^\d+(\.\d+)+$', key):
            oid = key
        elif key in DN_ATTRIBUTES:
            oid = DN_ATTRIBUTES[key]
        else:
            raise ArgumentError('%s: unknown attribute %r in %r (use CN, O, OU, C, L, ST, DC or a dotted OID)'
                                % (where, key, text))
        attributes.append((oid, value.strip().replace('\\,', ',')))
    return ('dn', attributes, text)


def _split_dn(text):
    parts, current, escaped = [], '', False
    for char in text:
        if escaped:
            current += '\\' + char
            escaped = False
        elif char == '\\':
            escaped = True
        elif char in ',;' and '=' in current:
            parts.append(current.strip())
            current = ''
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _ca_certs(value, where):
    """[('fingerprint', 'AB12...'), ('pem', b'-----BEGIN...')] from fingerprints and PEM text."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ArgumentError('%s: must be a list of SHA-256 fingerprints or PEM certificates' % where)
    expected = []
    for i, item in enumerate(value):
        item_where = '%s[%d]' % (where, i)
        if not isinstance(item, str) or not item.strip():
            raise ArgumentError('%s: must be a SHA-256 fingerprint or a PEM certificate' % item_where)
        item = item.strip()
        if FINGERPRINT.match(item):
            expected.append(('fingerprint', _tls.normalise_fingerprint(item), item))
            continue
        blocks = PEM_CERTIFICATE.findall(item)
        if not blocks:
            raise ArgumentError('%s: neither a SHA-256 fingerprint (64 hex digits) nor a PEM certificate: %r'
                                % (item_where, item[:60]))
        for block in blocks:
            try:
                ssl.PEM_cert_to_DER_cert(block)
                if _tls.HAS_CRYPTOGRAPHY:
                    _tls.x509.load_pem_x509_certificate(block.encode('ascii'))
            except Exception as exc:  # any parse failure is a bad argument
                raise ArgumentError('%s: the PEM certificate does not parse (%s)' % (item_where, exc))
            der = ssl.PEM_cert_to_DER_cert(block)
            expected.append(('pem', der, 'CA %s' % _tls.fingerprint(der)))
    return expected


def _assertions(value, where):
    """[{'query', 'compiled', 'equals', 'has_equals'}] from strings or {query, equals} dicts."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ArgumentError('%s: must be a list of JMESPath expressions' % where)
    compiled = []
    for i, item in enumerate(value):
        item_where = '%s[%d]' % (where, i)
        if isinstance(item, str):
            query, has_equals, equals = item, False, None
        elif isinstance(item, dict):
            unknown = sorted(set(item) - set(('query', 'equals')))
            if unknown:
                raise ArgumentError('%s: unknown key(s) %s (known: query, equals)' % (item_where, ', '.join(map(str, unknown))))
            query, has_equals, equals = item.get('query'), 'equals' in item, item.get('equals')
        else:
            raise ArgumentError('%s: must be a JMESPath expression or a dictionary with query (and equals)' % item_where)
        if not isinstance(query, str) or not query.strip():
            raise ArgumentError('%s: the query must be a non-empty JMESPath expression' % item_where)
        if not HAS_JMESPATH:
            raise ArgumentError('%s: assertions need the jmespath library on the host' % item_where)
        try:
            expression = jmespath.compile(query)
        except Exception as exc:  # jmespath raises its own ParseError / LexerError
            raise ArgumentError('%s: %r is not a valid JMESPath expression (%s)'
                                % (item_where, query, str(exc).replace('\n', ' ')[:200]))
        compiled.append({'query': query, 'compiled': expression, 'has_equals': has_equals, 'equals': equals})
    return compiled


def _option(params, name):
    value = params.get(name)
    return DEFAULTS[name] if value is None else value


def normalise(params, environ=None):
    """Validated targets and call options from module-style PARAMS; raises ArgumentError.

    Every URL's own method, status_code, headers, timeout, follow_redirects, expected_issuers and
    expected_ca_certs override the top-level ones (headers merge, the URL's winning).
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
        'status_code': _status_codes(_option(params, 'status_code'), 'status_code'),
        'headers': _headers(params.get('headers'), 'headers'),
        'expected_issuers': _issuers(params.get('expected_issuers'), 'expected_issuers'),
        'expected_ca_certs': _ca_certs(params.get('expected_ca_certs'), 'expected_ca_certs'),
        'method': _method(_option(params, 'method'), 'method'),
        'warnings': [],
    }
    proxy = params.get('proxy')
    if proxy is not None:
        if not isinstance(proxy, str):
            raise ArgumentError('proxy: must be a proxy URL such as http://proxy.example.com:3128, or "" for none')
        proxy = proxy.strip()
        if proxy:
            if '://' not in proxy:
                proxy = 'http://' + proxy
            try:
                parts = urlsplit(proxy)
                if parts.port is not None and parts.port <= 0:  # .port raises ValueError when it is not a port
                    raise ValueError('port 0')
            except ValueError as exc:
                raise ArgumentError('proxy: %r is not a valid proxy URL (%s)' % (_proxy.redact(proxy), exc))
            if parts.scheme.lower() not in ('http', 'https', 'socks5', 'socks5h', 'socks4', 'socks4a') or not parts.hostname:
                raise ArgumentError('proxy: %r is not an http://, https:// or socks5:// proxy URL with a host'
                                    % _proxy.redact(proxy))
    options['proxy'] = proxy
    no_proxy = params.get('no_proxy')
    if no_proxy is not None:
        if isinstance(no_proxy, str):
            no_proxy = [no_proxy]
        if not isinstance(no_proxy, (list, tuple)) or not all(isinstance(e, str) for e in no_proxy):
            raise ArgumentError('no_proxy: must be a list of host names, domains, addresses or networks')
        no_proxy = ','.join(e.strip() for e in no_proxy)
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
            'status_code': (_status_codes(item['status_code'], where + '.status_code')
                            if item.get('status_code') is not None else options['status_code']),
            'headers': _merge_headers(options['headers'], _headers(item.get('headers'), where + '.headers')),
            'timeout': (_number(item['timeout'], where + '.timeout', 0.05, 3600)
                        if item.get('timeout') is not None else options['timeout']),
            'follow_redirects': (bool(item['follow_redirects']) if item.get('follow_redirects') is not None
                                 else options['follow_redirects']),
            'expected_issuers': (_issuers(item['expected_issuers'], where + '.expected_issuers')
                                 if item.get('expected_issuers') is not None else options['expected_issuers']),
            'expected_ca_certs': (_ca_certs(item['expected_ca_certs'], where + '.expected_ca_certs')
                                  if item.get('expected_ca_certs') is not None else options['expected_ca_certs']),
            'assertions': _assertions(item.get('assertions'), where + '.assertions'),
            'verify': options['verify'] is not False,
        }
        if target['assertions'] and target['method'] == 'HEAD':
            raise ArgumentError('%s.assertions: a HEAD request has no body to assert on; use GET' % where)
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

    params = params if isinstance(params, dict) else {}
    add_headers(params.get('headers'))
    add_url(params.get('proxy'))
    for variable in ('HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'):
        add_url((environ or {}).get(variable))
    for item in params.get('urls') or []:
        if isinstance(item, dict):
            add_headers(item.get('headers'))
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


# --- parsing: Date, clock skew, assertions, issuers ------------------------------------------

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


def jmespath_truthy(value):
    """JMESPath's truth: false, null, '', [] and {} are false; everything else (0 too) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)) and not value:
        return False
    return True


def json_equal(left, right):
    """Equality as JSON means it: true is not 1, 1 equals 1.0, lists and objects compare deeply."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return set(left) == set(right) and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right))
    return type(left) is type(right) and left == right


def _short_value(value):
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > MAX_VALUE_CHARS:
        return text[:MAX_VALUE_CHARS] + '...', True
    return value, False


def evaluate_assertions(assertions, body, truncated=False):
    """(per-assertion results, all passed) for compiled ASSERTIONS against the bytes of a JSON BODY."""
    if not assertions:
        return [], None
    data, problem = None, None
    if truncated:
        problem = 'the body is larger than max_body_bytes, so it was not parsed'
    elif body is None or not body.strip():
        problem = 'the response has no body'
    else:
        try:
            data = json.loads(body.decode('utf-8-sig') if isinstance(body, bytes) else body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            problem = 'the body is not JSON (%s)' % str(exc)[:120]
    results = []
    for assertion in assertions:
        result = {'query': assertion['query'], 'passed': False, 'value': None, 'truncated': False, 'error': problem}
        if assertion['has_equals']:
            result['equals'] = assertion['equals']
        if problem is None:
            try:
                value = assertion['compiled'].search(data)
            except Exception as exc:  # jmespath's type errors and any other evaluation failure
                result['error'] = 'the query failed: %s' % str(exc).replace('\n', ' ')[:200]
            else:
                result['value'], result['truncated'] = _short_value(value)
                if assertion['has_equals']:
                    result['passed'] = json_equal(value, assertion['equals'])
                else:
                    result['passed'] = jmespath_truthy(value)
        results.append(result)
    return results, all(r['passed'] for r in results)


def _name_attributes(name):
    attributes = []
    for attribute in name:
        value = attribute.value
        if isinstance(value, bytes):
            value = value.decode('utf-8', 'replace')
        attributes.append((attribute.oid.dotted_string, str(value)))
    return attributes


def _glob(pattern, value):
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def issuer_matches(pattern, issuer_attributes):
    """True when PATTERN (from parse_issuer_pattern) names the issuer with ISSUER_ATTRIBUTES.

    A bare name is matched, case-insensitively and with * and ? wildcards, against the issuer's
    common name (CN); a DN pattern matches when each of its attributes is one of the issuer's.
    """
    kind, value = pattern[0], pattern[1]
    if kind == 'cn':
        return any(oid == '2.5.4.3' and _glob(value, text) for oid, text in issuer_attributes)
    return all(any(oid == want_oid and _glob(want, text) for oid, text in issuer_attributes)
               for want_oid, want in value)


def interception(chain, expected_issuers, expected_ca_certs):
    """(intercepted, what matched) for the DER CHAIN the server sent (leaf first).

    None, None when nothing is expected or no certificate was seen. Not intercepted when the
    leaf's issuer matches an expected issuer name, or a certificate of the chain has an expected
    fingerprint, or is an expected CA certificate, or was signed by one.
    """
    if not chain or not (expected_issuers or expected_ca_certs):
        return None, None
    leaf = _tls.load_der(chain[0])
    issuer = _name_attributes(leaf.issuer)
    for pattern in expected_issuers:
        if issuer_matches(pattern, issuer):
            return False, 'issuer %s' % pattern[2]
    fingerprints = [_tls.normalise_fingerprint(_tls.fingerprint(der)) for der in chain]
    for kind, value, label in expected_ca_certs:
        if kind == 'fingerprint' and value in fingerprints:
            return False, 'fingerprint %s' % label
        if kind == 'pem':
            if _tls.normalise_fingerprint(_tls.fingerprint(value)) in fingerprints:
                return False, label
            if any(_tls.issued_by(der, value) for der in chain):
                return False, label
    return True, None


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
    """The worker's side of one URL: request, follow redirects, read the body, judge."""
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
        host = target['host']
        for hop in range(options['max_redirects'] + 1):
            remaining = budget_end - time.monotonic()
            if remaining <= 0:
                raise requests.exceptions.Timeout('no time left for %s' % _proxy.redact(url))
            scheme = urlsplit(url).scheme.lower()
            hop_host = urlsplit(url).hostname or ''
            attempt.proxy = _proxy.select(hop_host, explicit=options['proxy'], environ=options['environ'],
                                          no_proxy=options['no_proxy'], scheme=scheme)
            proxies = {scheme: attempt.proxy} if attempt.proxy else {}
            attempt.final_url = url
            attempt.new_connection = False
            attempt.connect_seconds = 0.0
            attempt.phase = 'connect'
            sent_wall, sent = time.time(), time.monotonic()
            response = session.request(method, url, headers=headers, timeout=(remaining, remaining),
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
            if following is None:
                break
            response.close()
            attempt.hops.append({'status': response.status_code, 'url': _proxy.redact(following)})
            if hop == options['max_redirects']:
                return _error_result(attempt, 'http_status', 'more than %d redirects (max_redirects)'
                                     % options['max_redirects'], secrets)
            new_host = urlsplit(following).hostname or ''
            if new_host.lower() != hop_host.lower():  # as requests does: credentials stay with their host
                headers = dict((n, v) for n, v in headers.items() if not _is_secret_header(n))
            if response.status_code == 303 and method != 'HEAD':
                method = 'GET'
            url, host = following, new_host
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
        return _judge(attempt, secrets)
    except Exception as exc:  # every failure is a finding; classify it
        error_class, detail = classify_exception(exc, attempt)
        if error_class in ('cert_untrusted', 'cert_hostname', 'cert_expired'):
            _observe_refused_certificate(attempt, options, budget_end)
        return _error_result(attempt, error_class, detail, secrets)
    finally:
        _CURRENT.attempt = None
        if session is not None:
            try:
                session.close()
            except Exception:  # closing is best effort
                pass


def _judge(attempt, secrets):
    """Result of a request that completed: status, then assertions."""
    target = attempt.target
    if attempt.status == 407 and attempt.proxy:
        return _error_result(attempt, 'proxy', 'the proxy %s answered 407 %s: it wants credentials'
                             % (_proxy.redact(attempt.proxy), attempt.reason or ''), secrets)
    if attempt.status not in target['status_code']:
        return _error_result(attempt, 'http_status', 'status %s %s, expected %s'
                             % (attempt.status, attempt.reason or '', _codes(target['status_code'])), secrets)
    assertions, passed = evaluate_assertions(target['assertions'], attempt.body, attempt.truncated)
    if passed is False:
        failed = [a for a in assertions if not a['passed']]
        first = failed[0]
        outcome = first['error'] or 'gave %s' % json.dumps(first['value'])[:100]
        detail = '%d of %d failed; first: %s %s' % (len(failed), len(assertions), first['query'], outcome)
        return _error_result(attempt, 'assertion', detail, secrets, assertions)
    return _result(attempt, None, None, secrets, assertions)


def _codes(codes):
    return codes[0] if len(codes) == 1 else 'one of %s' % ', '.join(map(str, codes))


def _error_result(attempt, error_class, detail, secrets, assertions=None):
    if assertions is None and attempt.body is not None:
        assertions, dummy = evaluate_assertions(attempt.target['assertions'], attempt.body, attempt.truncated)
    return _result(attempt, error_class, detail, secrets, assertions)


def _unwrap(exc):
    """EXC and every exception it wraps (causes, contexts, urllib3 reasons, exception args)."""
    seen, queue, found = set(), [exc], []
    while queue and len(found) < 30:
        current = queue.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        queue.extend([getattr(current, 'reason', None), current.__cause__, current.__context__])
        queue.extend(a for a in getattr(current, 'args', ()) if isinstance(a, BaseException))
    return found


def _text(exc):
    text = str(exc) or type(exc).__name__
    return re.sub(r'\s+', ' ', text)[:DETAIL_CHARS]


def classify_exception(exc, attempt=None):
    """(error class, detail) for an exception out of requests / urllib3 / ssl / socket."""
    chain = _unwrap(exc)
    proxy = attempt.proxy if attempt is not None else None
    phase = attempt.phase if attempt is not None else None

    def first(types):
        for item in chain:
            if isinstance(item, types):
                return item
        return None

    via = ' via proxy %s' % _proxy.redact(proxy) if proxy else ''
    if HAS_REQUESTS:
        proxy_error = first((requests.exceptions.ProxyError, urllib3.exceptions.ProxyError))
        if proxy_error is not None or (proxy and phase == 'proxy'):
            inner = [e for e in chain if not isinstance(e, (requests.exceptions.RequestException,
                                                            urllib3.exceptions.HTTPError))]
            reason = _text(inner[0]) if inner else _text(proxy_error or exc)
            status = re.search(r'Tunnel connection failed: (\d{3}.*)', reason)
            if status:
                reason = 'the proxy answered "%s" to CONNECT %s:%s' % (
                    status.group(1).strip(), attempt.target['host'] if attempt else '?',
                    attempt.target['port'] if attempt else '?')
            return 'proxy', 'proxy %s: %s' % (_proxy.redact(proxy) or '?', reason)
        if first((requests.exceptions.InvalidSchema,)) is not None and proxy:
            return 'proxy', 'proxy %s: %s' % (_proxy.redact(proxy), _text(exc))
    ssl_error = first((ssl.SSLError,))
    if ssl_error is not None:
        if isinstance(ssl_error, ssl.SSLCertVerificationError):
            message = getattr(ssl_error, 'verify_message', None) or _text(ssl_error)
            if getattr(ssl_error, 'verify_code', None) == 64:  # X509_V_ERR_IP_ADDRESS_MISMATCH
                return 'cert_hostname', '%s%s' % (message, via)
            return _tls.classify_ssl_error(ssl_error), '%s%s' % (message, via)
        if isinstance(ssl_error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or 'EOF' in _text(ssl_error):
            return 'tls_handshake', 'the peer closed the connection during the TLS handshake%s (%s)' % (
                via, _text(ssl_error))
        return 'tls_handshake', _text(ssl_error) + via
    if first((socket.gaierror,)) is not None or (
            HAS_REQUESTS and first((getattr(urllib3.exceptions, 'NameResolutionError', ()),)) is not None):
        cause = first((socket.gaierror,))
        return 'dns', 'cannot resolve %s%s' % (attempt.target['host'] if attempt else '?',
                                               ' (%s)' % _text(cause) if cause else '')
    if first((ConnectionRefusedError,)) is not None:
        return 'refused', 'connection refused%s' % via
    unreachable = [e for e in chain if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)]
    if unreachable:
        return 'unreachable', _text(unreachable[0])
    if _is_timeout(chain) or (attempt is not None and attempt.phase == 'aborted'):
        return 'timeout', 'no answer in %s s while %s%s' % (
            _seconds(attempt.target['timeout']) if attempt else '?', PHASES.get(phase) or 'waiting', via)
    reset_types = [ConnectionResetError, ConnectionAbortedError, BrokenPipeError]
    if HAS_REQUESTS:
        reset_types += [requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError]
    bad_status = first((http_client.BadStatusLine, http_client.LineTooLong, http_client.HTTPException))
    if bad_status is not None and not isinstance(bad_status, (http_client.RemoteDisconnected, http_client.IncompleteRead)):
        return 'protocol', 'not an HTTP answer: %s' % _text(bad_status)
    reset = first(tuple(reset_types) + (http_client.RemoteDisconnected, http_client.IncompleteRead))
    if reset is not None:
        return 'reset', 'the connection was closed %s: %s' % (PHASES.get(phase, phase or ''), _text(reset))
    if HAS_REQUESTS and isinstance(exc, requests.exceptions.TooManyRedirects):
        return 'http_status', _text(exc)
    return 'protocol', '%s: %s' % (type(exc).__name__, _text(exc))


def _is_timeout(chain):
    for item in chain:
        if isinstance(item, socket.timeout):
            return True
        if HAS_REQUESTS:
            # urllib3 2 makes NewConnectionError (refused, unreachable) a ConnectTimeoutError: not a timeout.
            if isinstance(item, urllib3.exceptions.NewConnectionError):
                continue
            if isinstance(item, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)):
                return True
    return False


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
            proxy_host, proxy_port, auth = _proxy.parse(attempt.proxy)
            sock = socket.create_connection((proxy_host, proxy_port), timeout=remaining)
            attempt.add_socket(sock)
            sock.settimeout(max(0.05, budget_end - time.monotonic()))
            _proxy.connect(sock, host, port, auth, read_line=_read_line)
        else:
            sock = socket.create_connection((host, port), timeout=remaining)
            attempt.add_socket(sock)
        sock.settimeout(max(0.05, min(remaining, budget_end - time.monotonic())))
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
    """The tls part of a result, and intercepted."""
    target = attempt.target
    url = attempt.final_url or target['url']
    parts = urlsplit(url)
    if parts.scheme.lower() != 'https':
        return None, None
    host = (parts.hostname or '').lower()
    port = parts.port or 443
    peer, source = attempt.peers.get((host, port)), 'connection'
    if peer is None and attempt.observed is not None:
        peer, source = attempt.observed, 'observation'
    if peer is None:
        return None, None
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
        intercepted, matched = interception(peer['chain'], target['expected_issuers'], target['expected_ca_certs'])
    except Exception as exc:  # a certificate cryptography cannot read is still a finding, not a crash
        return {'version': peer['version'], 'cipher': peer['cipher'], 'source': source, 'verified': verified,
                'hostname_matches': None, 'certificate': None, 'chain': [], 'issuer_matched': None,
                'error': 'the certificate does not parse: %s' % _text(exc)}, None
    return {
        'version': peer['version'],
        'cipher': peer['cipher'],
        'source': source,
        'verified': verified,
        'hostname_matches': hostname_ok,
        'certificate': certificate,
        'chain': chain,
        'issuer_matched': matched,
        'error': None,
    }, intercepted


def _response_headers(headers):
    if headers is None:
        return {}
    shown = {}
    for name, value in headers.items():
        key = name.lower()
        shown[key] = REDACTED if _is_secret_header(key) else value
    return shown


def _result(attempt, error_class, detail, secrets, assertions=None):
    """One result, in the schema documented in url_reach's RETURN."""
    target = attempt.target
    tls, intercepted = _tls_facts(attempt)
    elapsed = time.monotonic() - attempt.started if attempt.started is not None else 0.0
    body_excerpt = None
    if error_class in ('http_status', 'assertion', 'proxy') and attempt.body:
        body_excerpt = attempt.body[:EXCERPT_CHARS * 4].decode('utf-8', 'replace')[:EXCERPT_CHARS]
    if assertions is None:
        assertions = []
    result = {
        'name': target['name'],
        'url': _proxy.redact(target['url']),
        'method': target['method'],
        'ok': error_class is None,
        'error_class': error_class,
        'error': describe(error_class, _proxy.redact(target['url']), detail) if error_class else None,
        'status': attempt.status,
        'reason': attempt.reason,
        'expected_status': list(target['status_code']),
        'final_url': _proxy.redact(attempt.final_url) if attempt.status is not None else None,
        'redirects': list(attempt.hops),
        'proxy': _proxy.redact(attempt.proxy),
        'request_headers': sorted(target['headers']),
        'headers': _response_headers(attempt.headers),
        'timings': {
            'total_ms': _ms(elapsed),
            'tcp_ms': attempt.timing.get('tcp_ms'),
            'proxy_tunnel_ms': attempt.timing.get('proxy_tunnel_ms'),
            'tls_ms': attempt.timing.get('tls_ms'),
            'first_byte_ms': attempt.first_byte_ms,
        },
        'tls': tls,
        'intercepted': intercepted,
        'server_date': attempt.date,
        'server_time': iso_utc(parse_http_date(attempt.date)),
        'clock_skew_seconds': clock_skew(attempt.date, attempt.local_time),
        'body_bytes': attempt.body_bytes,
        'body_truncated': attempt.truncated,
        'body_excerpt': body_excerpt,
        'assertions': [dict((k, v) for k, v in a.items()) for a in assertions],
        'assertions_passed': (all(a['passed'] for a in assertions) if assertions else None),
    }
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
        'intercepted': sum(1 for r in results if r['intercepted']),
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
            'name': target['name'], 'url': _proxy.redact(target['url']), 'method': target['method'], 'ok': False,
            'error_class': error_class, 'error': describe(error_class, _proxy.redact(target['url']), detail),
            'status': None, 'reason': None, 'expected_status': list(target['status_code']), 'final_url': None,
            'redirects': [], 'proxy': _proxy.redact(attempt.proxy), 'request_headers': sorted(target['headers']),
            'headers': {}, 'timings': {'total_ms': None, 'tcp_ms': None, 'proxy_tunnel_ms': None, 'tls_ms': None,
                                       'first_byte_ms': None},
            'tls': None, 'intercepted': None, 'server_date': None, 'server_time': None, 'clock_skew_seconds': None,
            'body_bytes': None, 'body_truncated': False, 'body_excerpt': None, 'assertions': [],
            'assertions_passed': None,
        }, secrets)


__all__ = ['ArgumentError', 'ERROR_CLASSES', 'HAS_JMESPATH', 'HAS_REQUESTS', 'JMESPATH_IMPORT_ERROR', 'METHODS',
           'REQUESTS_IMPORT_ERROR', 'clock_skew', 'evaluate_assertions', 'interception', 'issuer_matches', 'normalise',
           'parse_http_date', 'parse_issuer_pattern', 'reach', 'scrub', 'secret_values']
