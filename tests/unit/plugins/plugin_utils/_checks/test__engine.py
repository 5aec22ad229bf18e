# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The engine: statuses, completeness (a gate never passes on data it did not read), selection, waivers, drift."""

import datetime

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

from .observations import SALES, SUPPORT, finding, healthy, judge, not_passing, statuses


def test_healthy_observations_pass_every_check_and_every_check_has_a_subject():
    findings = judge(healthy())
    assert not_passing(findings) == {}
    assert set(f['id'] for f in findings) == set(c.id for c in _checks.CATALOGUE)
    assert _checks.summarize(findings)['passed_gate'] is True


def test_a_run_that_judged_nothing_fails_the_gate_and_says_why():
    document = healthy()
    document['hosts'] = {}
    document['tenant'] = {'ran': False, 'left_out': True}
    chosen, skipped = _checks.select(tags=['token', 'mailbox'])
    findings = judge(document, checks=chosen, skipped=skipped)
    summary = _checks.summarize(findings)
    assert summary['judged'] == 0 and summary['blocking'] == 0
    assert summary['passed_gate'] is False
    assert 'nothing was judged' in summary['gate_reasons'][0]


def test_the_tenant_not_in_the_run_is_an_error_that_blocks_and_its_checks_wait_for_it():
    document = healthy()
    document['tenant'] = {'ran': False, 'left_out': False, 'host': 'localhost',
                          'why_not': 'the tenant host localhost was not in this run (a --limit ...)'}
    findings = judge(document)
    read = finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')
    assert read['status'] == 'error' and '--limit' in read['detail'] and 'ece_o365_check_tenant: false' in read['detail']
    waiting = [f for f in findings if f['scope'] in ('tenant', 'mailbox') and f['id'] != 'PREFLIGHT-TENANT-READ']
    assert waiting and set(f['status'] for f in waiting) == {'skip'}
    assert set(f['blocked_by'] for f in waiting) == {'PREFLIGHT-TENANT-READ'}
    assert _checks.summarize(findings)['passed_gate'] is False


def test_the_tenant_left_out_knowingly_is_skipped_and_the_hosts_still_gate():
    document = healthy()
    document['tenant'] = {'ran': False, 'left_out': True}
    findings = judge(document)
    tenant_side = [f for f in findings if f['scope'] in ('tenant', 'mailbox')]
    assert set(f['status'] for f in tenant_side) == {'skip'}
    assert all('ece_o365_check_tenant: false' in f['detail'] for f in tenant_side)
    assert _checks.summarize(findings)['passed_gate'] is True


def test_a_wait_on_a_check_that_does_not_block_becomes_an_error():
    document = healthy()
    document['tenant']['mailbox_protocols']['tokens'][0].update(acquired=False, message='AADSTS700082')
    refused = judge(document)
    assert finding(refused, 'MBX-LOGIN-IMAP', SUPPORT)['status'] == 'skip'
    # Waiving TOKEN-REFRESH would let the gate pass with the logins unread: they turn into errors instead.
    waiver = {'id': 'TOKEN-REFRESH', 'subject': SUPPORT, 'reason': 'renewal booked', 'expires': '2027-01-01'}
    waived = judge(document, waivers=[waiver])
    login = finding(waived, 'MBX-LOGIN-IMAP', SUPPORT)
    assert login['status'] == 'error' and 'TOKEN-REFRESH does not block the gate' in login['detail']
    assert _checks.summarize(waived)['passed_gate'] is False
    # So does skipping the check it waits for.
    chosen, skipped = _checks.select(skip=['TOKEN-REFRESH'])
    disabled = judge(document, checks=chosen, skipped=skipped)
    assert 'disabled by ece_o365_skip_checks' in finding(disabled, 'MBX-LOGIN-SMTP', SUPPORT)['detail']
    assert finding(disabled, 'MBX-LOGIN-SMTP', SUPPORT)['status'] == 'error'


def test_a_chain_of_waits_holds_while_its_root_blocks():
    document = healthy()
    document['tenant']['failed_tasks'] = ['localhost: mailbox_protocols: MODULE FAILURE']
    findings = judge(document)
    assert finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['status'] == 'fail'
    assert finding(findings, 'MBX-LOGIN-IMAP', SUPPORT)['status'] == 'skip'
    assert finding(findings, 'APP-CONSENT', 'tenant')['blocked_by'] == 'PREFLIGHT-TENANT-READ'


def test_a_broken_check_is_an_error_for_itself_only(monkeypatch):
    check = _checks.by_id()['NET-XOAUTH2']
    monkeypatch.setattr(check, 'judge', lambda context, subject: 1 / 0)
    findings = judge(healthy())
    assert set(f['id'] for f in findings if f['status'] == 'error') == {'NET-XOAUTH2'}
    assert 'ZeroDivisionError' in finding(findings, 'NET-XOAUTH2', 'svc1')['detail']


def test_waivers_match_their_id_and_subject_and_expire():
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][2].update(ok=False, error_class='timeout')
    document['hosts']['app1']['port_probe']['results'][1].update(ok=False, error_class='refused')
    waiver = {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'CHG0042', 'expires': '2026-12-01'}
    assert _checks.validate_waivers([waiver]) is None
    findings = judge(document, waivers=[waiver])
    assert finding(findings, 'NET-PORT-993', 'svc1')['waiver']['active'] is True
    assert finding(findings, 'NET-PORT-587', 'app1')['waiver'] is None, 'another check is not waived'
    assert _checks.summarize(findings)['blocking'] == 1
    every = dict(waiver, subject='*')
    assert finding(judge(document, waivers=[every]), 'NET-PORT-587', 'app1')['waiver'] is None
    expired = judge(document, waivers=[waiver], options={'today': datetime.date(2026, 12, 2)})
    assert finding(expired, 'NET-PORT-993', 'svc1')['waiver']['active'] is False


