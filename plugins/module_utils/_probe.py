# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""port_probe's observations: DNS, TCP, an HTTP CONNECT proxy, TLS or STARTTLS, banners and
capabilities, for many targets at once, each bounded in time and the whole call too.

Read-only by construction: the only commands sent are greetings and capability queries
(EHLO, CAPABILITY, CAPA), STARTTLS/STLS, and a polite QUIT/LOGOUT.
"""

import socket
import ssl
import threading
import time

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract, _errors, _proxy, _tls

# Which protocol and TLS mode a port means when the target does not say (the TAC checklist's
# ports first). One place for these facts.
PORT_DEFAULTS = {
    443: ('tls', 'https'),
    587: ('starttls', 'smtp'),
    25: ('starttls', 'smtp'),
    465: ('tls', 'smtp'),
    993: ('tls', 'imap'),
    143: ('starttls', 'imap'),
    995: ('tls', 'pop3'),
    110: ('starttls', 'pop3'),
}
MODES = ('auto', 'tcp', 'tls', 'starttls')
PROTOCOLS = ('auto', 'none', 'https', 'smtp', 'imap', 'pop3')
MAIL_PROTOCOLS = ('smtp', 'imap', 'pop3')
PURPOSES = _contract.PURPOSES  # what a target is for (docs/contract.md); echoed in its result

MAX_LINE = 8192          # bytes in one protocol line before the server is called broken
MAX_LINES = 200          # lines in one reply (capability lists) before the same
IMAP_TAG = 'p1'


class ProbeError(Exception):
    """A target's probe ended: error class of _errors.ERROR_CLASSES and a detail."""

    def __init__(self, error_class, detail=None):
        super(ProbeError, self).__init__(error_class)
        self.error_class = error_class
        self.detail = detail


def resolve_target(target, default_timeout):
    """Fill in mode, protocol and timeout from the port where the target leaves them to 'auto'."""
    mode, protocol = target.get('mode') or 'auto', target.get('protocol') or 'auto'
    port_mode, port_protocol = PORT_DEFAULTS.get(target['port'], ('tcp', 'none'))
    if protocol == 'auto':
        protocol = port_protocol if mode in ('auto', port_mode) or port_protocol in MAIL_PROTOCOLS else 'none'
    if mode == 'auto':
        if protocol == port_protocol:
            mode = port_mode
        else:
            mode = 'tls' if protocol == 'https' else 'tcp'
    return dict(target, mode=mode, protocol=protocol, timeout=target.get('timeout') or default_timeout)


def validate_target(index, target):
    """A message naming the bad item, or None."""
    where = 'targets[%d] (%s:%s)' % (index, target.get('host'), target.get('port'))
    if not target.get('host'):
        return 'targets[%d]: host is required' % index
    if not 1 <= int(target.get('port') or 0) <= 65535:
        return '%s: port must be 1-65535' % where
    if target.get('timeout') is not None and not target['timeout'] > 0:
        return '%s: timeout must be more than 0' % where
    if (target.get('purpose') or 'extra') not in PURPOSES:
        return '%s: purpose must be one of %s, not %r' % (where, ', '.join(PURPOSES), target.get('purpose'))
    if target['mode'] == 'starttls' and target['protocol'] not in MAIL_PROTOCOLS:
        return '%s: mode starttls needs protocol smtp, imap or pop3 (got %s)' % (where, target['protocol'])
    if target['protocol'] in MAIL_PROTOCOLS and target['mode'] == 'tcp':
        return None  # a plain-text banner check (e.g. port 25 without TLS) is allowed
    if target['protocol'] == 'https' and target['mode'] != 'tls':
        return '%s: protocol https needs mode tls' % where
    return None


