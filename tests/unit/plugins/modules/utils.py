# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Helpers to run a module's main() in-process (kubernetes.core style).

exit_json and fail_json are replaced by functions that raise, so a test
catches the result instead of the process exiting.
"""

import contextlib
import json
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

__all__ = ['AnsibleExitJson', 'AnsibleFailJson', 'exit_json', 'fail_json', 'patch_module_args']

try:
    # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:
    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Older ansible-core: hand the arguments over through basic._ANSIBLE_ARGS."""
        serialized = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        with mock.patch.object(basic, '_ANSIBLE_ARGS', serialized):
            yield


class AnsibleExitJson(Exception):
    """Raised in place of AnsibleModule.exit_json(); carries the result."""

    def __init__(self, result):
        super(AnsibleExitJson, self).__init__(result)
        self.result = result


class AnsibleFailJson(Exception):
    """Raised in place of AnsibleModule.fail_json(); carries the result."""

    def __init__(self, result):
        super(AnsibleFailJson, self).__init__(result)
        self.result = result


def exit_json(*args, **kwargs):  # pylint: disable=unused-argument
    kwargs.setdefault('changed', False)
    raise AnsibleExitJson(kwargs)


def fail_json(*args, **kwargs):  # pylint: disable=unused-argument
    kwargs['failed'] = True
    raise AnsibleFailJson(kwargs)
