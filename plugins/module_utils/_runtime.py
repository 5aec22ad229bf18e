# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""What the preflight's probes depend on, as seen from one host's Python.

Everything here only reads: the interpreter, the import machinery and an
environment mapping that the caller passes in (so that tests can pass their own).
"""

import importlib
import os
import re
import sys

try:
    from importlib import metadata as _metadata
except ImportError:  # Python < 3.8
    _metadata = None

# (import name, distribution name) of every third-party library the
# collection's modules import on a managed host.
LIBRARIES = (
    ('msal', 'msal'),
    ('requests', 'requests'),
    ('jmespath', 'jmespath'),
    ('cryptography', 'cryptography'),
)

# Proxy variables as requests and urllib read them, upper case before lower case.
PROXY_SCHEMES = ('https', 'http', 'all', 'no')
PROXY_VARIABLES = tuple(
    name
    for scheme in PROXY_SCHEMES
    for name in ('%s_PROXY' % scheme.upper(), '%s_proxy' % scheme)
)

# Variables that point TLS clients at a CA bundle (requests, OpenSSL, curl).
CA_BUNDLE_VARIABLES = ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'CURL_CA_BUNDLE')

REDACTED = '********'

# An optional scheme, then everything up to the last "@" (the userinfo). The
# last "@" is used so that a password with an unencoded "@" is still hidden.
_USERINFO_RE = re.compile(r'^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<userinfo>.*)@(?P<rest>[^@]*)$', re.DOTALL)


def redact_userinfo(value):
    """Return (value with any ``user:password@`` replaced, whether it was redacted)."""
    match = _USERINFO_RE.match(value)
    if not match:
        return value, False
    return '%s%s@%s' % (match.group('scheme') or '', REDACTED, match.group('rest')), True


def python_info():
    """The interpreter that runs the module."""
    info = sys.version_info
    return {
        'version': '%d.%d.%d' % (info[0], info[1], info[2]),
        'version_info': [info[0], info[1], info[2], info[3], info[4]],
        'executable': sys.executable,
        'implementation': sys.implementation.name,
    }


def _distribution_version(distribution, module):
    if _metadata is not None:
        try:
            return _metadata.version(distribution)
        except Exception:  # PackageNotFoundError, or a broken metadata directory
            pass
    version = getattr(module, '__version__', None)
    return str(version) if version is not None else None


def library_info(import_name, distribution=None, importer=None):
    """Whether one library imports, and its version and location when it does."""
    importer = importer or importlib.import_module
    result = {
        'importable': False,
        'version': None,
        'path': None,
        'error': None,
    }
    try:
        module = importer(import_name)
    except Exception as exc:  # ImportError, and anything a broken library raises on import
        result['error'] = '%s: %s' % (type(exc).__name__, exc)
        return result
    result['importable'] = True
    result['version'] = _distribution_version(distribution or import_name, module)
    module_file = getattr(module, '__file__', None)
    if module_file:
        result['path'] = os.path.dirname(os.path.abspath(module_file))
    return result


def libraries_info(extra=None, importer=None):
    """library_info() for the collection's libraries plus ``extra`` import names."""
    wanted = list(LIBRARIES)
    known = set(name for name, dummy in wanted)
    for name in extra or ():
        if name not in known:
            wanted.append((name, name))
            known.add(name)
    return dict(
        (name, library_info(name, distribution, importer=importer))
        for name, distribution in wanted
    )


def proxy_info(environ):
    """The proxy variables that are set (credentials redacted) and the effective proxy per scheme.

    ``effective`` follows urllib's (and so requests') rule: the lower-case
    variable wins over the upper-case one when both are set.
    """
    variables = {}
    redacted = []
    for name in PROXY_VARIABLES:
        value = environ.get(name)
        if value is None:
            continue
        if name.lower() != 'no_proxy':
            value, was_redacted = redact_userinfo(value)
            if was_redacted:
                redacted.append(name)
        variables[name] = value
    effective = {}
    for scheme in PROXY_SCHEMES:
        lower, upper = '%s_proxy' % scheme, '%s_PROXY' % scheme.upper()
        if lower in variables:
            effective[scheme] = variables[lower]
        elif upper in variables:
            effective[scheme] = variables[upper]
    no_proxy = effective.pop('no', None)
    return {
        'variables': variables,
        'redacted': redacted,
        'effective': effective,
        'no_proxy': [entry.strip() for entry in (no_proxy or '').split(',') if entry.strip()],
    }


def ca_bundle_info(environ):
    """For each CA bundle variable that is set: its path and whether that file exists."""
    result = {}
    for name in CA_BUNDLE_VARIABLES:
        path = environ.get(name)
        if path is None:
            continue
        result[name] = {
            'path': path,
            'exists': os.path.exists(path),
            'is_file': os.path.isfile(path),
            'readable': os.access(path, os.R_OK),
        }
    return result


def gather_runtime_info(environ=None, extra_libraries=None, importer=None):
    """Everything runtime_info reports, as one dict."""
    if environ is None:
        environ = os.environ
    return {
        'python': python_info(),
        'libraries': libraries_info(extra=extra_libraries, importer=importer),
        'proxy': proxy_info(environ),
        'ca_bundles': ca_bundle_info(environ),
    }