class _Line(object):
    """Reads CRLF lines from a socket within the target's deadline and size bounds."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buffer = b''

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProbeError('timeout', 'no complete reply before the timeout')
        return left

    def readline(self):
        while b'\n' not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProbeError('protocol', 'a line longer than %d bytes' % MAX_LINE)
            self.sock.settimeout(self.remaining())
            try:
                chunk = self.sock.recv(4096)
            except (ConnectionResetError, ConnectionAbortedError) as exc:
                raise ProbeError('reset', exc.strerror)
            except (socket.timeout, TimeoutError):
                raise ProbeError('timeout', 'no complete reply before the timeout')
            if not chunk:
                raise ProbeError('reset', 'the server closed the connection')
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        if len(line) > MAX_LINE:
            raise ProbeError('protocol', 'a line longer than %d bytes' % MAX_LINE)
        return line.rstrip(b'\r').decode('utf-8', 'replace')

    def send(self, text):
        self.sock.settimeout(self.remaining())
        try:
            self.sock.sendall(text.encode('ascii') + b'\r\n')
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise ProbeError('reset', 'the server closed the connection (%s)' % exc.strerror)


def _printable(text, limit=200):
    cleaned = ''.join(c if c.isprintable() else '?' for c in text)
    return cleaned[:limit]


# -- protocol dialogues ------------------------------------------------------------------

def smtp_reply(lines):
    """Read one SMTP reply; return (code, [texts])."""
    texts = []
    for _count in range(MAX_LINES):
        line = lines.readline()
        if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in ' -'):
            raise ProbeError('protocol', 'not an SMTP reply: %r' % _printable(line, 60))
        texts.append(line[4:])
        if len(line) == 3 or line[3] == ' ':
            return int(line[:3]), texts
    raise ProbeError('protocol', 'an SMTP reply of more than %d lines' % MAX_LINES)


def parse_ehlo(texts):
    """(extensions upper-cased keywords, auth mechanisms) from EHLO reply texts (first is the greeting)."""
    extensions, mechanisms = [], []
    for text in texts[1:]:
        words = text.split()
        if not words:
            continue
        keyword = words[0].upper()
        extensions.append(text.strip())
        if keyword == 'AUTH' or keyword.startswith('AUTH='):
            rest = words[1:] if keyword == 'AUTH' else [keyword[5:]] + words[1:]
            mechanisms.extend(m.upper() for m in rest if m.upper() not in mechanisms)
    return extensions, mechanisms


def imap_untagged_until_tagged(lines, tag):
    """Read an IMAP response up to the tagged completion; return (untagged lines, tagged line)."""
    untagged = []
    for _count in range(MAX_LINES):
        line = lines.readline()
        if line.startswith(tag + ' '):
            return untagged, line
        untagged.append(line)
    raise ProbeError('protocol', 'an IMAP response of more than %d lines' % MAX_LINES)


def parse_imap_capabilities(text):
    """Capabilities and AUTH= mechanisms from a '* CAPABILITY ...' line or an [CAPABILITY ...] code."""
    upper = text.upper()
    if '[CAPABILITY ' in upper:
        start = upper.index('[CAPABILITY ') + len('[CAPABILITY ')
        words = text[start:].split(']', 1)[0].split()
    elif upper.startswith('* CAPABILITY'):
        words = text.split()[2:]
    else:
        return [], []
    mechanisms = [w[5:].upper() for w in words if w.upper().startswith('AUTH=')]
    return words, mechanisms


def pop3_multiline(lines):
    """Read a POP3 multi-line body after its +OK line; return the lines."""
    out = []
    for _count in range(MAX_LINES):
        line = lines.readline()
        if line == '.':
            return out
        out.append(line[1:] if line.startswith('..') else line)
    raise ProbeError('protocol', 'a POP3 response of more than %d lines' % MAX_LINES)


def parse_pop3_capa(capa):
    mechanisms = []
    for line in capa:
        words = line.split()
        if words and words[0].upper() == 'SASL':
            mechanisms = [w.upper() for w in words[1:]]
    return [line.strip() for line in capa], mechanisms


def greet(lines, protocol, result):
    """Read the banner and ask for capabilities; fill RESULT's banner/capabilities/auth fields."""
    started = time.monotonic()
    if protocol == 'smtp':
        code, texts = smtp_reply(lines)
        result['banner'] = _printable('%d %s' % (code, texts[0] if texts else ''))
        if code != 220:
            raise ProbeError('protocol', 'SMTP greeting %d, not 220' % code)
        lines.send('EHLO %s' % result['_ehlo_name'])
        code, texts = smtp_reply(lines)
        if code != 250:
            raise ProbeError('protocol', 'EHLO answered %d %s' % (code, _printable(' '.join(texts), 80)))
        result['capabilities'], result['auth_mechanisms'] = parse_ehlo(texts)
    elif protocol == 'imap':
        banner = lines.readline()
        result['banner'] = _printable(banner)
        if not banner.upper().startswith(('* OK', '* PREAUTH')):
            raise ProbeError('protocol', 'not an IMAP greeting: %r' % _printable(banner, 60))
        lines.send('%s CAPABILITY' % IMAP_TAG)
        untagged, tagged = imap_untagged_until_tagged(lines, IMAP_TAG)
        if not tagged.upper().startswith('%s OK' % IMAP_TAG.upper()):
            raise ProbeError('protocol', 'CAPABILITY answered %r' % _printable(tagged, 80))
        for line in untagged:
            words, mechanisms = parse_imap_capabilities(line)
            if words:
                result['capabilities'], result['auth_mechanisms'] = words, mechanisms
    elif protocol == 'pop3':
        banner = lines.readline()
        result['banner'] = _printable(banner)
        if not banner.startswith('+OK'):
            raise ProbeError('protocol', 'not a POP3 greeting: %r' % _printable(banner, 60))
        lines.send('CAPA')
        status = lines.readline()
        if not status.startswith('+OK'):
            raise ProbeError('protocol', 'CAPA answered %r' % _printable(status, 80))
        result['capabilities'], result['auth_mechanisms'] = parse_pop3_capa(pop3_multiline(lines))
    result['timings']['banner_ms'] = result['timings'].get('banner_ms', 0) + _ms(started)


