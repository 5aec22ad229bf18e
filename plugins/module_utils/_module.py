# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The module class every probe uses: AnsibleModule that masks the proxy's password in every output.

The ``proxy`` option is not ``no_log`` (a proxy without credentials is shown as it is, so a user can
see which proxy was used); its password, and the whole URL when it has one, are registered as no_log
values before anything is returned. That must also hold when AnsibleModule's own argument validation
fails inside ``__init__`` (its ``fail_json`` then prints every argument under ``invocation``), which a
registration after the constructor would miss: so ``exit_json`` and ``fail_json`` register first.
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ece_o365.preflight.plugins.module_utils import _proxy


def proxy_secrets(params, environ):
    """The proxy option's and the environment's proxy passwords and password-bearing URLs."""
    proxy = params.get('proxy')
    return _proxy.secrets(proxy if isinstance(proxy, str) else None, environ)


class PreflightModule(AnsibleModule):
    """AnsibleModule plus ``secrets``: a function (params, environ) -> values to mask in every output."""

    def __init__(self, *args, **kwargs):
        self._secret_finders = [proxy_secrets] + ([kwargs.pop('secrets')] if kwargs.get('secrets') else [])
        kwargs.pop('secrets', None)
        super(PreflightModule, self).__init__(*args, **kwargs)
        self.protect()

    def protect(self):
        """Register the secrets of the arguments as they stand (validated or not) as no_log values."""
        params = getattr(self, 'params', None)
        params = params if isinstance(params, dict) else {}
        for finder in self._secret_finders:
            try:
                self.no_log_values.update(value for value in finder(params, os.environ) if value)
            except Exception:  # pylint: disable=broad-except  # unvalidated arguments may be of any type
                continue

    def exit_json(self, **kwargs):
        self.protect()
        super(PreflightModule, self).exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self.protect()
        super(PreflightModule, self).fail_json(msg=msg, **kwargs)
