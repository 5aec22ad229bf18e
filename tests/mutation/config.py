# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What is mutated, which unit tests judge each file, and the scores each file must keep: the one place.

A file's tests are the unit tests that exercise it, without the docs-are-generated tests (a kill that
only the docs test makes says nothing about a wrong verdict): test__doc.py is left out and DESELECT
deselects the others by name. The first test files listed run first (they kill soonest).
"""

import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where the collection is importable from (tools/bootstrap.sh makes the symlink).
SYS_PATH = (os.path.join(ROOT, '.build', 'collections'),)
COLLECTION = 'ansible_collections.ece_o365.preflight'
DOC = 'docs/mutation.md'
EQUIVALENT = 'tests/mutation/equivalent.yml'

# The goal of issue 14 for every file: this share of the non-equivalent mutants killed.
TARGET = 90
# The CI stage (tools/test mutation): this many mutants per file, spread evenly, always the same ones
# for the same code (the seed); about 3 minutes on the project's 2-core machine (about 130 CPU-seconds).
STAGE_SAMPLE = 30
STAGE_SEED = 0

# Tests whose name says they check generated docs (pytest -k).
DESELECT = 'not generated and not docs_'

# String literals equal to one of these names are swapped for another (the 'string' operator).
CLASS_VOCABULARIES = (('plugins/module_utils/_errors.py', 'ERROR_CLASSES'), ('plugins/module_utils/_mail.py', 'MAIL_CLASSES'))

_CHECKS_TESTS_DIR = 'tests/unit/plugins/plugin_utils/_checks'
_NOT_MUTATION_TESTS = ('tests/unit/plugins/plugin_utils/_checks/test__doc.py',)  # docs are generated: not a kill


def _checks_tests(first=()):
    """The judge's tests: the _checks tests (FIRST first, the docs test left out), the report and the action."""
    found = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, _CHECKS_TESTS_DIR, 'test_*.py')))
    rest = [p for p in found if p not in first and p not in _NOT_MUTATION_TESTS]
    return list(first) + rest + ['tests/unit/plugins/plugin_utils/test__report.py',
                                 'tests/unit/plugins/action/test_preflight_report.py']


def _family(name):
    return ('%s/test_%s.py' % (_CHECKS_TESTS_DIR, name),)


# path (relative to the repository) -> (its tests, in the order they run, as a function: test files
# added later are picked up; the stage threshold in per cent: the stage fails below it).
FILES = {
    'plugins/plugin_utils/_checks/_engine.py': (lambda: _checks_tests(_family('_engine')), 90),
    'plugins/plugin_utils/_checks/preflight.py': (lambda: _checks_tests(_family('preflight')), 90),
    'plugins/plugin_utils/_checks/network.py': (lambda: _checks_tests(_family('network')), 90),
    'plugins/plugin_utils/_checks/ece.py': (lambda: _checks_tests(_family('ece')), 90),
    'plugins/plugin_utils/_checks/identity.py': (lambda: _checks_tests(_family('identity')), 90),
    'plugins/plugin_utils/_checks/mailbox.py': (lambda: _checks_tests(_family('mailbox')), 90),
    'plugins/module_utils/_contract.py': (
        lambda: ['tests/unit/plugins/module_utils/test__contract.py'] + _checks_tests(), 90),
    'plugins/module_utils/_mail.py': (
        lambda: ['tests/unit/plugins/module_utils/test__mail.py', 'tests/unit/plugins/modules/test_mailbox_protocols.py'], 90),
    'plugins/module_utils/_aadsts.py': (
        lambda: ['tests/unit/plugins/module_utils/test__aadsts.py', 'tests/unit/plugins/module_utils/test__auth.py'], 90),
}


def module_name(path):
    """The dotted name the tests import PATH by."""
    return '%s.%s' % (COLLECTION, path[:-len('.py')].replace('/', '.'))


def tests_for(path):
    return [p for p in FILES[path][0]() if os.path.exists(os.path.join(ROOT, p))]


def threshold(path):
    return FILES[path][1]