def starttls_offered(protocol, capabilities):
    words = [c.split()[0].upper() for c in capabilities if c.split()]
    return ('STARTTLS' in words) if protocol in ('smtp', 'imap') else ('STLS' in words)


def request_starttls(lines, protocol):
    """Ask for TLS; raise starttls_unsupported when the server says no."""
    if protocol == 'smtp':
        lines.send('STARTTLS')
        code, texts = smtp_reply(lines)
        if code != 220:
            raise ProbeError('starttls_unsupported', 'STARTTLS answered %d %s' % (code, _printable(' '.join(texts), 80)))
    elif protocol == 'imap':
        lines.send('%s STARTTLS' % IMAP_TAG)
        _untagged, tagged = imap_untagged_until_tagged(lines, IMAP_TAG)
        if not tagged.upper().startswith('%s OK' % IMAP_TAG.upper()):
            raise ProbeError('starttls_unsupported', 'STARTTLS answered %r' % _printable(tagged, 80))
    elif protocol == 'pop3':
        lines.send('STLS')
        status = lines.readline()
        if not status.startswith('+OK'):
            raise ProbeError('starttls_unsupported', 'STLS answered %r' % _printable(status, 80))
    if lines.buffer:  # bytes after the go-ahead would be injected plain text (CVE-2011-0411 class)
        raise ProbeError('protocol', 'the server sent data after its STARTTLS go-ahead')


def say_goodbye(lines, protocol, tag=None):
    """QUIT / LOGOUT, best effort: the observation is already complete."""
    try:
        if protocol == 'smtp':
            lines.send('QUIT')
        elif protocol == 'imap':
            lines.send('%s LOGOUT' % (tag or IMAP_TAG))
        elif protocol == 'pop3':
            lines.send('QUIT')
    except (ProbeError, OSError):
        pass


def _ms(started):
    return int(round((time.monotonic() - started) * 1000))


# -- one target ----------------------------------------------------------------------------

def _raise_classified(exc):
    """Raise a ProbeError with EXC's class and detail, from the one map (_errors.classify_exception)."""
    error_class, detail = _errors.classify_exception(exc)
    raise ProbeError(error_class, detail)


