# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The one set of proxy rules every module follows, and HTTP CONNECT tunnels through a proxy.

ECE servers often reach Microsoft only through a proxy. Every module (port_probe, url_reach,
token_acquire, tenant_info, mailbox_settings, mailbox_protocols) takes it the same way:

- from its ``proxy`` option (a URL; ``''`` for none), else from the environment as curl and
  requests read it: ``https_proxy`` (``http_proxy`` for an http:// URL), then ``all_proxy``, the
  lower-case variable winning over the upper-case one (an empty lower-case one hides it);
- ``no_proxy`` (a string of comma-separated entries, or a list) names hosts reached directly: names
  by suffix at a dot, addresses, networks, ``host:port`` entries and ``*``; unset, with a proxy
  from the environment, ``no_proxy`` / ``NO_PROXY`` is read; with an explicit proxy nothing
  bypasses it unless listed;
- only ``http://`` and ``https://`` proxies are accepted (HTTP CONNECT); a proxy without a scheme
  is ``http://``; without a port, 80 for ``http://`` and 443 for ``https://`` as requests does;
  anything else (``socks5://``...) is refused with one message (``problem``) naming the option and
  the scheme;
- results show the proxy with only its password replaced (``redact``), and the module adds the
  password and the whole URL to its no_log values (``secrets``), so Ansible masks them everywhere.
"""

import base64
import ipaddress
import re

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # pragma: no cover (Python 2 is not supported by the probes)
    unquote = urlsplit = None

SCHEMES = ('http', 'https')
DEFAULT_PORTS = {'http': 80, 'https': 443}
REDACTED = '********'
# Every variable a proxy can come from, as curl, requests and urllib read them.
VARIABLES = ('https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY')
EXAMPLE = 'http://proxy.corp.example:3128'


class ProxyError(Exception):
    """The proxy cannot be used, or refused or failed the CONNECT; args[0] says how."""


def _split_userinfo(url):
    """(before the password, password, after it) of URL, or None when it carries no password."""
    if not isinstance(url, str):
        return None
    start = url.find('://')
    start = start + 3 if start >= 0 else 0
    end = len(url)
    for stop in '/?#':
        found = url.find(stop, start)
        if found >= 0:
            end = min(end, found)
    netloc = url[start:end]
    if '@' not in netloc:
        return None
    userinfo = netloc.rpartition('@')[0]
    if ':' not in userinfo:
        return None
    user = userinfo.partition(':')[0]
    head = url[:start] + user + ':'
    return head, userinfo[len(user) + 1:], url[start + len(userinfo):]


def redact(url):
    """URL with only its password replaced by ********: http://user:********@proxy:3128."""
    if not url or not isinstance(url, str):
        return url
    parts = _split_userinfo(url)
    if parts is None:
        return url
    return parts[0] + REDACTED + parts[2]


def password(url):
    """The password in a proxy URL, as written (percent-encoded if it was), or None."""
    parts = _split_userinfo(url) if url else None
    return parts[1] or None if parts else None


def secrets(explicit=None, environ=None):
    """What a module must add to its no_log values: each proxy password (as written and decoded) and
    each whole proxy URL that has one, from the proxy option and every proxy variable."""
    values = set()
    environ = environ or {}
    for url in [explicit] + [environ.get(name) for name in VARIABLES]:
        secret = password(url)
        if not secret:
            continue
        values.update((secret, unquote(secret), url, url.strip(), normalise(url)))
    values.discard('')
    values.discard(None)
    return values


def normalise(url):
    """URL stripped, with http:// when it has no scheme; None stays None and '' stays ''."""
    if url is None:
        return None
    url = str(url).strip()
    if url and '://' not in url:
        url = 'http://' + url
    return url


def problem(url, option='proxy'):
    """Why URL cannot be used as a proxy, naming OPTION (password redacted), or None when it can."""
    if url is None:
        return None
    if not isinstance(url, str):
        return '%s must be a proxy URL such as %s, or "" for none' % (option, EXAMPLE)
    url = normalise(url)
    if not url:
        return None
    scheme = url.split('://', 1)[0].lower()
    if scheme not in SCHEMES:
        return ('%s must be an http:// or https:// URL (an HTTP CONNECT proxy), e.g. %s; %s:// proxies are not '
                'supported, got %s' % (option, EXAMPLE, scheme, redact(url)))
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        return '%s %s is not a valid proxy URL (%s)' % (option, redact(url), exc)
    if not parts.hostname:
        return '%s %s is not a valid proxy URL (no host)' % (option, redact(url))
    if port == 0:
        return '%s %s is not a valid proxy URL (port 0)' % (option, redact(url))
    if any(c in url for c in '\r\n\0 \t'):
        return '%s %s is not a valid proxy URL (white space or control characters)' % (option, redact(url))
    return None


def from_environment(environ, scheme='https'):
    """The proxy URL the environment names for a SCHEME URL, or None (lower-case variables win)."""
    environ = environ or {}
    for name in ('%s_proxy' % scheme.lower(), 'all_proxy'):
        lower = environ.get(name)
        if lower is not None:
            if lower.strip():
                return lower.strip()
            continue  # an empty lower-case variable hides the upper-case one, as in urllib
        upper = environ.get(name.upper())
        if upper and upper.strip():
            return upper.strip()
    return None


def no_proxy_entries(value):
    """The entries of a no_proxy value: a comma-separated string, or a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    entries = []
    for item in value:
        if item is None:
            continue
        entries.extend(e.strip() for e in str(item).split(',') if e.strip())
    return entries


def no_proxy_from_environment(environ):
    environ = environ or {}
    return environ.get('no_proxy') or environ.get('NO_PROXY') or ''


def bypassed(host, no_proxy):
    """True when HOST matches NO_PROXY (a string or a list): names by suffix at a dot, IPs and CIDRs, or '*'."""
    entries = no_proxy_entries(no_proxy)
    if not entries:
        return False
    host = (host or '').strip('[]').rstrip('.').lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.lower() for e in entries):
        if entry == '*':
            return True
        entry = entry.split(':')[0] if entry.count(':') == 1 else entry  # host:port form
        entry = entry.strip('[]')
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip('*').lstrip('.')
        if entry and (host == entry or host.endswith('.' + entry)):
            return True
    return False


def source(explicit=None, environ=None, scheme='https'):
    """The name of what the proxy comes from, for messages: the option, or the environment variable."""
    if explicit is not None:
        return 'proxy'
    environ = environ or {}
    for name in ('%s_proxy' % scheme.lower(), 'all_proxy'):
        if environ.get(name) is not None:
            if environ[name].strip():
                return name
            continue
        if environ.get(name.upper(), '').strip():
            return name.upper()
    return 'proxy'


def select(host, explicit=None, environ=None, no_proxy=None, scheme='https'):
    """The proxy URL (normalised) for HOST: EXPLICIT (a URL, or '' for none), else the environment's.

    NO_PROXY (a string or a list) replaces the environment's no_proxy when given; with an explicit
    proxy, only NO_PROXY can make a host bypass it.
    """
    if explicit is not None:
        proxy = normalise(explicit) or None
        no_proxy = no_proxy if no_proxy is not None else ''
    else:
        proxy = normalise(from_environment(environ, scheme))
        if no_proxy is None:
            no_proxy = no_proxy_from_environment(environ)
    if proxy and bypassed(host, no_proxy):
        return None
    return proxy


def parse(url):
    """(scheme, host, port, 'Basic ...' header or None) of a proxy URL; ProxyError when it cannot be used."""
    reason = problem(url)
    if reason:
        raise ProxyError(reason)
    parts = urlsplit(normalise(url))
    scheme = parts.scheme.lower()
    auth = None
    if parts.username is not None:
        credentials = '%s:%s' % (unquote(parts.username), unquote(parts.password or ''))
        auth = 'Basic ' + base64.b64encode(credentials.encode('utf-8')).decode('ascii')
    return scheme, parts.hostname, parts.port or DEFAULT_PORTS[scheme], auth


def connect(sock, host, port, auth=None, read_line=None):
    """Send CONNECT HOST:PORT over SOCK (already connected to the proxy) and read the reply.

    READ_LINE(sock) reads one CRLF line with the caller's time bounds. Raises ProxyError
    naming the proxy's status line when it is not 2xx.
    """
    target = '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)
    request = 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n' % (target, target)
    if auth:
        request += 'Proxy-Authorization: %s\r\n' % auth
    sock.sendall((request + '\r\n').encode('ascii'))
    status = read_line(sock)
    match = re.match(r'HTTP/\d\.\d (\d{3})', status)
    if not match:
        raise ProxyError('the proxy answered %r to CONNECT' % status[:80])
    for _count in range(200):  # headers up to the blank line, bounded
        if read_line(sock) in ('', '\r\n', '\n'):
            break
    else:
        raise ProxyError('the proxy sent more than 200 header lines in answer to CONNECT')
    if not match.group(1).startswith('2'):
        raise ProxyError('the proxy answered "%s" to CONNECT %s' % (status.strip(), target))
