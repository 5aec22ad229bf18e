# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""ECE checks (TAC checklist items 1 and 2): the release, the Engineering Special and the External URL.

These read what the inventory declares for each host (``ece`` in the host's record), not what the
server runs: Cisco documents no place on the server that a read-only probe could read the release, the
Engineering Special or the External URL from (docs/ece-secrets.md). Both checks are declared with
``basis='declared'`` and every verdict says "as declared in the inventory" (DECLARED_PHRASE).
"""

import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    urlsplit = None

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    DECLARED_PHRASE, Missing, check)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks.network import probe_cause


def _es_number(value):
    match = re.match(r'ES(\d+)', (value or '').upper())
    return int(match.group(1)) if match else None


def _version_key(version):
    return tuple(int(n) for n in re.findall(r'\d+', version))


def fqdn(url):
    try:
        parts = urlsplit(url or '')
    except ValueError:
        return None
    return (parts.hostname or '').lower() or None


@check('ECE-VERSION', 'ECE version and Engineering Special support OAuth2 mail', 'error', 'host', ('ece', 'version'),
       'ece_o365_ece_version, ece_o365_ece_installed_es (or ece_o365_ece_es_to_install in a CI gate) and '
       'ece_o365_ece_known_latest_es, as declared in the inventory',
       'install the Engineering Special the checklist names for this release (11.6(1) ES12 and ES12_ET1, '
       '12.0(1) ES6, 12.5(1) ES3, 12.6(1) ES1), or a later one', item=1, code='CSCvr86493', requires=('reached',),
       basis='declared')
def judge_ece_version(context, subject):
    ece = context.host(subject).get('ece') or {}
    version = ece.get('version')
    if not version:
        raise Missing('not read: ece_o365_ece_version is not set for this host')
    minimum = _facts.MINIMUM_ES.get(version)
    evidence = {'version': version, 'installed_es': ece.get('installed_es'), 'es_to_install': ece.get('es_to_install'),
                'minimum': list(minimum) if minimum else None, 'known_latest_es': ece.get('known_latest_es'),
                'source': 'inventory'}
    if minimum is None:
        if any(_version_key(v) < _version_key(version) for v in _facts.MINIMUM_ES):
            return 'pass', 'ECE %s (%s) is newer than every release the checklist names' % (
                version, DECLARED_PHRASE), evidence
        return 'fail', 'ECE %s (%s) predates OAuth2 mail support (needs 11.6(1) ES12 or later)' % (
            version, DECLARED_PHRASE), evidence
    # The CI gate's case: judge the ES a pipeline is about to install, when given.
    effective = ece.get('es_to_install') or ece.get('installed_es') or ''
    installed = set(e.strip().upper() for e in re.split(r'[,\s]+', effective) if e.strip())
    have_number = max([_es_number(e) or 0 for e in installed] or [0])
    missing = [m for m in minimum[1:] if m.upper() not in installed]
    if have_number < _es_number(minimum[0]) or missing:
        return 'fail', 'ECE %s with %s (%s); OAuth2 mail needs %s (CSCvr86493)' % (
            version, effective or 'no ES', DECLARED_PHRASE, ' and '.join(minimum)), evidence
    latest = _es_number(ece.get('known_latest_es'))
    if latest and latest > have_number:
        return 'warn', 'ECE %s with %s (%s) meets the minimum; %s is known' % (
            version, effective, DECLARED_PHRASE, ece['known_latest_es']), evidence
    return 'pass', 'ECE %s with %s (%s; minimum %s)' % (
        version, effective, DECLARED_PHRASE, ' and '.join(minimum)), evidence


@check('ECE-EXTERNAL-URL', 'External URL set, https, and the FQDN admins log in with', 'error', 'host', ('ece', 'url'),
       'ece_o365_ece_external_url and ece_o365_ece_admin_login_fqdn as declared in the inventory, and, when '
       'ece_o365_ece_probe_external_url is true, whether the External URL answers from the host with a valid '
       'certificate (the redirect URI is APP-REDIRECT-URI\'s)',
       'set Partition > Apps > General settings > External URL of application (11.5-12.5: Web Server URL or Load '
       'Balancer URL) to https://<the FQDN admins use>, and register exactly that host in the app\'s redirect URI',
       item=2, requires=('reached',), basis='declared')
def judge_external_url(context, subject):
    host_record = context.host(subject)
    ece = host_record.get('ece') or {}
    url = ece.get('external_url')
    if not url:
        return 'fail', 'the ECE External URL is not set (ece_o365_ece_external_url, %s)' % DECLARED_PHRASE, {
            'external_url': None, 'source': 'inventory'}
    evidence = {'external_url': url, 'admin_login_fqdn': ece.get('admin_login_fqdn'), 'source': 'inventory'}
    if not url.lower().startswith('https://'):
        return 'fail', 'the External URL %s (%s) is not https' % (url, DECLARED_PHRASE), evidence
    host = fqdn(url)
    login = (ece.get('admin_login_fqdn') or '').lower()
    if login and login != host:
        return 'fail', 'the External URL names %s, but admins log in at %s (%s)' % (
            host, login, DECLARED_PHRASE), evidence
    reach = [r for r in ((host_record.get('url_reach') or {}).get('results') or [])
             if r.get('purpose') == 'ece_external_url']
    if reach:
        result = reach[0]
        evidence['reach'] = {'status': result.get('status'), 'error_class': result.get('error_class')}
        if not result.get('ok'):
            cause, fix = probe_cause(result)
            return 'fail', 'the External URL %s (%s) does not answer with a valid certificate from this host: %s' % (
                url, DECLARED_PHRASE, cause), evidence, fix
    return 'pass', 'External URL %s (%s), the FQDN admins log in with%s' % (
        url, DECLARED_PHRASE, '; it answers from this host' if reach else ''), evidence
