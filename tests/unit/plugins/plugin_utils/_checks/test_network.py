# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Network checks: targets found by purpose (never by port), and the verdicts moved off the probes."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import network

from .observations import MICROSOFT_ISSUER, finding, healthy, judge, not_passing, target, url


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


def test_a_protocol_ece_does_not_use_is_not_applicable_only_in_the_per_role_model():
    document = healthy()
    document['hosts']['svc1']['ece']['mail_protocols'] = ['imap', 'smtp']
    del document['hosts']['svc1']['port_probe']['results'][3]
    # Cisco TAC's checklist (the default) wants 995 whatever the mailboxes use: not probing it is an error.
    assert finding(judge(document), 'NET-PORT-995', 'svc1')['status'] == 'error'
    document['hosts']['svc1']['ece']['network_model'] = 'per_role'
    result = finding(judge(document), 'NET-PORT-995', 'svc1')
    assert result['status'] == 'skip' and 'does not use POP3' in result['detail'] and not result['blocked_by']


def test_the_checklist_model_wants_all_four_paths_from_application_servers_too():
    document = healthy()
    document['hosts']['app1']['port_probe']['results'][2].update(ok=False, error_class='timeout')  # 993 from app1
    assert finding(judge(document), 'NET-PORT-993', 'app1')['status'] == 'fail'
    document['hosts']['app1']['ece']['network_model'] = 'per_role'
    result = finding(judge(document), 'NET-PORT-993', 'app1')
    assert result['status'] == 'skip' and 'only services servers need this path' in result['detail']


def test_every_token_endpoint_target_must_answer():
    """login.microsoftonline.com and login.microsoft.com (the TAC checklist names both) share the purpose."""
    document = healthy()
    results = document['hosts']['app1']['port_probe']['results']
    results.append(dict(results[0], name='login.microsoft.com:443', host='login.microsoft.com', ok=False,
                        error_class='refused', message='login.microsoft.com:443: refused. Fix: open the port'))
    result = finding(judge(document), 'NET-PORT-443', 'app1')
    assert result['status'] == 'fail' and 'login.microsoft.com:443: refused' in result['detail']
    results[-1].update(ok=True, error_class=None, message='connected')
    assert finding(judge(document), 'NET-PORT-443', 'app1')['detail'] == '2 target(s) reached on port 443'


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


# kills: NET-CLOCK-SKEW edges (59/60 warn, 299/300 fail, and negative too) and its 300 s failure softened by the
# check's warning severity
@pytest.mark.parametrize('skew, status', [
    (0, 'pass'), (59, 'pass'), (59.9, 'pass'), (60, 'warn'), (299, 'warn'), (299.9, 'warn'), (300, 'fail'),
    (-59, 'pass'), (-60, 'warn'), (-299, 'warn'), (-300, 'fail'), (3600, 'fail')])
def test_kills_clock_skew_both_edges_both_signs(skew, status):
    document = healthy()
    document['hosts']['svc1']['url_reach']['results'][0]['clock_skew_seconds'] = skew
    findings = judge(document)
    result = finding(findings, 'NET-CLOCK-SKEW', 'svc1')
    assert result['status'] == status
    detail = 'this host\'s clock is %+.0f s off %s' % (skew, url()['url'])
    assert result['detail'] == detail + (' (beyond the 300 s token validation allows)' if status == 'fail' else '')
    assert result['evidence'] == [{'url': url()['url'], 'clock_skew_seconds': skew}]
    assert _checks.summarize(findings)['blocking'] == (status == 'fail')
    assert _checks.summarize(findings, fail_on_warn=True)['blocking'] == (status != 'pass')


