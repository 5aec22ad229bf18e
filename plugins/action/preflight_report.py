# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin: judge every host's observations on the controller, write the reports, gate.

Runs once (run_once) on the controller. It assembles the observation contract's document
(docs/contract.md, ``_contract.SCHEMA``) from what the roles left in hostvars:
``ece_o365_observations`` on each ECE host and ``ece_o365_tenant_observations`` on the host the
tenant role ran on, plus what the inventory declares (ECE's release and External URL, the
mailboxes). Nothing is lost quietly: an ECE host of the play without observations was unreachable
or a probe task failed on it; a tenant host outside the run (``--limit``) means the tenant was not
read, which blocks the gate unless ``check_tenant`` is false; ECE hosts of the inventory limited out
of the run are named in the coverage. With ``validate_only`` it checks the run's inputs and judges
nothing: the playbooks call it so before any probe.
"""

import datetime
import json
import math
import os
import re
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _fixscript, _report

ARGUMENT_SPEC = dict(
    checks=dict(type='list', elements='str', default=[]),
    tags=dict(type='list', elements='str', default=[]),
    skip=dict(type='list', elements='str', default=[]),
    waivers=dict(type='list', elements='raw', default=[]),
    fail_on_warn=dict(type='bool', default=False),
    gate=dict(type='bool', default=True),
    report_dir=dict(type='path'),
    formats=dict(type='list', elements='str', default=['json', 'junit', 'markdown', 'html'],
                 choices=list(_report.WRITERS)),
    audit=dict(type='bool', default=False),
    previous=dict(type='path'),
    services_group=dict(type='str', default='ece_services'),
    application_group=dict(type='str', default='ece_application'),
    tenant_host=dict(type='str', default='localhost'),
    check_tenant=dict(type='bool', default=True),
    expected_issuers=dict(type='list', elements='str'),
    expected_ca_certs=dict(type='list', elements='str', default=[]),
    today=dict(type='str'),
    secret_warn_days=dict(type='int', default=_checks.SECRET_EXPIRY_WARN_DAYS),
    validate_only=dict(type='bool', default=False),
    # Print the end-of-run table as plain lines (the default callback shows a debug list as quoted JSON strings).
    show_table=dict(type='bool', default=False),
)
# The inventory variables that declare ECE's configuration on a host (read as declared, not observed).
ECE_DECLARED = (('version', 'ece_o365_ece_version'), ('installed_es', 'ece_o365_ece_installed_es'),
                ('es_to_install', 'ece_o365_ece_es_to_install'), ('known_latest_es', 'ece_o365_ece_known_latest_es'),
                ('external_url', 'ece_o365_ece_external_url'), ('admin_login_fqdn', 'ece_o365_ece_admin_login_fqdn'))
PORT_VARIABLES = ('ece_o365_login_port', 'ece_o365_smtp_port', 'ece_o365_imap_port', 'ece_o365_pop3_port')
ES_NAMES = re.compile(r'^[A-Za-z0-9_,\s]*$')
VERSION = re.compile(r'^\d+\.\d+\(\d+\)$')
HISTORY_FILE = re.compile(r'^preflight-(\d{4}-\d{2}-\d{2})\.json$')
display = Display()


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._arguments()
        chosen, skipped, today = self._selection(args)
        declared_mailboxes = self._declared_mailboxes(task_vars)
        self._validate_hosts(task_vars, args)
        if args['validate_only']:
            result.update(changed=False, msg='the run\'s inputs are valid: %d check(s) chosen, %d disabled, %d mailbox(es)'
                          % (len(chosen), len(skipped), len(declared_mailboxes)))
            return result

        observations, coverage = self._collect(task_vars, args, declared_mailboxes)
        observed = _report.observations_document(observations)  # as read, before anything is set aside
        _quarantine(observations)
        options = {'today': today, 'secret_warn_days': args['secret_warn_days'],
                   'expected_issuers': args['expected_issuers'], 'expected_ca_certs': args['expected_ca_certs']}
        findings = _checks.judge(observations, chosen, skipped, args['waivers'], options)
        previous = self._previous(args)
        drift = _checks.drift(findings, previous)
        summary = _checks.summarize(findings, args['fail_on_warn'], coverage)
        generated = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        run = {'checks': [c.id for c in chosen], 'disabled': [c.id for c in skipped],
               'waivers': len(args['waivers']), 'fail_on_warn': args['fail_on_warn'], 'audit': args['audit'],
               'observations_schema_version': _contract.SCHEMA_VERSION, 'coverage': coverage,
               # the stamps of the HTML and Markdown reports
               'collection_version': _report.collection_version(), 'inventory': _inventory_name(task_vars)}
        if args['audit'] and args['report_dir']:
            run['audit_history'] = _audit_history(args['report_dir'], today, summary)
        host_summary = dict((name, {'roles': h.get('roles'), 'reached': h.get('reached')})
                            for name, h in observations['hosts'].items())
        report = _report.build(findings, summary, drift, host_summary, run, generated)
        paths = {}
        if args['report_dir']:
            try:
                paths = _report.write(report, args['report_dir'], args['formats'])
                if 'json' in args['formats']:
                    paths['observations'] = _report.write_observations(observed, args['report_dir'])
                if args['audit']:
                    paths['audit'] = self._write_audit(report, args['report_dir'], today)
                # The fixes that are commands, for a person to review and run: never run here (docs/fix-script.md).
                paths['fixes'] = _fixscript.write(findings, _checks.by_id(), args['report_dir'], generated,
                                                  task_vars.get('inventory_file'))
            except OSError as exc:  # a file where the directory should be, no space, no permission
                raise AnsibleActionFail('preflight_report: cannot write the reports to report_dir %s: %s'
                                        % (args['report_dir'], exc))
        table = _report.summary_table(report, paths)
        if args['show_table']:  # plain lines, through the controller's display, whatever the stdout callback
            display.banner('ECE OAUTH2 MAIL PREFLIGHT')
            display.display(table)
        result.update(changed=False, findings=report['findings'], summary=summary, drift=drift, reports=paths,
                      table=table, passed_gate=summary['passed_gate'], coverage=coverage)
        if args['gate'] and not summary['passed_gate']:
            result['failed'] = True
            result['msg'] = 'The preflight gate failed: %s. See the summary below%s.' % (
                '; '.join(summary['gate_reasons']), ' and %s' % paths.get('markdown') if paths.get('markdown') else '')
        return result

    # -- inputs, validated before anything is judged (and, with validate_only, before any probe) -------

    def _arguments(self):
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
        return validation.validated_parameters

    def _selection(self, args):
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
            raise AnsibleActionFail('ece_o365_report_today must be a date YYYY-MM-DD, got %r' % args['today'])
        return chosen, skipped, today

    def _host_vars(self, task_vars, name):
        return task_vars.get('hostvars', {}).get(name, {})

    def _declared_mailboxes(self, task_vars):
        """The mailboxes as the inventory declares them (ece_o365_mailboxes), defaults applied, no secret kept."""
        raw = self._host_vars(task_vars, task_vars.get('inventory_hostname')).get('ece_o365_mailboxes')
        protocols = self._host_vars(task_vars, task_vars.get('inventory_hostname')).get('ece_o365_mail_protocols')
        mailboxes, problems = _contract.declared_mailboxes(raw, protocols)
        if problems:
            raise AnsibleActionFail('preflight_report: %s (docs/variables.md)' % '; '.join(problems))
        return mailboxes

    def _ece_hosts(self, task_vars, args):
        groups = task_vars.get('groups') or {}
        return _unique(list(groups.get(args['services_group']) or []) + list(groups.get(args['application_group']) or []))

    def _validate_hosts(self, task_vars, args):
        """ECE's declared release and ES names, and the ports, on every ECE host of the run."""
        play = set(task_vars.get('ansible_play_hosts_all') or [])
        problems = []
        for name in self._ece_hosts(task_vars, args):
            if name not in play:
                continue
            facts = self._host_vars(task_vars, name)
            version = facts.get('ece_o365_ece_version')
            if version not in (None, '') and not (isinstance(version, str) and VERSION.match(version)):
                problems.append('%s: ece_o365_ece_version is a release such as "12.6(1)" (quoted in YAML), got %r'
                                % (name, version))
            for key in ('ece_o365_ece_installed_es', 'ece_o365_ece_es_to_install', 'ece_o365_ece_known_latest_es'):
                value = facts.get(key)
                if value not in (None, '') and not (isinstance(value, str) and ES_NAMES.match(value)):
                    problems.append('%s: %s is a name such as "ES1" or "ES12, ES12_ET1", got %r' % (name, key, value))
            for key in PORT_VARIABLES:
                value = facts.get(key)
                if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                              and 0 < value < 65536 or isinstance(value, str) and value.isdigit()
                                              and 0 < int(value) < 65536):
                    problems.append('%s: %s must be a port number (1-65535), got %r' % (name, key, value))
            model = facts.get('ece_o365_network_model')
            if model not in (None, '') and model not in _contract.NETWORK_MODELS:
                problems.append('%s: ece_o365_network_model must be one of %s, got %r' % (
                    name, ', '.join(_contract.NETWORK_MODELS), model))
        if problems:
            raise AnsibleActionFail('preflight_report: %s (docs/variables.md)' % '; '.join(problems[:10]))

    # -- the contract's document ------------------------------------------------------------------

    def _collect(self, task_vars, args, declared_mailboxes):
        play_all = list(task_vars.get('ansible_play_hosts_all') or task_vars.get('ansible_play_hosts') or [])
        alive = set(task_vars.get('ansible_play_hosts') or [])
        inventory_ece = self._ece_hosts(task_vars, args)
        groups = task_vars.get('groups') or {}
        hosts = {}
        for name in inventory_ece:
            if name not in play_all:
                continue
            facts = self._host_vars(task_vars, name)
            record = _mapping(facts.get('ece_o365_observations'), 'ece_o365_observations', name) or {}
            roles = [role for role, group in (('services', args['services_group']),
                                              ('application', args['application_group']))
                     if name in (groups.get(group) or [])]
            host = {'roles': roles, 'reached': True, 'unreachable_reason': None,
                    'failed_tasks': _strings(record.get('failed_tasks')),
                    'port_probe': _result(record.get('port_probe')), 'url_reach': _result(record.get('url_reach')),
                    'token_refresh': _list(record.get('token_refresh')),
                    'token_refresh_not_run': _text(record.get('token_refresh_not_run')) or None,
                    'ece': self._declared_ece(facts)}
            if record.get('unreachable') or name not in alive:
                host['reached'] = False
                host['unreachable_reason'] = _text(record.get('unreachable_reason')) or \
                    'unreachable, or a task failed on it (see the play output)'
            elif not record:
                host['failed_tasks'].append('no observations were recorded (the network role did not run on this host)')
            hosts[name] = host
        tenant = self._tenant(task_vars, args, play_all, alive)
        mailboxes = dict((m['address'], dict((k, m[k]) for k in ('address', 'login', 'account', 'sender', 'protocols')))
                         for m in (tenant.pop('declared_mailboxes', None) or declared_mailboxes))
        limited_out = [name for name in inventory_ece if name not in play_all]
        coverage = {'ece_hosts': len(inventory_ece), 'judged_hosts': sorted(hosts), 'limited_out': limited_out,
                    'tenant': 'left out (ece_o365_check_tenant: false)' if tenant['left_out'] else
                              ('read from %s' % tenant['host'] if tenant['ran'] else 'not read: %s' % tenant['why_not'])}
        observations = {'schema_version': _contract.SCHEMA_VERSION, 'hosts': hosts, 'tenant': tenant,
                        'mailboxes': mailboxes}
        return observations, coverage

    @staticmethod
    def _declared_ece(facts):
        declared = dict((key, _text(facts.get(variable))) for key, variable in ECE_DECLARED)
        protocols = facts.get('ece_o365_mail_protocols')
        declared['mail_protocols'] = list(protocols) if isinstance(protocols, (list, tuple)) else \
            list(_contract.DEFAULT_MAIL_PROTOCOLS)
        declared['network_model'] = facts.get('ece_o365_network_model') or _contract.DEFAULT_NETWORK_MODEL
        egress = facts.get('ece_o365_egress_addresses')  # as declared: ENTRA-SIGNIN-SOURCE compares with it
        declared['egress_addresses'] = [str(a) for a in egress] if isinstance(egress, (list, tuple)) else \
            ([egress] if isinstance(egress, str) and egress else [])
        return declared

    def _tenant(self, task_vars, args, play_all, alive):
        tenant_host = args['tenant_host']
        base = {'ran': False, 'left_out': False, 'host': tenant_host, 'why_not': None, 'failed_tasks': [],
                'tenant_info': None, 'mailbox_settings': None, 'mailbox_protocols': None, 'signin_activity': None,
                'read_signins': None, 'ece_tokens': None, 'external_url': ''}
        if not args['check_tenant']:
            return dict(base, left_out=True)
        # Only a host of this run counts: a record left by an earlier run (a fact cache) was not read now.
        candidates = [name for name in [tenant_host] + play_all if name in play_all]
        for name in _unique(candidates):
            record = _mapping(self._host_vars(task_vars, name).get('ece_o365_tenant_observations'),
                              'ece_o365_tenant_observations', name)
            if record:
                tenant = dict(base, ran=True, host=name)
                tenant['failed_tasks'] = _strings(record.get('failed_tasks'))
                for key in ('tenant_info', 'mailbox_settings', 'mailbox_protocols', 'signin_activity'):
                    tenant[key] = _result(record.get(key))
                if isinstance(record.get('read_signins'), bool):
                    tenant['read_signins'] = record['read_signins']
                if record.get('ece_tokens') in ('stored', 'none'):
                    tenant['ece_tokens'] = record['ece_tokens']
                tenant['external_url'] = _text(record.get('external_url'))
                if record.get('declared_mailboxes') is not None:
                    mailboxes, problems = _contract.declared_mailboxes(record['declared_mailboxes'])
                    if problems:
                        raise AnsibleActionFail('preflight_report: %s' % '; '.join(problems))
                    tenant['declared_mailboxes'] = mailboxes
                return tenant
        if tenant_host not in play_all:
            why = 'the tenant host %s was not in this run (a --limit or an AWX Limit left it out)' % tenant_host
        elif tenant_host not in alive:
            why = 'the tenant host %s was unreachable, or a task failed on it outside the tenant role' % tenant_host
        else:
            why = 'the tenant role did not run on %s' % tenant_host
        return dict(base, why_not=why, external_url=_text(self._host_vars(task_vars, tenant_host).get(
            'ece_o365_ece_external_url')))

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


