# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The judge: healthy observations pass every check; each broken fact fails its own check and no other."""

import copy
import datetime
import os

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def _probe(port, protocol, error=None, mechanisms=('XOAUTH2',)):
    return {'name': 'm365:%d' % port, 'port': port, 'protocol': protocol, 'error': error,
            'message': 'm365:%d: %s' % (port, error or 'ok'), 'auth_mechanisms': list(mechanisms), 'elapsed_ms': 5}


def _host(roles):
    ports = [(443, 'https'), (587, 'smtp')] + ([(993, 'imap'), (995, 'pop3')] if 'services' in roles else [])
    return {
        'roles': roles,
        'network': {
            'port_probe': {'results': [_probe(p, proto, mechanisms=() if proto == 'https' else ('XOAUTH2',))
                                       for p, proto in ports]},
            'url_reach': {'results': [{'url': 'https://login/x', 'ok': True, 'status': 200, 'intercepted': False,
                                       'clock_skew_seconds': 1.5, 'tls': {'certificate': {'issuer': 'CN=Microsoft'}}}]},
        },
        'ece': {'version': '12.6(1)', 'installed_es': 'ES1', 'external_url': 'https://ece.contoso.com',
                'admin_login_fqdn': 'ece.contoso.com'},
    }


TENANT = {
    'tenant_info': {
        'application': {
            'found': True, 'app_id': 'app', 'display_name': 'ECE', 'redirect_uris': {'web': ['https://ece.contoso.com/cb']},
            'redirect_uri_hosts': ['ece.contoso.com'],
            'external_url': {'url': 'https://ece.contoso.com', 'host': 'ece.contoso.com', 'host_registered': True,
                             'matching_redirect_uris': ['https://ece.contoso.com/cb']},
            'required_permissions': [{'type': 'delegated', 'name': n} for n in
                                     ('IMAP.AccessAsUser.All', 'SMTP.Send', 'offline_access', 'openid')],
            'secrets': [{'display_name': 's', 'end': '2028-01-01T00:00:00Z', 'days_left': 400}],
            'latest_secret_days_left': 400, 'certificates': [],
            'service_principal': {'found': True, 'admin_consented_scopes': ['IMAP.AccessAsUser.All', 'SMTP.Send'],
                                  'delegated_not_admin_consented': []},
        },
        'users': [{'name': n, 'exists': True, 'enabled': True, 'exchange_provisioned': True}
                  for n in ('support@contoso.com', 'sales@contoso.com', 'svc@contoso.com')],
    },
    'mailbox_settings': {
        'transport_config': {'smtp_client_authentication_disabled': False},
        'mailboxes': [
            {'mailbox': 'support@contoso.com', 'exists': True, 'imap_enabled': True, 'pop_enabled': True,
             'smtp_auth_enabled': True, 'smtp_auth_source': 'tenant', 'full_access': [], 'full_access_denied': [],
             'account_has_full_access': True},
            {'mailbox': 'sales@contoso.com', 'exists': True, 'imap_enabled': True, 'pop_enabled': True,
             'smtp_auth_enabled': True, 'smtp_auth_source': 'tenant', 'full_access': ['svc@contoso.com'],
             'full_access_denied': [], 'account_has_full_access': True},
        ],
    },
}


def _logins(login, errors=None):
    errors = errors or {}
    return [{'login': login, 'protocol': p, 'ok': not errors.get(p), 'error': errors.get(p),
             'message': '%s %s' % (p, errors.get(p) or 'ok'), 'followup': {'command': 'X'}} for p in ('imap', 'pop3', 'smtp')]


MAILBOXES = {
    'support@contoso.com': {'account': 'support@contoso.com', 'logins': _logins('support@contoso.com'),
                            'token': {'acquired': True, 'source': 'refresh_token', 'token_owner': 'support@contoso.com',
                                      'lifetime_seconds': 4200}},
    'sales@contoso.com': {'account': 'svc@contoso.com', 'logins': _logins('sales@contoso.com'),
                          'token': {'acquired': True, 'source': 'refresh_token', 'token_owner': 'svc@contoso.com',
                                    'lifetime_seconds': 3900}},
}


def healthy():
    hosts = {'svc1': _host(['services']), 'app1': _host(['application']), 'app2': _host(['application'])}
    return hosts, copy.deepcopy(TENANT), copy.deepcopy(MAILBOXES)


