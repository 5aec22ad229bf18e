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
    assert [c.id for c in chosen] == ['TOKEN-REFRESH', 'TOKEN-OWNER'] and [c.id for c in skipped] == ['TOKEN-LIFETIME']
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
