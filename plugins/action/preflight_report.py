# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin: judge every host's observations on the controller, write the reports, gate.

Runs once (run_once) on the controller. It reads, from hostvars, what the probe roles left:
``ece_o365_observations`` on each ECE host (network, ece) and ``ece_o365_tenant_observations``
(tenant, mailboxes) on whichever host ran the tenant role. A host of the play that has no
observations was unreachable or a probe task failed on it: that is a finding, not a lost host.
"""

import datetime
import json
import math
import os
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _report

ARGUMENT_SPEC = dict(
    checks=dict(type='list', elements='str', default=[]),
    tags=dict(type='list', elements='str', default=[]),
    skip=dict(type='list', elements='str', default=[]),
    waivers=dict(type='list', elements='dict', default=[]),
    fail_on_warn=dict(type='bool', default=False),
    gate=dict(type='bool', default=True),
    report_dir=dict(type='path'),
    formats=dict(type='list', elements='str', default=['json', 'junit', 'markdown', 'html'],
                 choices=list(_report.WRITERS)),
    audit=dict(type='bool', default=False),
    previous=dict(type='path'),
    services_group=dict(type='str', default='ece_services'),
    application_group=dict(type='str', default='ece_application'),
    today=dict(type='str'),
    secret_warn_days=dict(type='int', default=_checks.SECRET_EXPIRY_WARN_DAYS),
)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        try:
            validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        except (OverflowError, TypeError, ValueError) as exc:
            # ansible-core's own int check raises on inf and nan (2.19) instead of reporting them.
            odd = sorted(name for name, value in self._task.args.items()
                         if isinstance(value, float) and not math.isfinite(value))
            raise AnsibleActionFail('preflight_report: %s: not a finite number (%s)' % (
                ', '.join(odd) or 'an argument', exc))
        if validation.error_messages:
            raise AnsibleActionFail('preflight_report: %s' % '; '.join(validation.error_messages))
        args = validation.validated_parameters
        try:
            chosen, skipped = _checks.select(args['checks'], args['tags'], args['skip'])
        except _checks.SelectionError as exc:
            raise AnsibleActionFail(str(exc))
        problem = _checks.validate_waivers(args['waivers'])
        if problem:
            raise AnsibleActionFail(problem)
        try:
            today = datetime.date.fromisoformat(args['today']) if args['today'] else datetime.date.today()
        except ValueError:
            raise AnsibleActionFail('preflight_report: today must be a date YYYY-MM-DD, got %r' % args['today'])

        hosts, tenant, mailboxes = self._collect(task_vars, args)
        findings = _checks.judge(hosts, tenant, mailboxes, chosen, skipped, args['waivers'], today,
                                 secret_warn_days=args['secret_warn_days'])
        previous = self._previous(args)
        drift = _checks.drift(findings, previous)
        summary = _checks.summarize(findings, args['fail_on_warn'])
        generated = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        run = {'checks': [c.id for c in chosen], 'disabled': [c.id for c in skipped],
               'waivers': len(args['waivers']), 'fail_on_warn': args['fail_on_warn'], 'audit': args['audit']}
        host_summary = dict((name, {'roles': h.get('roles'), 'reached': not h.get('unreachable')})
                            for name, h in hosts.items())
        report = _report.build(findings, summary, drift, host_summary, run, generated)
        paths = {}
        if args['report_dir']:
            try:
                paths = _report.write(report, args['report_dir'], args['formats'])
                if args['audit']:
                    paths['audit'] = self._write_audit(report, args['report_dir'], today)
            except OSError as exc:  # a file where the directory should be, no space, no permission
                raise AnsibleActionFail('preflight_report: cannot write the reports to report_dir %s: %s'
                                        % (args['report_dir'], exc))
        result.update(changed=False, findings=report['findings'], summary=summary, drift=drift, reports=paths,
                      table=_report.summary_table(report), passed_gate=summary['passed_gate'])
        if args['gate'] and not summary['passed_gate']:
            result['failed'] = True
            result['msg'] = 'One or more preflight checks failed: %d blocking finding(s). See the summary below%s.' % (
                summary['blocking'], ' and %s' % paths.get('markdown') if paths.get('markdown') else '')
        return result

    def _collect(self, task_vars, args):
        hostvars = task_vars.get('hostvars', {})
        play_hosts = task_vars.get('ansible_play_hosts_all') or task_vars.get('ansible_play_hosts') or []
        alive = set(task_vars.get('ansible_play_hosts') or [])
        hosts, tenant, mailboxes = {}, {}, {}
        for name in play_hosts:
            facts = hostvars.get(name, {})
            groups = facts.get('group_names') or []
            roles = [role for role, group in (('services', args['services_group']),
                                              ('application', args['application_group'])) if group in groups]
            observed = _mapping(facts.get('ece_o365_observations'), 'ece_o365_observations', name)
            tenant_observed = _mapping(facts.get('ece_o365_tenant_observations'), 'ece_o365_tenant_observations', name)
            if tenant_observed:
                tenant = _mapping(tenant_observed.get('tenant'), 'ece_o365_tenant_observations.tenant', name) or {}
                mailboxes = _mapping(tenant_observed.get('mailboxes'), 'ece_o365_tenant_observations.mailboxes',
                                     name) or {}
            if not roles and observed is None:
                # The controller or the tenant host, not an ECE server. A tenant host that dropped out of
                # the play (unreachable, or a task failed outside the tenant role's rescue) read nothing:
                # PREFLIGHT-TENANT-READ says so rather than every tenant check skipping quietly.
                if name not in alive and not tenant_observed and not tenant:
                    tenant = {'failed_tasks': ['%s: unreachable, or a task failed on it (see the play output)' % name]}
                continue
            host = dict(observed or {})
            host['roles'] = roles
            if name not in alive:
                host['unreachable'] = True
                host['unreachable_reason'] = 'unreachable, or a task failed on it (see the play output)'
            elif observed is None:
                host['failed_tasks'] = ['no observations were recorded (a probe role did not run on this host)']
            hosts[name] = host
        return hosts, tenant, mailboxes

    def _previous(self, args):
        path = args['previous']
        if not path and args['audit'] and args['report_dir']:
            path = os.path.join(args['report_dir'], 'preflight.json')
        if not path or not os.path.exists(path):
            return None
        try:
            with open(path, encoding='utf-8') as handle:
                return json.load(handle).get('findings')
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail('cannot read the previous report %s: %s' % (path, exc))

    def _write_audit(self, report, directory, today):
        history = os.path.join(directory, 'history')
        os.makedirs(history, exist_ok=True)
        path = os.path.join(history, 'preflight-%s.json' % today.isoformat())
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(_report.to_json(report))
        return path


def _mapping(value, variable, host):
    """VALUE when it is a mapping or None. The probe roles set these variables; any other type means one was
    overridden by hand (inventory, -e), which the judge cannot read: say which variable on which host."""
    if value is None or isinstance(value, Mapping):
        return value
    raise AnsibleActionFail('preflight_report: %s on %s must be a mapping (as the probe roles set it), got %s'
                            % (variable, host, type(value).__name__))
