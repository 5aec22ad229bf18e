# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r'''
name: cloud_endpoints
short_description: The Microsoft 365 endpoints of a cloud (public, usgov, usgov_dod, china)
version_added: 0.3.0
author: ece_o365.preflight contributors
description:
  - Returns the endpoints the collection uses in one Microsoft cloud, from the one table the modules use
    (C(authority_host), C(graph), C(exchange), C(mail_scope_resource), C(imap_host), C(pop3_host), C(smtp_host)),
    so that the roles and the modules never disagree on a cloud's name or its hosts.
  - Refuses an unknown cloud, naming the ones it knows.
options:
  _input:
    description: The cloud's name.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: The IMAP server of the cloud the inventory names
  ansible.builtin.debug:
    msg: "{{ (ece_o365_cloud | default('public') | ece_o365.preflight.cloud_endpoints).imap_host }}"
'''

RETURN = r'''
_value:
  description: The cloud's endpoints.
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth


def cloud_endpoints(cloud):
    if cloud not in _auth.CLOUDS:
        raise AnsibleFilterError('unknown cloud %r; ece_o365_cloud must be one of %s' % (
            cloud, ', '.join(sorted(_auth.CLOUDS))))
    return dict(_auth.CLOUDS[cloud])


class FilterModule(object):
    def filters(self):
        return {'cloud_endpoints': cloud_endpoints}
