# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one throttling policy (429/503): Retry-After honoured within the deadline, bounded retries; and the
module utils that share it import each other in one direction only."""

import datetime
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _throttle

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))), '.build', 'collections')
PACKAGE = 'ansible_collections.ece_o365.preflight.plugins.module_utils.'


class Clock(object):
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize('value, seconds', [
    ('5', 5.0), ('0', 0.0), ('1.5', 1.5), ('100000', _throttle.MAX_RETRY_AFTER),
    ('Sat, 28 Nov 2026 12:00:10 GMT', 10.0), ('Sat, 28 Nov 2026 11:00:00 GMT', 0.0), ('soon', None), (None, None),
    ('-3', None), ('Sat, 28 Nov 99999 12:00:10 GMT', None),
])
def test_retry_after_in_seconds_or_as_a_date(value, seconds):
    assert _throttle.retry_after(value, now=NOW) == seconds


def test_retry_after_is_waited_then_the_back_off_doubles_without_it():
    clock = Clock()
    throttle = _throttle.Throttle(clock.now + 60, sleep=clock.sleep, clock=clock)
    assert [throttle.wait('7'), throttle.wait(None), throttle.wait(None)] == [7.0, 4.0, 8.0]
    assert clock.slept == [7.0, 4.0, 8.0] and throttle.retries == 3 and throttle.waited == 19.0


def test_a_wait_that_would_end_at_the_deadline_is_not_taken():
    clock = Clock()
    throttle = _throttle.Throttle(clock.now + 10, sleep=clock.sleep, clock=clock)
    with pytest.raises(_throttle.Exhausted) as excinfo:
        throttle.wait('10')
    assert clock.slept == [] and excinfo.value.past_deadline is True
    assert excinfo.value.detail == 'waiting 10 s more would pass the deadline; 0 retries'
    assert throttle.wait('9') == 9.0, 'one that ends before it is'


def test_retries_are_bounded_without_a_deadline():
    clock = Clock()
    throttle = _throttle.Throttle(None, sleep=clock.sleep, clock=clock)
    for _retry in range(_throttle.MAX_RETRIES):
        throttle.wait('0')
    with pytest.raises(_throttle.Exhausted) as excinfo:
        throttle.wait('0')
    assert excinfo.value.detail == 'still throttled after %d retries' % _throttle.MAX_RETRIES
    assert len(clock.slept) == _throttle.MAX_RETRIES


def _loaded_alone(name):
    """The collection's module utils loaded by importing NAME alone in a fresh interpreter."""
    code = ('import json, sys\nimport %s%s\nprint(json.dumps(sorted(m.rsplit(".", 1)[-1] for m in sys.modules '
            'if m.startswith(%r))))' % (PACKAGE, name, PACKAGE))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


@pytest.mark.parametrize('name, must_not_load', [
    ('_throttle', {'_auth', '_graph', '_exchange', '_mail'}),
    ('_auth', {'_graph', '_exchange'}),
    ('_graph', {'_exchange', '_mail'}),
    ('_exchange', {'_mail'}),
    ('_mail', {'_auth', '_graph', '_exchange'}),
])
def test_each_module_util_imports_alone_and_no_circle(name, must_not_load):
    loaded = _loaded_alone(name)
    assert name in loaded and not loaded & must_not_load, '%s loads %s' % (name, sorted(loaded & must_not_load))


def test_no_module_util_imports_another_inside_a_function():
    """The old circle was a function-level import of _graph in _auth: any import is at the top of the file."""
    here = os.path.join(COLLECTIONS, 'ansible_collections', 'ece_o365', 'preflight', 'plugins', 'module_utils')
    for name in ('_auth', '_graph', '_exchange', '_mail', '_throttle', '_aadsts'):
        with open(os.path.join(here, name + '.py'), encoding='utf-8') as handle:
            for number, line in enumerate(handle, 1):
                assert not (line.startswith((' ', '\t')) and 'from ansible_collections' in line), \
                    '%s.py:%d imports inside a function: %s' % (name, number, line.strip())
