# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The facts the checks judge against: each held once, and consistent with what the checks and the checklist say."""

import re

from ansible_collections.ece_o365.preflight.plugins.module_utils import _mail
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts

from .observations import SALES, SUPPORT, SVC, finding, healthy, judge


def test_the_minimum_es_table_is_the_one_the_fix_names():
    assert _facts.MINIMUM_ES == {'11.6(1)': ('ES12', 'ES12_ET1'), '12.0(1)': ('ES6',), '12.5(1)': ('ES3',),
                                 '12.6(1)': ('ES1',)}
    fix = _checks.by_id()['ECE-VERSION'].remediation
    named = re.findall(r'(\d+\.\d+\(\d+\)) ((?:ES\w+(?: and )?)+)', fix)
    assert dict((v, tuple(es.split(' and '))) for v, es in named) == _facts.MINIMUM_ES


def test_the_thresholds_are_the_checklist_s():
    assert _facts.ACCESS_TOKEN_LIFETIME == (3600, 5400) and '60-90 min' in _facts.CHECKLIST[4]
    assert (_facts.CLOCK_SKEW_WARN, _facts.CLOCK_SKEW_FAIL) == (60, 300) and _facts.SECRET_EXPIRY_WARN_DAYS == 30
    assert _checks.by_id()['NET-CLOCK-SKEW'].title == 'Host clock within 60 s of Microsoft\'s'
    assert _checks.by_id()['APP-SECRET-EXPIRY'].title.endswith('(30)')
    assert sorted(_facts.CHECKLIST) == list(range(1, 11))
    ports = [path[3] for path in _facts.NETWORK_PATHS]
    assert ports == [443, 587, 993, 995] and '443, 587, 993, 995' in _facts.CHECKLIST[9]


def test_the_network_paths_by_purpose_roles_and_protocol():
    assert [(p[0], p[1], p[2], p[5]) for p in _facts.NETWORK_PATHS] == [
        ('NET-PORT-443', 'token_endpoint', ('services', 'application'), None),
        ('NET-PORT-587', 'smtp_submission', ('services', 'application'), None),
        ('NET-PORT-993', 'imap', ('services',), 'imap'),
        ('NET-PORT-995', 'pop3', ('services',), 'pop3')]


def test_the_mail_permissions():
    assert _facts.PERMISSION_OF_PROTOCOL == {'imap': 'IMAP.AccessAsUser.All', 'pop3': 'POP.AccessAsUser.All',
                                             'smtp': 'SMTP.Send'}
    assert set(_facts.DELEGATED_MAIL) == set(_facts.PERMISSION_OF_PROTOCOL.values()) | {'offline_access'}


def test_the_shared_fixes_are_cited_by_the_checks():
    findings = judge(healthy())
    assert finding(findings, 'MBX-SMTP-AUTH', SUPPORT)['remediation'] == _mail.MAIL_CLASSES['smtp_auth_disabled'][1]
    assert _facts.FIX['smtp_auth'] == _mail.MAIL_CLASSES['smtp_auth_disabled'][1]
    assert _facts.FIX['full_access'] % (SALES, SVC) == (
        'Add-MailboxPermission -Identity %s -User %s -AccessRights FullAccess -AutoMapping $false' % (SALES, SVC))
    assert _facts.FIX['enable_protocol'] % 'Pop' == 'Set-CASMailbox -Identity <mailbox> -PopEnabled $true'
    assert finding(findings, 'TOKEN-REFRESH', SUPPORT)['remediation'].startswith(_facts.FIX['generate_token'])
    assert 'Generate token' in _facts.FIX['generate_token'] and 'private browser window' in _facts.FIX['generate_token']
    assert finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['remediation'].startswith(_facts.FIX['tenant_read'])
    assert 'Exchange.ManageAsApp' in _facts.FIX['tenant_read'] and 'User.Read.All' in _facts.FIX['tenant_read']


def test_the_default_issuers():
    assert _facts.DEFAULT_EXPECTED_ISSUERS == (
        'Microsoft Azure TLS Issuing CA *', 'Microsoft Azure * TLS Issuing CA *', 'Microsoft Azure ECC TLS Issuing CA *', 'Microsoft RSA TLS CA 0?',
        'Microsoft ECC TLS Issuing * CA *', 'DigiCert*')