@pytest.mark.parametrize('waivers, message', [
    ([{'id': 'NET-PORT-9999', 'reason': 'x', 'expires': '2027-01-01'}], "unknown check id 'NET-PORT-9999'"),
    ([{'id': 'NET-PORT-993', 'expires': '2027-01-01'}], 'needs a reason'),
    ([{'id': 'NET-PORT-993', 'reason': 'x', 'expires': 'soon'}], 'expires must be a date'),
    (['NET-PORT-993'], 'must be a mapping'),
])
def test_bad_waivers_are_refused_naming_the_variable(waivers, message):
    problem = _checks.validate_waivers(waivers)
    assert message in problem and problem.startswith('ece_o365_waivers[0]')


def test_selection_by_id_tag_and_skip_and_unknowns_refused_naming_the_variable():
    chosen, skipped = _checks.select(tags=['token'], skip=['TOKEN-LIFETIME'])
    assert [c.id for c in chosen] == ['TOKEN-REFRESH', 'TOKEN-REFRESH-SERVER', 'TOKEN-OWNER'] and \
        [c.id for c in skipped] == ['TOKEN-LIFETIME']
    with pytest.raises(_checks.SelectionError, match=r'^ece_o365_checks: unknown check id\(s\): NET-PORT-994'):
        _checks.select(checks=['NET-PORT-994'])
    with pytest.raises(_checks.SelectionError, match=r'^ece_o365_skip_checks: .*Known checks: .*NET-PORT-993'):
        _checks.select(skip=['NET-PORT-9930'])
    with pytest.raises(_checks.SelectionError, match='^ece_o365_check_tags: .*Known tags'):
        _checks.select(tags=['dns'])


def test_fail_on_warn_blocks_warnings_and_not_passes():
    document = healthy()
    document['hosts']['svc1']['url_reach']['results'][0]['clock_skew_seconds'] = -120
    findings = judge(document)
    assert statuses(findings)[('NET-CLOCK-SKEW', 'svc1')] == 'warn'
    assert _checks.summarize(findings)['passed_gate'] is True
    strict = _checks.summarize(findings, fail_on_warn=True)
    assert strict['passed_gate'] is False and strict['blocking'] == 1


def test_drift_against_the_previous_audit():
    document = healthy()
    before = judge(document)
    document['hosts']['svc1']['port_probe']['results'][2].update(ok=False, error_class='timeout')
    after = judge(document)
    drift = _checks.drift(after, before)
    assert drift['new_failures'] == [{'id': 'NET-PORT-993', 'subject': 'svc1', 'was': 'pass', 'now': 'fail'}]
    assert _checks.drift(before, after)['fixed'][0]['id'] == 'NET-PORT-993'
    assert _checks.drift(after, None)['previous_found'] is False


def test_every_check_is_declared_once_beside_its_judge_with_a_fix_and_its_requirements():
    ids = [c.id for c in _checks.CATALOGUE]
    assert len(ids) == len(set(ids))
    for check in _checks.CATALOGUE:
        assert check.remediation and check.evidence and check.title
        assert check.judge.__module__.endswith('._checks.%s' % check.family)
    with pytest.raises(ValueError, match='declared twice'):
        _checks.check('NET-PORT-993', 't', 'error', 'host', ('x',), 'e', 'f')(lambda c, s: None)
    with pytest.raises(ValueError, match='unknown requirement'):
        _checks.Check('X-Y', 't', 'error', 'host', (), 'e', 'f', None, 'network', requires=('dns',))


def test_the_checklist_item_is_optional_and_not_capped():
    check = _checks.Check('X-NEW', 'A new check', 'error', 'host', ('x',), 'e', 'f', lambda c, s: ('pass', 'ok', {}),
                          'network')
    assert check.item is None
    document = healthy()
    findings = _checks.judge(document, checks=[check])
    assert [f['checklist_item'] for f in findings] == [None, None, None]


def test_mailboxes_are_subjects_by_address():
    findings = judge(healthy())
    assert set(f['subject'] for f in findings if f['scope'] == 'mailbox') == {SUPPORT, SALES}


# -- the catalogue as declared: what selection, the gate and the report read from each check -----------

