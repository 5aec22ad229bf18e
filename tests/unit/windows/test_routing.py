# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""meta/runtime.yml sends port_probe and url_reach to their PowerShell twins on Windows hosts only.

ansible-core's own loader decides, in a child process (its collection finder must not mix with
this process's imports): a connection whose module_implementation_preferences start with .ps1
(winrm, psrp, ssh with a PowerShell shell) resolves the name to win_*.ps1, a POSIX connection to
the Python module. The playbook test goes through ansible-playbook itself: one inventory, a
Windows host over ssh with the powershell shell (unreachable on purpose: the module is chosen
and built before the connection is tried) and a local POSIX host that really runs the probe.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.ece_o365.preflight.tests.unit.windows import ps_contract

COLLECTIONS_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(ps_contract.REPO_ROOT)))

RESOLVE = textwrap.dedent('''
    import json, sys
    from ansible.executor.powershell.module_manifest import PSModuleDepFinder
    from ansible.plugins.loader import connection_loader, init_plugin_loader, module_loader
    init_plugin_loader([sys.argv[1]])
    out = {'connections': {}, 'resolved': {}, 'deps': {}}
    for name in ('winrm', 'psrp', 'ssh', 'local', 'paramiko_ssh'):
        plugin = connection_loader.get(name, class_only=True)
        out['connections'][name] = list(plugin.module_implementation_preferences)
    for connection, preferences in sorted(out['connections'].items()):
        for module in ('port_probe', 'url_reach', 'runtime_info'):
            fqcn = 'ece_o365.preflight.' + module
            # As ActionBase._configure_module does: the first extension that resolves wins.
            for extension in preferences:
                context = module_loader.find_plugin_with_context(fqcn, extension)
                if context.resolved:
                    out['resolved']['%s %s' % (connection, module)] = {
                        'path': context.plugin_resolved_path, 'redirects': context.redirect_list}
                    break
    for module in ('win_port_probe', 'win_url_reach'):
        path = module_loader.find_plugin('ece_o365.preflight.' + module, '.ps1')
        finder = PSModuleDepFinder()
        with open(path, 'rb') as handle:
            deps = finder.scan_module(handle.read(), fqn='ansible_collections.ece_o365.preflight.plugins.modules.' + module)
        out['deps'][module] = sorted(deps)
    print(json.dumps(out))
''')


@pytest.fixture(scope='module')
def resolution():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    proc = subprocess.run([sys.executable, '-c', RESOLVE, COLLECTIONS_ROOT], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_windows_connections_prefer_powershell(resolution):
    for name in ('winrm', 'psrp'):
        assert resolution['connections'][name][0] == '.ps1'
    assert resolution['connections']['local'] == ['']


@pytest.mark.parametrize('connection', ['winrm', 'psrp'])
@pytest.mark.parametrize('module', ['port_probe', 'url_reach'])
def test_a_windows_host_gets_the_powershell_twin(resolution, connection, module):
    resolved = resolution['resolved']['%s %s' % (connection, module)]
    assert os.path.basename(resolved['path']) == 'win_%s.ps1' % module
    assert resolved['redirects'] == ['ece_o365.preflight.' + module, 'ece_o365.preflight.win_' + module]


@pytest.mark.parametrize('connection', ['local', 'ssh', 'paramiko_ssh'])
@pytest.mark.parametrize('module', ['port_probe', 'url_reach'])
def test_a_posix_host_gets_the_python_module(resolution, connection, module):
    resolved = resolution['resolved']['%s %s' % (connection, module)]
    assert os.path.basename(resolved['path']) == '%s.py' % module
    assert resolved['redirects'] == ['ece_o365.preflight.' + module]


def test_a_module_without_a_twin_stays_python_everywhere(resolution):
    # runtime_info has no twin: Windows hosts fall through to the extension-agnostic lookup.
    assert os.path.basename(resolution['resolved']['winrm runtime_info']['path']) == 'runtime_info.py'


@pytest.mark.parametrize('module', ['win_port_probe', 'win_url_reach'])
def test_the_twins_bring_their_powershell_utils(resolution, module):
    deps = resolution['deps'][module]
    assert 'Ansible.Basic.cs' in deps
    assert 'ansible_collections.ece_o365.preflight.plugins.module_utils._WinProbe.psm1' in deps


def test_no_powershell_file_shadows_a_python_module():
    """A port_probe.ps1 beside port_probe.py would win the fuzzy match on POSIX hosts too."""
    modules = os.listdir(ps_contract.MODULES)
    stems = set(os.path.splitext(m)[0] for m in modules if m.endswith('.ps1'))
    python = set(os.path.splitext(m)[0] for m in modules if m.endswith('.py'))
    for stem in stems:
        assert stem.startswith('win_'), stem
        assert stem[len('win_'):] not in stems
        assert stem in python  # its documentation sidecar


def _closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_one_playbook_routes_per_host(tmp_path):
    port = _closed_port()
    (tmp_path / 'inventory.ini').write_text(textwrap.dedent('''
        [ece_windows]
        ece-services ansible_host=127.0.0.1 ansible_port=%d ansible_connection=ssh ansible_shell_type=powershell ansible_user=preflight
        [ece_linux_helper]
        helper ansible_connection=local ansible_python_interpreter=%s
    ''' % (port, sys.executable)))
    (tmp_path / 'play.yml').write_text(textwrap.dedent('''
        - hosts: all
          gather_facts: false
          tasks:
            - name: The same task for every host, no Windows branch
              ece_o365.preflight.port_probe:
                timeout: 1
                targets:
                  - {host: 127.0.0.1, port: %d}
    ''' % port))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    proc = subprocess.run([playbook, '-i', 'inventory.ini', 'play.yml', '-vvv'], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    out = proc.stdout + proc.stderr
    assert 'redirecting (type: modules) ece_o365.preflight.port_probe to ece_o365.preflight.win_port_probe' in out
    used = [line.split()[-1] for line in out.splitlines() if line.startswith('Using module file ')]
    assert sorted(os.path.basename(path) for path in used) == ['port_probe.py', 'win_port_probe.ps1'], out
    # The Windows host was unreachable (nothing listens), not missing its module.
    assert 'fatal: [ece-services]: UNREACHABLE!' in out, out
    assert 'was not found in configured module paths' not in out
    # The POSIX host ran the Python module for real: the closed port is a finding, not a failure.
    assert 'ok: [helper]' in out, out
    assert '"error_class": "refused"' in out, out


def test_the_documented_windows_fleet_example_is_valid():
    """docs/windows.md's inventory and playbook: the groups it names, and a playbook that loads."""
    examples = os.path.join(ps_contract.REPO_ROOT, 'docs', 'examples')
    inventory = os.path.join(examples, 'inventory-windows.yml')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    binaries = os.path.dirname(sys.executable)
    proc = subprocess.run([os.path.join(binaries, 'ansible-inventory'), '-i', inventory, '--list'], env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert sorted(listing['ece_windows']['children']) == ['ece_application', 'ece_services']
    assert listing['ece_preflight_helper']['hosts'] == ['preflight-helper']
    windows_hosts = listing['ece_services']['hosts'] + listing['ece_application']['hosts']
    for host in windows_hosts:
        assert listing['_meta']['hostvars'][host]['ansible_connection'] == 'ansible.builtin.psrp'
    proc = subprocess.run([os.path.join(binaries, 'ansible-playbook'), '--syntax-check', '-i', inventory,
                           os.path.join(examples, 'windows-fleet.yml')], env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
