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
  - Runs on the controller (an action plugin), once per play. It assembles the observation contract's document
    (C(docs/contract.md)) from what the network role recorded on each ECE host (C(ece_o365_observations)), what
    the tenant role recorded (C(ece_o365_tenant_observations)) and what the inventory declares (ECE's release
    and External URL, C(ece_o365_mailboxes)), validates it, runs every selected check of the catalogue (see
    C(docs/checks.md)) and returns one finding per check and subject (host, tenant or mailbox) with status
    V(pass), V(warn), V(fail), V(skip) or V(error), the evidence, and one fix.
  - The gate never passes on data it did not read. An ECE host of the play without observations was
    unreachable or a probe failed there; it gets a failing C(PREFLIGHT-HOST-REACHABLE) finding and its other
    checks wait for it. A record that breaks the contract is not judged and fails the same way, naming the path.
    A tenant host outside the run (a C(--limit)) makes C(PREFLIGHT-TENANT-READ) an error unless
    O(check_tenant=false). A missing observation is an V(error); a run that judged nothing fails the gate.
    ECE hosts of the inventory left out of the run are named in RV(coverage).
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
  tenant_host:
    description:
      - The host the tenant role runs on. When it is not in the run, the tenant was not read, which blocks the
        gate (unless O(check_tenant=false)).
    type: str
    default: localhost
  check_tenant:
    description: Read the tenant. V(false) leaves the tenant and mailbox checks out knowingly (reported as skipped).
    type: bool
    default: true
  expected_issuers:
    description:
      - Issuers expected on the leaf certificate of Microsoft's endpoints (a CN with C(*) and C(?), or
        C(K=V, K=V)); another one means TLS inspection (C(NET-TLS-INTERCEPT)). Unset - the catalogue's list; an
        empty list - the check does not apply.
    type: list
    elements: str
  expected_ca_certs:
    description: CA certificates expected in the chain a host saw, by SHA-256 fingerprint.
    type: list
    elements: str
    default: []
  validate_only:
    description:
      - Check the run's inputs (the selection, the waivers, the mailboxes, ECE's declared release and ES names,
        the ports) and judge nothing. The playbooks call it so before any probe.
    type: bool
    default: false
  show_table:
    description:
      - Print the end-of-run table (RV(table)) on the controller as plain lines once the findings are judged,
        whatever the stdout callback (a C(debug) task's list of lines reads as quoted JSON strings).
      - Leave it off when the C(ece_o365.preflight.preflight_summary) callback prints the table after the recap.
    type: bool
    default: false
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
    blocked_by:
      description: For a V(skip) that waits on another check, that check's id (it fails for the same subject).
      type: str
summary:
  description:
    - Counts by status, how many findings were judged, blocking findings, whether the gate passed and why not
      (C(gate_reasons)), and the coverage.
  returned: always
  type: dict
coverage:
  description: The ECE hosts judged and those limited out of the run, and whether the tenant was read.
  returned: unless O(validate_only=true)
  type: dict
  sample: {ece_hosts: 3, judged_hosts: [ece-app01], limited_out: [ece-svc01, ece-app02], tenant: read from localhost}
drift:
  description: New failures, fixed, still failing and changed findings against the previous report.
  returned: always
  type: dict
reports:
  description: Paths of the reports written, by format.
  returned: always
  type: dict
table:
  description:
    - The end-of-run summary table as text, one line per row; a waived finding says C(waived (reason, expires DATE))
      and the counts say how many of each status are waived; the last lines name the reports written and the tags
      that left tasks out.
  returned: always
  type: str
passed_gate:
  description: Whether no blocking finding remains.
  returned: always
  type: bool
"""