def _resolve(host, port, deadline, result):
    """getaddrinfo in a helper thread so a hanging resolver cannot outlive the target's timeout."""
    started = time.monotonic()
    box = {}

    def lookup():
        try:
            box['infos'] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except Exception as exc:  # reported below as the target's error
            box['error'] = exc

    worker = threading.Thread(target=lookup, name='dns-%s' % host)
    worker.daemon = True
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    result['timings']['dns_ms'] = _ms(started)
    if worker.is_alive():
        raise ProbeError('dns', 'no answer from the resolver before the timeout')
    if 'error' in box:
        error = box['error']
        raise ProbeError('dns', str(getattr(error, 'strerror', None) or error))
    seen, infos = set(), []
    for info in box['infos']:
        if info[4][0] not in seen:
            seen.add(info[4][0])
            infos.append(info)
    result['addresses'] = [info[4][0] for info in infos]
    return infos


def _connect(infos, deadline, result):
    started = time.monotonic()
    last = None
    for family, socktype, proto, _canon, sockaddr in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(left)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        result['address'] = sockaddr[0]
        result['timings']['connect_ms'] = _ms(started)
        return sock
    result['timings']['connect_ms'] = _ms(started)
    if last is None:
        raise ProbeError('timeout', 'no address answered before the timeout')
    _raise_classified(last)


def _session(target, settings, deadline, result, verify):
    """One connection: TCP (via proxy), STARTTLS dialogue, TLS handshake, post-TLS greeting."""
    host, port, protocol, mode = target['host'], target['port'], target['protocol'], target['mode']
    proxy = result.get('_proxy_url')
    if proxy:
        sock = _through_proxy(proxy, host, port, settings, deadline, result)
    else:
        sock = _connect(_resolve(host, port, deadline, result), deadline, result)
    lines = _Line(sock, deadline)
    try:
        if mode == 'starttls':
            greet(lines, protocol, result)
            result['starttls_offered'] = starttls_offered(protocol, result['capabilities'])
            if not result['starttls_offered']:
                raise ProbeError('starttls_unsupported', '%s capabilities do not list %s' % (
                    protocol.upper(), 'STLS' if protocol == 'pop3' else 'STARTTLS'))
            started = time.monotonic()
            request_starttls(lines, protocol)
            result['timings']['starttls_ms'] = _ms(started)
        if mode in ('tls', 'starttls'):
            sock = _handshake(sock, target, settings, deadline, result, verify)
            lines = _Line(sock, deadline)
            if mode == 'tls' and protocol in MAIL_PROTOCOLS:
                greet(lines, protocol, result)
            elif mode == 'starttls':
                pre = list(result['capabilities'])
                greet_after_starttls(lines, protocol, result)
                result['capabilities_before_tls'] = pre
        elif protocol in MAIL_PROTOCOLS:
            greet(lines, protocol, result)
        if protocol in MAIL_PROTOCOLS:
            say_goodbye(lines, protocol)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _through_proxy(proxy, host, port, settings, deadline, result):
    """A socket to HOST:PORT through an HTTP CONNECT tunnel of PROXY (TLS to the proxy for https://).

    The proxy's own failures are named as the cause: proxy_dns when its name does not resolve,
    proxy_unreachable when its port refuses or does not answer, proxy when it refuses the tunnel.
    """
    named = _errors.proxy_name(proxy)
    unusable = _proxy.problem(proxy, result.get('_proxy_source') or 'proxy')
    if unusable:  # not http(s)://, a bad IPv6 literal, a port out of range: named with where it came from
        raise ProbeError('proxy', unusable)
    scheme, proxy_host, proxy_port, auth = _proxy.parse(proxy)
    try:
        infos = _resolve(proxy_host, proxy_port, deadline, result)
    except ProbeError as exc:
        raise ProbeError('proxy_dns', '%scannot resolve %s (%s)' % (named, proxy_host, exc.detail))
    result['addresses'] = []  # the proxy resolves the target's name
    try:
        sock = _connect(infos, deadline, result)
    except ProbeError as exc:
        if exc.error_class in ('refused', 'timeout', 'unreachable', 'reset'):
            raise ProbeError('proxy_unreachable', '%s%s:%d: %s' % (named, proxy_host, proxy_port, exc.detail))
        raise
    started = time.monotonic()
    try:
        if scheme == 'https':
            sock = _tls_to_proxy(sock, proxy_host, settings, deadline, named)
        proxy_lines = _Line(sock, deadline)
        _proxy.connect(sock, host, port, auth, read_line=lambda _sock: proxy_lines.readline())
    except _proxy.ProxyError as exc:
        sock.close()
        raise ProbeError('proxy', '%s%s' % (named, exc))
    except ProbeError as exc:
        sock.close()
        if exc.error_class == 'timeout':
            raise ProbeError('timeout', '%sno answer to CONNECT %s:%d before the timeout' % (named, host, port))
        raise ProbeError('proxy', '%s%s' % (named, exc.detail))
    finally:
        result['timings']['proxy_ms'] = _ms(started)
    return sock


