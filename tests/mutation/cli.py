# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tools/mutate: mutation testing of the judge, the reply classifiers and the AADSTS catalogue (docs/mutation.md)."""

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

import yaml

from tests.mutation import config, mutator, runner

DOC_BEGIN = '<!-- mutation: begin -->'
DOC_END = '<!-- mutation: end -->'
RESULTS = '.build/mutation/run-<date>-<time>-<pid>.json'


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='tools/mutate', description=__doc__)
    parser.add_argument('--files', nargs='+', metavar='PATH', help='only these files (default: every file of '
                        'tests/mutation/config.py)')
    parser.add_argument('--sample', type=int, metavar='N', help='N mutants per file, spread evenly over it (default: '
                        'every mutant)')
    parser.add_argument('--seed', default=str(config.STAGE_SEED), metavar='S', help='which sample (default %(default)s)')
    parser.add_argument('--stage', action='store_true', help='the CI stage: --sample %d --seed %s' % (
        config.STAGE_SAMPLE, config.STAGE_SEED))
    parser.add_argument('--jobs', type=int, default=2, metavar='J', help='children at once (default %(default)s)')
    parser.add_argument('--timeout', type=float, metavar='SECONDS', help='per mutant (default: 3 x the time of the '
                        'unmutated tests + 5 s, at least 10 s)')
    parser.add_argument('--survivors', action='store_true', help='list every surviving mutant')
    parser.add_argument('--list', action='store_true', help='list the mutants, run nothing')
    parser.add_argument('--write-doc', action='store_true', help='rewrite %s from this run' % config.DOC)
    parser.add_argument('--verbose', action='store_true', help='one line per mutant as it ends')
    parser.add_argument('--from-results', metavar='FILE', help='run nothing: take the outcomes from FILE (every run '
                        'writes its own to %s), e.g. to rewrite the page after an equivalent mutant was listed' % RESULTS)
    args = parser.parse_args(argv)
    if args.stage:
        args.sample, args.seed = config.STAGE_SAMPLE, str(config.STAGE_SEED)
    for path in args.files or []:
        if path not in config.FILES:
            parser.error('%s is not a mutated file; known: %s' % (path, ', '.join(config.FILES)))
    if args.write_doc and args.files:
        parser.error('--write-doc needs every file: leave out --files')
    return args


def load_equivalent(path=None):
    """{mutant id: reason} from equivalent.yml (a list of {id, reason})."""
    with open(os.path.join(config.ROOT, path or config.EQUIVALENT), encoding='utf-8') as handle:
        entries = yaml.safe_load(handle) or []
    found = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {'id', 'reason'} or not str(entry['reason']).strip():
            raise ValueError('%s entry %d: needs exactly id and reason' % (path or config.EQUIVALENT, index))
        if entry['id'] in found:
            raise ValueError('%s: %s listed twice' % (path or config.EQUIVALENT, entry['id']))
        found[entry['id']] = str(entry['reason']).strip()
    return found


def class_vocabulary():
    names = set()
    for path, variable in config.CLASS_VOCABULARIES:
        with open(os.path.join(config.ROOT, path), encoding='utf-8') as handle:
            names.update(mutator.class_names(handle.read(), variable))
    return names


def all_mutants(paths):
    """(sources, {path: every mutant of the file, in file order})."""
    classes = class_vocabulary()
    sources, mutants = {}, {}
    for path in paths:
        with open(os.path.join(config.ROOT, path), encoding='utf-8') as handle:
            sources[path] = handle.read()
        mutants[path] = mutator.mutants_of(path, sources[path], classes)
    return sources, mutants


def config_digest(equivalent):
    """What docs/mutation.md must have been generated with: the files, the operators, the equivalent mutants."""
    data = {'files': sorted(config.FILES), 'operators': sorted(mutator.OPERATORS), 'equivalent': sorted(equivalent.items())}
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode('utf-8')).hexdigest()[:12]


def score(row):
    judged = row['mutants'] - row['equivalent']
    return 100.0 * row['killed'] / judged if judged else 100.0


