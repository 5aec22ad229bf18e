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
# Every refresh token of the lab, by shape: the stored ones are "0.lab.rt-<name>-<32 characters>" (the scenario
# files), the rotated ones the lab issues during the run "0.lab." and secrets.token_urlsafe(48), 64 URL-safe
# characters (tests/lab/ece_lab/identity.py, _new_refresh_token): no "rt-". Twenty characters after "0.lab."
# keep the pattern off the lab's other names (0.lab.<anything short> is no token).
LAB_REFRESH_TOKEN = re.compile(r"0\.lab\.[A-Za-z0-9_-]{20,}")


def refresh_token_leaks(places):
    """[(place, the token's first characters)] of every lab refresh token, stored or rotated, in PLACES
    ({place: text}); the token itself never goes into a message."""
    return sorted((place, match.group(0)[:9] + "...") for place, text in places.items()
                  for match in LAB_REFRESH_TOKEN.finditer(text))


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
    assert not refresh_token_leaks(places), "a refresh token (stored or rotated) appears: %s" % refresh_token_leaks(places)
    for place, text in places.items():
        assert not JWT.search(text), "a JWT appears in %s" % place


def test_the_search_catches_the_lab_s_rotated_refresh_tokens():
    """No fleet: a refresh token the lab's identity really rotates (its own _new_refresh_token), planted in a
    -vvvv-like output, is found, and so is a stored one planted in a log. The old search (the prefix "0.lab.rt-")
    could not find the rotated one: it has no "rt-"."""
    from ece_lab.identity import Issuer

    tenant = load(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab", "scenarios",
                               "healthy.yml"))
    issuer = Issuer(tenant, None, "https://127.0.0.1:1")  # the token store only: no key, nothing listens
    stored = next(iter(tenant.refresh_tokens.values()))["value"]
    rotated = issuer._new_refresh_token({"key": "ece"}, {"upn": "support@contoso.test"}, ["offline_access"],
                                        issuer._refresh_tokens[stored])  # pylint: disable=protected-access
    assert rotated != stored and stored.startswith("0.lab.rt-")
    assert "0.lab.rt-" not in rotated, "the lab's rotated tokens have no rt- prefix: the old search missed them"
    places = {
        "output": '<ece-svc01> EXEC ... "refresh_token": "%s", "expires_in": 3600' % rotated,
        "log": "refresh_token=%s&grant_type=refresh_token" % stored,
        "clean": "ece_o365_lab 0.lab.internal answered 200 (no token here)",
    }
    leaks = refresh_token_leaks(places)
    assert [place for place, _shown in leaks] == ["log", "output"], leaks
    assert rotated not in repr(leaks) and stored not in repr(leaks), "the message never carries the token"