def failing(hosts, tenant, mailboxes, **kwargs):
    findings = _checks.judge(hosts, tenant, mailboxes, today=datetime.date(2026, 11, 28), **kwargs)
    return sorted(set((f['id'], f['subject']) for f in findings if f['status'] in ('fail', 'error'))), findings


def test_healthy_observations_pass_every_check():
    bad, findings = failing(*healthy())
    assert bad == []
    assert not [f for f in findings if f['status'] == 'skip' and f['scope'] != 'services'], \
        [f for f in findings if f['status'] == 'skip']
    ids = set(f['id'] for f in findings)
    assert ids == set(c.id for c in _checks.CATALOGUE)


def _break(path_fn):
    hosts, tenant, mailboxes = healthy()
    path_fn(hosts, tenant, mailboxes)
    return failing(hosts, tenant, mailboxes)[0]


@pytest.mark.parametrize('breaker, expected', [
    (lambda h, t, m: h['svc1']['network']['port_probe']['results'][2].update(error='timeout'), [('NET-PORT-993', 'svc1')]),
    (lambda h, t, m: h['app1'].update(unreachable=True), [('PREFLIGHT-HOST-REACHABLE', 'app1')]),
    (lambda h, t, m: h['svc1']['network']['port_probe']['results'][1].update(auth_mechanisms=['LOGIN']),
     [('NET-XOAUTH2', 'svc1')]),
    (lambda h, t, m: h['app2']['network']['url_reach']['results'][0].update(intercepted=True),
     [('NET-TLS-INTERCEPT', 'app2')]),
    (lambda h, t, m: h['svc1']['ece'].update(installed_es='ES0'),
     [('ECE-VERSION', 'svc1')]),
    (lambda h, t, m: h['svc1']['ece'].update(version='11.6(1)', installed_es='ES12'), [('ECE-VERSION', 'svc1')]),
    (lambda h, t, m: [x['ece'].update(external_url='http://ece.contoso.com') for x in h.values()],
     [('ECE-EXTERNAL-URL', 'app1'), ('ECE-EXTERNAL-URL', 'app2'), ('ECE-EXTERNAL-URL', 'svc1')]),
    (lambda h, t, m: t['tenant_info']['application']['external_url'].update(host_registered=False),
     [('APP-REDIRECT-URI', 'tenant')]),
    (lambda h, t, m: t['tenant_info']['application'].update(latest_secret_days_left=-1),
     [('APP-SECRET-EXPIRY', 'tenant')]),
    (lambda h, t, m: t['tenant_info']['application']['service_principal'].update(
        delegated_not_admin_consented=['SMTP.Send']), [('APP-CONSENT', 'tenant')]),
    (lambda h, t, m: t['tenant_info']['application'].update(
        required_permissions=[{'type': 'delegated', 'name': 'SMTP.Send'}, {'type': 'delegated', 'name': 'offline_access'}]),
     [('APP-PERMISSIONS', 'tenant')]),
    (lambda h, t, m: m['support@contoso.com']['token'].update(token_owner='jdoe@contoso.com'),
     [('TOKEN-OWNER', 'support@contoso.com')]),
    (lambda h, t, m: m['support@contoso.com']['token'].update(acquired=False, message='AADSTS700082: expired'),
     [('TOKEN-REFRESH', 'support@contoso.com')]),
    (lambda h, t, m: t['mailbox_settings']['mailboxes'][0].update(imap_enabled=False, pop_enabled=False),
     [('MBX-PROTOCOLS', 'support@contoso.com')]),
    (lambda h, t, m: t['mailbox_settings']['mailboxes'][1].update(smtp_auth_enabled=False),
     [('MBX-SMTP-AUTH', 'sales@contoso.com')]),
    (lambda h, t, m: t['mailbox_settings']['mailboxes'][1].update(account_has_full_access=False, full_access=[]),
     [('MBX-FULLACCESS', 'sales@contoso.com')]),
    (lambda h, t, m: t['tenant_info']['users'][2].update(enabled=False), [('USER-ACCOUNT', 'sales@contoso.com')]),
    (lambda h, t, m: (t['tenant_info']['users'][0].update(exchange_provisioned=False),
                      t['mailbox_settings']['mailboxes'][0].update(exists=False)),
     [('MBX-LICENCE', 'support@contoso.com')]),
    (lambda h, t, m: m['sales@contoso.com'].update(logins=_logins('sales@contoso.com', {'smtp': 'smtp_auth_disabled'})),
     [('MBX-LOGIN-SMTP', 'sales@contoso.com')]),
])
def test_each_broken_fact_fails_its_own_check_only(breaker, expected):
    assert _break(breaker) == expected


