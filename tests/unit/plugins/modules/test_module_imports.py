# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start-up contract: each module imports at start-up only the heavy libraries it uses.

Every task pays its module's imports on every host, so a probe that does not need msal or requests
must not load them (tests/benchmarks/bench_imports.py measures what each one costs). Each module is
imported in a fresh interpreter and the heavy libraries found in sys.modules are compared with what
it is allowed, and why.
"""

import json
import os
import subprocess
import sys

import pytest

COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))), '.build', 'collections')
HEAVY = ('msal', 'requests', 'jmespath', 'cryptography')

# module: the heavy libraries it may load at import, each for what it does with it.
ALLOWED = {
    'port_probe': {'cryptography'},                                  # certificate facts of each TLS target
    'url_reach': {'requests', 'jmespath', 'cryptography'},           # HTTPS, JSON assertions, issuer facts
    'token_acquire': {'msal', 'requests', 'cryptography'},           # msal over its own session; certificates
    'tenant_info': {'msal', 'requests', 'cryptography'},             # app-only token, Graph, secret/cert dates
    'signin_activity': {'msal', 'requests', 'cryptography'},         # app-only token, Graph sign-in logs
    'mailbox_settings': {'msal', 'requests', 'cryptography'},        # app-only token, Exchange admin API
    'mailbox_protocols': {'msal', 'requests', 'cryptography'},       # redeems ECE's refresh token; TLS facts
    'runtime_info': set(),                                           # reports the libraries without importing them
}


def _loaded(module):
    code = ('import json, sys\nimport ansible_collections.ece_o365.preflight.plugins.modules.%s\n'
            'print(json.dumps(sorted(n for n in %r if n in sys.modules)))' % (module, HEAVY))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


def test_every_module_is_in_the_contract():
    modules_dir = os.path.join(COLLECTIONS, 'ansible_collections', 'ece_o365', 'preflight', 'plugins', 'modules')
    python_modules = set(name[:-3] for name in os.listdir(modules_dir)
                         if name.endswith('.py') and not name.startswith(('_', 'win_')) and name != 'preflight_report.py')
    assert python_modules == set(ALLOWED)


@pytest.mark.parametrize('module', sorted(ALLOWED))
def test_module_loads_only_the_heavy_libraries_it_uses(module):
    loaded = _loaded(module)
    assert loaded <= ALLOWED[module], '%s loads %s at start-up without using it' % (module, sorted(loaded - ALLOWED[module]))
