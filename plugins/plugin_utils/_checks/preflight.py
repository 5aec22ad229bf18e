# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The preflight's own completeness: was each ECE host reached, and was the tenant read?

The other checks of a host wait for PREFLIGHT-HOST-REACHABLE, those of the tenant and the mailboxes
for PREFLIGHT-TENANT-READ (their ``requires``): when these fail or cannot read, the others are not
judged and say so, and these block the gate.
"""

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    Missing, NotApplicable, Verdict, check)


@check('PREFLIGHT-HOST-REACHABLE', 'Host reachable and every probe ran', 'error', 'host', ('preflight',),
       'Ansible\'s own connection to the host and the status of the probe tasks',
       'check the inventory address, the credentials and that Python (or PowerShell) runs on the host; '
       'the other checks for this host are not judged until it is reachable', item=9)
def judge_reachable(context, subject):
    host = context.host(subject)
    if not host.get('reached', False):
        return 'fail', 'Ansible could not reach this host: %s' % (host.get('unreachable_reason') or 'unreachable'), {
            'reason': host.get('unreachable_reason')}
    if host.get('failed_tasks'):
        return 'fail', 'a probe task failed on this host: %s' % '; '.join(host['failed_tasks']), {
            'failed_tasks': host['failed_tasks']}
    return 'pass', 'reached; every probe ran', {}


@check('PREFLIGHT-TENANT-READ', 'The tenant was read: app registration, accounts, mailbox settings, logins', 'error',
       'tenant', ('preflight', 'tenant'),
       'whether the tenant role ran in this run, and the errors tenant_info (Microsoft Graph), mailbox_settings '
       '(Exchange admin API) and mailbox_protocols returned, with the permission or role a 401/403 names',
       _facts.FIX['tenant_read'] + '; the tenant and mailbox checks are not judged until then', item=3)
def judge_tenant_read(context, _subject):
    tenant = context.tenant
    if tenant.get('left_out'):
        raise NotApplicable('left out of this run by ece_o365_check_tenant: false')
    if not tenant.get('ran'):
        raise Missing('not read: the tenant role did not run in this run: %s. Run the tenant play too (its host, %s, '
                      'must be in the run: with --limit or an AWX Limit, add it), or leave the tenant out knowingly with '
                      'ece_o365_check_tenant: false' % (tenant.get('why_not') or 'no tenant observations were recorded',
                                                        tenant.get('host') or 'localhost'))
    if tenant.get('failed_tasks'):
        return Verdict('fail', 'a tenant task failed, so the tenant and the mailboxes were not judged: %s' % '; '.join(
            tenant['failed_tasks']), {'failed_tasks': tenant['failed_tasks']},
            'read the task\'s message above: it names the host and the cause')
    not_run = []
    if tenant.get('tenant_info') is None or tenant.get('mailbox_settings') is None and context.mailboxes:
        not_run.append('tenant_info and mailbox_settings (ece_o365_preflight_client_id is empty: the preflight\'s own '
                       'read-only app registration is not configured)')
    if tenant.get('mailbox_protocols') is None and context.mailboxes and tenant.get('ece_tokens') != 'none':
        not_run.append('mailbox_protocols (ece_o365_ece_app_client_id is empty)')
    if not_run:
        raise Missing('not read: %s. Configure it (docs/identity.md), or skip the checks that need it with '
                      'ece_o365_skip_checks' % '; '.join(not_run))
    failed = []
    for name in ('tenant_info', 'mailbox_settings'):
        result = tenant.get(name) or {}
        for error in result.get('errors') or []:
            failed.append('%s: %s' % (name, error.get('message')))
        token = result.get('token') or {}
        if token.get('acquired') is False:
            failed.append('%s: %s' % (name, token.get('message')))
    # The sign-in records are read with the same app: a refused token refuses that read as a whole too (its checks
    # wait for this one); a refused part of it (no licence, no AuditLog.Read.All) is the ENTRA-* checks' own error.
    signins_token = (tenant.get('signin_activity') or {}).get('token') or {}
    if signins_token.get('acquired') is False:
        failed.append('signin_activity: %s' % signins_token.get('message'))
    evidence = [{'module': name, 'errors': len((tenant.get(name) or {}).get('errors') or [])}
                for name in ('tenant_info', 'mailbox_settings')]
    if failed:
        return 'fail', '; '.join(failed), evidence
    return 'pass', 'Graph and the Exchange admin API answered every read', evidence
