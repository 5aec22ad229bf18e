# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared set-up for the unit tests.

The tests import the collection as ``ansible_collections.ece_o365.preflight``,
as Ansible does. Under ``ansible-test units`` that already works; under plain
``pytest tests/unit`` this file makes it work by putting the directory that
tools/bootstrap.sh builds (``.build/collections``, with
``ansible_collections/ece_o365/preflight`` a symlink to the repository root)
on ``sys.path``, creating the symlink when it is missing.
"""

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _make_collection_importable():
    try:
        import ansible_collections.ece_o365.preflight.plugins  # noqa: F401 pylint: disable=unused-import
        return
    except ImportError:
        pass
    collections_root = os.path.join(REPO_ROOT, '.build', 'collections')
    link = os.path.join(collections_root, 'ansible_collections', 'ece_o365', 'preflight')
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO_ROOT, link)
    sys.path.insert(0, collections_root)
    for name in list(sys.modules):  # forget a cached, incomplete namespace package
        if name == 'ansible_collections' or name.startswith('ansible_collections.'):
            del sys.modules[name]


_make_collection_importable()

# Imported only now that the collection is importable.
from ansible_collections.ece_o365.preflight.tests.unit.plugins.modules.utils import (  # noqa: E402 pylint: disable=wrong-import-position
    AnsibleExitJson,
    AnsibleFailJson,
    exit_json,
    fail_json,
    patch_module_args,
)


@pytest.fixture
def run_module(monkeypatch):
    """Return run(module, args) which runs module.main() and returns its result dict.

    exit_json and fail_json raise instead of exiting; a failed run's result has failed=True.
    """
    from ansible.module_utils import basic

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def run(module, args=None):
        with patch_module_args(args or {}):
            with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as excinfo:
                module.main()
        return excinfo.value.result

    return run