# (id, severity, scope, tags, checklist item, Microsoft code, requires). Tags drive ece_o365_check_tags, the
# severity decides whether a fail is softened to a warn, the scope picks the subjects, requires the waits.
CATALOGUE = [
    ('PREFLIGHT-HOST-REACHABLE', 'error', 'host', ('preflight',), 9, None, ()),
    ('PREFLIGHT-TENANT-READ', 'error', 'tenant', ('preflight', 'tenant'), 3, None, ()),
    ('NET-PORT-443', 'error', 'host', ('network', 'ports'), 9, None, ('reached', 'port_probe')),
    ('NET-PORT-587', 'error', 'host', ('network', 'ports'), 9, None, ('reached', 'port_probe')),
    ('NET-PORT-993', 'error', 'host', ('network', 'ports'), 9, None, ('reached', 'port_probe')),
    ('NET-PORT-995', 'error', 'host', ('network', 'ports'), 9, None, ('reached', 'port_probe')),
    ('NET-XOAUTH2', 'error', 'host', ('network', 'mail'), 9, None, ('reached', 'port_probe')),
    ('NET-URL-ENDPOINTS', 'error', 'host', ('network', 'https'), 9, None, ('reached', 'url_reach')),
    ('NET-TLS-INTERCEPT', 'error', 'host', ('network', 'tls'), 9, None, ('reached', 'url_reach')),
    ('NET-CLOCK-SKEW', 'warning', 'host', ('network', 'time'), 4, None, ('reached', 'url_reach')),
    ('ECE-VERSION', 'error', 'host', ('ece', 'version'), 1, 'CSCvr86493', ('reached',)),
    ('ECE-EXTERNAL-URL', 'error', 'host', ('ece', 'url'), 2, None, ('reached',)),
    ('APP-REGISTRATION', 'error', 'tenant', ('tenant', 'app'), 3, 'AADSTS700016', ('tenant', 'tenant_info')),
    ('APP-REDIRECT-URI', 'error', 'tenant', ('tenant', 'app'), 2, 'AADSTS50011', ('tenant', 'tenant_info')),
    ('APP-PERMISSIONS', 'error', 'tenant', ('tenant', 'app'), 3, None, ('tenant', 'tenant_info')),
    ('APP-CONSENT', 'error', 'tenant', ('tenant', 'app'), 3, 'AADSTS65001', ('tenant', 'tenant_info')),
    ('APP-SECRET-EXPIRY', 'error', 'tenant', ('tenant', 'app'), 3, 'AADSTS7000222', ('tenant', 'tenant_info')),
    ('TOKEN-REFRESH', 'error', 'mailbox', ('token',), 4, 'AADSTS700082', ('tenant', 'mailbox_protocols')),
    ('TOKEN-REFRESH-SERVER', 'error', 'services', ('token', 'network'), 10, 'AADSTS53003', ('reached',)),
    ('TOKEN-OWNER', 'error', 'mailbox', ('token',), 5, None, ('tenant', 'mailbox_protocols')),
    ('TOKEN-LIFETIME', 'warning', 'mailbox', ('token',), 4, None, ('tenant', 'mailbox_protocols')),
    ('USER-ACCOUNT', 'error', 'mailbox', ('tenant', 'user'), 8, 'AADSTS50057', ('tenant', 'tenant_info')),
    ('ENTRA-SIGNIN-OWNER', 'error', 'tenant', ('identity', 'tenant', 'signins'), 5, None, ('tenant',)),
    ('ENTRA-SIGNIN-ERRORS', 'error', 'mailbox', ('identity', 'mailbox', 'signins'), 4, None, ('tenant',)),
    ('ENTRA-TOKEN-IDLE', 'error', 'mailbox', ('identity', 'mailbox', 'signins'), 4, 'AADSTS700082', ('tenant',)),
    ('ENTRA-SIGNIN-SOURCE', 'warning', 'mailbox', ('identity', 'mailbox', 'signins', 'network'), 9, None,
     ('tenant',)),
    ('MBX-LICENCE', 'error', 'mailbox', ('mailbox', 'licence'), 7, None, ('tenant', 'tenant_info')),
    ('MBX-PROTOCOLS', 'error', 'mailbox', ('mailbox',), 6, None, ('tenant', 'mailbox_settings')),
    ('MBX-SMTP-AUTH', 'error', 'mailbox', ('mailbox', 'smtp'), 6, '5.7.139', ('tenant', 'mailbox_settings')),
    ('MBX-FULLACCESS', 'error', 'mailbox', ('mailbox', 'rights'), 8, None, ('tenant', 'mailbox_settings')),
    ('MBX-SENDAS', 'error', 'mailbox', ('mailbox', 'rights', 'smtp'), 8, '5.2.252', ('tenant', 'mailbox_settings')),
    ('MBX-LOGIN-IMAP', 'error', 'mailbox', ('mailbox', 'imap'), 10, None, ('tenant', 'mailbox_protocols')),
    ('MBX-LOGIN-POP3', 'error', 'mailbox', ('mailbox', 'pop3'), 10, None, ('tenant', 'mailbox_protocols')),
    ('MBX-LOGIN-SMTP', 'error', 'mailbox', ('mailbox', 'smtp'), 10, '5.7.139', ('tenant', 'mailbox_protocols')),
]


def test_the_catalogue_declares_each_check_as_the_selection_and_the_gate_read_it():
    declared = [(c.id, c.severity, c.scope, c.tags, c.item, c.code, c.requires) for c in _checks.CATALOGUE]
    assert declared == CATALOGUE
    assert [c.family for c in _checks.CATALOGUE] == sorted((c.family for c in _checks.CATALOGUE),
                                                           key=_checks.FAMILIES.index), 'family order'
    assert _checks.by_id()['NET-PORT-993'].skip_variable() == 'ece_o365_skip_checks: [NET-PORT-993]'
    names = [c.judge.__name__ for c in _checks.CATALOGUE]
    assert len(set(names)) == len(names), 'each judge has a name of its own (a broken check\'s traceback names it)'
    # The findings carry the declaration: the checklist item's text, the code, the way to skip it.
    found = finding(judge(healthy()), 'ECE-VERSION', 'svc1')
    assert (found['checklist_item'], found['checklist'], found['code'], found['family'], found['severity'],
            found['scope']) == (1, _checks.CHECKLIST[1], 'CSCvr86493', 'ece', 'error', 'host')
    assert found['skip_with'] == 'ece_o365_skip_checks: [ECE-VERSION]' and found['waiver'] is None
    assert found['blocked_by'] is None and found['remediation'] == _checks.by_id()['ECE-VERSION'].remediation


@pytest.mark.parametrize('kwargs, message', [
    ({'severity': 'fatal'}, 'bad severity, scope or family'), ({'scope': 'site'}, 'bad severity, scope or family'),
    ({'family': 'dns'}, 'bad severity, scope or family'), ({'item': 11}, 'item 11 is not in _facts.CHECKLIST'),
    ({'item': 0}, 'item 0 is not in _facts.CHECKLIST')])
def test_a_check_declared_wrongly_is_refused(kwargs, message):
    args = dict(check_id='X-Y', title='t', severity='error', scope='host', tags=('x',), evidence='e', fix='f',
                judge=None, family='network')
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        _checks.Check(**args)
    for item in (1, 10):
        changed = dict(args)
        changed.update(severity='warning', scope='mailbox', family='ece', item=item)
        assert _checks.Check(**changed).item == item


# -- the gate, as a table ---------------------------------------------------------------------------------