def test_clock_skew_judges_the_worst_url_by_its_size_and_not_read_is_an_error():
    document = healthy()
    second = url(purpose='token_endpoint', skew=-400)
    second['url'] = 'https://login.microsoftonline.com/tid/oauth2/v2.0/token'
    document['hosts']['svc1']['url_reach']['results'] = [url(skew=10), second, url(purpose='extra', skew=None)]
    result = finding(judge(document), 'NET-CLOCK-SKEW', 'svc1')
    assert result['status'] == 'fail' and result['detail'].startswith(
        'this host\'s clock is -400 s off https://login.microsoftonline.com/tid/oauth2/v2.0/token')
    assert [e['clock_skew_seconds'] for e in result['evidence']] == [10, -400]
    document['hosts']['svc1']['url_reach']['results'] = [url(skew=None)]
    result = finding(judge(document), 'NET-CLOCK-SKEW', 'svc1')
    assert (result['status'], result['detail']) == (
        'error', 'not read: no server Date header was seen from this host (see NET-URL-ENDPOINTS)')


def test_each_port_passes_on_its_default_port_and_names_it():
    findings = judge(healthy())
    for check_id, port in (('NET-PORT-443', 443), ('NET-PORT-587', 587), ('NET-PORT-993', 993), ('NET-PORT-995', 995)):
        result = finding(findings, check_id, 'svc1')
        assert result['detail'] == '1 target(s) reached on port %d' % port
        assert result['evidence'] == [{'target': 'm365:%d' % port, 'port': port, 'error_class': None,
                                       'elapsed_ms': 5.0, 'proxy': None}]
    assert [c.title for c in _checks.CATALOGUE if c.id.startswith('NET-PORT-')] == [
        'token endpoint reachable (HTTPS to login.microsoftonline.com and login.microsoft.com: tokens; port 443 '
        'unless moved)',
        'smtp submission reachable (SMTP submission with STARTTLS: the dispatcher and alarm mail; port 587 unless moved)',
        'imap reachable (IMAP over TLS: the retriever; port 993 unless moved)',
        'pop3 reachable (POP3 over TLS: the retriever; port 995 unless moved)']


@pytest.mark.parametrize('check_id, index', [('NET-PORT-443', 0), ('NET-PORT-587', 1), ('NET-PORT-993', 2),
                                             ('NET-PORT-995', 3)])
def test_each_port_fails_alone_and_names_the_cause_and_its_class_fix(check_id, index):
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][index].update(
        ok=False, error_class='refused', message='outlook.office365.com:1: refused. Fix: open it')
    findings = judge(document)
    failing = dict((k, v) for k, v in not_passing(findings).items() if v != 'skip')
    assert failing == {(check_id, 'svc1'): 'fail'}
    result = finding(findings, check_id, 'svc1')
    assert result['detail'] == 'outlook.office365.com:1: refused'
    assert result['remediation'] == _errors.ERROR_CLASSES['refused'][1]


def test_several_targets_of_one_purpose_are_all_judged():
    document = healthy()
    results = document['hosts']['svc1']['port_probe']['results']
    results.append(target('imap', 1993, 'imap', error_class='timeout'))
    results[-1]['message'] = None
    results.append(target('imap', 2993, 'imap', error_class='reset'))
    results[-1]['message'] = 'm: reset'
    result = finding(judge(document), 'NET-PORT-993', 'svc1')
    assert (result['status'], result['detail']) == ('fail', 'timeout; m: reset')
    assert result['remediation'] == _errors.ERROR_CLASSES['timeout'][1]
    results[-2:] = [target('imap', 1993, 'imap'), target('imap', 993, 'imap')]
    assert finding(judge(document), 'NET-PORT-993', 'svc1')['detail'] == (
        '3 target(s) reached on port 993, 1993 (not the default 993)')


def test_probe_cause():
    assert network.probe_cause({'message': 'a: b. Fix: c', 'error_class': 'dns'}) == (
        'a: b', _errors.ERROR_CLASSES['dns'][1])
    assert network.probe_cause({'message': None, 'error_class': 'made_up'}) == ('made_up', None)
    assert network.probe_cause({}) == ('failed', None)


