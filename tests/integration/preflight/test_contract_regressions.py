# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The observation contract through the full playbook on the fleet lab (issue: one shape from every probe to
the judge, and a gate that never passes on data it did not read).

Each case was a false verdict before the contract: ports moved off the defaults came out `skip` and the gate
passed; a mailbox whose login differs from its address lost its settings checks; `--limit` without the tenant
host passed with the tenant never read; POP declared and disabled passed on "IMAP enabled"; a mailbox written
with the documented defaults crashed the tenant play; a selection that judged nothing passed; an unresolvable
proxy was blamed on login.microsoftonline.com. And every probe's real output follows the contract's schema.
"""

import copy
import json
import os

import jsonschema

from ece_lab import fleet

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract

SUPPORT, SALES, SERVICE = "support@contoso.example", "sales@contoso.example", "ece.service@contoso.example"
HOSTS = ("ece-svc01", "ece-app01", "ece-app02")


def _finding(run, check_id, subject):
    found = [f for f in run.findings if (f["id"], f["subject"]) == (check_id, subject)]
    assert len(found) == 1, (check_id, subject, run.tail())
    return found[0]


def _mailboxes(preflight_fleet):
    """The lab inventory's ece_o365_mailboxes (with the refresh tokens ECE stored), to rewrite per case."""
    return copy.deepcopy(fleet.lab_variables(preflight_fleet.state, connection="local")["ece_o365_mailboxes"])


def test_every_probe_output_of_a_real_run_follows_the_contract(preflight_fleet, report_dir):
    preflight_fleet.switch("healthy")
    run = preflight_fleet.run(report_dir)
    assert run.returncode == 0, run.tail()
    with open(os.path.join(str(report_dir), "preflight-observations.json"), encoding="utf-8") as handle:
        observed = json.load(handle)
    jsonschema.validate(observed, _contract.SCHEMA)
    assert _contract.validate(observed) == []
    purposes = sorted(r["purpose"] for r in observed["hosts"]["ece-svc01"]["port_probe"]["results"])
    assert purposes == ["imap", "pop3", "smtp_submission", "token_endpoint"]
    assert [r["purpose"] for r in observed["hosts"]["ece-app01"]["url_reach"]["results"]] == ["oidc_discovery"]
    assert sorted(observed["mailboxes"]) == [SALES, SUPPORT]
    assert {r["address"] for r in observed["tenant"]["mailbox_protocols"]["results"]} == {SALES, SUPPORT}
    assert "invocation" not in json.dumps(observed)


def test_ports_moved_off_the_defaults_are_judged_by_purpose(preflight_fleet, report_dir):
    """Was: NET-PORT-993 and NET-PORT-995 skip (found by port number) and the gate PASSED."""
    preflight_fleet.switch("healthy")
    run = preflight_fleet.run(report_dir, extra_vars={"network_imap_port": 1993, "network_pop3_port": 1995})
    # Cisco TAC's checklist (the default network model): every ECE server probes the moved ports.
    assert run.not_passing() == dict(((check, host), "fail") for check in ("NET-PORT-993", "NET-PORT-995")
                                     for host in ("ece-svc01", "ece-app01", "ece-app02")), run.tail()
    assert _finding(run, "NET-PORT-993", "ece-svc01")["evidence"][0]["port"] == 1993
    assert "1995" in _finding(run, "NET-PORT-995", "ece-svc01")["detail"]
    assert run.returncode == 2 and not run.report["summary"]["passed_gate"]


def test_a_login_that_differs_from_the_address_keeps_the_mailbox_checks(preflight_fleet, report_dir):
    """The delegate signs in as itself for the shared sales@ mailbox. Was: MBX-PROTOCOLS, MBX-SMTP-AUTH and
    MBX-FULLACCESS skip (settings keyed by address, looked up by login)."""
    preflight_fleet.switch("healthy")
    mailboxes = _mailboxes(preflight_fleet)
    for mailbox in mailboxes:
        if mailbox["address"] == SALES:
            mailbox["login"] = SERVICE
    run = preflight_fleet.run(report_dir, extra_vars={"ece_o365_mailboxes": mailboxes})
    assert run.returncode == 0, run.tail()
    for check_id in ("MBX-PROTOCOLS", "MBX-SMTP-AUTH", "MBX-FULLACCESS", "MBX-LICENCE", "MBX-LOGIN-IMAP"):
        assert _finding(run, check_id, SALES)["status"] == "pass", check_id
    assert not [f for f in run.findings if f["subject"] == SERVICE], "findings are keyed by the address only"