WAIVERS = {
    None: None,
    'active': {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'CHG1', 'expires': '2026-11-28'},  # ends today
    'expired': {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'CHG1', 'expires': '2026-11-27'},  # yesterday
    'other-id': {'id': 'NET-PORT-995', 'subject': 'svc1', 'reason': 'CHG1', 'expires': '2027-01-01'},
    'other-subject': {'id': 'NET-PORT-993', 'subject': 'app1', 'reason': 'CHG1', 'expires': '2027-01-01'},
    'every-subject': {'id': 'NET-PORT-993', 'subject': '*', 'reason': 'CHG1', 'expires': '2027-01-01'},
    'every-subject-expired': {'id': 'NET-PORT-993', 'reason': 'CHG1', 'expires': '2026-01-01'},  # no subject: '*'
}
GATE = [
    # (status, waiver, fail_on_warn, passed_gate, blocking, waived)
    ('pass', None, False, True, 0, 0),
    ('pass', 'active', False, True, 0, 0),
    ('pass', 'expired', False, True, 0, 0),
    ('pass', 'other-id', False, True, 0, 0),
    ('pass', 'other-subject', False, True, 0, 0),
    ('pass', 'every-subject', False, True, 0, 0),
    ('pass', 'every-subject-expired', False, True, 0, 0),
    ('pass', None, True, True, 0, 0),
    ('pass', 'active', True, True, 0, 0),
    ('pass', 'expired', True, True, 0, 0),
    ('pass', 'other-id', True, True, 0, 0),
    ('pass', 'other-subject', True, True, 0, 0),
    ('pass', 'every-subject', True, True, 0, 0),
    ('pass', 'every-subject-expired', True, True, 0, 0),
    ('warn', None, False, True, 0, 0),
    ('warn', 'active', False, True, 0, 1),
    ('warn', 'expired', False, True, 0, 0),
    ('warn', 'other-id', False, True, 0, 0),
    ('warn', 'other-subject', False, True, 0, 0),
    ('warn', 'every-subject', False, True, 0, 1),
    ('warn', 'every-subject-expired', False, True, 0, 0),
    ('warn', None, True, False, 1, 0),
    ('warn', 'active', True, True, 0, 1),
    ('warn', 'expired', True, False, 1, 0),
    ('warn', 'other-id', True, False, 1, 0),
    ('warn', 'other-subject', True, False, 1, 0),
    ('warn', 'every-subject', True, True, 0, 1),
    ('warn', 'every-subject-expired', True, False, 1, 0),
    ('fail', None, False, False, 1, 0),
    ('fail', 'active', False, True, 0, 1),
    ('fail', 'expired', False, False, 1, 0),
    ('fail', 'other-id', False, False, 1, 0),
    ('fail', 'other-subject', False, False, 1, 0),
    ('fail', 'every-subject', False, True, 0, 1),
    ('fail', 'every-subject-expired', False, False, 1, 0),
    ('fail', None, True, False, 1, 0),
    ('fail', 'active', True, True, 0, 1),
    ('fail', 'expired', True, False, 1, 0),
    ('fail', 'other-id', True, False, 1, 0),
    ('fail', 'other-subject', True, False, 1, 0),
    ('fail', 'every-subject', True, True, 0, 1),
    ('fail', 'every-subject-expired', True, False, 1, 0),
    ('error', None, False, False, 1, 0),
    ('error', 'active', False, True, 0, 1),
    ('error', 'expired', False, False, 1, 0),
    ('error', 'other-id', False, False, 1, 0),
    ('error', 'other-subject', False, False, 1, 0),
    ('error', 'every-subject', False, True, 0, 1),
    ('error', 'every-subject-expired', False, False, 1, 0),
    ('error', None, True, False, 1, 0),
    ('error', 'active', True, True, 0, 1),
    ('error', 'expired', True, False, 1, 0),
    ('error', 'other-id', True, False, 1, 0),
    ('error', 'other-subject', True, False, 1, 0),
    ('error', 'every-subject', True, True, 0, 1),
    ('error', 'every-subject-expired', True, False, 1, 0),
    ('skip', None, False, True, 0, 0),
    ('skip', 'active', False, True, 0, 1),
    ('skip', 'expired', False, True, 0, 0),
    ('skip', 'other-id', False, True, 0, 0),
    ('skip', 'other-subject', False, True, 0, 0),
    ('skip', 'every-subject', False, True, 0, 1),
    ('skip', 'every-subject-expired', False, True, 0, 0),
    ('skip', None, True, True, 0, 0),
    ('skip', 'active', True, True, 0, 1),
    ('skip', 'expired', True, True, 0, 0),
    ('skip', 'other-id', True, True, 0, 0),
    ('skip', 'other-subject', True, True, 0, 0),
    ('skip', 'every-subject', True, True, 0, 1),
    ('skip', 'every-subject-expired', True, True, 0, 0),
]


def _stub(check_id, statuses):
    """A check of every host that returns STATUSES[subject] (default pass); 'skip' is NotApplicable."""
    def judge_(_context, subject):
        status = statuses.get(subject, 'pass')
        if status == 'skip':
            raise _checks.NotApplicable('not for %s' % subject)
        if status == 'error':
            raise _checks.Missing('not read on %s' % subject)
        return status, '%s on %s' % (status, subject), {}
    return _checks.Check(check_id, 'stub', 'error', 'host', ('x',), 'e', 'f', judge_, 'network')


@pytest.mark.parametrize('status, waiver, fail_on_warn, passed_gate, blocking, waived', GATE)
def test_gate_table(status, waiver, fail_on_warn, passed_gate, blocking, waived):
    findings = judge(healthy(), checks=[_stub('NET-PORT-993', {'svc1': status})],
                     waivers=[WAIVERS[waiver]] if waiver else [])
    summary = _checks.summarize(findings, fail_on_warn=fail_on_warn)
    assert (summary['passed_gate'], summary['blocking'], summary['waived']) == (passed_gate, blocking, waived)
    assert summary['fail_on_warn'] is fail_on_warn and summary['total'] == 3
    assert summary['counts'] == dict((s, 2 * (s == 'pass') + (s == status)) for s in _checks.STATUSES)
    assert summary['judged'] == 2 + (status in ('pass', 'warn', 'fail'))
    assert summary['gate_reasons'] == ([] if passed_gate else ['%d blocking finding(s)' % blocking])
    attached = finding(findings, 'NET-PORT-993', 'svc1')['waiver']
    if waiver in (None, 'other-id', 'other-subject'):
        assert attached is None
    else:
        assert attached == {'reason': 'CHG1', 'expires': WAIVERS[waiver]['expires'],
                            'active': waiver in ('active', 'every-subject')}
    assert _checks.blocking(finding(findings, 'NET-PORT-993', 'svc1'), fail_on_warn) is (blocking == 1)


