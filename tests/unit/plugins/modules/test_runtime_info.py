# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import json
import sys
from importlib import metadata

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _runtime
from ansible_collections.ece_o365.preflight.plugins.modules import runtime_info

PLANTED_PASSWORD = 'pl4nted-S3cret'


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Start every test with none of the variables the module reports on."""
    for name in _runtime.PROXY_VARIABLES + _runtime.CA_BUNDLE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_reports_python_and_libraries(run_module):
    result = run_module(runtime_info)

    assert result['changed'] is False
    assert 'failed' not in result
    assert result['python']['executable'] == sys.executable
    assert result['python']['version'] == '%d.%d.%d' % sys.version_info[:3]
    assert list(result['libraries'])[:4] == ['msal', 'requests', 'jmespath', 'cryptography']
    msal = result['libraries']['msal']
    assert msal['importable'] is True
    assert msal['version'] == metadata.version('msal')
    assert msal['error'] is None
    assert result['proxy'] == {'variables': {}, 'redacted': [], 'effective': {}, 'no_proxy': []}
    assert result['ca_bundles'] == {}


def test_proxy_password_is_redacted_everywhere(run_module, monkeypatch):
    monkeypatch.setenv('HTTPS_PROXY', 'http://alice:%s@proxy.corp.invalid:3128' % PLANTED_PASSWORD)
    monkeypatch.setenv('http_proxy', 'http://proxy.corp.invalid:8080')
    monkeypatch.setenv('NO_PROXY', 'localhost, .corp.invalid')

    result = run_module(runtime_info)

    assert PLANTED_PASSWORD not in json.dumps(result)
    assert 'alice' not in json.dumps(result)
    assert result['proxy']['variables'] == {
        'HTTPS_PROXY': 'http://********@proxy.corp.invalid:3128',
        'http_proxy': 'http://proxy.corp.invalid:8080',
        'NO_PROXY': 'localhost, .corp.invalid',
    }
    assert result['proxy']['redacted'] == ['HTTPS_PROXY']
    assert result['proxy']['effective'] == {
        'https': 'http://********@proxy.corp.invalid:3128',
        'http': 'http://proxy.corp.invalid:8080',
    }
    assert result['proxy']['no_proxy'] == ['localhost', '.corp.invalid']


def test_missing_library_is_reported_missing(run_module, monkeypatch):
    # A None entry in sys.modules makes "import jmespath" raise ImportError.
    monkeypatch.setitem(sys.modules, 'jmespath', None)

    result = run_module(runtime_info, {'extra_libraries': ['ece_o365_no_such_library']})

    jmespath = result['libraries']['jmespath']
    assert jmespath['importable'] is False
    assert jmespath['version'] is None
    assert jmespath['path'] is None
    assert jmespath['error'].startswith(('ImportError:', 'ModuleNotFoundError:'))
    missing = result['libraries']['ece_o365_no_such_library']
    assert missing['importable'] is False
    assert "No module named 'ece_o365_no_such_library'" in missing['error']
    # The other libraries are still reported as they are.
    assert result['libraries']['msal']['importable'] is True


def test_ca_bundle_existence(run_module, monkeypatch, tmp_path):
    bundle = tmp_path / 'corp-ca.pem'
    bundle.write_text(u'-----BEGIN CERTIFICATE-----\n')
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', str(bundle))
    monkeypatch.setenv('SSL_CERT_FILE', str(tmp_path / 'missing.pem'))

    result = run_module(runtime_info)

    assert result['ca_bundles'] == {
        'REQUESTS_CA_BUNDLE': {'path': str(bundle), 'exists': True, 'is_file': True, 'readable': True},
        'SSL_CERT_FILE': {'path': str(tmp_path / 'missing.pem'), 'exists': False, 'is_file': False, 'readable': False},
    }


def test_check_mode_reports_the_same(run_module):
    result = run_module(runtime_info, {'_ansible_check_mode': True})

    assert result['changed'] is False
    assert result['libraries']['msal']['importable'] is True


def test_unknown_option_fails(run_module):
    result = run_module(runtime_info, {'no_such_option': 1})

    assert result['failed'] is True
    assert 'no_such_option' in result['msg']
