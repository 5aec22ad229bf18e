# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The Exchange Online service plans, held once: which give a mailbox, and what a plan's status means.

tenant_info names plans with it (when it reads them by id, from the user's assignedPlans) and the judge
(MBX-LICENCE) decides with it.

Sources (docs/identity.md, "Licences"):
- Microsoft's "Product names and service plan identifiers for licensing"
  https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference (the names and ids;
  the page is too large for the stored copies searched here, so each id below was checked against public
  tables read from real tenants' subscribedSkus and against Microsoft's own licenseDetails example, see
  docs/identity.md).
- licenseDetails example with EXCHANGE_S_FOUNDATION 113feb6c-... (Success, appliesTo Company):
  https://learn.microsoft.com/en-us/graph/api/user-list-licensedetails
- provisioningStatus values: https://learn.microsoft.com/en-us/graph/api/resources/provisionedplan
- capabilityStatus values of assignedPlans: https://learn.microsoft.com/en-us/graph/api/resources/assignedplan
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# Service plans (name: servicePlanId) that give the user an Exchange Online mailbox: the Exchange Online plans
# of the enterprise, business, frontline (kiosk), essentials and government (GCC) products.
MAILBOX_PLANS = {
    'EXCHANGE_S_STANDARD': '9aaf7827-d63c-4b61-89c3-182f06f82e5c',  # Exchange Online (Plan 1)
    'EXCHANGE_S_ENTERPRISE': 'efb87545-963c-4e0d-99df-69c6916d9eb0',  # Exchange Online (Plan 2)
    'EXCHANGE_S_DESKLESS': '4a82b400-a79f-41a4-b4e2-e94f5787b113',  # Exchange Online Kiosk (F1, F3)
    'EXCHANGE_S_ESSENTIALS': '1126bef5-da20-4f07-b45e-ad25d2581aa8',  # Exchange Online Essentials
    'EXCHANGE_S_STANDARD_MIDMARKET': 'fc52cc4b-ed7d-472d-bbe7-b081c23ecc56',  # Exchange Online Plan 1 (midmarket)
    'EXCHANGE_B_STANDARD': '90927877-dcff-4af6-b346-2332c0b15bb7',  # Exchange Online POP (small business)
    'EXCHANGE_L_STANDARD': 'd42bdbd6-c335-4231-ab3d-c8f348d5aff5',  # Exchange Online (P1) (small business)
    'EXCHANGE_S_STANDARD_GOV': 'e9b4930a-925f-45e2-ac2a-3f7788ca6fdd',  # Exchange Online (Plan 1) for Government
    'EXCHANGE_S_ENTERPRISE_GOV': '8c3069c0-ccdb-44be-ab77-986203a67df2',  # Exchange Online (Plan 2) for Government
}
# Exchange plans that give no mailbox. EXCHANGE_S_FOUNDATION comes with Microsoft 365 Apps, Power BI, Teams,
# Power Automate free and others; the archiving plans add an archive to a mailbox another plan gives;
# MIP_S_Exchange and EXCHANGE_ANALYTICS are features on top of a mailbox.
NO_MAILBOX_PLANS = {
    'EXCHANGE_S_FOUNDATION': '113feb6c-3fe4-4440-bddc-54d774bf0318',
    'EXCHANGE_S_FOUNDATION_GOV': '922ba911-5694-4e99-a794-73aed9bfeec8',
    'EXCHANGE_S_ARCHIVE': 'da040e0a-b393-4bea-bb76-928b3fa1cf5a',  # Exchange Online Archiving for Exchange Server
    'EXCHANGE_S_ARCHIVE_ADDON': '176a09a6-7ec5-4039-ac02-b2791c6ba793',  # Exchange Online Archiving
    'MIP_S_Exchange': 'cd31b152-6326-4d1b-ae1b-997b625182e6',
    'EXCHANGE_ANALYTICS': '34c0d7a0-a70f-4668-9238-47f9fc208882',
    'EXCHANGE_ANALYTICS_GOV': '208120d1-9adb-4daf-8c22-816bd5d237e7',
}
# servicePlanId -> name, for the plans read by id (assignedPlans carry the id and the service, no name).
PLAN_NAMES = dict((plan_id, name) for table in (MAILBOX_PLANS, NO_MAILBOX_PLANS) for name, plan_id in table.items())

# provisioningStatus values: Success gives the mailbox; these mean the plan is assigned but not active for the user:
# PendingProvisioning "Microsoft has added a new service to the product SKU and it isn't activated in the tenant",
# PendingActivation "provisioned but requires explicit activation by an administrator", PendingInput "awaiting
# service confirmation" (https://learn.microsoft.com/en-us/graph/api/resources/serviceplaninfo).
PENDING_STATUSES = ('PendingProvisioning', 'PendingInput', 'PendingActivation')
PROVISIONED = 'Success'
# capabilityStatus values (assignedPlan resource) of a plan still assigned; Suspended, Deleted and LockedOut are
# not (assignedPlans keep removed plans as history).
ASSIGNED_CAPABILITIES = ('Enabled', 'Warning')


def plan_name(plan_id):
    """The service plan's name for PLAN_ID (a servicePlanId), or None when it is not one of the Exchange plans."""
    return PLAN_NAMES.get((plan_id or '').lower())


def gives_mailbox(name):
    """True when plan NAME gives a mailbox, False when it is an Exchange plan that gives none, None otherwise."""
    if name in MAILBOX_PLANS:
        return True
    if name in NO_MAILBOX_PLANS:
        return False
    return None


def mailbox_plans(licences):
    """The plans of LICENCES (tenant_info's users[].licences) that give a mailbox and are still assigned.

    A plan read from assignedPlans carries capability_status; one that is no longer assigned (Deleted,
    Suspended, LockedOut) does not count. Returns a list of the plan dicts as read (their status is the judge's).
    """
    out = []
    for licence in licences or []:
        for plan in (licence or {}).get('service_plans') or []:
            capability = plan.get('capability_status')
            if gives_mailbox(plan.get('name')) and (capability is None or capability in ASSIGNED_CAPABILITIES):
                out.append(plan)
    return out