def test_a_port_the_host_does_not_declare_protocols_for_is_judged():
    document = healthy()
    document['hosts']['svc1']['ece']['mail_protocols'] = None
    document['hosts']['svc1']['ece']['network_model'] = 'per_role'
    document['hosts']['svc1']['port_probe']['results'][3].update(ok=False, error_class='timeout')
    # Declaring nothing means the default protocols (IMAP and SMTP): POP3 is then not this host's path.
    assert finding(_checks.judge(document), 'NET-PORT-995', 'svc1')['status'] == 'skip'
    document['hosts']['svc1']['ece']['mail_protocols'] = ['pop3']
    statuses_ = dict((f['id'], f['status']) for f in _checks.judge(document) if f['subject'] == 'svc1')
    assert statuses_['NET-PORT-993'] == 'skip' and statuses_['NET-PORT-995'] == 'fail'
    assert statuses_['NET-PORT-587'] == 'pass', 'SMTP applies whatever the mailboxes use (alarm mail)'


def test_xoauth2_waits_for_the_mail_ports_and_not_probed_is_an_error():
    document = healthy()
    for index in (1, 2, 3):
        document['hosts']['svc1']['port_probe']['results'][index].update(ok=False, error_class='timeout')
    result = finding(judge(document), 'NET-XOAUTH2', 'svc1')
    assert (result['status'], result['blocked_by']) == ('skip', 'NET-PORT-587')
    document = healthy()
    document['hosts']['app1']['port_probe']['results'] = document['hosts']['app1']['port_probe']['results'][:1]
    result = finding(judge(document), 'NET-XOAUTH2', 'app1')
    assert (result['status'], result['detail']) == ('error', 'not read: no mail target was probed from this host')


def test_xoauth2_names_the_ports_without_it_and_counts_those_with_it():
    document = healthy()
    results = document['hosts']['svc1']['port_probe']['results']
    results[2]['auth_mechanisms'] = ['PLAIN']
    results[3]['auth_mechanisms'] = None
    results[1].update(ok=False, error_class='timeout')  # not answered: not judged for XOAUTH2
    result = finding(judge(document), 'NET-XOAUTH2', 'svc1')
    assert (result['status'], result['detail']) == ('fail', 'XOAUTH2 is not offered on m365:993, m365:995')
    assert result['evidence'] == [{'target': 'm365:993', 'auth_mechanisms': ['PLAIN']},
                                  {'target': 'm365:995', 'auth_mechanisms': None}]
    findings = judge(healthy())
    assert finding(findings, 'NET-XOAUTH2', 'svc1')['detail'] == 'XOAUTH2 offered on 3 mail port(s)'
    assert finding(findings, 'NET-XOAUTH2', 'app1')['detail'] == 'XOAUTH2 offered on 3 mail port(s)'


def test_url_endpoints_details_fix_and_what_is_not_read():
    document = healthy()
    failing = url(status=None)
    failing.update(ok=False, error_class='proxy', message='via proxy: 403. Fix: allow it')
    document['hosts']['app1']['url_reach']['results'] = [failing, url(status=503, expect={'status': [200, 302]})]
    document['hosts']['app1']['url_reach']['results'][1]['body_excerpt'] = 'x' * 200
    result = finding(judge(document), 'NET-URL-ENDPOINTS', 'app1')
    assert result['detail'] == 'via proxy: 403; %s answered HTTP 503, expected 200, 302: %s' % (url()['url'], 'x' * 160)
    assert result['remediation'] == _errors.ERROR_CLASSES['proxy'][1]
    assert [e['status'] for e in result['evidence']] == [None, 503]
    document['hosts']['app1']['url_reach']['results'] = [url(purpose='ece_external_url')]
    result = finding(judge(document), 'NET-URL-ENDPOINTS', 'app1')
    assert (result['status'], result['detail']) == ('error', 'not read: no Microsoft URL was requested from this host')
    document['hosts']['app1']['url_reach']['results'] = [url(purpose='extra', expect={}), url(purpose='token_endpoint')]
    result = finding(judge(document), 'NET-URL-ENDPOINTS', 'app1')
    assert (result['status'], result['detail']) == ('pass', '2 endpoint(s) answered as expected')
    assert result['evidence'][0] == {'url': url()['url'], 'purpose': 'extra', 'status': 200, 'error_class': None,
                                     'proxy': None}