def _inventory_name(task_vars):
    """The inventory the run read, for the reports' stamp: the host's inventory file, else the sources given."""
    source = task_vars.get('inventory_file')
    if not source:
        sources = task_vars.get('ansible_inventory_sources') or []
        source = ', '.join(str(s) for s in sources) if isinstance(sources, (list, tuple)) else str(sources)
    return str(source) if source else 'unknown'


def _audit_history(directory, today, summary):
    """Failed and erred checks per audit day, from <report_dir>/history/preflight-DATE.json and this run (which
    replaces today's file): [{date, failures, waived}], oldest first. An unreadable file is left out of the chart."""
    days = {}
    history = os.path.join(directory, 'history')
    for name in sorted(os.listdir(history)) if os.path.isdir(history) else []:
        match = HISTORY_FILE.match(name)
        if not match:
            continue
        try:
            with open(os.path.join(history, name), encoding='utf-8') as handle:
                counts = json.load(handle)['summary']
            days[match.group(1)] = {'date': match.group(1), 'failures': int(counts['counts']['fail'])
                                    + int(counts['counts']['error']), 'waived': int(counts.get('waived') or 0)}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    days[today.isoformat()] = {'date': today.isoformat(), 'waived': summary.get('waived') or 0,
                               'failures': summary['counts']['fail'] + summary['counts']['error']}
    return [days[day] for day in sorted(days)]


