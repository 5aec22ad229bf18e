# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _proxy


@pytest.mark.parametrize('host, no_proxy, expected', [
    ('outlook.office365.com', '.office365.com', True),
    ('outlook.office365.com', 'office365.com', True),
    ('outlook.office365.com', '*.office365.com', True),
    ('notoffice365.com', 'office365.com', False),
    ('10.1.2.3', '10.0.0.0/8', True),
    ('10.1.2.3', '192.168.0.0/16,localhost', False),
    ('anything', '*', True),
    ('login.microsoftonline.com', '', False),
    ('localhost', 'localhost:8080', True),
])
def test_no_proxy_matching(host, no_proxy, expected):
    assert _proxy.bypassed(host, no_proxy) is expected


def test_selection_prefers_arguments_then_environment():
    env = {'HTTPS_PROXY': 'http://env:3128', 'NO_PROXY': '.corp.invalid'}
    assert _proxy.select('login.microsoftonline.com', None, env) == 'http://env:3128'
    assert _proxy.select('mail.corp.invalid', None, env) is None
    assert _proxy.select('login.microsoftonline.com', 'http://arg:8080', env) == 'http://arg:8080'
    assert _proxy.select('login.microsoftonline.com', '', env) is None
    assert _proxy.select('x', None, {'all_proxy': 'http://all:1'}) == 'http://all:1'


def test_credentials_are_redacted_and_sent_as_basic_auth():
    url = 'http://alice:s3cr%40t@proxy.corp.invalid:3128'
    assert _proxy.redact(url) == 'http://********@proxy.corp.invalid:3128'
    host, port, auth = _proxy.parse(url)
    assert (host, port) == ('proxy.corp.invalid', 3128)
    import base64
    assert base64.b64decode(auth.split()[1]) == b'alice:s3cr@t'
    assert _proxy.parse('proxy:8080') == ('proxy', 8080, None)
    with pytest.raises(_proxy.ProxyError, match='only http://'):
        _proxy.parse('socks5://proxy:1080')