def test_warnings_secret_near_expiry_and_clock_skew():
    hosts, tenant, mailboxes = healthy()
    tenant['tenant_info']['application']['latest_secret_days_left'] = 10
    hosts['svc1']['network']['url_reach']['results'][0]['clock_skew_seconds'] = -120
    _bad, findings = failing(hosts, tenant, mailboxes)
    warned = sorted((f['id'], f['subject']) for f in findings if f['status'] == 'warn')
    assert warned == [('APP-SECRET-EXPIRY', 'tenant'), ('NET-CLOCK-SKEW', 'svc1')]
    assert _checks.summarize(findings)['passed_gate'] is True
    assert _checks.summarize(findings, fail_on_warn=True)['passed_gate'] is False


def test_unreachable_host_skips_its_other_checks_and_is_still_reported():
    hosts, tenant, mailboxes = healthy()
    hosts['app1'] = {'roles': ['application'], 'unreachable': True}
    findings = _checks.judge(hosts, tenant, mailboxes)
    app1 = [f for f in findings if f['subject'] == 'app1']
    assert [f['status'] for f in app1 if f['id'] == 'PREFLIGHT-HOST-REACHABLE'] == ['fail']
    assert set(f['status'] for f in app1 if f['id'] != 'PREFLIGHT-HOST-REACHABLE') == {'skip'}


def test_waivers_and_their_expiry():
    hosts, tenant, mailboxes = healthy()
    hosts['svc1']['network']['port_probe']['results'][2]['error'] = 'timeout'
    waiver = {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'CHG0042 firewall change Monday',
              'expires': '2026-12-01'}
    assert _checks.validate_waivers([waiver]) is None
    findings = _checks.judge(hosts, tenant, mailboxes, waivers=[waiver], today=datetime.date(2026, 11, 28))
    assert _checks.summarize(findings)['passed_gate'] is True
    expired = _checks.judge(hosts, tenant, mailboxes, waivers=[waiver], today=datetime.date(2026, 12, 2))
    assert _checks.summarize(expired)['passed_gate'] is False


@pytest.mark.parametrize('waivers, message', [
    ([{'id': 'NET-PORT-9999', 'reason': 'x', 'expires': '2027-01-01'}], "unknown check id 'NET-PORT-9999'"),
    ([{'id': 'NET-PORT-993', 'expires': '2027-01-01'}], 'needs a reason'),
    ([{'id': 'NET-PORT-993', 'reason': 'x', 'expires': 'soon'}], 'expires must be a date'),
])
def test_bad_waivers_are_refused(waivers, message):
    assert message in _checks.validate_waivers(waivers)


def test_selection_by_id_tag_and_skip_and_unknowns_refused():
    chosen, skipped = _checks.select(tags=['token'], skip=['TOKEN-LIFETIME'])
    assert [c.id for c in chosen] == ['TOKEN-REFRESH', 'TOKEN-OWNER'] and [c.id for c in skipped] == ['TOKEN-LIFETIME']
    with pytest.raises(_checks.SelectionError, match='Known checks: .*NET-PORT-993'):
        _checks.select(checks=['NET-PORT-994'])
    with pytest.raises(_checks.SelectionError, match='Known tags'):
        _checks.select(tags=['dns'])


def test_a_broken_check_is_an_error_for_itself_only(monkeypatch):
    hosts, tenant, mailboxes = healthy()
    check = _checks.by_id()['NET-XOAUTH2']
    monkeypatch.setattr(check, 'judge', lambda context, subject: 1 / 0)
    findings = _checks.judge(hosts, tenant, mailboxes)
    errors = set(f['id'] for f in findings if f['status'] == 'error')
    assert errors == {'NET-XOAUTH2'}


