#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: preflight_report
short_description: Judge the preflight's observations, write the reports and gate the run
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Runs on the controller (an action plugin), once per play. It reads what the probe roles recorded on each
    host (C(ece_o365_observations)) and for the tenant (C(ece_o365_tenant_observations)), runs every selected
    check of the catalogue (see C(docs/checks.md)) and returns one finding per check and subject (host, tenant or
    mailbox) with status V(pass), V(warn), V(fail), V(skip) or V(error), the evidence, and the fix.
  - A host of the play without observations was unreachable or a probe failed there; it gets a failing
    C(PREFLIGHT-HOST-REACHABLE) finding and its other checks are skipped, so no host is lost from the report.
    The probe roles may also mark a host in its observations with C(unreachable), C(unreachable_reason) and
    C(failed_tasks) (a list of what failed); those count the same way.
  - Writes the report as JSON (versioned schema), JUnit XML, Markdown and HTML into O(report_dir), and with
    O(audit=true) a dated copy under C(history/) and the drift against the previous report.
  - Fails the task once, at the end, when a blocking finding remains and O(gate=true).
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
attributes:
  platform:
    support: full
    platforms: all
    details: Runs on the controller only.
options:
  checks:
    description: Check ids to run; all when empty. An unknown id fails the task and lists the known ones.
    type: list
    elements: str
    default: []
  tags:
    description: Run only checks with one of these tags (for example V(network), V(mailbox), V(ece)).
    type: list
    elements: str
    default: []
  skip:
    description: Check ids not to run; they are reported as disabled.
    type: list
    elements: str
    default: []
  waivers:
    description:
      - Findings to waive, each a mapping with C(id), C(reason), C(expires) (V(YYYY-MM-DD)) and optionally
        C(subject) (a host, V(tenant), a mailbox, or V(*)). An expired waiver stops waiving.
    type: list
    elements: dict
    default: []
  fail_on_warn:
    description: Count warnings (and check errors) as blocking, for strict gates.
    type: bool
    default: false
  gate:
    description: Fail the task when a blocking finding remains.
    type: bool
    default: true
  report_dir:
    description: Directory on the controller for the reports. No files are written when unset.
    type: path
  formats:
    description: Report formats to write.
    type: list
    elements: str
    choices: [json, junit, markdown, html]
    default: [json, junit, markdown, html]
  audit:
    description: Fleet audit mode, keep a dated copy under O(report_dir)C(/history) and compare with the previous report.
    type: bool
    default: false
  previous:
    description: A previous JSON report to compute drift against; defaults, in audit mode, to the last one written.
    type: path
  services_group:
    description: Inventory group of ECE services servers.
    type: str
    default: ece_services
  application_group:
    description: Inventory group of ECE application servers.
    type: str
    default: ece_application
  secret_warn_days:
    description: A client secret expiring within this many days is a warning (C(APP-SECRET-EXPIRY)).
    type: int
    default: 30
  today:
    description: The date waivers are judged against (V(YYYY-MM-DD)); today when unset. For tests and replays.
    type: str
notes:
  - Findings carry no secret, because the probes never return one.
"""

EXAMPLES = r"""
- name: Judge, write the reports, gate
  ece_o365.preflight.preflight_report:
    report_dir: "{{ playbook_dir }}/reports"
    skip: "{{ ece_o365_skip_checks | default([]) }}"
    waivers: "{{ ece_o365_waivers | default([]) }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
findings:
  description: One finding per check and subject.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check's stable id.
      type: str
      sample: NET-PORT-993
    subject:
      description: The host, V(tenant), or the mailbox the finding is about.
      type: str
    status:
      description: V(pass), V(warn), V(fail), V(skip) or V(error).
      type: str
    detail:
      description: What was seen.
      type: str
    remediation:
      description: The fix.
      type: str
    skip_with:
      description: The exact variable that skips this check.
      type: str
      sample: "ece_o365_skip_checks: [NET-PORT-993]"
summary:
  description: Counts by status, blocking findings and whether the gate passed.
  returned: always
  type: dict
drift:
  description: New failures, fixed, still failing and changed findings against the previous report.
  returned: always
  type: dict
reports:
  description: Paths of the reports written, by format.
  returned: always
  type: dict
table:
  description: The end-of-run summary table as text.
  returned: always
  type: str
passed_gate:
  description: Whether no blocking finding remains.
  returned: always
  type: bool
"""