def test_limit_without_the_tenant_host_fails_the_gate_and_says_what_it_covers(preflight_fleet, report_dir, tmp_path):
    """AWX's Limit field: --limit ece-app01. Was: '0 passed ... 2 skipped; gate PASSED', exit status 0."""
    preflight_fleet.switch("healthy")
    run = preflight_fleet.run(report_dir, flags=("--limit", "ece-app01"))
    assert run.returncode == 2, run.tail()
    read = _finding(run, "PREFLIGHT-TENANT-READ", "tenant")
    assert read["status"] == "error" and "localhost was not in this run" in read["detail"]
    assert "covers: 1 of 3 ECE host(s) (limited out: ece-svc01, ece-app02)" in run.output
    assert {f["subject"] for f in run.findings if f["scope"] in ("host", "application")} == {"ece-app01"}
    assert run.report["summary"]["coverage"]["limited_out"] == ["ece-svc01", "ece-app02"]
    # Leaving the tenant out knowingly: the hosts gate, and the summary says the tenant was left out.
    second = tmp_path / "second"
    second.mkdir()
    left_out = preflight_fleet.run(second, flags=("--limit", "ece-app01"), extra_vars={"ece_o365_check_tenant": False})
    assert left_out.returncode == 0, left_out.tail()
    assert "tenant left out (ece_o365_check_tenant: false)" in left_out.output
    assert _finding(left_out, "PREFLIGHT-TENANT-READ", "tenant")["status"] == "skip"


def test_pop_declared_and_disabled_fails_and_imap_declared_passes(preflight_fleet, report_dir, tmp_path):
    """Was: MBX-PROTOCOLS passed on "IMAP enabled" whatever ECE used (the record dropped the protocols)."""
    preflight_fleet.switch("pop-disabled")
    mailboxes = _mailboxes(preflight_fleet)
    for mailbox in mailboxes:
        mailbox["protocols"] = ["pop3", "smtp"] if mailbox["address"] == SUPPORT else ["imap", "smtp"]
    run = preflight_fleet.run(report_dir, extra_vars={"ece_o365_mailboxes": mailboxes})
    assert run.not_passing() == {("MBX-PROTOCOLS", SUPPORT): "fail", ("MBX-LOGIN-POP3", SUPPORT): "fail"}, run.tail()
    assert "POP3 is disabled" in _finding(run, "MBX-PROTOCOLS", SUPPORT)["detail"]
    assert _finding(run, "MBX-LOGIN-IMAP", SUPPORT)["status"] == "skip", "ECE does not use IMAP for it"
    for mailbox in mailboxes:
        mailbox["protocols"] = ["imap", "smtp"]
    second = tmp_path / "second"
    second.mkdir()
    imap_only = preflight_fleet.run(second, extra_vars={"ece_o365_mailboxes": mailboxes,
                                                        "ece_o365_mail_protocols": ["imap", "smtp"],
                                                        "ece_o365_network_model": "per_role"})
    assert imap_only.returncode == 0 and imap_only.not_passing() == {}, imap_only.tail()
    skipped = _finding(imap_only, "NET-PORT-995", "ece-svc01")
    assert skipped["status"] == "skip" and "does not use POP3" in skipped["detail"]


def test_a_mailbox_written_with_the_documented_defaults(preflight_fleet, report_dir, tmp_path):
    """No login, no account where they default. Was: "object of type 'dict' has no attribute 'login'", no report."""
    preflight_fleet.switch("healthy")
    tokens = dict((m["address"], m["refresh_token"]) for m in _mailboxes(preflight_fleet))
    documented = [{"address": SUPPORT, "refresh_token": tokens[SUPPORT]},
                  {"address": SALES, "account": SERVICE, "refresh_token": tokens[SALES]}]
    run = preflight_fleet.run(report_dir, extra_vars={"ece_o365_mailboxes": documented})
    assert run.returncode == 0 and run.not_passing() == {}, run.tail()
    # Without a refresh token the mailbox's own check says so, not PREFLIGHT-TENANT-READ with an app-permission fix.
    second = tmp_path / "second"
    second.mkdir()
    no_token = preflight_fleet.run(second, extra_vars={"ece_o365_mailboxes": [{"address": SUPPORT}]})
    assert _finding(no_token, "PREFLIGHT-TENANT-READ", "tenant")["status"] == "pass", no_token.tail()
    refresh = _finding(no_token, "TOKEN-REFRESH", SUPPORT)
    assert refresh["status"] == "error" and "no refresh token was given" in refresh["detail"], refresh
    assert no_token.returncode == 2
    # A mailbox without an address is refused before any probe, naming the entry.
    third = tmp_path / "third"
    third.mkdir()
    refused = preflight_fleet.run(third, extra_vars={"ece_o365_mailboxes": [{"login": SUPPORT}]})
    assert refused.returncode == 2 and "ece_o365_mailboxes[0]: address must be" in refused.output, refused.tail()
    assert "TCP, TLS and STARTTLS" not in refused.output, "refused before any probe ran"
    assert refused.report is None


