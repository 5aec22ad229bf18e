# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
name: selftest_verdict
short_description: Whether a probe twin works, from its answers to targets whose answers are known
version_added: 0.4.0
author: ece_o365.preflight contributors
description:
  - The judgement of the P(ece_o365.preflight.windows_selftest#playbook) playbook, on the controller. Given what a
    C(port_probe) or C(url_reach) task returned on one host for targets whose answers are known there (a listener
    the playbook opened, a closed port, a name that cannot exist, the host's own endpoint) and those answers,
    it says whether the twin works, in one line with the evidence.
  - The twin works when the task ran, its result follows the observation contract
    (P(ece_o365.preflight.contract_problems#filter)), and every target named in O(expected) has a result whose
    answer is one of those allowed.
  - An answer is allowed when C(ok) is expected and the result is C(ok) (with an HTTP status in C(status), when
    given), or when its C(error_class) is one of C(error_class). Every class named must be one of the collection's
    error classes (C(plugins/module_utils/_errors.py)); a misspelt class is refused, never silently unmatched.
options:
  _input:
    description: The registered result of the C(port_probe) or C(url_reach) task.
    type: dict
    required: true
  twin:
    description: Which probe it is.
    type: str
    choices: [port_probe, url_reach]
    required: true
  expected:
    description:
      - 'The known answers, by the result name of each target, such as C({"closed port": {"error_class": ["refused"]},
        "listener": {"ok": true}}).'
      - Each answer has C(ok) (bool), C(status) (list of int, with C(ok)) and C(error_class) (list of str); at least
        C(ok) or C(error_class).
    type: dict
    required: true
  label:
    description: Where the twin ran and which file, for the line, such as C(win_port_probe.ps1 on ece-svc01).
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: One line for the port_probe twin
  ansible.builtin.debug:
    msg: >-
      {{ (probe | ece_o365.preflight.selftest_verdict('port_probe',
          {'closed port': {'error_class': ['refused']}, 'listener': {'ok': true}},
          'port_probe.py on ' ~ inventory_hostname)).line }}
'''

RETURN = r'''
_value:
  description: The verdict.
  type: dict
  contains:
    twin:
      description: The probe, as given.
      type: str
    works:
      description: Whether every known answer came back and the result follows the contract.
      type: bool
    line:
      description: >-
        C(<twin> works (<label>): <evidence per target>; <n> results follow the observation contract), or
        C(<twin> does not work (<label>): <each problem>; evidence: ...).
      type: str
    problems:
      description: What did not match, one string each; empty when it works.
      type: list
      elements: str
    evidence:
      description: >-
        What each known target answered, C(<name> (<host:port or URL>): ok, ...) or
        C(<name> (<host:port or URL>): <error class>).
      type: list
      elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.filter.contract_problems import contract_problems
from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors

TWINS = ('port_probe', 'url_reach')
ANSWER_KEYS = ('ok', 'status', 'error_class')
MESSAGE_CHARS = 160


def _check_expected(expected):
    if not isinstance(expected, dict) or not expected:
        raise AnsibleFilterError('selftest_verdict: expected must be a non-empty mapping of target name to answer')
    for name, answer in expected.items():
        if not isinstance(answer, dict) or not (answer.get('ok') or answer.get('error_class')):
            raise AnsibleFilterError('selftest_verdict: the answer for %r needs ok: true or error_class: [...]' % name)
        unknown = sorted(set(answer) - set(ANSWER_KEYS))
        if unknown:
            raise AnsibleFilterError('selftest_verdict: the answer for %r has unknown keys %s (known: %s)' % (
                name, ', '.join(unknown), ', '.join(ANSWER_KEYS)))
        for error_class in answer.get('error_class') or []:
            if error_class not in _errors.ERROR_CLASSES:
                raise AnsibleFilterError('selftest_verdict: %r (for %r) is not an error class; they are %s' % (
                    error_class, name, ', '.join(_errors.ERROR_CLASS_NAMES)))


def _shown(answer):
    """The expected answer in words: 'ok', 'ok (HTTP 204)', 'refused', 'ok or cert_untrusted'."""
    parts = []
    if answer.get('ok'):
        parts.append('ok' + (' (HTTP %s)' % '/'.join(str(s) for s in answer['status']) if answer.get('status') else ''))
    parts.extend(answer.get('error_class') or [])
    return ' or '.join(parts)


def _got(result, twin):
    """What one result answered, with its evidence: 'ok, HTTP 204, 3 ms' or 'refused'."""
    if result.get('ok'):
        facts = ['ok']
        if twin == 'url_reach' and result.get('status') is not None:
            facts.append('HTTP %s' % result['status'])
        if twin == 'port_probe' and isinstance(result.get('tls'), dict) and result['tls'].get('version'):
            facts.append(str(result['tls']['version']))
        if isinstance(result.get('elapsed_ms'), (int, float)):
            facts.append('%d ms' % result['elapsed_ms'])
        return ', '.join(facts)
    return str(result.get('error_class'))


def _matches(result, answer):
    if answer.get('ok') and result.get('ok') is True:
        return not answer.get('status') or result.get('status') in answer['status']
    return result.get('ok') is not True and result.get('error_class') in (answer.get('error_class') or [])


def selftest_verdict(result, twin, expected, label=''):
    if twin not in TWINS:
        raise AnsibleFilterError('selftest_verdict: twin must be one of %s, got %r' % (', '.join(TWINS), twin))
    _check_expected(expected)
    where = ' (%s)' % label if label else ''
    problems, evidence = [], []
    if not isinstance(result, dict):
        problems.append('no result was registered')
    elif result.get('unreachable'):
        problems.append('the host was unreachable: %s' % str(result.get('msg', ''))[:MESSAGE_CHARS])
    elif result.get('skipped'):
        problems.append('the task did not run (skipped)')
    elif result.get('failed') or ('results' not in result and result.get('msg')):
        # failed_when: false keeps a failed module's result but sets failed to false: its msg is what is left.
        problems.append('the task failed: %s' % str(result.get('msg', 'no message'))[:MESSAGE_CHARS])
    if problems:
        return {'twin': twin, 'works': False, 'problems': problems, 'evidence': [],
                'line': '%s does not work%s: %s' % (twin, where, '; '.join(problems))}
    contract = ['contract: %s' % problem for problem in contract_problems(result, twin)]
    by_name = {}
    for item in result.get('results') or []:
        if isinstance(item, dict) and item.get('name') is not None:
            by_name.setdefault(item['name'], item)
    for name, answer in expected.items():
        item = by_name.get(name)
        if item is None:
            problems.append('%s: no result' % name)
            continue
        got = _got(item, twin)
        where_to = item.get('url') if twin == 'url_reach' else '%s:%s' % (item.get('host'), item.get('port'))
        evidence.append('%s (%s): %s' % (name, where_to, got))
        if not _matches(item, answer):
            # The cause, without the fix (the whole message is in the registered result).
            message = str(item.get('message') or '').split('. Fix: ', maxsplit=1)[0][:MESSAGE_CHARS]
            problems.append('%s: expected %s, got %s%s' % (name, _shown(answer), got,
                                                           ' (%s)' % message if message else ''))
    problems.extend(contract)
    if problems:
        line = '%s does not work%s: %s; evidence: %s' % (twin, where, '; '.join(problems), '; '.join(evidence))
    else:
        line = '%s works%s: %s; %d results follow the observation contract' % (
            twin, where, '; '.join(evidence), len(result.get('results') or []))
    return {'twin': twin, 'works': not problems, 'problems': problems, 'evidence': evidence, 'line': line}


class FilterModule(object):
    def filters(self):
        return {'selftest_verdict': selftest_verdict}