def tally(paths, chosen, outcomes, equivalent, threshold=config.threshold):
    rows = {}
    for path in paths:
        row = {'mutants': len(chosen[path]), 'killed': 0, 'survived': 0, 'equivalent': 0, 'timeout': 0, 'survivors': [],
               'threshold': threshold(path)}
        for mutant in chosen[path]:
            if mutant.id in equivalent:
                row['equivalent'] += 1
                continue
            outcome = outcomes[mutant.id][0]
            if outcome == 'survived':
                row['survived'] += 1
                row['survivors'].append(mutant)
            else:
                row['killed'] += 1
                row['timeout'] += outcome == 'timeout'
        row['score'] = score(row)
        rows[path] = row
    return rows


def table(rows):
    header = ('file', 'mutants', 'killed', 'survived', 'equiv', 'timeout', 'score', 'target', 'threshold')
    lines = ['%-44s %7s %6s %8s %5s %7s %7s %6s %9s' % header]
    for path, row in rows.items():
        lines.append('%-44s %7d %6d %8d %5d %7d %6.1f%% %5d%% %8d%%' % (
            path, row['mutants'], row['killed'], row['survived'], row['equivalent'], row['timeout'], row['score'],
            config.TARGET, row['threshold']))
    return lines


def survivor_line(mutant):
    return '%s:%d: %s: %s  [%s]' % (mutant.path, mutant.line, mutant.operator, mutant.describe(), mutant.id)


def git_commit():
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=config.ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--'] + list(config.FILES), cwd=config.ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return out + (' (mutated files modified in the work tree)' if dirty else '')


def _md(text):
    return text.replace('|', '\\|').replace('`', "'")