def test_a_selection_that_judges_nothing_fails_the_gate(preflight_fleet, report_dir, tmp_path):
    """Was: '0 passed, 0 failed, 0 skipped; gate PASSED', rc 0."""
    preflight_fleet.switch("healthy")
    run = preflight_fleet.run(report_dir, flags=("--limit", "ece-app01"), extra_vars={
        "ece_o365_check_tenant": False, "ece_o365_check_tags": ["mailbox"]})
    assert run.returncode == 2, run.tail()
    assert run.report["summary"]["judged"] == 0 and not run.report["summary"]["passed_gate"]
    assert "nothing was judged" in run.output
    # The issue's own case: a mailbox without its refresh token, and only the token and mailbox checks chosen.
    second = tmp_path / "second"
    second.mkdir()
    missing_token = preflight_fleet.run(second, extra_vars={"ece_o365_mailboxes": [{"address": SUPPORT}],
                                                            "ece_o365_check_tags": ["token", "mailbox"]})
    assert missing_token.returncode == 2, missing_token.tail()
    assert _finding(missing_token, "TOKEN-REFRESH", SUPPORT)["status"] == "error"
    assert not missing_token.report["summary"]["passed_gate"]


def test_an_unresolvable_proxy_is_named_as_the_cause(preflight_fleet, report_dir):
    """Was: port_probe blamed login.microsoftonline.com, and showed the proxy as VALUE_SPECIFIED_IN_NO_LOG_PARAMETER."""
    preflight_fleet.switch("healthy")
    lab = preflight_fleet.lab_state()
    run = preflight_fleet.run(report_dir, flags=("--limit", "ece-app01,localhost"), extra_vars={
        "network_proxy": "http://proxy.invalid:3128", "network_no_proxy": "localhost"})
    port = _finding(run, "NET-PORT-443", "ece-app01")
    assert port["status"] == "fail", run.tail()
    assert "proxy.invalid" in port["detail"] and port["evidence"][0]["error_class"] == "proxy_dns", port
    assert port["evidence"][0]["proxy"] == "http://proxy.invalid:3128"
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in json.dumps(run.findings)
    assert lab["host"] not in port["detail"] or "proxy" in port["detail"]


def test_the_dod_cloud_can_be_chosen(preflight_fleet, report_dir, tmp_path):
    """Was: the tenant role accepted 'usgovdod' and the modules 'usgov_dod', so no spelling passed both and the
    DoD cloud could not be chosen at all. Now the run goes through and every module asks the DoD cloud's resources;
    the lab is a public-cloud tenant, so its token endpoint refuses them (AADSTS70011), naming each scope."""
    preflight_fleet.switch("healthy")
    run = preflight_fleet.run(report_dir, extra_vars={"ece_o365_cloud": "usgov_dod"})
    assert run.report is not None, run.tail()
    read = _finding(run, "PREFLIGHT-TENANT-READ", "tenant")["detail"]
    assert "https://dod-graph.microsoft.us/.default" in read and "https://outlook-dod.office365.us/.default" in read
    assert "https://outlook-dod.office365.us/IMAP.AccessAsUser.All" in _finding(run, "TOKEN-REFRESH", SUPPORT)["detail"]
    second = tmp_path / "second"
    second.mkdir()
    refused = preflight_fleet.run(second, extra_vars={"ece_o365_cloud": "usgovdod"})
    assert refused.returncode != 0 and refused.report is None and "usgovdod" in refused.output, refused.tail()
