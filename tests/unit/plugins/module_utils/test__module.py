# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PreflightModule: a proxy password never leaves a module, even when AnsibleModule's own argument validation
fails inside its constructor (which prints every argument under invocation); a proxy without one is shown."""

import json
import os
import subprocess
import sys

import ansible_collections
import pytest

# The directory that holds ansible_collections/ (the conftest makes the collection importable from there).
COLLECTIONS = os.path.dirname(list(ansible_collections.__path__)[0])
PASSWORD = 'Planted-Proxy-Pw-5150'
PROXY = 'http://preflight:%s@127.0.0.1:9' % PASSWORD
CASES = [
    ('port_probe', {'targets': [{'host': '127.0.0.1', 'port': 1}]}),
    ('url_reach', {'urls': [{'url': 'https://127.0.0.1:1/'}]}),
    ('token_acquire', {'tenant': 'contoso.invalid', 'client_id': 'x', 'client_secret': 'y'}),
    ('tenant_info', {'tenant': 'contoso.invalid', 'client_id': 'x', 'client_secret': 'y'}),
    ('mailbox_settings', {'tenant': 'contoso.invalid', 'client_id': 'x', 'client_secret': 'y', 'mailboxes': []}),
    ('mailbox_protocols', {'tenant': 'contoso.invalid', 'client_id': 'x', 'mailboxes': [{'address': 'a@b.invalid'}]}),
]


def _run(module, args, tmp_path):
    path = tmp_path / 'args.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    for name in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.ece_o365.preflight.plugins.modules.%s' % module,
                           str(path)], capture_output=True, text=True, timeout=60, env=env, check=False)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize('module, args', CASES)
def test_a_bad_argument_does_not_print_the_proxy_password(module, args, tmp_path):
    output = _run(module, dict(args, proxy=PROXY, timeout='not-a-number'), tmp_path)
    assert '"failed": true' in output, output[:2000]
    assert PASSWORD not in output, output[:2000]


@pytest.mark.parametrize('module, args', CASES[:1])
def test_a_proxy_without_credentials_is_shown(module, args, tmp_path):
    output = _run(module, dict(args, proxy='http://proxy.corp.invalid:3128', timeout='not-a-number'), tmp_path)
    assert 'http://proxy.corp.invalid:3128' in output and 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' not in output, output
