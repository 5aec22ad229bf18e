# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""contract_problems and selftest_verdict: what the windows_selftest playbook judges on the controller."""

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.filter import contract_problems as contract_filter
from ansible_collections.ece_o365.preflight.plugins.filter import selftest_verdict as verdict_filter
from ansible_collections.ece_o365.preflight.plugins.filter.contract_problems import contract_problems
from ansible_collections.ece_o365.preflight.plugins.filter.selftest_verdict import selftest_verdict
from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract


def _port(name, ok, error_class=None, port=1):
    return {'name': name, 'host': '127.0.0.1', 'port': port, 'purpose': 'extra', 'protocol': 'none', 'mode': 'tcp',
            'ok': ok, 'error_class': error_class, 'message': None if ok else '127.0.0.1:%d: cause. Fix: fix.' % port,
            'elapsed_ms': 1.4, 'tls': None}


def _url(name, ok, error_class=None, status=None):
    return {'name': name, 'url': 'http://127.0.0.1:1/', 'purpose': 'extra', 'ok': ok, 'error_class': error_class,
            'message': None if ok else 'http://127.0.0.1:1/: cause. Fix: fix.', 'status': status}


PORT_RESULT = {'changed': False, 'invocation': {'module_args': {}}, 'summary': {'total': 3},
               'results': [_port('listener', True), _port('closed port', False, 'refused', 2),
                           _port('unknown name', False, 'dns', 443)]}
URL_RESULT = {'changed': False, 'results': [_url('listener', True, status=204), _url('closed port', False, 'refused'),
                                            _url('unknown name', False, 'dns')]}
PORT_EXPECTED = {'listener': {'ok': True}, 'closed port': {'error_class': ['refused']},
                 'unknown name': {'error_class': ['dns']}}
URL_EXPECTED = {'listener': {'ok': True, 'status': [204]}, 'closed port': {'error_class': ['refused']},
                'unknown name': {'error_class': ['dns']}}


def test_the_filters_are_registered():
    assert contract_filter.FilterModule().filters() == {'contract_problems': contract_problems}
    assert verdict_filter.FilterModule().filters() == {'selftest_verdict': selftest_verdict}


def test_results_that_follow_the_contract_have_no_problems():
    assert contract_problems(PORT_RESULT, 'port_probe') == []
    assert contract_problems(URL_RESULT, 'url_reach') == []
    assert contract_problems(PORT_RESULT['results'][0], 'port_target') == []


@pytest.mark.parametrize('change, problem', [
    (lambda r: r['results'][1].update(error_class='tcp_refused'), 'results[1].error_class: must be'),
    (lambda r: r['results'][0].pop('purpose'), 'results[0]: purpose is missing'),
    (lambda r: r['results'][2].update(port='443'), 'results[2].port: must be integer, got string'),
    (lambda r: r['results'][0].update(ok='yes'), 'results[0].ok: must be boolean'),
    (lambda r: r.pop('results'), '(document): results is missing'),
])
def test_a_result_that_breaks_the_contract_is_named_by_its_path(change, problem):
    result = copy.deepcopy(PORT_RESULT)
    change(result)
    problems = contract_problems(result, 'port_probe')
    assert any(p.startswith(problem) for p in problems), problems


def test_the_validator_is_the_contract_s_own():
    """The same problems as _contract.validate against the same definition: no second reading of the schema."""
    result = copy.deepcopy(URL_RESULT)
    result['results'][0]['status'] = '204'
    assert contract_problems(result, 'url_reach') == _contract.validate(result, _contract.SCHEMA['$defs']['url_reach'])
    assert contract_problems(result, 'url_reach') == ['results[0].status: must be integer or null, got string']


def test_an_unknown_definition_is_refused_naming_the_known_ones():
    with pytest.raises(AnsibleFilterError, match=r"has no definition 'port_probes'; it has .*port_probe, port_target"):
        contract_problems({}, 'port_probes')


