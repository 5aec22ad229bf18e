# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run each mutant against its file's unit tests, one forked child per mutant.

The parent imports pytest, ansible, the libraries and (once, to learn what they pull in) the
collection and its tests, then forgets every module of the repository: each child starts from a
process where only the libraries are loaded. In the child, a finder placed first on sys.meta_path
serves the mutated source for the mutated module's dotted name (executed into a fresh module object
that the import system registers in sys.modules); everything else of the collection is imported again
from disk, so a package such as _checks, which registers its checks in a global CATALOGUE at import,
is rebuilt from scratch with the mutated family file. The child runs ``pytest.main(tests + ['-x',
'-q', '-p', 'no:cacheprovider'])`` with its output in a temporary file and exits with pytest's status.
The parent runs JOBS children at once and kills a child's process group at its timeout (a mutant
that hangs the tests counts as killed: "timeout").

Before any mutant, the unmutated code must pass its tests (a child with no mutant, the baseline):
if it does not, BaselineError, with the tests' output.
"""

import collections
import importlib.abc
import importlib.util
import os
import signal
import sys
import tempfile
import time

import pytest

# pytest's exit statuses that mean a test failed, the run was interrupted (an error while collecting:
# the mutant broke an import) or pytest itself broke on the mutant.
KILLED_STATUSES = (1, 2, 3)
INTERNAL_ERROR = 70  # the child's own code failed before or after pytest: a bug of this runner
PYTEST_ARGS = ('-x', '-q', '-p', 'no:cacheprovider')


class BaselineError(Exception):
    """The unmutated code fails its own tests: no mutant can be judged."""


class RunnerError(Exception):
    """A child failed outside pytest."""


class Target(object):
    """A file to mutate: its path relative to ROOT, the module name it is imported by, its tests."""

    def __init__(self, path, module, tests, deselect=None):
        self.path = path
        self.module = module
        self.tests = list(tests)
        self.deselect = deselect

    def pytest_args(self):
        args = list(self.tests) + list(PYTEST_ARGS)
        if self.deselect:
            args += ['-k', self.deselect]
        return args


class _MutantLoader(importlib.abc.Loader):

    def __init__(self, source):
        self.source = source

    def create_module(self, spec):
        return None  # the default: a fresh module object

    def exec_module(self, module):
        exec(compile(self.source, module.__file__, 'exec'), module.__dict__)  # pylint: disable=exec-used


class _MutantFinder(importlib.abc.MetaPathFinder):
    """Serves SOURCE as the module NAME (whose file is FILENAME); every other module is found as usual."""

    def __init__(self, name, filename, source):
        self.name = name
        self.filename = filename
        self.source = source

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.filename, loader=_MutantLoader(self.source))


class _SlowTestsLast(object):
    """Property-based (hypothesis) tests run after the others: with -x a kill is known sooner."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        def slow(item):
            return item.get_closest_marker('hypothesis') is not None or bool(
                getattr(getattr(item, 'obj', None), 'is_hypothesis_test', False))
        items.sort(key=slow)


def _hypothesis_profile():
    """No example database (children would share and pollute it), no deadline (two children share the
    cores), the same examples every run (a mutant's verdict must not depend on luck), no shrinking."""
    try:
        from hypothesis import Phase, settings  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    settings.register_profile('ece-o365-mutation', database=None, deadline=None, derandomize=True,
                              phases=(Phase.explicit, Phase.reuse, Phase.generate))
    settings.load_profile('ece-o365-mutation')


