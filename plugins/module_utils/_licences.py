# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The Exchange Online service plans, held once: which give a mailbox, and what a plan's status means.

tenant_info names plans with it (when it reads them by id) and the judge (MBX-LICENCE) decides with it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# Service plans (name: servicePlanId) that give the user an Exchange Online mailbox.
# TO VERIFY AND EXTEND (issue 12): Microsoft's "Product names and service plan identifiers for licensing".
MAILBOX_PLANS = {
    'EXCHANGE_S_STANDARD': '9aaf7827-d63c-4b61-89c3-182f06f82e5c',
    'EXCHANGE_S_ENTERPRISE': 'efb87545-963c-4e0d-99df-69c6916d9eb0',
    'EXCHANGE_S_DESKLESS': '4a82b400-a79f-41a4-b4e2-e94f5787b113',
    'EXCHANGE_S_ESSENTIALS': '1126bef5-da20-4f07-b45e-ad25d2581aa8',
}
# Exchange plans that give no mailbox (EXCHANGE_S_FOUNDATION comes with Microsoft 365 Apps, Power BI, Teams...).
NO_MAILBOX_PLANS = {
    'EXCHANGE_S_FOUNDATION': '113feb6c-3fe4-4440-bddc-54d774bf0318',
}
# provisioningStatus values: Success gives the mailbox; these mean it is on its way.
PENDING_STATUSES = ('PendingProvisioning', 'PendingInput', 'PendingActivation')
PROVISIONED = 'Success'