def render_doc(rows, equivalent, run):
    """The generated block of docs/mutation.md."""
    out = [DOC_BEGIN,
           '<!-- generated by tools/mutate --write-doc; configuration %s -->' % config_digest(equivalent), '',
           '%s, commit %s: %s; %d children at a time, %.0f s in all (Python %s, %d cores).' % (
               run['date'], run['commit'], run['kind'], run['jobs'], run['seconds'], run['python'], run['cores']), '',
           '| File | Mutants | Killed | Survived | Equivalent | Timeouts | Score | Stage threshold |',
           '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for path, row in rows.items():
        out.append('| `%s` | %d | %d | %d | %d | %d | %.1f %%%s | %d %% |' % (
            path, row['mutants'], row['killed'], row['survived'], row['equivalent'], row['timeout'], row['score'],
            '' if row['score'] >= config.TARGET else ' (under %d %%)' % config.TARGET, row['threshold']))
    out += ['', '### Survivors', '']
    survivors = [m for row in rows.values() for m in row['survivors']]
    if survivors:
        out += ['| Id | Line | Operator | What changed |', '| --- | --- | --- | --- |']
        out += ['| `%s` | %d | %s | `%s` |' % (m.id, m.line, m.operator, _md(m.describe(90))) for m in survivors]
    else:
        out.append('None.')
    out += ['', '### Equivalent mutants', '',
            'Listed in `%s`: changes no test can detect because they do not change what the code does. '
            'They count neither as killed nor as survived.' % config.EQUIVALENT, '']
    if equivalent:
        out += ['| Id | Why it is equivalent |', '| --- | --- |']
        out += ['| `%s` | %s |' % (key, _md(reason)) for key, reason in sorted(equivalent.items())]
    else:
        out.append('None.')
    out.append(DOC_END)
    return '\n'.join(out) + '\n'


def write_doc(block):
    path = os.path.join(config.ROOT, config.DOC)
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    start, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END) + 1
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text[:start] + block + text[end:])


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    paths = args.files or list(config.FILES)
    equivalent = load_equivalent()
    sources, every = all_mutants(paths)
    chosen = dict((p, mutator.sample(every[p], args.sample, args.seed, p)) for p in paths)
    for path in paths:
        mutator.check_parses(chosen[path], sources[path])
    known = set(m.id for p in paths for m in every[p])
    stale = sorted(k for k in equivalent if k.split(':')[0] in paths and k not in known)
    kind = 'sample of %d mutants per file (seed %s)' % (args.sample, args.seed) if args.sample else 'every mutant (full run)'
    print('tools/mutate: %s; %s' % (kind, ', '.join('%s %d of %d' % (p, len(chosen[p]), len(every[p])) for p in paths)),
          flush=True)
    if args.list:
        for path in paths:
            for mutant in chosen[path]:
                print(survivor_line(mutant))
        return 0
    todo = [m for p in paths for m in chosen[p] if m.id not in equivalent]
    if args.from_results:
        with open(args.from_results, encoding='utf-8') as handle:
            saved = json.load(handle)
        outcomes, seconds, commit, date = saved['outcomes'], saved['seconds'], saved['commit'], saved['date']
        missing = [m.id for m in todo if m.id not in outcomes]
        if missing:
            print('tools/mutate: %s has no outcome for %d of these mutants (%s...): run them' % (
                args.from_results, len(missing), missing[0]), file=sys.stderr)
            return 2
    else:
        commit, date = git_commit(), datetime.date.today().isoformat()  # of the code as the run starts
        targets = [runner.Target(p, config.module_name(p), config.tests_for(p), config.DESELECT) for p in paths]
        progress = (lambda text: print('  ' + text, flush=True)) if args.verbose else None
        run = runner.Runner(config.ROOT, targets, config.SYS_PATH, (config.COLLECTION,), args.jobs, args.timeout,
                            progress)
        try:
            baseline = run.baseline()
        except runner.BaselineError as exc:
            print('tools/mutate: %s' % exc, file=sys.stderr)
            return 3
        print('tools/mutate: the unmutated code passes its tests (%s)' % ', '.join(
            '%s %.1fs' % (os.path.basename(p), s) for p, s in sorted(baseline.items())), flush=True)
        outcomes = run.judge(todo, sources)
        seconds = time.monotonic() - started
        saved = os.path.join(config.ROOT, RESULTS.replace('<date>-<time>-<pid>', '%s-%d' % (
            time.strftime('%Y%m%d-%H%M%S'), os.getpid())))
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        with open(saved, 'w', encoding='utf-8') as handle:
            json.dump({'kind': kind, 'seconds': seconds, 'commit': commit, 'date': date, 'jobs': args.jobs,
                       'outcomes': outcomes}, handle, indent=1, sort_keys=True)
        print('tools/mutate: outcomes saved in %s' % os.path.relpath(saved, config.ROOT))
    rows = tally(paths, chosen, outcomes, equivalent)
    for key in sorted(k for k in equivalent if k in outcomes and outcomes[k][0] != 'survived'):
        print('tools/mutate: warning: %s lists %s as equivalent, but the tests killed it in this run (%s)' % (
            config.EQUIVALENT, key, outcomes[key][0]))
    print('\n'.join(table(rows)))
    if args.survivors:
        for row in rows.values():
            for mutant in row['survivors']:
                print('survived: ' + survivor_line(mutant))
    for key in stale:
        print('tools/mutate: warning: %s lists %s, which is no longer a mutant (the line changed?)' % (
            config.EQUIVALENT, key))
    failed = 0
    for path, row in rows.items():
        if row['score'] < config.TARGET:
            print('tools/mutate: %s: %.1f %% of its mutants killed, under the target of %d %%' % (
                path, row['score'], config.TARGET))
        if row['score'] < row['threshold']:
            print('tools/mutate: FAILED: %s: %.1f %% is under its stage threshold of %d %% (tests/mutation/config.py)' % (
                path, row['score'], row['threshold']))
            failed += 1
    print('tools/mutate: %d mutants in %.0f s' % (len(todo), seconds))
    if args.write_doc:
        write_doc(render_doc(rows, equivalent, {
            'date': date, 'commit': commit, 'kind': kind, 'jobs': args.jobs,
            'seconds': seconds, 'python': '%d.%d.%d' % sys.version_info[:3], 'cores': os.cpu_count() or 1}))
        print('tools/mutate: %s rewritten' % config.DOC)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