def test_a_url_whose_status_is_not_the_expected_one_fails_with_the_status_fix():
    problem, evidence = network.judge_url(url(status=302, expect={'status': [200]}))
    assert problem == ('%s answered HTTP 302, expected 200' % url()['url'],
                       'read the status and body: a proxy block page, a wrong URL or tenant id, or the service refusing')
    assert network.judge_url(url(status=200, expect={'status': None, 'assertions': []})) == (None, dict(evidence, status=200))
    assert network.judge_url(url(status=201, expect={}))[0][0].endswith('answered HTTP 201, expected 200')


def test_assertions_need_a_json_body_and_each_outcome_is_evidence():
    result = url(expect={'status': [200], 'assertions': ['issuer', 'missing']})
    result['json'] = None
    problem, _evidence = network.judge_url(result)
    assert problem == ('%s: the body is not JSON or was not read whole, so issuer, missing cannot be evaluated' % (
        url()['url']), 'read the body: the endpoint did not answer with JSON')
    result['json'] = {'issuer': 'x', 'missing': None}
    problem, evidence = network.judge_url(result)
    assert problem[0] == '%s: missing is null' % url()['url'] and problem[1].startswith('the endpoint answered, but')
    assert evidence['assertions'] == [{'query': 'issuer', 'held': True, 'value': 'x', 'problem': None},
                                      {'query': 'missing', 'held': False, 'value': None, 'problem': None}]
    result['expect']['assertions'] = ['contains(']
    problem, _evidence = network.judge_url(result)
    assert problem[0].startswith('%s: the query \'contains(\' failed: ' % url()['url'])


def test_a_long_assertion_value_is_shortened_in_the_evidence():
    assert network._short('a' * 198) == 'a' * 198  # 200 characters of JSON, quotes included
    assert network._short('a' * 199) == '"' + 'a' * 199 + '...'
    assert network._short({'b': 1, 'a': 2}) == {'b': 1, 'a': 2}


def test_without_jmespath_an_assertion_does_not_hold(monkeypatch):
    monkeypatch.setattr(network, 'jmespath', None)
    assert network.evaluate_assertion('a', {'a': 1}) == (False, None, 'the jmespath library is missing on the controller')


@pytest.mark.parametrize('pattern, issuer, matched', [
    ('Microsoft Azure RSA TLS Issuing CA 0?', MICROSOFT_ISSUER, True),
    ('microsoft azure rsa tls issuing ca 03', MICROSOFT_ISSUER, True),
    ('Microsoft Azure RSA TLS Issuing CA 04', MICROSOFT_ISSUER, False),
    ('O=Microsoft Corporation', MICROSOFT_ISSUER, True),
    ('organizationName=Microsoft Corporation, C=US', MICROSOFT_ISSUER, True),
    ('O=Microsoft Corporation, C=DE', MICROSOFT_ISSUER, False),
    ('CN=Microsoft Azure RSA TLS Issuing CA 03', 'CN=Microsoft Azure RSA TLS Issuing CA 03,O=Microsoft Corporation', True),
    ('commonName=Microsoft*', 'CN=Microsoft Azure RSA TLS Issuing CA 03', True),
    ('OU=Ops', 'organizationalUnitName=Ops,CN=x', True), ('L=Redmond', 'localityName=Redmond', True),
    ('ST=Washington', 'stateOrProvinceName=Washington', True), ('DC=contoso', 'domainComponent=contoso', True),
    ('OU=Ops', 'OU=Dev,CN=x', False), ('L=Redmond', 'L=Paris', False), ('ST=Washington', 'ST=Texas', False),
    ('DC=contoso', 'DC=fabrikam', False), ('C=US', 'C=DE', False), ('emailAddress=x@y', 'CN=x', True),
    ('DigiCert*', 'CN=DigiCert Global Root G2', True), ('Microsoft*', None, False), ('Microsoft*', 'Microsoft', False),
])
def test_issuer_patterns(pattern, issuer, matched):
    assert network.issuer_matches(pattern, issuer) is matched


