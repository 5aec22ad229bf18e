# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PowerShell twins take the options and return the keys of their Python twins.

Read statically (tests/unit/windows/ps_contract.py): each .ps1's $spec against the Python
module's argument spec; the keys of the result the .ps1 builds against the Python module's
RETURN; the .py documentation sidecars against the Python modules' documentation; the error
classes of _WinProbe.psm1 against _errors.py. The mutation tests change a copy and show the
check fails, so drift cannot pass unseen.
"""

import os
import re

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors
from ansible_collections.ece_o365.preflight.plugins.modules import port_probe, url_reach
from ansible_collections.ece_o365.preflight.tests.unit.windows import ps_contract

TWINS = {
    'port_probe': (port_probe.argument_spec(), 'win_port_probe'),
    'url_reach': (url_reach.ARGUMENT_SPEC, 'win_url_reach'),
}
WIN_PROBE = os.path.join(ps_contract.MODULE_UTILS, '_WinProbe.psm1')


def _paths(twin):
    return (os.path.join(ps_contract.MODULES, '%s.ps1' % TWINS[twin][1]),
            os.path.join(ps_contract.MODULES, '%s.py' % twin),
            os.path.join(ps_contract.MODULES, '%s.py' % TWINS[twin][1]))


def _problems(twin, ps1_path=None, util_paths=None):
    ps1, python_module, _sidecar = _paths(twin)
    return_doc = ps_contract.module_docs(python_module)['RETURN']
    return ps_contract.contract_problems(ps1_path or ps1, TWINS[twin][0], return_doc, util_paths)


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_the_twin_matches_its_python_module(twin):
    assert _problems(twin) == []


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_every_documented_dictionary_is_built(twin):
    """The contract covers the whole RETURN tree, not only the top level."""
    ps1 = _paths(twin)[0]
    with open(ps1) as handle:
        source = handle.read()
    sources = [source] + [open(p).read() for p in ps_contract.requires_utils(source)]
    found = ps_contract.result_keys(sources)
    documented, _specs = ps_contract.documented_keys(ps_contract.module_docs(_paths(twin)[1])['RETURN'])
    assert set(documented) <= set(found)
    assert 'results[].tls.certificate' in found


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_the_sidecar_documents_what_the_python_module_does(twin):
    _ps1, python_module, sidecar = _paths(twin)
    python_docs, sidecar_docs = ps_contract.module_docs(python_module), ps_contract.module_docs(sidecar)
    assert sidecar_docs['DOCUMENTATION']['module'] == TWINS[twin][1]
    assert (ps_contract.doc_structure(sidecar_docs['DOCUMENTATION']['options'])
            == ps_contract.doc_structure(python_docs['DOCUMENTATION']['options']))
    assert ps_contract.doc_structure(sidecar_docs['RETURN']) == ps_contract.doc_structure(python_docs['RETURN'])
    assert sidecar_docs['DOCUMENTATION']['attributes']['platform']['platforms'] == 'windows'
    assert 'not executed' in str(sidecar_docs['DOCUMENTATION']['notes'])


def test_the_error_classes_are_those_of_errors_py():
    with open(WIN_PROBE) as handle:
        table = ps_contract.function_literal(handle.read(), 'Get-WinProbeErrorClasses')
    for name, texts in table.items():
        assert name in _errors.ERROR_CLASSES
        assert tuple(texts) == _errors.ERROR_CLASSES[name], name
    # Every class either twin documents is in the PowerShell table.
    for twin in TWINS:
        doc = ps_contract.module_docs(_paths(twin)[1])['RETURN']['results']['contains']
        field = doc.get('error_class') or doc['error']
        named = set(re.findall(r'V\(([a-z_]+)\)', ' '.join(field['description'])))
        named.discard('null')
        assert named and named <= set(table), named - set(table)


# --- the check fails on drift (mutations of temporary copies) ---------------------------------

def _mutate(tmp_path, path, old, new):
    with open(path) as handle:
        source = handle.read()
    assert source.count(old) == 1, old
    copy = tmp_path / os.path.basename(path)
    copy.write_text(source.replace(old, new))
    return str(copy)


@pytest.mark.parametrize('old, new, expected', [
    ("timeout = @{ type = 'float'; default = 5 }", "timeout = @{ type = 'float'; default = 6 }",
     'option timeout: default is 5 in the Python twin, 6 in the .ps1'),
    ("choices = 'auto', 'tcp', 'tls', 'starttls'", "choices = 'auto', 'tcp', 'tls'",
     'option targets.mode: choices'),
    ("proxy = @{ type = 'str'; no_log = $true }", "proxy = @{ type = 'str' }", 'option proxy: no_log'),
    ("        ehlo_name = @{ type = 'str'; default = 'preflight.invalid' }\n", '',
     'option ehlo_name: in the Python twin, missing from the .ps1 spec'),
    ('        banner = $null\n', '', "results[]: RETURN documents 'banner' as always returned, the .ps1 adds it only"),
    ('        mode = $Target.mode\n', '', "results[]: RETURN documents 'mode', which the .ps1 never returns"),
    ('        starttls_offered = $null\n', '        starttls_offered = $null\n        starttls_seen = $null\n',
     "results[]: the .ps1 returns 'starttls_seen', which RETURN does not document"),
    ("$Result.capabilities_before_tls = $before", "$Result.capabilities_pre_tls = $before",
     "results[]: the .ps1 returns 'capabilities_pre_tls'"),
    ("$Result.timings.starttls_ms = ", "$Result.timings.stls_ms = ",
     "results[].timings: the .ps1 returns 'stls_ms'"),
    ('            hostname_match = $null\n', '', "results[].tls: RETURN documents 'hostname_match' as always"),
    ('    failed = $failed\n', '    failures = $failed\n', "summary: the .ps1 returns 'failures'"),
    ('$module.Result.summary = $Summary', '$module.Result.totals = $Summary', "(top level): the .ps1 returns 'totals'"),
])
def test_drift_in_win_port_probe_fails(tmp_path, old, new, expected):
    mutant = _mutate(tmp_path, _paths('port_probe')[0], old, new)
    problems = _problems('port_probe', mutant, [WIN_PROBE])
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize('old, new, expected', [
    ("max_workers = @{ type = 'int'; default = 16 }", "max_workers = @{ type = 'int'; default = 8 }",
     'option max_workers: default'),
    ("expected_ca_certs = @{ type = 'list'; elements = 'str' }", "expected_ca_certs = @{ type = 'list' }",
     'option urls.expected_ca_certs: elements'),
    ('        clock_skew_seconds = $skew\n', '', "results[]: RETURN documents 'clock_skew_seconds'"),
    ('$Check.equals = $assertion.equals', '$Check.expected = $assertion.equals',
     "results[].assertions[]: the .ps1 returns 'expected'"),
    ('sha256_fingerprint = Get-WinProbeFingerprint -Der ([byte[]]$der)', 'fingerprint = Get-WinProbeFingerprint -Der ([byte[]]$der)',
     "results[].tls.chain[]: RETURN documents 'sha256_fingerprint'"),
    ('    deadline_reached = $deadlineReached\n', '', "summary: RETURN documents 'deadline_reached'"),
    ('# RETURN: results[].redirects[]\n', '', 'results[].redirects[]: RETURN documents a dictionary that no'),
])
def test_drift_in_win_url_reach_fails(tmp_path, old, new, expected):
    mutant = _mutate(tmp_path, _paths('url_reach')[0], old, new)
    problems = _problems('url_reach', mutant, [WIN_PROBE])
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_drift_in_the_shared_util_fails_for_both(tmp_path, twin):
    util = _mutate(tmp_path, WIN_PROBE, '        serial = $(if ($serial)', '        serial_number = $(if ($serial)')
    problems = _problems(twin, None, [util])
    assert any("results[].tls.certificate: the .ps1 returns 'serial_number'" in p for p in problems), problems
    assert any("results[].tls.certificate: RETURN documents 'serial'" in p for p in problems), problems


def test_drift_in_the_python_twin_fails_too():
    """The comparison runs both ways: a new Python option the .ps1 lacks is a problem."""
    spec = dict(port_probe.argument_spec(), source_address=dict(type='str'))
    ps1, python_module, _sidecar = _paths('port_probe')
    problems = ps_contract.contract_problems(ps1, spec, ps_contract.module_docs(python_module)['RETURN'])
    assert problems == ['option source_address: in the Python twin, missing from the .ps1 spec']


def test_an_error_text_that_drifts_is_caught(tmp_path):
    util = _mutate(tmp_path, WIN_PROBE, "'the name does not resolve',", "'the name did not resolve',")
    with open(util) as handle:
        table = ps_contract.function_literal(handle.read(), 'Get-WinProbeErrorClasses')
    assert tuple(table['dns']) != _errors.ERROR_CLASSES['dns']


# --- what the runspaces need, and the classes raised --------------------------------------------

WORKERS = {'port_probe': 'Invoke-PortProbeTarget', 'url_reach': 'Invoke-UrlReachTarget'}


def _sources(twin):
    with open(_paths(twin)[0]) as handle:
        module = handle.read()
    with open(WIN_PROBE) as handle:
        util = handle.read()
    return module, util


def test_the_util_exports_every_function_it_defines():
    """Invoke-WinProbeParallel copies the util's exported functions into the worker runspaces."""
    _module, util = _sources('port_probe')
    assert sorted(ps_contract.exported_functions(util)) == sorted(ps_contract.functions(util))


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_the_worker_runspaces_get_every_function_the_worker_calls(twin):
    module, util = _sources(twin)
    graph = dict(ps_contract.functions(util), **ps_contract.functions(module))
    needed = ps_contract.reachable(WORKERS[twin], graph)
    copied = set(ps_contract.exported_functions(util))
    if twin == 'port_probe':
        # An explicit list in the module: $functions = @('Invoke-PortProbeTarget', ...)
        listed = re.search(r"\$functions = @\((.*?)\) \+", module, re.S).group(1)
        copied |= set(re.findall(r"'([A-Za-z0-9-]+)'", listed))
    else:
        # Get-Command -Name '*-UrlReach*': every module function named so.
        assert "Get-Command -Name '*-UrlReach*'" in module
        copied |= set(name for name in graph if '-UrlReach' in name)
    assert needed - copied == set()
    assert WORKERS[twin] in needed and len(needed) > 10


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_every_error_class_raised_is_known_and_documented(twin):
    module, util = _sources(twin)
    with open(WIN_PROBE) as handle:
        table = set(ps_contract.function_literal(handle.read(), 'Get-WinProbeErrorClasses'))
    doc = ps_contract.module_docs(_paths(twin)[1])['RETURN']['results']['contains']
    field = doc.get('error_class') or doc['error']
    documented = set(re.findall(r'V\(([a-z_]+)\)', ' '.join(field['description'])))
    raised = ps_contract.raised_classes(module) | ps_contract.raised_classes(util)
    assert raised and raised <= table, raised - table
    assert raised <= documented, raised - documented