def test_known_answers_make_a_works_line_with_the_evidence():
    verdict = selftest_verdict(PORT_RESULT, 'port_probe', PORT_EXPECTED, 'win_port_probe.ps1 on ece-svc01')
    assert verdict['works'] is True
    assert verdict['problems'] == []
    assert verdict['line'] == (
        'port_probe works (win_port_probe.ps1 on ece-svc01): listener (127.0.0.1:1): ok, 1 ms; '
        'closed port (127.0.0.1:2): refused; unknown name (127.0.0.1:443): dns; 3 results follow the observation contract')
    verdict = selftest_verdict(URL_RESULT, 'url_reach', URL_EXPECTED)
    assert verdict['works'] is True
    assert 'listener (http://127.0.0.1:1/): ok, HTTP 204' in verdict['line']
    assert 'does not work' not in verdict['line']


def test_a_wrong_answer_says_does_not_work_with_what_was_expected_and_what_came():
    expected = dict(PORT_EXPECTED, **{'closed port': {'error_class': ['dns']}})
    verdict = selftest_verdict(PORT_RESULT, 'port_probe', expected, 'port_probe.py on h')
    assert verdict['works'] is False
    assert verdict['problems'] == ['closed port: expected dns, got refused (127.0.0.1:2: cause)']
    assert verdict['line'].startswith('port_probe does not work (port_probe.py on h): closed port: expected dns, '
                                      'got refused (127.0.0.1:2: cause); evidence: listener (127.0.0.1:1): ok')


@pytest.mark.parametrize('item, answer, works', [
    (_url('x', True, status=204), {'ok': True, 'status': [204]}, True),
    (_url('x', True, status=200), {'ok': True, 'status': [204]}, False),       # a response, but not the known one
    (_url('x', True, status=401), {'ok': True}, True),                         # any status when none is named
    (_url('x', False, 'cert_untrusted'), {'ok': True, 'error_class': ['cert_untrusted']}, True),
    (_url('x', False, 'timeout'), {'ok': True, 'error_class': ['cert_untrusted']}, False),
    (_url('x', True, status=200), {'error_class': ['refused']}, False),        # ok where a failure is known
    (_url('x', False, None), {'error_class': ['refused']}, False),
])
def test_each_kind_of_answer(item, answer, works):
    assert selftest_verdict({'results': [item]}, 'url_reach', {'x': answer})['works'] is works


def test_a_missing_target_or_a_contract_problem_is_a_failure_too():
    result = copy.deepcopy(PORT_RESULT)
    del result['results'][2]
    result['results'][0]['purpose'] = 'selftest'
    verdict = selftest_verdict(result, 'port_probe', PORT_EXPECTED)
    assert verdict['works'] is False
    assert 'unknown name: no result' in verdict['problems']
    assert any(p.startswith('contract: results[0].purpose: must be one of') for p in verdict['problems'])


@pytest.mark.parametrize('result, problem', [
    ({'failed': True, 'msg': 'Unhandled exception while executing module: boom'},
     'the task failed: Unhandled exception while executing module: boom'),
    ({'unreachable': True, 'msg': 'ssl: connection refused'}, 'the host was unreachable: ssl: connection refused'),
    ({'skipped': True, 'changed': False}, 'the task did not run (skipped)'),
    # Under failed_when: false (the playbook's), Ansible sets failed to false: the msg without results tells.
    ({'failed': False, 'failed_when_result': False, 'msg': 'MODULE FAILURE', 'module_stderr': 'boom'},
     'the task failed: MODULE FAILURE'),
    (None, 'no result was registered'),
])
def test_a_task_that_did_not_return_results_does_not_work(result, problem):
    verdict = selftest_verdict(result, 'url_reach', URL_EXPECTED, 'win_url_reach.ps1 on w')
    assert verdict['works'] is False
    assert verdict['line'] == 'url_reach does not work (win_url_reach.ps1 on w): ' + problem


@pytest.mark.parametrize('twin, expected, message', [
    ('port_probes', PORT_EXPECTED, 'twin must be one of port_probe, url_reach'),
    ('port_probe', {}, 'expected must be a non-empty mapping'),
    ('port_probe', {'x': {'error_class': ['tcp_refused']}}, "'tcp_refused' .* is not an error class; they are .*refused"),
    ('port_probe', {'x': {'ok': False}}, "the answer for 'x' needs ok: true or error_class"),
    ('port_probe', {'x': {'ok': True, 'code': 1}}, "the answer for 'x' has unknown keys code"),
])
def test_a_wrong_expectation_is_refused_not_silently_unmatched(twin, expected, message):
    with pytest.raises(AnsibleFilterError, match=message):
        selftest_verdict(PORT_RESULT, twin, expected)
