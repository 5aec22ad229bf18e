# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Network checks: targets found by purpose (never by port), and the verdicts moved off the probes."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import network

from .observations import finding, healthy, judge, not_passing, target, url


def test_ports_moved_off_the_defaults_are_judged_by_purpose():
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][2:] = [
        target('imap', 1993, 'imap', error_class='timeout'), target('pop3', 1995, 'pop3', error_class='refused')]
    findings = judge(document)
    assert not_passing(findings) == {('NET-PORT-993', 'svc1'): 'fail', ('NET-PORT-995', 'svc1'): 'fail'}
    imap = finding(findings, 'NET-PORT-993', 'svc1')
    assert imap['evidence'][0]['port'] == 1993
    assert 'Fix:' not in imap['detail'], 'one fix per finding: the cause in the detail, the fix apart'
    assert imap['remediation'].startswith('open the port outbound'), imap['remediation']
    document['hosts']['svc1']['port_probe']['results'][2:] = [target('imap', 1993, 'imap'), target('pop3', 1995, 'pop3')]
    passed = finding(judge(document), 'NET-PORT-993', 'svc1')
    assert passed['status'] == 'pass' and 'not the default 993' in passed['detail']


def test_a_port_that_was_not_probed_is_an_error_not_a_skip():
    document = healthy()
    del document['hosts']['svc1']['port_probe']['results'][3]  # no pop3 target, and ECE uses POP
    assert not_passing(judge(document)) == {('NET-PORT-995', 'svc1'): 'error'}


def test_a_protocol_ece_does_not_use_is_not_applicable():
    document = healthy()
    document['hosts']['svc1']['ece']['mail_protocols'] = ['imap', 'smtp']
    del document['hosts']['svc1']['port_probe']['results'][3]
    result = finding(judge(document), 'NET-PORT-995', 'svc1')
    assert result['status'] == 'skip' and 'does not use POP3' in result['detail'] and not result['blocked_by']


def test_xoauth2_missing_on_a_mail_port():
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][1]['auth_mechanisms'] = ['LOGIN']
    assert not_passing(judge(document)) == {('NET-XOAUTH2', 'svc1'): 'fail'}


def test_url_status_and_assertions_are_judged_on_the_controller():
    document = healthy()
    document['hosts']['app1']['url_reach']['results'] = [url(status=407)]
    detail = finding(judge(document), 'NET-URL-ENDPOINTS', 'app1')
    assert detail['status'] == 'fail' and 'HTTP 407, expected 200' in detail['detail']
    document['hosts']['app1']['url_reach']['results'] = [url(body={'issuer': 'https://login.microsoftonline.com/other/v2.0'})]
    detail = finding(judge(document), 'NET-URL-ENDPOINTS', 'app1')
    assert detail['status'] == 'fail' and "contains(issuer, 'tid') is false" in detail['detail']
    document['hosts']['app1']['url_reach']['results'] = [url(expect={'status': [200], 'assertions': ['issuer']},
                                                             body={'issuer': ''})]
    assert finding(judge(document), 'NET-URL-ENDPOINTS', 'app1')['status'] == 'fail', "'' is false in JMESPath"


@pytest.mark.parametrize('value, held', [(0, True), ('', False), ([], False), ({}, False), (None, False),
                                         (False, False), ('x', True)])
def test_jmespath_truth(value, held):
    assert network.evaluate_assertion('v', {'v': value})[0] is held


def test_a_bad_jmespath_expression_fails_with_the_reason():
    held, _value, problem = network.evaluate_assertion('contains(', {})
    assert held is False and 'failed' in problem


def test_tls_interception_is_judged_from_the_chain():
    document = healthy()
    document['hosts']['app2']['url_reach']['results'] = [url(issuer='organizationName=Zscaler Inc.,commonName=Zscaler Intermediate Root CA')]
    result = finding(judge(document), 'NET-TLS-INTERCEPT', 'app2')
    assert result['status'] == 'fail' and 'Zscaler' in result['detail']
    allowed = judge(document, options={'expected_issuers': ['O=Zscaler Inc.']})
    assert finding(allowed, 'NET-TLS-INTERCEPT', 'app2')['status'] == 'pass'
    by_fingerprint = judge(document, options={'expected_issuers': [], 'expected_ca_certs': ['aa' * 32]})
    assert finding(by_fingerprint, 'NET-TLS-INTERCEPT', 'app2')['status'] == 'pass'
    nothing = finding(judge(document, options={'expected_issuers': []}), 'NET-TLS-INTERCEPT', 'app2')
    assert nothing['status'] == 'skip' and 'expected_issuers is empty' in nothing['detail']


@pytest.mark.parametrize('skew, status', [(59, 'pass'), (-60, 'warn'), (299, 'warn'), (300, 'fail'), (-3600, 'fail')])
def test_clock_skew_edges_and_beyond_token_validation_it_fails_whatever_the_severity(skew, status):
    document = healthy()
    document['hosts']['svc1']['url_reach']['results'][0]['clock_skew_seconds'] = skew
    assert finding(judge(document), 'NET-CLOCK-SKEW', 'svc1')['status'] == status