def test_a_missing_runspace_function_is_caught(tmp_path):
    mutant = _mutate(tmp_path, _paths('port_probe')[0], "'Send-PortProbeGoodbye'\n", "'Test-PortProbeStartTlsOffered'\n")
    with open(mutant) as handle:
        module = handle.read()
    listed = re.search(r"\$functions = @\((.*?)\) \+", module, re.S).group(1)
    _module, util = _sources('port_probe')
    graph = dict(ps_contract.functions(util), **ps_contract.functions(module))
    needed = ps_contract.reachable(WORKERS['port_probe'], graph)
    copied = set(ps_contract.exported_functions(util)) | set(re.findall(r"'([A-Za-z0-9-]+)'", listed))
    assert needed - copied == {'Send-PortProbeGoodbye'}


def test_an_unknown_error_class_is_caught(tmp_path):
    mutant = _mutate(tmp_path, _paths('port_probe')[0], "New-WinProbeError -Class 'starttls_unsupported' -Detail ('{0} capabilities",
                     "New-WinProbeError -Class 'starttls_refused' -Detail ('{0} capabilities")
    with open(mutant) as handle:
        assert 'starttls_refused' in ps_contract.raised_classes(handle.read())


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_every_collection_function_called_is_defined(twin):
    """A misspelt helper would only fail on a Windows host: catch it here."""
    module, util = _sources(twin)
    graph = dict(ps_contract.functions(util), **ps_contract.functions(module))
    tree_calls = ps_contract.all_commands(module) | ps_contract.all_commands(util)
    ours = set(name for name in tree_calls if re.search(r'-(WinProbe|PortProbe|UrlReach)', name))
    assert ours and ours - set(graph) == set()


def test_a_misspelt_call_is_caught(tmp_path):
    after = "\n}\n\nfunction Invoke-PortProbeGreetingAfterStartTls"
    mutant = _mutate(tmp_path, _paths('port_probe')[0], "    Add-PortProbeBannerTime -Result $Result -Started $started" + after,
                     "    Add-PortProbeBanerTime -Result $Result -Started $started" + after)
    with open(mutant) as handle:
        module = handle.read()
    _module, util = _sources('port_probe')
    defined = set(ps_contract.functions(module)) | set(ps_contract.functions(util))
    assert ps_contract.all_commands(module) - defined >= {'Add-PortProbeBanerTime'}
