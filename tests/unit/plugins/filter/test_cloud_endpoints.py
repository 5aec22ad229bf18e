# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cloud_endpoints: the roles read a cloud's hosts from the modules' one table, by the names the modules use."""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.filter.cloud_endpoints import FilterModule, cloud_endpoints
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def test_each_cloud_gives_its_own_mail_and_login_hosts():
    assert cloud_endpoints('public')['imap_host'] == 'outlook.office365.com'
    assert cloud_endpoints('public')['smtp_host'] == 'smtp.office365.com'
    assert cloud_endpoints('usgov_dod')['authority_host'] == 'login.microsoftonline.us'
    assert cloud_endpoints('usgov_dod')['imap_host'] == 'outlook-dod.office365.us'
    assert FilterModule().filters()['cloud_endpoints'] is cloud_endpoints
    copy = cloud_endpoints('china')
    copy['imap_host'] = 'changed'
    assert _auth.CLOUDS['china']['imap_host'] != 'changed', 'a copy: the table is never changed through the filter'


def test_an_unknown_cloud_is_refused_naming_the_known_ones():
    """Was: the tenant role took 'usgovdod' and the modules 'usgov_dod', so the DoD cloud could not be chosen."""
    with pytest.raises(AnsibleFilterError, match=r"unknown cloud 'usgovdod'; ece_o365_cloud must be one of china, "
                                                 r"public, usgov, usgov_dod"):
        cloud_endpoints('usgovdod')


@pytest.mark.parametrize('role, option', [('tenant', 'tenant_cloud'), ('network', 'network_cloud')])
def test_the_roles_offer_exactly_the_clouds_the_modules_know(role, option):
    with open(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
        spec = yaml.safe_load(handle)
    assert sorted(spec['argument_specs']['main']['options'][option]['choices']) == sorted(_auth.CLOUDS)
