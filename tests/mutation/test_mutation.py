# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mutation tool's own tests (tools/test mutation runs them before the mutants).

The runner is proved on a fixture module (tests/mutation/fixture): a mutant its tests must kill is
killed, an equivalent one is not, the unmutated code served through the mutant finder passes, a
failing baseline stops everything, a hanging mutant ends at its timeout. docs/mutation.md must be in
step with the configuration (every mutated file, the equivalent mutants with their reasons).
"""

import os
import sys

import pytest

from tests.mutation import cli, config, mutator, runner

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixture')
CALC = 'mutfixture/calc.py'


@pytest.fixture
def fixture_runner(monkeypatch):
    """make(tests, timeout=None): a Runner on the fixture module; cwd and sys.path restored afterwards."""
    monkeypatch.chdir(os.getcwd())
    monkeypatch.setattr(sys, 'path', list(sys.path))

    def make(tests=('check_calc.py',), timeout=None):
        target = runner.Target(CALC, 'mutfixture.calc', tests)
        return runner.Runner(FIXTURE, [target], (FIXTURE,), ('mutfixture',), jobs=2, timeout=timeout)

    yield make
    for name in list(sys.modules):
        if name == 'mutfixture' or name.startswith('mutfixture.'):
            del sys.modules[name]


def _calc():
    with open(os.path.join(FIXTURE, CALC), encoding='utf-8') as handle:
        text = handle.read()
    return text, mutator.mutants_of(CALC, text)


def _one(text, mutants, operator, line_start, replacement):
    lines = text.splitlines()
    found = [m for m in mutants if m.operator == operator and m.replacement == replacement
             and lines[m.line - 1].strip().startswith(line_start)]
    assert len(found) == 1, found
    return found[0]


def test_the_runner_kills_a_known_mutant_and_not_an_equivalent_one(fixture_runner):
    text, mutants = _calc()
    killable = _one(text, mutants, 'cmp', 'if score >= 50:', '>')
    equivalent = _one(text, mutants, 'if_false', 'if value == 0:', 'False')
    run = fixture_runner()
    run.baseline()
    outcomes = run.judge([killable, equivalent], {CALC: text})
    assert outcomes[killable.id][0] == 'killed'
    assert outcomes[equivalent.id][0] == 'survived'
    # The unmutated source served by the mutant finder passes too: a kill is the mutant's doing.
    results = run.run([('identity', CALC, text)])
    assert results['identity'][0] == 'survived'


def test_a_failing_baseline_stops_the_run_with_the_tests_output(fixture_runner):
    run = fixture_runner(tests=('check_calc.py', 'check_broken.py'))
    with pytest.raises(runner.BaselineError) as excinfo:
        run.baseline()
    message = str(excinfo.value)
    assert 'no mutant was run' in message and 'its tests fail on the unmutated code' in message
    assert 'test_a_wrong_expectation' in message


def test_a_mutant_that_hangs_is_killed_at_its_timeout(fixture_runner):
    text, _mutants = _calc()
    run = fixture_runner(timeout=3)
    run.baseline()
    results = run.run([('hang', CALC, text + '\nwhile True:\n    pass\n')])
    assert results['hang'][0] == 'timeout' and results['hang'][1] < 10


def test_the_equivalent_mutant_counts_neither_as_killed_nor_as_survived():
    text, mutants = _calc()
    equivalent = _one(text, mutants, 'if_false', 'if value == 0:', 'False')
    outcomes = dict((m.id, ('killed', 0.1)) for m in mutants)
    rows = cli.tally([CALC], {CALC: mutants}, outcomes, {equivalent.id: 'returns 0 either way'}, lambda path: 90)
    assert rows[CALC]['equivalent'] == 1 and rows[CALC]['killed'] == len(mutants) - 1
    assert rows[CALC]['score'] == 100.0


SNIPPET = '''"""Docstring: 'pass' is not mutated here."""


def judge(status, items, limit, flag=True):
    """Nor 'fail' here."""
    if status == 'pass' and not flag:
        return 'fail'
    while items and limit > 0:
        limit -= 1
    names = ('imap', 'pop3')
    message = 'status %s' % ('fail',)
    return items[1:limit] or names
'''


def test_each_operator_changes_only_its_span():
    mutants = mutator.mutants_of('snippet.py', SNIPPET, ())
    shown = set((m.operator, m.describe()) for m in mutants)
    for expected in [('cmp', '== -> !='), ('cmp', '> -> >='), ('boolop', 'and -> or'), ('boolop', 'or -> and'),
                     ('string', "'pass' -> 'fail'"), ('string', "'fail' -> 'pass'"), ('bool', 'True -> False'),
                     ('int', '0 -> 1'), ('index', '1 -> 2'), ('slice', 'limit -> limit + 1'),
                     ('not', "status == 'pass' and not flag -> not (status == 'pass' and not flag)"),
                     ('not', 'items and limit > 0 -> not (items and limit > 0)'), ('if_true', "status == 'pass' and not flag -> True"),
                     ('if_false', "status == 'pass' and not flag -> False"), ('stmt', 'limit -= 1 -> pass'),
                     ('return_none', "'fail' -> None"), ('or_left', 'items[1:limit] or names -> items[1:limit]'),
                     ('list_del', "delete 'imap'"), ('list_del', "delete 'pop3'")]:
        assert expected in shown, expected
    # Docstrings and the arguments of a message are left alone.
    assert not [m for m in mutants if m.operator == 'string' and m.line in (1, 5, 11)]
    for mutant in mutants:
        mutated = mutant.apply(SNIPPET)
        assert mutated[:mutant.start] == SNIPPET[:mutant.start]
        assert mutated[len(mutated) - (len(SNIPPET) - mutant.end):] == SNIPPET[mutant.end:]
    mutator.check_parses(mutants, SNIPPET)


def test_ids_are_stable_when_unrelated_lines_change():
    before = [m.id for m in mutator.mutants_of('snippet.py', SNIPPET, ())]
    edited = SNIPPET.replace('def judge(', 'LIMIT = 3\n\n\ndef judge(')
    after = [m.id for m in mutator.mutants_of('snippet.py', edited, ())]
    assert set(before) <= set(after) and len(set(before)) == len(before)
    assert before[0] == 'snippet.py:bool:%s:0' % mutator.line_hash('def judge(status, items, limit, flag=True):')


def test_a_sample_is_spread_over_the_file_and_the_same_for_the_same_seed():
    mutants = list(range(100))
    first = mutator.sample(mutants, 10, '0', 'a.py')
    assert first == mutator.sample(mutants, 10, '0', 'a.py') and len(set(first)) == 10
    assert all(first[i] // 10 == i for i in range(10))  # one in each tenth of the file
    assert mutator.sample(mutants, 10, '1', 'a.py') != first
    assert mutator.sample(mutants, 200, '0', 'a.py') == mutants


def test_the_mutants_of_every_mutated_file_parse_and_have_their_own_ids():
    # 40 a file here (3 ms each); tools/mutate checks every mutant it runs before running any.
    sources, every = cli.all_mutants(list(config.FILES))
    for path, mutants in every.items():
        assert mutants, path
        mutator.check_parses(mutator.sample(mutants, 40, 'parse', path), sources[path])
        ids = [m.id for m in mutants]
        assert len(set(ids)) == len(ids), path


def test_each_file_has_tests_and_no_docs_are_generated_test_counts():
    for path in config.FILES:
        tests = config.tests_for(path)
        assert tests and all(os.path.exists(os.path.join(config.ROOT, t)) for t in tests), path
        assert 'tests/unit/plugins/plugin_utils/_checks/test__doc.py' not in tests
        assert config.threshold(path) <= config.TARGET
        assert config.module_name(path).startswith('ansible_collections.ece_o365.preflight.plugins.')


def test_the_equivalent_list_is_well_formed_and_names_mutated_files():
    equivalent = cli.load_equivalent()
    for key in equivalent:
        assert key.split(':')[0] in config.FILES and key.split(':')[1] in mutator.OPERATORS, key


def test_docs_mutation_md_is_generated_for_every_file_and_the_current_equivalent_list():
    with open(os.path.join(config.ROOT, config.DOC), encoding='utf-8') as handle:
        text = handle.read()
    hint = 'docs/mutation.md is stale: run tools/mutate --write-doc (or --from-results after a full run)'
    assert cli.DOC_BEGIN in text and cli.DOC_END in text, hint
    block = text[text.index(cli.DOC_BEGIN):text.index(cli.DOC_END)]
    equivalent = cli.load_equivalent()
    assert 'configuration %s' % cli.config_digest(equivalent) in block, hint
    cells = [line.split('|')[1].strip().strip('`') for line in block.splitlines() if line.startswith('| `plugins/')]
    rows = [cell for cell in cells if ':' not in cell]  # not the survivors' ids
    assert rows == list(config.FILES), hint
    for key, reason in equivalent.items():
        assert '| `%s` | %s |' % (key, cli._md(reason)) in block, hint  # pylint: disable=protected-access
