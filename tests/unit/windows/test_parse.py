# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every PowerShell file of the collection parses with a real PowerShell grammar.

pwsh cannot be installed here, so tree-sitter-powershell stands in for PowerShell's parser: a
file must produce no ERROR and no MISSING node. The broken snippets prove the check can fail.
"""

import glob
import os
import re

import pytest

from ansible_collections.ece_o365.preflight.tests.unit.windows import ps_contract

POWERSHELL_FILES = sorted(
    glob.glob(os.path.join(ps_contract.REPO_ROOT, 'plugins', '**', '*.ps1'), recursive=True)
    + glob.glob(os.path.join(ps_contract.REPO_ROOT, 'plugins', '**', '*.psm1'), recursive=True))


def test_the_twins_are_found():
    names = [os.path.basename(p) for p in POWERSHELL_FILES]
    assert 'win_port_probe.ps1' in names
    assert 'win_url_reach.ps1' in names
    assert '_WinProbe.psm1' in names


@pytest.mark.parametrize('path', POWERSHELL_FILES, ids=os.path.basename)
def test_parses_without_error(path):
    with open(path, 'rb') as handle:
        source = handle.read()
    assert ps_contract.syntax_errors(source) == []


@pytest.mark.parametrize('path', POWERSHELL_FILES, ids=os.path.basename)
def test_modules_follow_the_ansible_windows_conventions(path):
    with open(path) as handle:
        source = handle.read()
    assert 'SPDX-License-Identifier: GPL-3.0-or-later' in source
    if path.endswith('.ps1'):
        assert source.startswith('#!powershell\n')
        assert '#AnsibleRequires -CSharpUtil Ansible.Basic' in source
        assert '[Ansible.Basic.AnsibleModule]::Create($args, $spec)' in source
        # The documentation sidecar beside it, and no .ps1 named like a Python module (routing does that).
        stem = os.path.splitext(path)[0]
        assert os.path.isfile(stem + '.py')
        assert os.path.basename(stem).startswith('win_')
        for util in ps_contract.requires_utils(source):
            assert os.path.isfile(util), util


@pytest.mark.parametrize('snippet', [
    '$spec = @{ options = @{ a = @{ type = "str" }\n',          # an unclosed hashtable
    'function Get-Thing {\n    param([string]$Name\n}\n',       # an unclosed param block
    'if ($x -eq 1) { "one" } else\n',                           # else without its block
    '$value = [ordered]@{ a = 1 ; = 2 }\n',                     # an entry without a key
    'try { Get-Thing } catch [System.Exception {\n}\n',         # an unclosed type literal
])
def test_a_broken_snippet_is_caught(snippet):
    assert ps_contract.syntax_errors(snippet) != []


def test_a_broken_copy_of_a_module_is_caught(tmp_path):
    with open(os.path.join(ps_contract.MODULES, 'win_port_probe.ps1')) as handle:
        source = handle.read()
    # Drop the brace that closes the first function: everything after it is misplaced.
    start = source.index('function Read-PortProbeCapability')
    end = source.index('\n}\n', start)
    broken = source[:end] + '\n' + source[end + 3:]
    copy = tmp_path / 'win_port_probe.ps1'
    copy.write_text(broken)
    assert ps_contract.syntax_errors(copy.read_bytes()) != []


# --- the budget: the twins observe, so they stay small -------------------------------------------

# 800 until issue 16; +17 for the one POST (the token refresh from the services server: a form, its answer's tokens left
# out, the access token sealed for its way back, _seal.py).
MAX_POWERSHELL_LINES = 820


def _line_counts():
    """{path relative to the collection: lines, as wc -l counts them} of every PowerShell file under plugins/."""
    counts = {}
    for path in POWERSHELL_FILES:
        with open(path, 'rb') as handle:
            counts[os.path.relpath(path, ps_contract.REPO_ROOT).replace(os.sep, '/')] = handle.read().count(b'\n')
    return counts


def test_the_powershell_stays_within_its_budget():
    total = sum(_line_counts().values())
    assert total <= MAX_POWERSHELL_LINES, '%d lines of PowerShell under plugins/, the budget is %d' % (total, MAX_POWERSHELL_LINES)


def test_windows_md_states_the_line_counts():
    """docs/windows.md's table of PowerShell lines per file is the truth (regenerate it by hand when it fails)."""
    with open(os.path.join(ps_contract.REPO_ROOT, 'docs', 'windows.md')) as handle:
        page = handle.read()
    stated = dict((path, int(lines)) for path, lines in re.findall(r'^\| `(plugins/[^`]+)` \| (\d+) \|', page, re.M))
    counts = _line_counts()
    assert stated == counts
    assert '| total | %d |' % sum(counts.values()) in page
