# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ECE checks: the release and ES, the External URL; all as declared in the inventory."""

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import ece

from .observations import finding, healthy, judge, url


@pytest.mark.parametrize('version, es, status', [
    ('12.6(1)', 'ES1', 'pass'), ('12.6(1)', '', 'fail'), ('12.5(1)', 'ES2', 'fail'), ('12.5(1)', 'ES3', 'pass'),
    ('11.6(1)', 'ES12', 'fail'), ('11.6(1)', 'ES12, ES12_ET1', 'pass'), ('15.0(1)', '', 'pass'),
    ('11.0(1)', 'ES9', 'fail')])
def test_ece_version_and_engineering_special(version, es, status):
    document = healthy()
    document['hosts']['svc1']['ece'].update(version=version, installed_es=es)
    result = finding(judge(document), 'ECE-VERSION', 'svc1')
    assert result['status'] == status and 'as declared' in result['detail']


def test_the_es_about_to_be_installed_is_judged_in_a_ci_gate():
    document = healthy()
    document['hosts']['svc1']['ece'].update(version='12.5(1)', installed_es='ES3', es_to_install='ES2')
    assert finding(judge(document), 'ECE-VERSION', 'svc1')['status'] == 'fail'


def test_an_undeclared_version_is_an_error():
    document = healthy()
    document['hosts']['svc1']['ece']['version'] = ''
    assert finding(judge(document), 'ECE-VERSION', 'svc1')['status'] == 'error'


@pytest.mark.parametrize('external, login, status', [
    ('https://ece.contoso.com', 'ece.contoso.com', 'pass'), ('http://ece.contoso.com', 'ece.contoso.com', 'fail'),
    ('', '', 'fail'), ('https://ece.contoso.com', 'admin.contoso.com', 'fail')])
def test_external_url(external, login, status):
    document = healthy()
    document['hosts']['app1']['ece'].update(external_url=external, admin_login_fqdn=login)
    assert finding(judge(document), 'ECE-EXTERNAL-URL', 'app1')['status'] == status


def test_external_url_requested_from_the_host_with_a_bad_certificate():
    document = healthy()
    bad = url(purpose='ece_external_url')
    bad.update(ok=False, error_class='cert_untrusted', status=None,
               message='https://ece.contoso.com: the certificate chain does not verify. Fix: add the CA')
    document['hosts']['app1']['url_reach']['results'].append(bad)
    result = finding(judge(document), 'ECE-EXTERNAL-URL', 'app1')
    assert result['status'] == 'fail' and 'does not verify' in result['detail'] and 'Fix:' not in result['detail']


def _ece(document, **declared):
    document['hosts']['svc1']['ece'].update(declared)
    return finding(judge(document), 'ECE-VERSION', 'svc1')


# kills: an ECE release newer than the table failing ECE-VERSION (and one older passing)
@pytest.mark.parametrize('version, status', [
    ('12.6(2)', 'pass'), ('12.7(1)', 'pass'), ('13.0(1)', 'pass'), ('15.0(1)', 'pass'),
    ('11.6(0)', 'fail'), ('11.5(1)', 'fail'), ('10.0(1)', 'fail')])
def test_kills_ece_release_newer_than_the_table_passes_and_older_fails(version, status):
    result = _ece(healthy(), version=version, installed_es='')
    assert result['status'] == status
    assert result['detail'] == {
        'pass': 'ECE %s (as declared in the inventory) is newer than every release the checklist names' % version,
        'fail': 'ECE %s (as declared in the inventory) predates OAuth2 mail support (needs 11.6(1) ES12 or later)'
                % version}[status]
    assert result['evidence']['minimum'] is None and result['evidence']['source'] == 'inventory'


