# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PowerShell twins take the options and return the keys of their Python twins.

Read statically (tests/unit/windows/ps_contract.py): each .ps1's $spec against the Python
module's argument spec; the keys of the result the .ps1 builds against the Python module's
RETURN; the .py documentation sidecars against the Python modules' documentation; the error
classes of _WinProbe.psm1 against _errors.py; the results against docs/contract.md's rules
(purpose, ok, error_class and message in every result, no verdict) and _contract.SCHEMA. The
mutation tests change a copy and show the check fails, so drift cannot pass unseen.
"""

import fnmatch
import os
import re

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract, _errors
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
        table = ps_contract.function_literal(handle.read(), 'Get-WinProbeErrorText')
    for name, texts in table.items():
        assert name in _errors.ERROR_CLASSES
        assert tuple(texts) == _errors.ERROR_CLASSES[name], name
    # Every class either twin documents is in the PowerShell table.
    for twin in TWINS:
        named = _documented_classes(twin)
        assert named and named <= set(table), named - set(table)


def _documented_classes(twin):
    field = ps_contract.module_docs(_paths(twin)[1])['RETURN']['results']['contains']['error_class']
    description = field['description']
    named = set(re.findall(r'V\(([a-z_]+)\)', ' '.join(description) if isinstance(description, list) else description))
    named.discard('null')
    return named


# --- docs/contract.md's rules, for the PowerShell results ----------------------------------------

# What a probe must never return: verdicts are the judge's (docs/contract.md, "Facts, not verdicts").
VERDICT_FIELDS = frozenset(('intercepted', 'assertions', 'assertions_passed', 'expected_status', 'issuer_matched', 'error'))


def _schema_required(twin):
    """The keys _contract.SCHEMA requires of one result of TWIN."""
    reference = _contract.SCHEMA['$defs'][twin]['properties']['results']['items']['$ref']
    return set(_contract.SCHEMA['$defs'][reference.rsplit('/', 1)[-1]]['required'])


def _literal_keys(twin, ps1=None):
    with open(ps1 or _paths(twin)[0]) as handle:
        source = handle.read()
    with open(WIN_PROBE) as handle:
        util = handle.read()
    literal = {}
    found = ps_contract.result_keys([source, util], literal)
    return found, literal


def test_the_contract_page_still_states_the_rules_checked_here():
    with open(os.path.join(ps_contract.REPO_ROOT, 'docs', 'contract.md')) as handle:
        page = handle.read()
    for rule in ('Facts, not verdicts', 'One failure vocabulary', 'Targets carry their purpose', '`ok`', '`error_class`',
                 '`message`', '`purpose`', 'echoes it unchanged', 'No module uses `error` for a class'):
        assert rule in page, rule


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_every_result_carries_purpose_ok_error_class_and_message(twin):
    _found, literal = _literal_keys(twin)
    required = _schema_required(twin)
    assert {'purpose', 'ok', 'error_class', 'message'} <= required
    assert required <= literal['results[]'], required - literal['results[]']


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_no_result_carries_a_verdict(twin):
    found, _literal = _literal_keys(twin)
    for path in ('results[]', 'summary'):
        assert not found[path] & VERDICT_FIELDS, (path, found[path] & VERDICT_FIELDS)


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_purposes_and_error_classes_are_the_contracts(twin):
    with open(_paths(twin)[0]) as handle:
        spec = ps_contract.option_spec(handle.read())['options']
    items = spec['targets' if twin == 'port_probe' else 'urls']['options']
    assert tuple(items['purpose']['choices']) == _contract.PURPOSES
    assert items['purpose']['default'] == 'extra'
    assert _documented_classes(twin) <= set(_contract.SCHEMA['$defs']['error_class']['enum'])


@pytest.mark.parametrize('twin, old, new', [
    ('port_probe', 'elapsed_ms = $null\n', 'elapsed_ms = $null; intercepted = $null\n'),
    ('url_reach', '        body_bytes = $null;', '        assertions_passed = $null; body_bytes = $null;'),
    ('url_reach', 'error_class = $null; message = $null;', 'error = $null; message = $null;'),
])
def test_a_verdict_or_a_missing_failure_field_is_caught(tmp_path, twin, old, new):
    found, literal = _literal_keys(twin, _mutate(tmp_path, _paths(twin)[0], old, new))
    required = _schema_required(twin)
    assert found['results[]'] & VERDICT_FIELDS or not required <= literal['results[]']


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
    ("choices = 'auto', 'tcp', 'tls', 'starttls'", "choices = 'auto', 'tcp', 'tls'", 'option targets.mode: choices'),
    ("proxy = @{ type = 'str'; no_log = $false }", "proxy = @{ type = 'str'; no_log = $true }", 'option proxy: no_log'),
    ("ehlo_name = @{ type = 'str'; default = 'preflight.invalid' }; ", '',
     'option ehlo_name: in the Python twin, missing from the .ps1 spec'),
    ("'ece_external_url', 'extra'", "'ece_external_url'", 'option targets.purpose: choices'),
    ('banner = $null; ', '', "results[]: RETURN documents 'banner' as always returned, the .ps1 adds it only"),
    ('mode = $Target.mode; ', '', "results[]: RETURN documents 'mode', which the .ps1 never returns"),
    ('starttls_offered = $null\n', 'starttls_offered = $null; starttls_seen = $null\n',
     "results[]: the .ps1 returns 'starttls_seen', which RETURN does not document"),
    ('$Result.capabilities_before_tls = ', '$Result.capabilities_pre_tls = ', "results[]: the .ps1 returns 'capabilities_pre_tls'"),
    ('$Result.timings.starttls_ms = ', '$Result.timings.stls_ms = ', "results[].timings: the .ps1 returns 'stls_ms'"),
    ("'dns_ms', 'connect_ms', 'proxy_ms'", "'dns_ms', 'connect_ms', 'tunnel_ms'", "results[].timings: the .ps1 returns 'tunnel_ms'"),
    ('$Result.tls.version, $Result.tls.cipher', '$Result.tls.verison, $Result.tls.cipher', "results[].tls: the .ps1 returns 'verison'"),
    ('hostname_match = $null; ', '', "results[].tls: RETURN documents 'hostname_match' as always"),
    ('failed = $failed.Count; ', 'failures = $failed.Count; ', "summary: the .ps1 returns 'failures'"),
    ('$module.Result.summary = $Summary', '$module.Result.totals = $Summary', "(top level): the .ps1 returns 'totals'"),
])
def test_drift_in_win_port_probe_fails(tmp_path, old, new, expected):
    mutant = _mutate(tmp_path, _paths('port_probe')[0], old, new)
    problems = _problems('port_probe', mutant, [WIN_PROBE])
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize('old, new, expected', [
    ("max_workers = @{ type = 'int'; default = 16 }", "max_workers = @{ type = 'int'; default = 8 }", 'option max_workers: default'),
    ("assertions = @{ type = 'list'; elements = 'str' }", "assertions = @{ type = 'list' }",
     'option urls.expect.assertions: elements'),
    ("expect = @{ type = 'dict'; options", "expected = @{ type = 'dict'; options", 'option urls.expect: in the Python twin'),
    ('; clock_skew_seconds = $null\n', '\n', "results[]: RETURN documents 'clock_skew_seconds' as always returned"),
    ('expect = $Target.expect; ', '', "results[]: RETURN documents 'expect', which the .ps1 never returns"),
    ('sha256_fingerprint = Get-WinProbeFingerprint -Der $der', 'fingerprint = Get-WinProbeFingerprint -Der $der',
     "results[].tls.chain[]: RETURN documents 'sha256_fingerprint'"),
    ('; deadline_reached = ', '; deadline_hit = ', "summary: the .ps1 returns 'deadline_hit'"),
    ('# RETURN: results[].redirects[]\n', '', 'results[].redirects[]: RETURN documents a dictionary that no'),
])
def test_drift_in_win_url_reach_fails(tmp_path, old, new, expected):
    mutant = _mutate(tmp_path, _paths('url_reach')[0], old, new)
    problems = _problems('url_reach', mutant, [WIN_PROBE])
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_drift_in_the_shared_util_fails_for_both(tmp_path, twin):
    util = _mutate(tmp_path, WIN_PROBE, 'serial = $(if', 'serial_number = $(if')
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
    util = _mutate(tmp_path, WIN_PROBE, "'the name does not resolve'", "'the name did not resolve'")
    with open(util) as handle:
        table = ps_contract.function_literal(handle.read(), 'Get-WinProbeErrorText')
    assert tuple(table['dns']) != _errors.ERROR_CLASSES['dns']


# --- what the runspaces need, and the classes raised --------------------------------------------

WORKERS = {'port_probe': 'Invoke-PortProbeTarget', 'url_reach': 'Invoke-UrlReachTarget'}
# Invoke-WinProbeParallel gives the runspaces every function whose name matches one of these.
COPIED = ('*-WinProbe*', '*-PortProbe*', '*-UrlReach*')


def _sources(twin, module_path=None):
    with open(module_path or _paths(twin)[0]) as handle:
        module = handle.read()
    with open(WIN_PROBE) as handle:
        util = handle.read()
    return module, util


def _not_copied(module, util, worker):
    graph = dict(ps_contract.functions(util), **ps_contract.functions(module))
    needed = ps_contract.reachable(worker, graph)
    return set(name for name in needed if not any(fnmatch.fnmatchcase(name, pattern) for pattern in COPIED)), needed


def test_the_util_exports_every_function_it_defines():
    _module, util = _sources('port_probe')
    assert ps_contract.exported_functions(util) == ['*-WinProbe*']
    assert all(fnmatch.fnmatchcase(name, '*-WinProbe*') for name in ps_contract.functions(util))


def test_the_pool_copies_the_functions_by_those_names():
    _module, util = _sources('port_probe')
    assert "Get-Command -Name '*-WinProbe*', '*-PortProbe*', '*-UrlReach*' -CommandType Function" in util


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_the_worker_runspaces_get_every_function_the_worker_calls(twin):
    module, util = _sources(twin)
    missing, needed = _not_copied(module, util, WORKERS[twin])
    assert missing == set()
    assert WORKERS[twin] in needed and len(needed) > 8


def test_a_missing_runspace_function_is_caught(tmp_path):
    module, util = _sources('port_probe')
    mutant = module.replace('Read-PortProbeCapability', 'Read-Capability')
    missing, _needed = _not_copied(mutant, util, WORKERS['port_probe'])
    assert missing == {'Read-Capability'}


@pytest.mark.parametrize('twin', sorted(TWINS))
def test_every_error_class_raised_is_known_and_documented(twin):
    module, util = _sources(twin)
    with open(WIN_PROBE) as handle:
        table = set(ps_contract.function_literal(handle.read(), 'Get-WinProbeErrorText'))
    raised = ps_contract.raised_classes(module) | ps_contract.raised_classes(util)
    assert raised and raised <= table, raised - table
    assert raised <= _documented_classes(twin), raised - _documented_classes(twin)


def test_an_unknown_error_class_is_caught(tmp_path):
    mutant = _mutate(tmp_path, _paths('port_probe')[0], "New-WinProbeError -Class 'starttls_unsupported' -Detail ('the capabilities",
                     "New-WinProbeError -Class 'starttls_refused' -Detail ('the capabilities")
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
    mutant = _mutate(tmp_path, _paths('port_probe')[0], 'Read-PortProbeCapability -Reader $reader @dialogue -Greet }',
                     'Read-PortProbeCapabilty -Reader $reader @dialogue -Greet }')
    module, util = _sources('port_probe', mutant)
    defined = set(ps_contract.functions(module)) | set(ps_contract.functions(util))
    assert ps_contract.all_commands(module) - defined >= {'Read-PortProbeCapabilty'}
