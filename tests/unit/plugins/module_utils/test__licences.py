# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Exchange plans table: ids, names, and which plans give a mailbox."""

import re

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _licences

GUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


def test_ids_are_lower_case_guids_and_no_plan_is_in_both_tables():
    for table in (_licences.MAILBOX_PLANS, _licences.NO_MAILBOX_PLANS):
        assert all(GUID.match(plan_id) for plan_id in table.values())
    assert not set(_licences.MAILBOX_PLANS) & set(_licences.NO_MAILBOX_PLANS)
    ids = list(_licences.MAILBOX_PLANS.values()) + list(_licences.NO_MAILBOX_PLANS.values())
    assert len(ids) == len(set(ids)) == len(_licences.PLAN_NAMES)


@pytest.mark.parametrize('plan_id, name', [
    # Microsoft's own licenseDetails example (user-list-licensedetails.md) names these two ids.
    ('113feb6c-3fe4-4440-bddc-54d774bf0318', 'EXCHANGE_S_FOUNDATION'),
    ('cd31b152-6326-4d1b-ae1b-997b625182e6', 'MIP_S_Exchange'),
    ('EFB87545-963C-4E0D-99DF-69C6916D9EB0', 'EXCHANGE_S_ENTERPRISE'),
    ('8c3069c0-ccdb-44be-ab77-986203a67df2', 'EXCHANGE_S_ENTERPRISE_GOV'),
    ('00000000-0000-0000-0000-000000000000', None),
    (None, None),
])
def test_plan_names_by_id(plan_id, name):
    assert _licences.plan_name(plan_id) == name


def test_only_mailbox_plans_give_a_mailbox():
    assert _licences.gives_mailbox('EXCHANGE_S_ENTERPRISE') is True
    assert _licences.gives_mailbox('EXCHANGE_S_STANDARD_GOV') is True
    assert _licences.gives_mailbox('EXCHANGE_S_FOUNDATION') is False
    assert _licences.gives_mailbox('EXCHANGE_S_ARCHIVE_ADDON') is False
    assert _licences.gives_mailbox('TEAMS1') is None


def test_mailbox_plans_leave_out_foundation_and_plans_no_longer_assigned():
    licences = [{'sku': None, 'service_plans': [
        {'name': 'EXCHANGE_S_FOUNDATION', 'status': 'Success'},
        {'name': 'EXCHANGE_S_STANDARD', 'status': 'Success', 'capability_status': 'Deleted'},
        {'name': 'EXCHANGE_S_ENTERPRISE', 'status': 'PendingProvisioning', 'capability_status': 'Enabled'},
        {'name': 'EXCHANGE_S_DESKLESS', 'status': 'Success'}]}, None]
    assert [p['name'] for p in _licences.mailbox_plans(licences)] == ['EXCHANGE_S_ENTERPRISE', 'EXCHANGE_S_DESKLESS']
    assert _licences.mailbox_plans(None) == []
    assert 'PendingProvisioning' in _licences.PENDING_STATUSES and _licences.PROVISIONED == 'Success'