@pytest.mark.parametrize('issuer', ['CN=Microsoft Azure ECC TLS Issuing CA 01', 'CN=Microsoft RSA TLS CA 02',
                                    'CN=Microsoft ECC TLS Issuing AOC CA 01', 'CN=DigiCert SHA2 Secure Server CA'])
def test_the_default_issuers_are_microsofts(issuer):
    document = healthy()
    document['hosts']['app2']['url_reach']['results'] = [url(issuer=issuer)]
    assert finding(judge(document), 'NET-TLS-INTERCEPT', 'app2')['status'] == 'pass'


def test_interception_by_fingerprint_and_what_is_not_read():
    chain = url(issuer='CN=Zscaler')
    chain['tls']['chain'].append({'subject': 'CN=Zscaler', 'issuer': 'CN=Zscaler', 'sha256_fingerprint': 'AB:CD'})
    assert network.intercepted(chain, [], ['ab:cd']) == (False, 'fingerprint ab:cd')
    assert network.intercepted(chain, [], ['AB:CE']) == (True, None)
    assert network.intercepted(chain, ['Zscaler'], []) == (False, 'issuer Zscaler')
    assert network.intercepted(url(issuer='CN=x'), [], ['AA' * 32]) == (False, 'fingerprint %s' % ('AA' * 32))
    no_chain = url()
    no_chain['tls'] = None
    assert network.intercepted(no_chain, ['x'], []) == (None, None)
    document = healthy()
    document['hosts']['app2']['url_reach']['results'] = [no_chain, url(purpose='extra', issuer='CN=Zscaler')]
    result = finding(judge(document), 'NET-TLS-INTERCEPT', 'app2')
    assert (result['status'], result['detail']) == ('error', 'not read: no certificate chain of a Microsoft endpoint was '
                                                             'seen from this host (see NET-URL-ENDPOINTS)')


def test_interception_details_and_evidence():
    document = healthy()
    token = url(purpose='token_endpoint', issuer='CN=Zscaler')
    token['url'] = 'https://login.microsoftonline.com/t'
    document['hosts']['app2']['url_reach']['results'] = [url(issuer='CN=Zscaler'), token, url()]
    result = finding(judge(document), 'NET-TLS-INTERCEPT', 'app2')
    assert result['detail'] == 'TLS to %s, https://login.microsoftonline.com/t is re-signed by CN=Zscaler' % url()['url']
    assert result['evidence'][2] == {'url': url()['url'], 'issuer': MICROSOFT_ISSUER, 'intercepted': False,
                                     'matched': 'issuer Microsoft Azure * TLS Issuing CA *'}
    assert finding(judge(healthy()), 'NET-TLS-INTERCEPT', 'app2')['detail'] == (
        'certificates are issued by the expected CAs')
    only_fingerprints = finding(judge(document, options={'expected_issuers': [], 'expected_ca_certs': ['11' * 32]}),
                                'NET-TLS-INTERCEPT', 'app2')
    assert only_fingerprints['status'] == 'fail', 'expected CAs given, none seen'


def test_name_parts_ignore_what_is_not_a_pair():
    parts = network._name_parts('CN = a , junk, O=b,commonName=c')
    assert parts['cn'] == ['a', 'c'] and parts['commonname'] == ['c', 'a'] and parts['o'] == ['b']
    assert network._name_parts(None) == dict((k, []) for k in (
        'cn', 'commonname', 'o', 'organizationname', 'ou', 'organizationalunitname', 'c', 'countryname', 'l',
        'localityname', 'st', 'stateorprovincename', 'dc', 'domaincomponent'))


@pytest.mark.parametrize('pattern', ['O=Zscaler Inc.', 'CN=Zscaler Intermediate Root CA', 'CN=Microsoft Azure RSA TLS '
                                     'Issuing CA 03, O=Zscaler Inc.'])
def test_an_attribute_pattern_that_names_another_issuer_does_not_match(pattern):
    assert network.issuer_matches(pattern, MICROSOFT_ISSUER) is False