@pytest.mark.parametrize('version, es, status', [
    ('12.0(1)', 'ES5', 'fail'), ('12.0(1)', 'ES6', 'pass'), ('12.0(1)', 'ES7', 'pass'),
    ('12.5(1)', 'ES4', 'pass'), ('12.6(1)', 'ES2', 'pass'), ('12.6(1)', 'es1', 'pass'),
    ('11.6(1)', 'ES11', 'fail'), ('11.6(1)', 'ES12_ET1', 'pass'), ('11.6(1)', 'ES12_ET1 ES12', 'pass'),
    ('12.6(1)', 'ET1', 'fail'), ('12.6(1)', 'ES', 'fail')])
def test_ece_version_each_minimum_on_both_sides(version, es, status):
    assert _ece(healthy(), version=version, installed_es=es)['status'] == status


def test_ece_version_details_and_evidence():
    result = _ece(healthy(), version='12.5(1)', installed_es='')
    assert result['detail'] == ('ECE 12.5(1) with no ES (as declared in the inventory); OAuth2 mail needs ES3 '
                                '(CSCvr86493)')
    result = _ece(healthy(), version='11.6(1)', installed_es='ES12')
    assert result['detail'] == ('ECE 11.6(1) with ES12 (as declared in the inventory); OAuth2 mail needs ES12 and '
                                'ES12_ET1 (CSCvr86493)')
    assert result['evidence'] == {'version': '11.6(1)', 'installed_es': 'ES12', 'es_to_install': '',
                                  'minimum': ['ES12', 'ES12_ET1'], 'known_latest_es': '', 'source': 'inventory'}
    result = _ece(healthy())
    assert result['detail'] == 'ECE 12.6(1) with ES1 (as declared in the inventory; minimum ES1)'


def test_the_es_about_to_be_installed_wins_over_the_installed_one():
    assert _ece(healthy(), version='12.5(1)', installed_es='ES2', es_to_install='ES3')['status'] == 'pass'
    result = _ece(healthy(), version='12.5(1)', installed_es='ES3', es_to_install='ES2')
    assert result['detail'].startswith('ECE 12.5(1) with ES2 (as declared in the inventory)')


@pytest.mark.parametrize('latest, status', [('ES2', 'warn'), ('ES1', 'pass'), ('', 'pass'), ('next', 'pass')])
def test_a_newer_known_es_is_a_warning(latest, status):
    result = _ece(healthy(), known_latest_es=latest)
    assert result['status'] == status
    if status == 'warn':
        assert result['detail'] == 'ECE 12.6(1) with ES1 (as declared in the inventory) meets the minimum; ES2 is known'


def test_ece_version_not_declared_names_the_variable():
    result = _ece(healthy(), version='')
    assert result['detail'] == 'not read: ece_o365_ece_version is not set for this host'
    document = healthy()
    del document['hosts']['svc1']['ece']
    assert finding(_checks.judge(document), 'ECE-VERSION', 'svc1')['status'] == 'error'


def _url_check(document, host='app1'):
    return finding(judge(document), 'ECE-EXTERNAL-URL', host)


# kills: ECE-EXTERNAL-URL (certificate) 'fail' -> 'pass'
@pytest.mark.parametrize('error_class, fix_starts', [('cert_untrusted', 'a TLS-inspecting proxy'),
                                                     ('cert_hostname', 'connect by the name'),
                                                     ('timeout', 'open the port outbound')])
def test_kills_external_url_certificate_fail_to_pass(error_class, fix_starts):
    document = healthy()
    bad = url(purpose='ece_external_url')
    bad.update(ok=False, error_class=error_class, status=None, message='https://ece.contoso.com: refused it. Fix: x')
    document['hosts']['app1']['url_reach']['results'].append(bad)
    findings = judge(document)
    result = finding(findings, 'ECE-EXTERNAL-URL', 'app1')
    assert result['status'] == 'fail'
    assert result['detail'] == ('the External URL https://ece.contoso.com (as declared in the inventory) does not answer '
                                'with a valid certificate from this host: https://ece.contoso.com: refused it')
    assert result['remediation'].startswith(fix_starts)
    assert result['evidence']['reach'] == {'status': None, 'error_class': error_class}
    assert _checks.summarize(findings)['blocking'] == 1
    assert finding(findings, 'ECE-EXTERNAL-URL', 'app2')['status'] == 'pass'