def _tls_to_proxy(sock, proxy_host, settings, deadline, named):
    """TLS with an https:// proxy, verified against ca_path (or the system store) and the proxy's name."""
    context = _tls.verifying_context(settings.get('ca_path'))
    context.check_hostname = True  # the proxy's certificate must name it: nothing else checks it
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return context.wrap_socket(sock, server_hostname=proxy_host)
    except (socket.timeout, TimeoutError):
        sock.close()
        raise ProbeError('timeout', '%sno TLS handshake with the proxy before the timeout' % named)
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        error_class, detail = _errors.classify_exception(exc)
        raise ProbeError('proxy', '%sTLS with the proxy failed: %s (%s)' % (named, detail, error_class))


def greet_after_starttls(lines, protocol, result):
    """After STARTTLS the server does not greet again: ask for capabilities only."""
    started = time.monotonic()
    if protocol == 'smtp':
        lines.send('EHLO %s' % result['_ehlo_name'])
        code, texts = smtp_reply(lines)
        if code != 250:
            raise ProbeError('protocol', 'EHLO after STARTTLS answered %d' % code)
        result['capabilities'], result['auth_mechanisms'] = parse_ehlo(texts)
    elif protocol == 'imap':
        lines.send('%s CAPABILITY' % IMAP_TAG)
        untagged, _tagged = imap_untagged_until_tagged(lines, IMAP_TAG)
        for line in untagged:
            words, mechanisms = parse_imap_capabilities(line)
            if words:
                result['capabilities'], result['auth_mechanisms'] = words, mechanisms
    elif protocol == 'pop3':
        lines.send('CAPA')
        if lines.readline().startswith('+OK'):
            result['capabilities'], result['auth_mechanisms'] = parse_pop3_capa(pop3_multiline(lines))
    result['timings']['banner_ms'] = result['timings'].get('banner_ms', 0) + _ms(started)


def _handshake(sock, target, settings, deadline, result, verify):
    server_name = target.get('server_name') or target['host']
    sni = None if _is_ip(server_name) else server_name
    context = _tls.verifying_context(settings.get('ca_path')) if verify else _tls.observing_context()
    started = time.monotonic()
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProbeError('timeout', 'no time left for the TLS handshake')
    sock.settimeout(left)
    try:
        if isinstance(sock, ssl.SSLSocket):  # through an https:// proxy: TLS inside its TLS
            tls_sock = _tls.TLSOverStream(sock, context, server_hostname=sni)
        else:
            tls_sock = context.wrap_socket(sock, server_hostname=sni)
    except (socket.timeout, TimeoutError):
        raise ProbeError('timeout', 'no TLS handshake before the timeout')
    except (ssl.SSLError, OSError) as exc:
        if isinstance(exc, ssl.SSLError):
            result['timings']['tls_ms'] = _ms(started)
        _raise_classified(exc)
    result['timings']['tls_ms'] = _ms(started)
    cipher = tls_sock.cipher() or (None, None, None)
    der = tls_sock.getpeercert(binary_form=True)
    tls = result['tls']
    tls.update({'version': tls_sock.version(), 'cipher': cipher[0], 'bits': cipher[2], 'server_name': server_name,
                'trust_store': settings.get('ca_path') or 'system'})
    if der and _tls.HAS_CRYPTOGRAPHY:
        tls['certificate'] = _tls.certificate_facts(der)
        tls['hostname_match'] = _tls.hostname_matches(der, server_name)
    if verify:
        tls['verified'] = True
    return tls_sock


def _is_ip(value):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
            return True
        except (OSError, ValueError):
            continue
    return False


