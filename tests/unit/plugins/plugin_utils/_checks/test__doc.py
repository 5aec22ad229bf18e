# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docs/checks.md is generated from the catalogue."""

import os

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 5)))


def test_docs_checks_md_is_generated_from_the_catalogue():
    with open(os.path.join(REPO, 'docs', 'checks.md'), encoding='utf-8') as handle:
        assert handle.read() == _checks.catalogue_markdown(), 'run tools/gen-checks-doc'


def test_every_check_is_in_the_doc_with_its_skip_variable_and_requirements():
    text = _checks.catalogue_markdown()
    for check in _checks.CATALOGUE:
        assert '## %s' % check.id in text and 'ece_o365_skip_checks: [%s]' % check.id in text
    assert 'the port_probe result of the host' in text and 'Requires: the tenant role ran' in text


def test_the_microsoft_sources_are_named_per_check_and_each_check_exists():
    from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
    known = _checks.by_id()
    assert set(_facts.SOURCES) <= set(known)
    text = _checks.catalogue_markdown()
    for check_id, urls in _facts.SOURCES.items():
        section = text.split('## %s\n' % check_id, 1)[1].split('\n## ', 1)[0]
        assert all(url.startswith('https://learn.microsoft.com/') and '<%s>' % url in section for url in urls)
