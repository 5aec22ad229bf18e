# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
name: declared_mailboxes
short_description: The mailboxes ECE uses, as declared, with every default applied and no secret
version_added: 0.2.0
author: ece_o365.preflight contributors
description:
  - Applies the one set of defaults of a declared mailbox (docs/variables.md, docs/contract.md)
    to a list such as C(ece_o365_mailboxes) - C(login) defaults to the address, C(account) to the
    login, C(sender) to the address, C(protocols) to the second argument - and returns each as
    C(address), C(login), C(account), C(sender) and C(protocols). The refresh token is never copied out.
  - Refuses, naming the variable and the entry (never a value that could be a secret), an entry that is
    not a mapping, has no address, has an unknown key or a protocol other than imap, pop3 and smtp, or
    repeats an address (a mailbox has one key, its address).
options:
  _input:
    description: The declared mailboxes.
    type: list
    elements: dict
    required: true
  default_protocols:
    description: The protocols of a mailbox that names none.
    type: list
    elements: str
    default: [imap, pop3, smtp]
  variable:
    description: The variable's name, for the messages.
    type: str
    default: ece_o365_mailboxes
'''

EXAMPLES = r'''
- name: The mailboxes with their defaults, without the refresh tokens
  ansible.builtin.debug:
    msg: "{{ ece_o365_mailboxes | ece_o365.preflight.declared_mailboxes(['imap', 'smtp']) }}"
'''

RETURN = r'''
_value:
  description: One mapping per mailbox with address, login, account, sender and protocols.
  type: list
  elements: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract


def declared_mailboxes(raw, default_protocols=None, variable='ece_o365_mailboxes'):
    mailboxes, problems = _contract.declared_mailboxes(raw, default_protocols, variable)
    if problems:
        raise AnsibleFilterError('%s (docs/variables.md)' % '; '.join(problems))
    return mailboxes


class FilterModule(object):
    def filters(self):
        return {'declared_mailboxes': declared_mailboxes}