def _quarantine(observations):
    """A host or tenant record that does not follow the contract is not judged: its probe results are dropped and
    the problem becomes a failed task of that host (PREFLIGHT-HOST-REACHABLE) or of the tenant
    (PREFLIGHT-TENANT-READ), naming the path, so it blocks the gate instead of being read wrongly."""
    defs = _contract.SCHEMA['$defs']

    def note(record, part, problems, keys):
        for key in keys:
            if any(p.startswith(key) for p in problems):
                record[key] = None
        record['failed_tasks'] = list(record.get('failed_tasks') or []) + [
            'the %s does not follow the observation contract (schema version %d, docs/contract.md): %s' % (
                part, _contract.SCHEMA_VERSION, '; '.join(problems[:5]))]

    for name, host in observations['hosts'].items():
        problems = _contract.validate(host, defs['host'])
        if problems:
            note(host, 'record of %s' % name, problems, ('port_probe', 'url_reach', 'token_refresh'))
    problems = _contract.validate(observations['tenant'], defs['tenant'])
    if problems:
        note(observations['tenant'], 'tenant record', problems, ('tenant_info', 'mailbox_settings', 'mailbox_protocols'))
    problems = _contract.validate(observations)
    if problems:  # what is left is the action's own assembly: a bug here, never the user's data
        raise AnsibleActionFail('preflight_report: the observations do not follow the contract (schema version %d, '
                                'docs/contract.md): %s' % (_contract.SCHEMA_VERSION, '; '.join(problems[:10])))


def _unique(names):
    seen, out = set(), []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _strings(value):
    """A recorded list of messages, whatever was recorded: a hand-set variable may hold anything."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]


def _text(value):
    return '' if value is None else str(value)


def _result(value):
    """A registered probe result as the contract holds it: None when the task did not run (skipped)."""
    if not isinstance(value, Mapping) or value.get('skipped'):
        return None
    return dict(value)


def _list(value):
    """A list recorded by a role (a list of mappings), else None."""
    return [dict(item) for item in value if isinstance(item, dict)] if isinstance(value, (list, tuple)) else None


def _mapping(value, variable, host):
    """VALUE when it is a mapping or None. The probe roles set these variables; any other type means one was
    overridden by hand (inventory, -e), which the judge cannot read: say which variable on which host."""
    if value is None or isinstance(value, Mapping):
        return value
    raise AnsibleActionFail('preflight_report: %s on %s must be a mapping (as the probe roles set it), got %s'
                            % (variable, host, type(value).__name__))
