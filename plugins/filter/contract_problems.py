# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
name: contract_problems
short_description: What in a probe's result breaks the observation contract
version_added: 0.4.0
author: ece_o365.preflight contributors
description:
  - Validates a value against one definition of the observation contract (C(plugins/module_utils/_contract.py),
    docs/contract.md), with the same validator the judge uses, and returns the problems found, one string each
    (such as C(results[1].error_class) followed by what is wrong with it). An empty list means the value follows the
    contract.
  - Typically given a registered C(port_probe) or C(url_reach) result, whichever twin produced it (the Python
    module or its PowerShell twin), so that what a Windows host returned is checked on the controller.
  - Keys the contract does not name (C(changed), C(invocation), C(summary)...) are allowed, as in the judge.
  - Refuses a definition the contract does not have, naming those it has.
options:
  _input:
    description: The value to validate, such as a registered module result.
    type: raw
    required: true
  definition:
    description:
      - The contract's definition to validate against (a name under C($defs) of the schema), such as C(port_probe)
        (a whole port_probe result), C(url_reach), C(port_target) (one of its results) or C(url_result).
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Fail when what the host's port_probe returned is not what the judge can read
  ansible.builtin.assert:
    that: (probe | ece_o365.preflight.contract_problems('port_probe')) == []
    fail_msg: "{{ probe | ece_o365.preflight.contract_problems('port_probe') }}"
'''

RETURN = r'''
_value:
  description: One string per problem, the path of the value followed by what is wrong; empty when the value follows the contract.
  type: list
  elements: str
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract


def contract_problems(value, definition):
    definitions = _contract.SCHEMA['$defs']
    if definition not in definitions:
        raise AnsibleFilterError('the observation contract has no definition %r; it has %s' % (
            definition, ', '.join(sorted(definitions))))
    return _contract.validate(value, definitions[definition])


class FilterModule(object):
    def filters(self):
        return {'contract_problems': contract_problems}
