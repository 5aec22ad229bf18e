# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Which HTTP proxy a connection takes, and HTTP CONNECT tunnels through it.

ECE servers often reach Microsoft only through a proxy. The probes take the proxy from their
arguments, else from the environment as curl and requests read it (HTTPS_PROXY, ALL_PROXY,
NO_PROXY in either case), and report which one they used with any credentials redacted.
"""

import base64
import ipaddress
import re

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # pragma: no cover (Python 2 is not supported by the probes)
    unquote = urlsplit = None


class ProxyError(Exception):
    """The proxy refused or failed the CONNECT; args[0] says how."""


def redact(url):
    """The proxy URL with user name and password replaced, for output."""
    if not url:
        return url
    return re.sub(r'(?<=://)[^/@]*@', '********@', url)


def from_environment(environ, scheme='https'):
    """The proxy URL the environment names for SCHEME, or None."""
    for name in ('%s_proxy' % scheme, 'all_proxy'):
        for variable in (name.upper(), name):
            if environ.get(variable):
                return environ[variable]
    return None


def bypassed(host, no_proxy):
    """True when HOST matches the NO_PROXY list (names by suffix, IPs and CIDRs, or '*')."""
    if not no_proxy:
        return False
    host = host.strip('[]').rstrip('.').lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in no_proxy.split(',')):
        if not entry:
            continue
        if entry == '*':
            return True
        entry = entry.split(':')[0] if entry.count(':') == 1 else entry  # host:port form
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip('*').lstrip('.')
        if host == entry or host.endswith('.' + entry):
            return True
    return False


def select(host, explicit=None, environ=None, no_proxy=None, scheme='https'):
    """The proxy URL to use for HOST: EXPLICIT (a URL, or '' for none), else the environment."""
    environ = environ or {}
    if explicit is not None:
        proxy = explicit or None
        no_proxy = no_proxy if no_proxy is not None else ''
    else:
        proxy = from_environment(environ, scheme)
        if no_proxy is None:
            no_proxy = environ.get('NO_PROXY') or environ.get('no_proxy') or ''
    if proxy and bypassed(host, no_proxy):
        return None
    return proxy


def parse(url):
    """(host, port, 'Basic ...' header or None) of a proxy URL."""
    if '://' not in url:
        url = 'http://' + url
    parts = urlsplit(url)
    if parts.scheme not in ('http', ''):
        raise ProxyError('only http:// proxies (HTTP CONNECT) are supported, not %s://' % parts.scheme)
    auth = None
    if parts.username is not None:
        credentials = '%s:%s' % (unquote(parts.username), unquote(parts.password or ''))
        auth = 'Basic ' + base64.b64encode(credentials.encode('utf-8')).decode('ascii')
    return parts.hostname, parts.port or 8080, auth


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
    while read_line(sock) not in ('', '\r\n', '\n'):
        pass  # headers up to the blank line
    if not match.group(1).startswith('2'):
        raise ProxyError('the proxy answered "%s" to CONNECT %s' % (status.strip(), target))
