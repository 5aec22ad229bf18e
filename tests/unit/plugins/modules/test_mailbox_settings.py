# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import socket

from ansible_collections.ece_o365.preflight.plugins.modules import mailbox_settings


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_a_failed_read_names_the_admin_api_root(run_module):
    """Regression (reliability suite, inputs): the message named the InvokeCommand path only, never which
    admin API host refused."""
    exchange_url = 'https://127.0.0.1:%d' % _closed_port()
    result = run_module(mailbox_settings, {'access_token': 'opaque-token', 'tenant': 'contoso.onmicrosoft.com',
                                           'exchange_url': exchange_url, 'mailboxes': [{'mailbox': 'a@contoso.com'}],
                                           'deadline': 0.5, 'timeout': 0.5, 'fail_on_error': True})
    assert result['failed'] is True and result['error'] == 'refused'
    assert result['msg'].startswith('2 of the reads from %s failed; first: POST /adminapi/beta/' % exchange_url)
    assert 'opaque-token' not in str(result)
