# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import os
import types

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _runtime


@pytest.mark.parametrize('value, expected, redacted', [
    ('http://proxy:3128', 'http://proxy:3128', False),
    ('http://user:pw@proxy:3128', 'http://********@proxy:3128', True),
    ('https://user@proxy:3128/', 'https://********@proxy:3128/', True),
    ('user:pw@proxy:3128', '********@proxy:3128', True),
    # An unencoded "@" inside the password must not leak its first part.
    ('http://user:p@ss@proxy:3128', 'http://********@proxy:3128', True),
    ('socks5h://u:p%40ss@10.0.0.1:1080', 'socks5h://********@10.0.0.1:1080', True),
    ('', '', False),
])
def test_redact_userinfo(value, expected, redacted):
    assert _runtime.redact_userinfo(value) == (expected, redacted)


def test_proxy_lower_case_wins_like_urllib():
    environ = {
        'HTTPS_PROXY': 'http://upper:3128',
        'https_proxy': 'http://lower:3128',
        'ALL_PROXY': 'http://u:secret@all:3128',
        'no_proxy': 'a,,b ',
    }
    info = _runtime.proxy_info(environ)
    assert info['effective'] == {'https': 'http://lower:3128', 'all': 'http://********@all:3128'}
    assert info['redacted'] == ['ALL_PROXY']
    assert info['no_proxy'] == ['a', 'b']
    assert 'secret' not in repr(info)


def test_no_proxy_is_never_rewritten():
    info = _runtime.proxy_info({'NO_PROXY': 'user@host'})
    assert info['variables'] == {'NO_PROXY': 'user@host'}
    assert info['redacted'] == []


def test_ca_bundle_directory_is_not_a_file(tmp_path):
    info = _runtime.ca_bundle_info({'CURL_CA_BUNDLE': str(tmp_path)})
    assert info['CURL_CA_BUNDLE']['exists'] is True
    assert info['CURL_CA_BUNDLE']['is_file'] is False


def test_library_broken_on_import_is_reported():
    def importer(name):
        raise RuntimeError('rust bindings missing for %s' % name)

    info = _runtime.library_info('cryptography', importer=importer)
    assert info == {
        'importable': False,
        'version': None,
        'path': None,
        'error': 'RuntimeError: rust bindings missing for cryptography',
    }


def test_library_version_falls_back_to_dunder_version(tmp_path):
    fake = types.ModuleType('ece_o365_fake_lib')
    fake.__version__ = '9.8.7'
    fake.__file__ = str(tmp_path / 'ece_o365_fake_lib' / '__init__.py')

    info = _runtime.library_info('ece_o365_fake_lib', importer=lambda name: fake)
    assert info['importable'] is True
    assert info['version'] == '9.8.7'
    assert info['path'] == os.path.join(str(tmp_path), 'ece_o365_fake_lib')


def test_library_without_any_version():
    fake = types.ModuleType('ece_o365_fake_lib')
    info = _runtime.library_info('ece_o365_fake_lib', importer=lambda name: fake)
    assert info == {'importable': True, 'version': None, 'path': None, 'error': None}


def test_libraries_extra_are_appended_once():
    seen = []

    def importer(name):
        seen.append(name)
        raise ImportError(name)

    info = _runtime.libraries_info(extra=['msal', 'certifi', 'certifi'], importer=importer)
    assert list(info) == ['msal', 'requests', 'jmespath', 'cryptography', 'certifi']
    assert seen == list(info)


def test_python_info_shape():
    info = _runtime.python_info()
    assert set(info) == {'version', 'version_info', 'executable', 'implementation'}
    assert len(info['version_info']) == 5