def test_drift_against_the_previous_audit():
    hosts, tenant, mailboxes = healthy()
    before = _checks.judge(hosts, tenant, mailboxes)
    hosts['svc1']['network']['port_probe']['results'][2]['error'] = 'timeout'
    after = _checks.judge(hosts, tenant, mailboxes)
    drift = _checks.drift(after, before)
    assert drift['new_failures'] == [{'id': 'NET-PORT-993', 'subject': 'svc1', 'was': 'pass', 'now': 'fail'}]
    assert _checks.drift(before, after)['fixed'][0]['id'] == 'NET-PORT-993'
    assert _checks.drift(after, None)['previous_found'] is False


def test_docs_checks_md_is_generated_from_the_catalogue():
    with open(os.path.join(REPO, 'docs', 'checks.md'), encoding='utf-8') as handle:
        assert handle.read() == _checks.catalogue_markdown(), 'run tools/gen-checks-doc'


def test_every_check_is_declared_once_with_a_fix():
    ids = [c.id for c in _checks.CATALOGUE]
    assert len(ids) == len(set(ids))
    for check in _checks.CATALOGUE:
        assert check.remediation and check.evidence and check.title


def test_a_tenant_the_preflight_cannot_read_fails_the_gate_and_skips_what_needs_the_read():
    hosts, tenant, mailboxes = healthy()
    tenant['mailbox_settings'] = {'error': 'forbidden', 'message': 'HTTP 403', 'mailboxes': [],
                                  'errors': [{'message': 'POST /adminapi/...: 403. Needs Exchange.ManageAsApp'}]}
    bad, findings = failing(hosts, tenant, mailboxes)
    assert bad == [('PREFLIGHT-TENANT-READ', 'tenant')]
    statuses = dict(((f['id'], f['subject']), f['status']) for f in findings)
    assert statuses[('MBX-SMTP-AUTH', 'sales@contoso.com')] == 'skip'
    assert statuses[('MBX-LICENCE', 'support@contoso.com')] == 'pass', 'an Exchange plan is provisioned'


def test_a_tenant_task_that_failed_fails_tenant_read_naming_it_and_judges_no_tenant_check():
    hosts, _tenant, _mailboxes = healthy()
    failed = ["ECE's app registration (Microsoft Graph): MODULE FAILURE"]
    bad, findings = failing(hosts, {'failed_tasks': failed}, {})
    assert bad == [('PREFLIGHT-TENANT-READ', 'tenant')]
    read = [f for f in findings if f['id'] == 'PREFLIGHT-TENANT-READ'][0]
    assert 'MODULE FAILURE' in read['detail'] and read['evidence'] == {'failed_tasks': failed}
    assert all(f['status'] == 'skip' for f in findings if f['scope'] == 'tenant' and f['id'] != 'PREFLIGHT-TENANT-READ')
    assert all(f['status'] == 'pass' for f in findings if f['subject'] in hosts), 'the hosts are judged all the same'


def test_a_shared_mailbox_without_licence_passes_when_its_login_works():
    hosts, tenant, mailboxes = healthy()
    tenant['mailbox_settings'] = None
    tenant['tenant_info']['users'][1]['exchange_provisioned'] = False  # sales@, shared
    statuses = dict(((f['id'], f['subject']), f['status']) for f in failing(hosts, tenant, mailboxes)[1])
    assert statuses[('MBX-LICENCE', 'sales@contoso.com')] == 'pass'
    refused = {'imap': 'auth_failed', 'pop3': 'x', 'smtp': 'x'}
    mailboxes['sales@contoso.com']['logins'] = _logins('sales@contoso.com', refused)
    statuses = dict(((f['id'], f['subject']), f['status']) for f in failing(hosts, tenant, mailboxes)[1])
    assert statuses[('MBX-LICENCE', 'sales@contoso.com')] == 'skip'


def test_a_refused_token_skips_the_logins_it_would_have_made():
    hosts, tenant, mailboxes = healthy()
    mailboxes['support@contoso.com']['token'] = {'acquired': False, 'message': 'AADSTS700082: expired'}
    no_token = {'imap': 'no_token', 'pop3': 'no_token', 'smtp': 'no_token'}
    mailboxes['support@contoso.com']['logins'] = _logins('support@contoso.com', no_token)
    bad, findings = failing(hosts, tenant, mailboxes)
    assert bad == [('TOKEN-REFRESH', 'support@contoso.com')]
    skipped = [f for f in findings if f['subject'] == 'support@contoso.com' and f['id'].startswith('MBX-LOGIN')]
    assert set(f['status'] for f in skipped) == {'skip'} and 'TOKEN-REFRESH' in skipped[0]['detail']