def test_external_url_answering_from_the_host_says_so():
    document = healthy()
    document['hosts']['app1']['url_reach']['results'].append(url(purpose='ece_external_url'))
    result = _url_check(document)
    assert (result['status'], result['detail']) == (
        'pass', 'External URL https://ece.contoso.com (as declared in the inventory), the FQDN admins log in with; '
                'it answers from this host')
    assert result['evidence'] == {'external_url': 'https://ece.contoso.com', 'admin_login_fqdn': 'ece.contoso.com',
                                  'source': 'inventory', 'reach': {'status': 200, 'error_class': None}}
    assert _url_check(healthy())['detail'] == ('External URL https://ece.contoso.com (as declared in the inventory), '
                                               'the FQDN admins log in with')


@pytest.mark.parametrize('external, login, status, detail', [
    ('HTTPS://ECE.contoso.com/ece', 'ece.CONTOSO.com', 'pass', None),
    ('https://ece.contoso.com', '', 'pass', None),
    ('http://ece.contoso.com', '', 'fail',
     'the External URL http://ece.contoso.com (as declared in the inventory) is not https'),
    ('https://ece.contoso.com', 'admin.contoso.com', 'fail',
     'the External URL names ece.contoso.com, but admins log in at admin.contoso.com (as declared in the inventory)'),
    ('', 'ece.contoso.com', 'fail',
     'the ECE External URL is not set (ece_o365_ece_external_url, as declared in the inventory)'),
])
def test_external_url_table(external, login, status, detail):
    document = healthy()
    document['hosts']['app1']['ece'].update(external_url=external, admin_login_fqdn=login)
    result = _url_check(document)
    assert result['status'] == status
    if detail:
        assert result['detail'] == detail


def test_an_unreached_host_url_reach_is_not_needed_for_the_declared_url():
    document = healthy()
    document['hosts']['app1']['url_reach'] = None
    assert _url_check(document)['status'] == 'pass'


def test_fqdn_of_urls():
    assert ece.fqdn('https://ECE.Contoso.com:8443/x') == 'ece.contoso.com'
    assert ece.fqdn('') is None and ece.fqdn(None) is None and ece.fqdn('https://[::1') is None
    assert ece._es_number('es12_et1') == 12 and ece._es_number(None) is None and ece._es_number('ET1') is None
    assert ece._version_key('12.6(1)') == (12, 6, 1)


def test_nothing_declared_for_a_host_is_named_not_a_crash():
    document = healthy()
    del document['hosts']['app1']['ece']
    findings = _checks.judge(document)
    version, external = finding(findings, 'ECE-VERSION', 'app1'), finding(findings, 'ECE-EXTERNAL-URL', 'app1')
    assert (version['status'], version['detail']) == ('error', 'not read: ece_o365_ece_version is not set for this host')
    assert (external['status'], external['detail']) == ('fail', 'the ECE External URL is not set '
                                                                '(ece_o365_ece_external_url, as declared in the inventory)')
    assert external['evidence'] == {'external_url': None, 'source': 'inventory'}
    document = healthy()
    document['hosts']['app1']['ece']['admin_login_fqdn'] = None  # not declared: nothing to compare with
    assert finding(_checks.judge(document), 'ECE-EXTERNAL-URL', 'app1')['status'] == 'pass'


def test_the_oldest_release_spelled_otherwise_is_not_newer_than_the_table():
    result = _ece(healthy(), version='11.6(01)', installed_es='ES12, ES12_ET1')
    assert result['status'] == 'fail' and 'newer' not in result['detail']
