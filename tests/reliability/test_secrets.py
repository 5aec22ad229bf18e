# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets: planted in every secret-bearing input, found in no output, log or file left behind.

One run of the full preflight over real SSH on the fleet lab, at -vvvv, with every log on
(ANSIBLE_LOG_PATH, the preflight_summary callback, the lab's and every sshd's logs), every report
format and the audit history, a proxy with a password in every module's arguments, and Ansible's
temporary directories kept where the test can search them. Planted: both app registrations' client
secrets, the refresh tokens ECE stored for each mailbox, every lab account's password, the proxy
password. The tokens the lab issues during the run (JWT access tokens, rotated refresh tokens) are
searched for by shape. The inputs are searched too, as a positive control: each planted value is
there, so a search that finds nothing elsewhere means something.
"""

import glob
import os
import re
import time

import pytest

import _coverage
from ece_lab.tenant import load

COVERAGE = [
    _coverage.Case("secrets-planted-everywhere", "secrets",
                   "client secrets, stored refresh tokens, account passwords and a proxy password planted in every "
                   "input; the full preflight over SSH at -vvvv with ANSIBLE_LOG_PATH, the summary callback, every "
                   "report format and the audit history",
                   "preflight playbook, the lab, sshd, Ansible's temporary directories",
                   "zero hits of any planted value, issued JWT or rotated refresh token in any output, log, report "
                   "or file left behind", 180),
]
PROXY_PASSWORD = "Planted-Proxy-Pw-4711"
JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}")
LAB_REFRESH_TOKEN = "0.lab.rt-"  # the prefix of every refresh token the lab issues, stored or rotated


def _planted(fleet):
    """{what: value} of every secret the run holds as input."""
    tenant = load(fleet.lab_state()["tenant_file"])
    secrets = {"proxy password": PROXY_PASSWORD}
    for key, app in tenant.applications.items():
        for index, secret in enumerate(app["secrets"]):
            secrets["client secret %s[%d]" % (key, index)] = secret["value"]
    for key, token in tenant.refresh_tokens.items():
        secrets["refresh token %s" % key] = token["value"]
    for upn, user in tenant.users.items():
        if user.get("password"):
            secrets["password of %s" % upn] = user["password"]
    return secrets


def _texts(paths):
    """{path: text} of every file under PATHS (files or directories, recursively)."""
    texts = {}
    for path in paths:
        candidates = [path] if os.path.isfile(path) else glob.glob(os.path.join(path, "**", "*"), recursive=True)
        for candidate in candidates:
            if os.path.isfile(candidate):
                with open(candidate, encoding="utf-8", errors="replace") as handle:
                    texts[candidate] = handle.read()
    return texts


@pytest.mark.parametrize("case", COVERAGE, ids=_coverage.ids(COVERAGE))
def test_no_secret_in_any_output_log_report_or_leftover(reliability_fleet, tmp_path, case):
    reliability_fleet.switch("healthy")
    lab = reliability_fleet.lab_state()
    report_dir, local_tmp = tmp_path / "reports", tmp_path / "ansible-local-tmp"
    report_dir.mkdir()
    local_tmp.mkdir()
    log_path = tmp_path / "ansible.log"
    remote_tmp = "/tmp/.ansible-ece-fleet-%s" % reliability_fleet.state["id"]
    started = time.monotonic()
    run = reliability_fleet.run(report_dir, connection="ssh", flags=("-vvvv",), timeout=case.bound, extra_vars={
        # A proxy with a password in every module's arguments; the lab itself is reached directly.
        "ece_o365_proxy": "http://preflight:%s@%s:3128" % (PROXY_PASSWORD, lab["host"]),
        "ece_o365_no_proxy": lab["host"],
        "ece_o365_report_formats": ["json", "junit", "markdown", "html"],
        "ece_o365_audit": True,
    }, env_extra={
        "ANSIBLE_LOG_PATH": str(log_path),
        "ANSIBLE_CALLBACKS_ENABLED": "ece_o365.preflight.preflight_summary",
        "ANSIBLE_LOCAL_TEMP": str(local_tmp),
    })
    assert time.monotonic() - started < case.bound
    # The run did its job: otherwise finding nothing would prove nothing.
    assert run.report is not None and run.report["summary"]["passed_gate"], run.tail()
    assert sum(1 for f in run.findings if f["status"] == "pass") > 40, run.tail()
    assert "ESTABLISH SSH CONNECTION FOR USER: root" in run.output, "-vvvv over real SSH"

    places = {"ansible-playbook -vvvv output": run.output}
    places.update(_texts([str(log_path), str(report_dir), str(local_tmp), remote_tmp,
                          os.path.join(lab["run_dir"], "logs"), os.path.join(reliability_fleet.fleet_dir, "ssh")]))
    for expected in (str(log_path), os.path.join(str(report_dir), "preflight.html"),
                     os.path.join(str(report_dir), "preflight-junit.xml"), os.path.join(str(report_dir), "preflight.md")):
        assert expected in places and places[expected], "%s was not written" % expected
    assert glob.glob(os.path.join(str(report_dir), "history", "preflight-*.json")), "the audit history was written"
    assert "PLAY RECAP" in places[str(log_path)], "the log holds the whole run"
    assert len([p for p in places if p.startswith(os.path.join(lab["run_dir"], "logs"))]) >= 3, "the lab's logs"

    planted = _planted(reliability_fleet)
    inputs = _texts([reliability_fleet.inventory("ssh"), str(report_dir) + ".vars.json"])
    for what, value in planted.items():
        if what.startswith(("client secret", "refresh token")) or what == "proxy password":
            assert any(value in text for text in inputs.values()), "%s is not an input: the search proves nothing" % what
        leaks = sorted(place for place, text in places.items() if value in text)
        assert not leaks, "%s appears in %s" % (what, leaks)
    for place, text in places.items():
        assert LAB_REFRESH_TOKEN not in text, "a refresh token (stored or rotated) appears in %s" % place
        assert not JWT.search(text), "a JWT appears in %s" % place
