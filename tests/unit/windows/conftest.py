# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The PowerShell twins' tests need tree-sitter-powershell (tools/requirements-dev.txt).

Under tools/test (bootstrap exports PREFLIGHT_PYTHON) a missing grammar is a failure: these
tests must run there. Elsewhere (a bare ansible-test units without it) they skip, saying why.
"""

import os

import pytest

from ansible_collections.ece_o365.preflight.tests.unit.windows import ps_contract


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    if ps_contract.HAS_TREE_SITTER:
        return
    if os.environ.get('PREFLIGHT_PYTHON'):
        raise ps_contract.TREE_SITTER_ERROR
    reason = 'tree-sitter-powershell is not installed (%s)' % ps_contract.TREE_SITTER_ERROR
    for item in items:
        if '/windows/' in str(item.fspath).replace(os.sep, '/'):
            item.add_marker(pytest.mark.skip(reason=reason))
