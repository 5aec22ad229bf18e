# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The windows_selftest playbook's Windows branch, read without PowerShell, and its POSIX listener, run.

The Windows branch is the playbook's tasks that run when the connection prefers PowerShell, and the
PowerShell file they run (playbooks/files/windows_selftest_listener.ps1). It parses with the same
grammar as the twins (test_parse.py), uses only ansible.builtin modules and the collection's own
(no ansible.windows), and its listener serves loopback only and ends by itself.
"""

import json
import os
import socket
import subprocess
import sys
import time

import yaml

from ansible_collections.ece_o365.preflight.tests.unit.windows import ps_contract

PLAYBOOK = os.path.join(ps_contract.REPO_ROOT, 'playbooks', 'windows_selftest.yml')
FILES = os.path.join(ps_contract.REPO_ROOT, 'playbooks', 'files')
PS_LISTENER = os.path.join(FILES, 'windows_selftest_listener.ps1')
PY_LISTENER = os.path.join(FILES, 'selftest_listener.py')


def _tasks():
    with open(PLAYBOOK, encoding='utf-8') as handle:
        plays = yaml.safe_load(handle)
    found = []
    stack = list(plays[0]['tasks'])
    while stack:
        task = stack.pop(0)
        found.append(task)
        for key in ('block', 'rescue', 'always'):
            stack.extend(task.get(key) or [])
    return found


def _module(task):
    return [key for key in task if '.' in key][0]


def test_the_powershell_listener_parses():
    with open(PS_LISTENER, 'rb') as handle:
        assert ps_contract.syntax_errors(handle.read()) == []


def test_a_broken_copy_of_the_listener_is_caught():
    with open(PS_LISTENER, encoding='utf-8') as handle:
        source = handle.read()
    # Drop the brace that closes the listener's script block.
    end = source.index('\n}\n', source.index('$listenerBlock = {'))
    assert ps_contract.syntax_errors(source[:end] + '\n' + source[end + 3:]) != []


def test_the_powershell_listener_serves_loopback_only_and_ends_by_itself():
    with open(PS_LISTENER, encoding='utf-8') as handle:
        source = handle.read()
    assert 'SPDX-License-Identifier: GPL-3.0-or-later' in source
    assert source.count('System.Net.Sockets.TcpListener -ArgumentList ([System.Net.IPAddress]::Loopback)') == 2
    assert 'IPAddress]::Any' not in source
    assert "[ValidateRange(1, 3600)][int]$Seconds = 300" in source
    assert '$stopAt = [DateTime]::UtcNow.AddSeconds($Seconds)' in source
    # Its own process, outside the WinRM shell's job; stopped only when it is still the listener started.
    assert 'Invoke-CimMethod -ClassName Win32_Process -MethodName Create' in source
    assert '$process.CommandLine -ne (Get-SelftestCommandLine -ListenPort $Port -Lifetime $Seconds)' in source
    # Nothing written: no file, registry, service or firewall cmdlet.
    for verb in ('Set-Content', 'Out-File', 'New-Item', 'Set-ItemProperty', 'New-NetFirewallRule', 'New-Service',
                 'Register-ScheduledTask', 'Add-Content'):
        assert verb not in source, verb


def test_the_playbook_runs_only_builtin_and_collection_modules():
    modules = sorted(set(_module(task) for task in _tasks() if not set(task) & {'block', 'always', 'rescue'}))
    assert modules == ['ansible.builtin.assert', 'ansible.builtin.debug', 'ansible.builtin.script',
                       'ansible.builtin.set_fact', 'ece_o365.preflight.port_probe', 'ece_o365.preflight.url_reach']


def test_the_windows_branch_runs_the_parsed_file_and_always_stops_it():
    windows = [task for task in _tasks() if task.get('when') and 'selftest_windows' in str(task['when'])
               and 'not (' not in str(task['when'])]
    assert [task['name'] for task in windows] == ['Open the temporary listener on 127.0.0.1 (PowerShell, on Windows)',
                                                  'Stop the temporary listener (PowerShell, on Windows)']
    for task in windows:
        assert task['ansible.builtin.script']['cmd'].startswith('windows_selftest_listener.ps1 -Action ')
        assert task['check_mode'] is False
    with open(PLAYBOOK, encoding='utf-8') as handle:
        plays = yaml.safe_load(handle)
    block = plays[0]['tasks'][0]
    assert [t['name'] for t in block['always']] == ['Stop the temporary listener (PowerShell, on Windows)',
                                                    'Stop the temporary listener (python3, elsewhere)']


def _listener(*args):
    proc = subprocess.run([sys.executable, PY_LISTENER] + list(args), capture_output=True, text=True, timeout=30,
                          check=True)
    return json.loads(proc.stdout)


def _http(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as conn:
        conn.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        return conn.recv(100)


def _refused(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_posix_listener_answers_http_refuses_on_the_closed_port_and_stops():
    started = _listener('start', '30')
    assert set(started) == {'port', 'closed_port', 'pid', 'seconds'}
    try:
        assert _http(started['port']).startswith(b'HTTP/1.1 204 No Content\r\n')
        socket.create_connection(('127.0.0.1', started['port']), timeout=5).close()  # a bare connect: closed
        assert _http(started['port']).startswith(b'HTTP/1.1 204')
        assert _refused(started['closed_port'])
    finally:
        stopped = _listener('stop', str(started['pid']), str(started['port']))
    assert stopped == {'stopped': True, 'pid': started['pid'], 'port': started['port']}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _refused(started['port']):
        time.sleep(0.05)
    assert _refused(started['port'])
    assert _listener('stop', str(started['pid']), str(started['port']))['stopped'] is False


def test_the_posix_listener_ends_by_itself_and_never_stops_another_process():
    started = _listener('start', '1')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _refused(started['port']):
        time.sleep(0.1)
    assert _refused(started['port'])
    assert _listener('stop', str(os.getpid()), '1') == {
        'stopped': False, 'reason': 'process %d is not the listener' % os.getpid(), 'port': 1}