def test_null_results_are_read_as_nothing_probed():
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'] = None
    document['hosts']['app1']['url_reach']['results'] = None
    findings = judge(document)
    assert finding(findings, 'NET-PORT-993', 'svc1')['detail'] == (
        'not read: no NET-PORT-993 target was probed from this host (purpose imap)')
    assert finding(findings, 'NET-URL-ENDPOINTS', 'app1')['detail'] == (
        'not read: no Microsoft URL was requested from this host')
    assert finding(findings, 'NET-CLOCK-SKEW', 'app1')['status'] == 'error'


@pytest.mark.parametrize('index, check_id', [(2, 'NET-PORT-993'), (3, 'NET-PORT-995')])
def test_a_host_that_declares_nothing_uses_every_mail_protocol(index, check_id):
    for ece in (None, {'mail_protocols': None}):
        document = healthy()
        document['hosts']['svc1']['ece'] = ece
        document['hosts']['svc1']['port_probe']['results'][index].update(ok=False, error_class='timeout')
        assert finding(_checks.judge(document), check_id, 'svc1')['status'] == 'fail'


@pytest.mark.parametrize('purpose, port', [('imap', 993), ('pop3', 995)])
def test_xoauth2_waits_when_only_a_retrieval_port_was_probed_and_it_failed(purpose, port):
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'] = [target(purpose, port, purpose, error_class='timeout')]
    result = finding(judge(document), 'NET-XOAUTH2', 'svc1')
    assert (result['status'], result['blocked_by']) == ('skip', 'NET-PORT-587')


def test_the_proxy_used_is_in_the_evidence():
    document = healthy()
    document['hosts']['app1']['port_probe']['results'][0]['proxy'] = 'http://proxy:3128'
    document['hosts']['app1']['url_reach']['results'][0]['proxy'] = 'http://user:********@proxy:3128'
    findings = judge(document)
    assert finding(findings, 'NET-PORT-443', 'app1')['evidence'][0]['proxy'] == 'http://proxy:3128'
    assert finding(findings, 'NET-URL-ENDPOINTS', 'app1')['evidence'][0]['proxy'] == 'http://user:********@proxy:3128'


def test_a_url_without_expectations_must_answer_200_and_has_no_assertions():
    assert network.judge_url(url(expect=None))[0] is None
    nothing = url(status=200, body={})
    nothing['expect'] = None
    assert network.judge_url(nothing)[0] is None
    assert network.judge_url(dict(nothing, status=204))[0][0].endswith('answered HTTP 204, expected 200')


def test_a_failing_query_s_message_is_cut_at_160_characters():
    held, _value, problem = network.evaluate_assertion('a' * 300 + ' ==', {})
    cause = problem.split(' failed: ', 1)[1]
    assert held is False and len(cause) == 160 and '\n' not in cause


def test_a_long_dict_value_is_shortened_with_sorted_keys():
    value = dict(('k%03d' % i, i) for i in range(60, 0, -1))
    assert network._short(value).startswith('{"k001": 1, "k002": 2') and network._short(value).endswith('...')


def test_a_certificate_without_a_fingerprint_is_no_match():
    result = url(issuer='CN=Zscaler')
    result['tls']['chain'][0]['sha256_fingerprint'] = None
    assert network.intercepted(result, [], ['AA' * 32]) == (True, None)


@pytest.mark.parametrize('common_name', ['Microsoft Azure TLS Issuing CA 01', 'Microsoft Azure RSA TLS Issuing CA 07',
                                         'Microsoft Azure ECC TLS Issuing CA 03', 'DigiCert Global G2 TLS RSA SHA256 2020 CA1'])
def test_the_default_issuers_cover_microsofts_current_and_older_issuing_cas(common_name):
    document = healthy()
    document['hosts']['app1']['url_reach']['results'] = [url(issuer='organizationName=Microsoft Corporation,commonName=%s'
                                                             % common_name)]
    assert finding(judge(document), 'NET-TLS-INTERCEPT', 'app1')['status'] == 'pass'
