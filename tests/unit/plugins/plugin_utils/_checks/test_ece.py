# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ECE checks: the release and ES, the External URL; all as declared in the inventory."""

import pytest

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