def _output_to(fd):
    """Send file descriptors 1 and 2, and sys.stdout and sys.stderr (which a surrounding pytest may have
    replaced by objects of its own), to FD."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, 'w', closefd=False, encoding='utf-8', errors='replace')  # pylint: disable=consider-using-with
    sys.stderr = open(2, 'w', closefd=False, encoding='utf-8', errors='replace')  # pylint: disable=consider-using-with


class Runner(object):
    """Judge mutants of TARGETS; ROOT is the directory the tests run from; SYS_PATH is prepended to sys.path;
    PREFIXES name the modules (besides those loaded from files under ROOT) to drop before each child."""

    def __init__(self, root, targets, sys_path=(), prefixes=(), jobs=2, timeout=None, progress=None):
        self.root = os.path.realpath(root)
        self.targets = dict((t.path, t) for t in targets)
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.progress = progress or (lambda text: None)
        self.prefixes = tuple(prefixes)
        self.filenames = {}
        self.baseline_seconds = {}
        for entry in reversed(list(sys_path)):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        os.chdir(self.root)
        self._warm_up()

    # -- the parent's one-time set-up ----------------------------------------------------------

    def _project_module(self, name, module):
        if any(name == p or name.startswith(p + '.') for p in self.prefixes):
            return True
        filename = getattr(module, '__file__', None)
        if not filename:
            return False
        real = os.path.realpath(filename)
        inside = real.startswith(self.root + os.sep)
        in_library = real.startswith(os.path.realpath(sys.prefix) + os.sep)
        return inside and not in_library

    def _forget_project_modules(self):
        for name, module in list(sys.modules.items()):
            if self._project_module(name, module):
                del sys.modules[name]
        importlib.invalidate_caches()

    def _warm_up(self):
        """Import the mutated modules (their file names) and collect every test once, then forget the repository's modules."""
        for target in self.targets.values():
            module = importlib.import_module(target.module)
            self.filenames[target.path] = module.__file__
            if os.path.realpath(module.__file__) != os.path.realpath(os.path.join(self.root, target.path)):
                raise RunnerError('%s is imported from %s, not from %s' % (target.module, module.__file__, target.path))
        tests = sorted(set(t for target in self.targets.values() for t in target.tests))
        with tempfile.TemporaryFile() as output:
            saved = os.dup(1), os.dup(2), sys.stdout, sys.stderr
            _output_to(output.fileno())
            try:
                pytest.main(tests + ['--collect-only', '-q', '-p', 'no:cacheprovider'])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
                sys.stdout, sys.stderr = saved[2], saved[3]
        self._forget_project_modules()

    # -- one child ----------------------------------------------------------------------------

    def _child(self, target, source, output_fd):
        status = INTERNAL_ERROR
        try:
            os.setpgid(0, 0)
            _output_to(output_fd)
            sys.dont_write_bytecode = True
            self._forget_project_modules()
            if source is not None:
                sys.meta_path.insert(0, _MutantFinder(target.module, self.filenames[target.path], source))
            _hypothesis_profile()
            status = int(pytest.main(target.pytest_args(), plugins=[_SlowTestsLast()]))
        except BaseException:  # pylint: disable=broad-except  # whatever happens, the child must exit here
            import traceback  # pylint: disable=import-outside-toplevel
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)  # pylint: disable=protected-access  # no atexit, no pytest clean-up of the parent's

    def _start(self, target, source):
        output = tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._child(target, source, output.fileno())
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child did it already (or has exited)
        return pid, output

    def run(self, work):
        """WORK: (key, target path, mutated source or None) items. Returns {key: (outcome, seconds, status, output)}:
        outcome killed, survived, timeout or crashed; output only for a source of None (a baseline) or an internal error."""
        pending = collections.deque(work)
        running = {}
        results = {}
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    key, path, source = pending.popleft()
                    target = self.targets[path]
                    pid, output = self._start(target, source)
                    limit = self.timeout or self._default_timeout(path)
                    running[pid] = (key, path, source, output, time.monotonic(), limit)
                done = False
                for pid in list(running):
                    key, path, source, output, started, limit = running[pid]
                    reaped, status = os.waitpid(pid, os.WNOHANG)
                    elapsed = time.monotonic() - started
                    if reaped == 0 and elapsed <= limit:
                        continue
                    if reaped == 0:
                        self._kill(pid)
                        outcome, code = 'timeout', None
                    elif os.WIFSIGNALED(status):
                        outcome, code = 'crashed', -os.WTERMSIG(status)
                    else:
                        code = os.WEXITSTATUS(status)
                        outcome = 'survived' if code == 0 else 'killed'
                    text = None
                    if source is None or code == INTERNAL_ERROR or code not in (0,) + KILLED_STATUSES:
                        output.seek(0)
                        text = output.read().decode('utf-8', 'replace')
                    output.close()
                    del running[pid]
                    results[key] = (outcome, elapsed, code, text)
                    self.progress('%s %s %.1fs' % (key, outcome, elapsed))
                    done = True
                    if code == INTERNAL_ERROR:
                        raise RunnerError('the child for %s failed outside pytest:\n%s' % (key, text))
                if not done:
                    time.sleep(0.01)
        finally:
            for pid in list(running):
                self._kill(pid)
                running.pop(pid)[3].close()
        return results

    @staticmethod
    def _kill(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def _default_timeout(self, path):
        baseline = self.baseline_seconds.get(path)
        return 300.0 if baseline is None else max(10.0, 3 * baseline + 5)

    def baseline(self):
        """Run each target's tests on the unmutated code; BaselineError when one fails (with its output)."""
        results = self.run([(path, path, None) for path in sorted(self.targets)])
        failed = []
        for path, (outcome, seconds, code, text) in sorted(results.items()):
            self.baseline_seconds[path] = seconds
            if outcome != 'survived':
                tail = '\n'.join((text or '').rstrip().splitlines()[-40:])
                failed.append('%s: its tests fail on the unmutated code (%s, exit %s): %s\n%s' % (
                    path, outcome, code, ' '.join(self.targets[path].pytest_args()), tail))
        if failed:
            raise BaselineError('baseline failed, no mutant was run: fix the tests first\n' + '\n'.join(failed))
        return dict(self.baseline_seconds)

    def judge(self, mutants, sources):
        """Outcome of each mutant (sources: path -> original text): {mutant id: (outcome, seconds)}."""
        work = [(m.id, m.path, m.apply(sources[m.path])) for m in mutants]
        return dict((key, (value[0], value[1])) for key, value in self.run(work).items())