# kills: deleting the waiver's check-id match (a waiver would waive every finding of its subject, and a
# waiver for every subject '*' every finding of the run)
def test_kills_waiver_without_id_match_a_waiver_covers_only_its_own_check():
    document = healthy()
    probes = document['hosts']['svc1']['port_probe']['results']
    probes[2].update(ok=False, error_class='timeout')   # NET-PORT-993 svc1
    probes[3].update(ok=False, error_class='refused')   # NET-PORT-995 svc1
    document['hosts']['app1']['port_probe']['results'][1].update(ok=False, error_class='refused')  # NET-PORT-587 app1
    document['hosts']['app2']['ece']['version'] = '12.5(1)'   # ECE-VERSION app2 (no ES)
    document['tenant']['tenant_info']['application']['required_permissions'] = []  # APP-PERMISSIONS tenant
    failing = {('NET-PORT-993', 'svc1'), ('NET-PORT-995', 'svc1'), ('NET-PORT-587', 'app1'), ('ECE-VERSION', 'app2'),
               ('APP-PERMISSIONS', 'tenant')}
    assert not_passing(judge(document)) == dict((k, 'fail') for k in failing)  # app1's 993/995 offer XOAUTH2
    waivers = [{'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'CHG1', 'expires': '2027-01-01'},
               {'id': 'ECE-VERSION', 'subject': '*', 'reason': 'CHG2', 'expires': '2027-01-01'},
               {'id': 'MBX-LICENCE', 'subject': '*', 'reason': 'CHG3', 'expires': '2027-01-01'},
               {'id': 'TOKEN-OWNER', 'host': 'tenant', 'reason': 'CHG4', 'expires': '2027-01-01'}]
    findings = judge(document, waivers=waivers)
    waived = dict(((f['id'], f['subject']), f['waiver']['reason']) for f in findings if f['waiver'])
    assert waived == {('NET-PORT-993', 'svc1'): 'CHG1', ('ECE-VERSION', 'app2'): 'CHG2', ('ECE-VERSION', 'app1'): 'CHG2',
                      ('ECE-VERSION', 'svc1'): 'CHG2', ('MBX-LICENCE', SUPPORT): 'CHG3', ('MBX-LICENCE', SALES): 'CHG3'}
    summary = _checks.summarize(findings)
    assert summary['blocking'] == 3 and summary['waived'] == 2 and summary['passed_gate'] is False
    blockers = set((f['id'], f['subject']) for f in findings if _checks.blocking(f))
    assert blockers == {('NET-PORT-995', 'svc1'), ('NET-PORT-587', 'app1'), ('APP-PERMISSIONS', 'tenant')}


def test_a_waiver_names_its_subject_by_subject_or_host_and_the_first_that_matches_wins():
    today = datetime.date(2026, 11, 28)
    result = {'id': 'NET-PORT-993', 'subject': 'svc1'}
    by_host = {'id': 'NET-PORT-993', 'host': 'svc1', 'reason': 'r1', 'expires': '2026-11-29'}
    assert _checks.waiver_for(result, [by_host], today) == {'reason': 'r1', 'expires': '2026-11-29', 'active': True}
    other_host = dict(by_host, host='app1')
    assert _checks.waiver_for(result, [other_host], today) is None
    first = dict(by_host, reason='first', expires=datetime.date(2026, 11, 1))
    assert _checks.waiver_for(result, [other_host, first, by_host], today) == {
        'reason': 'first', 'expires': '2026-11-01', 'active': False}
    assert _checks.waiver_for(result, None, today) is None


# kills: with fail_on_warn, swapping which statuses block (passes blocking and failures not)
def test_kills_fail_on_warn_swap_exactly_fail_error_and_warn_block():
    made = [{'status': s, 'waiver': None} for s in _checks.STATUSES]
    assert [f['status'] for f in made if _checks.blocking(f)] == ['fail', 'error']
    assert [f['status'] for f in made if _checks.blocking(f, fail_on_warn=True)] == ['warn', 'fail', 'error']
    assert [f['status'] for f in made if _checks.blocking(dict(f, waiver={'active': True}), True)] == []
    assert [f['status'] for f in made if _checks.blocking(dict(f, waiver={'active': False}), True)] == [
        'warn', 'fail', 'error']
    document = healthy()
    document['hosts']['svc1']['url_reach']['results'][0]['clock_skew_seconds'] = 90      # warn
    document['hosts']['app1']['port_probe']['results'][0].update(ok=False, error_class='dns')  # fail
    findings = judge(document)
    lenient, strict = _checks.summarize(findings), _checks.summarize(findings, fail_on_warn=True)
    assert (lenient['blocking'], lenient['passed_gate']) == (1, False)
    assert (strict['blocking'], strict['passed_gate']) == (2, False)
    assert set((f['id'], f['subject']) for f in findings if _checks.blocking(f, True)) == {
        ('NET-CLOCK-SKEW', 'svc1'), ('NET-PORT-443', 'app1')}


def test_summarize_counts_every_status_and_passes_coverage_through():
    findings = [{'status': s, 'waiver': None} for s in ('pass', 'pass', 'warn', 'fail', 'skip', 'error', 'error')]
    summary = _checks.summarize(findings, coverage={'ece_hosts': 3})
    assert summary['counts'] == {'pass': 2, 'warn': 1, 'fail': 1, 'skip': 1, 'error': 2}
    assert (summary['total'], summary['judged'], summary['blocking'], summary['waived']) == (7, 4, 3, 0)
    assert summary['coverage'] == {'ece_hosts': 3} and _checks.summarize([])['coverage'] == {}
    assert summary['gate_reasons'] == ['3 blocking finding(s)']
    only_warn = _checks.summarize([{'status': 'warn', 'waiver': None}])
    assert (only_warn['judged'], only_warn['passed_gate'], only_warn['gate_reasons']) == (1, True, [])
    only_fail = _checks.summarize([{'status': 'fail', 'waiver': {'active': True}}])
    assert (only_fail['judged'], only_fail['passed_gate'], only_fail['waived']) == (1, True, 1)
    nothing = _checks.summarize([{'status': 'skip', 'waiver': None}, {'status': 'error', 'waiver': None}])
    assert nothing['judged'] == 0 and nothing['passed_gate'] is False
    assert nothing['gate_reasons'][0] == '1 blocking finding(s)' and nothing['gate_reasons'][1].startswith(
        'nothing was judged: the selection (ece_o365_checks, ece_o365_check_tags) matched no check')


# -- what a judge returns, and what the engine makes of it ------------------------------------------------

def _one(verdict, severity='error'):
    def judge_(_context, _subject):
        if isinstance(verdict, Exception):
            raise verdict
        return verdict
    check = _checks.Check('X-ONE', 'one', severity, 'tenant', ('x',), 'e', 'the check fix', judge_, 'identity')
    return judge(healthy(), checks=[check])[0]


@pytest.mark.parametrize('verdict, severity, status', [
    (('fail', 'd', {}), 'warning', 'warn'), (('fail', 'd', {}), 'error', 'fail'),
    ((_checks.HARD_FAIL, 'd', {}), 'warning', 'fail'), ((_checks.HARD_FAIL, 'd', {}), 'error', 'fail'),
    (('warn', 'd', {}), 'error', 'warn'), (('warn', 'd', {}), 'warning', 'warn'), (('pass', 'd', {}), 'warning', 'pass'),
])
def test_a_fail_of_a_warning_check_is_a_warn_unless_the_judge_says_it_is_hard(verdict, severity, status):
    assert _one(verdict, severity)['status'] == status


def test_the_engine_turns_what_a_judge_raises_or_returns_into_a_finding():
    bogus = _one(('maybe', 'd', {}))
    assert bogus['status'] == 'error' and bogus['detail'] == "the check itself failed: ValueError(\"status 'maybe'\")"
    missing = _one(_checks.Missing('not read: x'))
    assert (missing['status'], missing['detail'], missing['evidence'], missing['blocked_by']) == (
        'error', 'not read: x', {}, None)
    na = _one(_checks.NotApplicable('not for this design'))
    assert (na['status'], na['detail'], na['blocked_by']) == ('skip', 'not for this design', None)
    plain = _one(('pass', 'fine', {'k': 1}))
    assert (plain['detail'], plain['evidence'], plain['remediation']) == ('fine', {'k': 1}, 'the check fix')
    own = _one(_checks.Verdict('fail', 'broken', None, 'its own fix'))
    assert (own['status'], own['evidence'], own['remediation']) == ('fail', {}, 'its own fix')
    assert _one(_checks.Verdict('fail', 'broken'))['remediation'] == 'the check fix'
    assert tuple(_checks.Verdict('pass', 'd')) == ('pass', 'd', {}, None)


def test_a_wait_on_a_check_that_was_not_run_or_is_disabled_is_an_error_and_a_held_wait_stays_a_skip():
    def waits(_context, _subject):
        raise _checks.Blocked('NET-PORT-993', 'waiting')
    waiter = _checks.Check('X-WAIT', 'w', 'error', 'services', ('x',), 'e', 'f', waits, 'network')
    blocker = _checks.by_id()['NET-PORT-993']
    alone = judge(healthy(), checks=[waiter])
    assert [(f['subject'], f['status'], f['detail']) for f in alone] == [
        ('svc1', 'error', 'waiting; and NET-PORT-993 was not run, so nothing else blocks the gate for it')]
    disabled = judge(healthy(), checks=[waiter], skipped=[blocker])
    assert finding(disabled, 'X-WAIT', 'svc1')['detail'].endswith('NET-PORT-993 is disabled by ece_o365_skip_checks, '
                                                                  'so nothing else blocks the gate for it')
    off = finding(disabled, 'NET-PORT-993', '*')
    assert (off['status'], off['detail'], off['disabled']) == ('skip', 'disabled by ece_o365_skip_checks', True)
    passed = judge(healthy(), checks=[blocker, waiter])
    assert finding(passed, 'X-WAIT', 'svc1')['detail'].endswith('NET-PORT-993 does not block the gate (pass)'
                                                                ', so nothing else blocks the gate for it')
    document = healthy()
    document['hosts']['svc1']['port_probe']['results'][2].update(ok=False, error_class='timeout')
    held = judge(document, checks=[blocker, waiter])
    assert (finding(held, 'X-WAIT', 'svc1')['status'], finding(held, 'X-WAIT', 'svc1')['detail']) == ('skip', 'waiting')
    waived = judge(document, checks=[blocker, waiter], waivers=[
        {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'r', 'expires': '2027-01-01'}])
    assert finding(waived, 'X-WAIT', 'svc1')['detail'].endswith('does not block the gate (fail, waived), so nothing '
                                                                'else blocks the gate for it')
    strict_warn = judge(document, checks=[blocker, waiter], waivers=[
        {'id': 'NET-PORT-993', 'subject': 'svc1', 'reason': 'r', 'expires': '2026-01-01'}])
    assert finding(strict_warn, 'X-WAIT', 'svc1')['status'] == 'skip', 'an expired waiver does not release the wait'


def test_a_wait_on_a_wait_holds_only_while_the_root_blocks_and_a_cycle_ends():
    def waits_on(check_id):
        def judge_(_context, _subject):
            raise _checks.Blocked(check_id, 'waiting on %s' % check_id)
        return judge_
    first = _checks.Check('X-A', 'a', 'error', 'tenant', ('x',), 'e', 'f', waits_on('X-B'), 'network')
    second = _checks.Check('X-B', 'b', 'error', 'tenant', ('x',), 'e', 'f', waits_on('APP-REGISTRATION'), 'network')
    root = _checks.by_id()['APP-REGISTRATION']
    document = healthy()
    document['tenant']['tenant_info']['application']['found'] = False
    held = statuses(judge(document, checks=[root, second, first]))
    assert held == {('APP-REGISTRATION', 'tenant'): 'fail', ('X-B', 'tenant'): 'skip', ('X-A', 'tenant'): 'skip'}
    released = statuses(judge(healthy(), checks=[root, second, first]))
    assert released == {('APP-REGISTRATION', 'tenant'): 'pass', ('X-B', 'tenant'): 'error', ('X-A', 'tenant'): 'error'}
    looped = _checks.Check('X-B', 'b', 'error', 'tenant', ('x',), 'e', 'f', waits_on('X-A'), 'network')
    cycle = statuses(judge(healthy(), checks=[looped, first]))
    assert cycle == {('X-B', 'tenant'): 'error', ('X-A', 'tenant'): 'error'}


def test_the_tenant_read_blocker_is_found_on_the_tenant_for_a_mailbox_that_waits():
    document = healthy()
    document['tenant']['mailbox_settings']['mailboxes'][0]['exists'] = None  # support@ not read by Exchange
    document['tenant']['mailbox_settings']['errors'] = [{'message': 'Get-CASMailbox support@: 500'}]
    findings = judge(document)
    assert finding(findings, 'PREFLIGHT-TENANT-READ', 'tenant')['status'] == 'fail'
    smtp = finding(findings, 'MBX-SMTP-AUTH', SUPPORT)
    assert (smtp['status'], smtp['blocked_by']) == ('skip', 'PREFLIGHT-TENANT-READ')
    document['tenant']['mailbox_settings']['errors'] = []
    released = finding(judge(document), 'MBX-SMTP-AUTH', SUPPORT)
    assert released['status'] == 'error' and 'PREFLIGHT-TENANT-READ does not block the gate (pass)' in released['detail']


# -- the context: what a judge may read, and the requirements ---------------------------------------------

def test_the_context_reads_a_malformed_document_as_missing_parts():
    context = _checks.Context({'hosts': {'a': {'reached': True}, 'b': 'x'}, 'tenant': [], 'mailboxes': {'m': 1}})
    assert context.hosts == {'a': {'reached': True}} and context.mailboxes == {}
    assert context.tenant == {'ran': False, 'left_out': False} and context.host('b') == {}
    assert context.mailbox('m') == {} and context.today == datetime.date.today() and context.options == {}
    empty = _checks.Context({'hosts': None, 'tenant': {'ran': True}})
    assert empty.hosts == {} and empty.tenant == {'ran': True}
    assert _checks.judge({}, options={'today': datetime.date(2026, 1, 1)}) != []


def _raised(context, what, subject, scope='host'):
    try:
        context.require(what, subject, scope)
    except _checks.Blocked as exc:
        return 'blocked', exc.check_id, str(exc)
    except _checks.Missing as exc:
        return 'missing', None, str(exc)
    except _checks.NotApplicable as exc:
        return 'na', None, str(exc)
    return None


def test_requirements_of_a_host():
    document = healthy()
    document['hosts']['app1']['url_reach'] = None
    document['hosts']['app2']['failed_tasks'] = ['app2: port_probe: boom']
    document['hosts']['svc1'].pop('reached')
    context = _checks.Context(document)
    assert _raised(context, 'port_probe', 'app1') is None and _raised(context, 'reached', 'app1') is None
    assert _raised(context, 'url_reach', 'app1') == (
        'missing', None, 'not read: url_reach did not run on app1 (the network role records it)')
    for subject in ('app2', 'svc1', 'nohost'):
        for what in ('reached', 'port_probe', 'url_reach'):
            kind, check_id, why = _raised(context, what, subject)
            assert (kind, check_id) == ('blocked', 'PREFLIGHT-HOST-REACHABLE') and subject in why


def test_requirements_of_the_tenant():
    document = healthy()
    document['tenant']['mailbox_protocols'] = None
    context = _checks.Context(document)
    assert _raised(context, 'tenant', 'x', 'tenant') is None and _raised(context, 'tenant_info', 'x', 'tenant') is None
    assert _raised(context, 'mailbox_protocols', SUPPORT, 'mailbox') == (
        'blocked', 'PREFLIGHT-TENANT-READ', 'not judged: mailbox_protocols did not run (see PREFLIGHT-TENANT-READ)')
    for tenant in ({'ran': False, 'left_out': False}, {'ran': True, 'left_out': False, 'failed_tasks': ['t: x']}):
        context = _checks.Context(dict(document, tenant=tenant))
        for what in ('tenant', 'tenant_info'):
            assert _raised(context, what, 'tenant', 'tenant') == (
                'blocked', 'PREFLIGHT-TENANT-READ', 'not judged: the tenant was not read (see PREFLIGHT-TENANT-READ)')
    left_out = _checks.Context(dict(document, tenant={'ran': True, 'left_out': True}))
    assert _raised(left_out, 'tenant', 'tenant', 'tenant')[0] == 'na'


def test_subjects_by_scope():
    document = healthy()
    document['hosts']['odd'] = dict(document['hosts']['app1'], roles='services')
    context = _checks.Context(document)
    by_scope = dict((c.scope, _checks.subjects_for(c, context)) for c in _checks.CATALOGUE)
    assert by_scope == {'host': ['app1', 'app2', 'odd', 'svc1'], 'tenant': ['tenant'],
                        'mailbox': sorted([SUPPORT, SALES]), 'services': ['svc1']}
    application = _checks.Check('X-APP', 'a', 'error', 'application', ('x',), 'e', 'f', None, 'network')
    assert _checks.subjects_for(application, context) == ['app1', 'app2']


def test_judge_runs_the_chosen_checks_only():
    assert judge(healthy(), checks=[]) == []
    chosen, skipped = _checks.select(checks=['NET-PORT-993', 'TOKEN-REFRESH'], tags=['token'])
    assert [c.id for c in chosen] == ['TOKEN-REFRESH'] and skipped == []
    everything, none = _checks.select()
    assert everything == _checks.CATALOGUE and none == []
    chosen, skipped = _checks.select(checks=['NET-PORT-993', 'NET-PORT-995'], skip=['NET-PORT-995', 'ECE-VERSION'])
    assert [c.id for c in chosen] == ['NET-PORT-993'] and [c.id for c in skipped] == ['NET-PORT-995']
    with pytest.raises(_checks.SelectionError) as excinfo:
        _checks.select(checks=['Z-2', 'Z-1', 'Z-1'])
    assert str(excinfo.value).startswith('ece_o365_checks: unknown check id(s): Z-1, Z-2. Known checks: APP-CONSENT, ')
    with pytest.raises(_checks.SelectionError) as excinfo:
        _checks.select(tags=['zz', 'token', 'aa'])
    assert str(excinfo.value).startswith('ece_o365_check_tags: unknown tag(s): aa, zz. Known tags: app, ece, https, ')


def test_dates_and_waivers_validated():
    assert _checks.parse_date(datetime.datetime(2026, 1, 2, 3, 4)) == datetime.date(2026, 1, 2)
    assert _checks.parse_date(datetime.date(2026, 1, 2)) == datetime.date(2026, 1, 2)
    assert _checks.parse_date('2026-01-02T10:00:00Z') == datetime.date(2026, 1, 2)
    assert _checks.validate_waivers([]) is None
    assert _checks.validate_waivers([{'id': 'NET-PORT-993', 'reason': 'r', 'expires': datetime.date(2027, 1, 1)}]) is None
    assert _checks.validate_waivers({'id': 'NET-PORT-993'}) == (
        'ece_o365_waivers must be a list of mappings with id, reason and expires')
    assert _checks.validate_waivers([{'id': 'NET-PORT-993', 'reason': 'r', 'expires': '2027-01-01'}, 'x']) == (
        'ece_o365_waivers[1] must be a mapping with id, reason and expires')
    assert _checks.validate_waivers([{'id': 'NET-PORT-993', 'reason': '  ', 'expires': '2027-01-01'}]) == (
        'ece_o365_waivers[0] (NET-PORT-993): a waiver needs a reason')
    assert _checks.validate_waivers([{'id': 'NET-PORT-993', 'reason': 'r'}]) == (
        'ece_o365_waivers[0] (NET-PORT-993): expires must be a date YYYY-MM-DD, got None')


def test_drift_sorts_every_change():
    previous = [{'id': i, 'subject': 's', 'status': s} for i, s in (
        ('P-F', 'pass'), ('F-E', 'fail'), ('E-P', 'error'), ('P-W', 'pass'), ('P-P', 'pass'), ('W-S', 'warn'),
        ('E-F', 'error'), ('F-P', 'fail'))]
    now = [{'id': i, 'subject': 's', 'status': s} for i, s in (
        ('P-F', 'fail'), ('F-E', 'error'), ('E-P', 'pass'), ('P-W', 'warn'), ('P-P', 'pass'), ('W-S', 'skip'),
        ('NEW-E', 'error'), ('NEW-P', 'pass'), ('E-F', 'fail'), ('F-P', 'pass'))]
    drift = _checks.drift(now, previous)
    ids = dict((k, [(e['id'], e['was'], e['now']) for e in v]) for k, v in drift.items() if k != 'previous_found')
    assert ids == {'new_failures': [('P-F', 'pass', 'fail'), ('NEW-E', None, 'error')],
                   'still_failing': [('F-E', 'fail', 'error'), ('E-F', 'error', 'fail')],
                   'fixed': [('E-P', 'error', 'pass'), ('F-P', 'fail', 'pass')],
                   'changed': [('P-W', 'pass', 'warn'), ('W-S', 'warn', 'skip')]}
    assert drift['previous_found'] is True and _checks.drift(now, [])['previous_found'] is True
    other_subject = _checks.drift([{'id': 'P-F', 'subject': 't', 'status': 'fail'}], previous)
    assert other_subject['new_failures'][0]['was'] is None


def test_a_long_chain_of_waits_holds_to_its_root():
    def waits_on(check_id):
        def judge_(_context, _subject):
            raise _checks.Blocked(check_id, 'waiting on %s' % check_id)
        return judge_
    chain = [_checks.Check('X-%d' % n, 'w', 'error', 'tenant', ('x',), 'e', 'f',
                           waits_on('X-%d' % (n + 1) if n < 4 else 'APP-REGISTRATION'), 'network') for n in (1, 2, 3, 4)]
    document = healthy()
    document['tenant']['tenant_info']['application']['found'] = False
    held = statuses(judge(document, checks=[_checks.by_id()['APP-REGISTRATION']] + chain))
    assert held == dict([(('APP-REGISTRATION', 'tenant'), 'fail')] + [(('X-%d' % n, 'tenant'), 'skip') for n in (1, 2, 3, 4)])


def test_a_check_declared_late_is_placed_with_its_family_and_its_judge_stays_importable():
    def judge_late(_context, _subject):
        return 'pass', 'late', {}
    judge_late.__module__ = _checks.preflight.__name__
    try:
        returned = _checks.check('PREFLIGHT-LATE', 'late', 'error', 'tenant', ('x',), 'e', 'f')(judge_late)
        ids = [c.id for c in _checks.CATALOGUE]
        assert returned is judge_late
        assert ids.index('PREFLIGHT-LATE') == 2 and _checks.CATALOGUE[2].family == 'preflight'
    finally:
        _checks.CATALOGUE[:] = [c for c in _checks.CATALOGUE if c.id != 'PREFLIGHT-LATE']
    for module, name, check_id in ((_checks.network, 'judge_clock', 'NET-CLOCK-SKEW'),
                                   (_checks.identity, 'judge_token_lifetime', 'TOKEN-LIFETIME'),
                                   (_checks.preflight, 'judge_reachable', 'PREFLIGHT-HOST-REACHABLE')):
        assert getattr(module, name) is _checks.by_id()[check_id].judge