def new_result(target, settings):
    return {
        'name': target.get('name') or '%s:%d' % (target['host'], target['port']),
        'host': target['host'], 'port': target['port'], 'mode': target['mode'], 'protocol': target['protocol'],
        'purpose': target.get('purpose') or 'extra', 'ok': False, 'error_class': None, 'message': None, 'addresses': [], 'address': None, 'proxy': None,
        'banner': None, 'capabilities': [], 'auth_mechanisms': [], 'starttls_offered': None,
        'tls': {'version': None, 'cipher': None, 'bits': None, 'server_name': None, 'verified': None,
                'verify_error': None, 'hostname_match': None, 'trust_store': None, 'certificate': None},
        'timings': {}, 'elapsed_ms': None,
        '_ehlo_name': settings.get('ehlo_name') or 'preflight.invalid',
    }


def probe_target(target, settings, environ):
    """Observe one target; always returns a result (never raises)."""
    result = new_result(target, settings)
    started = time.monotonic()
    deadline = started + float(target['timeout'])
    where = '%s:%d' % (target['host'], target['port'])
    use_proxy = target.get('proxy')
    if use_proxy is None:
        use_proxy = target['protocol'] == 'https'
    if use_proxy:
        proxy = _proxy.select(target['host'], settings.get('proxy'), environ, settings.get('no_proxy'))
        result['_proxy_url'] = proxy
        result['_proxy_source'] = _proxy.source(settings.get('proxy'), environ)
        result['proxy'] = _proxy.redact(proxy)
    try:
        try:
            _run_session(target, settings, deadline, result)
        except ProbeError:
            raise
        except (socket.timeout, TimeoutError):
            raise ProbeError('timeout', 'no reply before the timeout')
        except (OSError, ValueError, UnicodeError) as exc:  # ssl.SSLError is an OSError
            _raise_classified(exc)
    except ProbeError as exc:
        result['error_class'] = exc.error_class
        result['message'] = _errors.describe(exc.error_class, where, exc.detail)
    else:
        result['ok'] = True
    result['elapsed_ms'] = _ms(started)
    for private in ('_ehlo_name', '_proxy_url', '_proxy_source'):
        result.pop(private, None)
    return result


def _run_session(target, settings, deadline, result):
    """Verify first; when only the certificate fails, look again without verifying to report it."""
    if target['mode'] == 'tcp':
        return _session(target, settings, deadline, result, verify=False)
    try:
        _session(target, settings, deadline, result, verify=True)
    except ProbeError as exc:
        if exc.error_class not in ('cert_untrusted', 'cert_expired', 'cert_hostname'):
            raise
        result['tls']['verified'] = False
        result['tls']['verify_error'] = exc.detail
        try:
            _session(target, settings, deadline, result, verify=False)
        except ProbeError:
            pass  # the certificate verdict stands; facts are whatever the second look gathered
        raise
    if result['tls']['hostname_match'] is False:
        raise ProbeError('cert_hostname', 'the certificate names %s, not %s' % (
            ', '.join((result['tls']['certificate'] or {}).get('sans', [])) or 'no subject alternative name',
            result['tls']['server_name']))


def probe_all(targets, settings, environ, deadline_seconds, concurrency):
    """Probe TARGETS concurrently; targets still running at the overall deadline get class deadline."""
    results = [None] * len(targets)
    semaphore = threading.Semaphore(max(1, concurrency))
    call_deadline = time.monotonic() + deadline_seconds

    def work(index, target):
        with semaphore:
            if time.monotonic() >= call_deadline:
                return  # reported as 'deadline' below
            results[index] = probe_target(target, settings, environ)

    threads = []
    for index, target in enumerate(targets):
        # Daemon threads: a probe stuck past the deadline must not keep the module process alive.
        thread = threading.Thread(target=work, args=(index, target), name='probe-%d' % index)
        thread.daemon = True
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, call_deadline - time.monotonic()))
    for index, target in enumerate(targets):
        if results[index] is None:
            result = new_result(target, settings)
            result.pop('_ehlo_name', None)
            result['error_class'] = 'deadline'
            result['message'] = _errors.describe('deadline', '%s:%d' % (target['host'], target['port']),
                                                 'the call\'s deadline of %ss passed' % deadline_seconds)
            results[index] = result
    return results
