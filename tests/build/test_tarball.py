# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tarball ships what a user can run, and no test that needs the lab (issue 13, item 7)."""

import json
import tarfile

import yaml

from conftest import REPO

# Lab-only or development-only: they need the lab (root, Dovecot, namespaces), which does not ship, or a checkout.
NOT_SHIPPED = ("tools", ".ci", ".venv", ".build", ".lab", ".hypothesis", "reports", "tests/lab", "tests/integration",
               "tests/reliability", "tests/benchmarks", "tests/mutation", "tests/build", "tests/output")
SHIPPED = ("MANIFEST.json", "FILES.json", "README.md", "COPYING", "meta/runtime.yml",
           "meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt", "docs/variables.md",
           "changelogs/changelog.yaml", "CHANGELOG.rst", "playbooks/preflight.yml", "playbooks/ci_gate.yml",
           "playbooks/fleet_audit.yml", "playbooks/windows_selftest.yml", "roles/network/tasks/main.yml",
           "roles/tenant/tasks/main.yml", "roles/report/tasks/main.yml", "plugins/modules/port_probe.py",
           "plugins/action/preflight_report.py", "plugins/filter/token_refresh.py", "tests/unit/conftest.py")


def _members(tarball):
    with tarfile.open(str(tarball)) as archive:
        return archive.getnames()


def test_no_lab_or_development_file_ships(tarball):
    members = _members(tarball)
    shipped = sorted(name for name in members
                     if any(name == prefix or name.startswith(prefix + "/") for prefix in NOT_SHIPPED))
    assert not shipped, "lab-only or development files in the tarball: %s" % shipped[:20]
    assert not [name for name in members if "__pycache__" in name or name.endswith(".pyc")]


def test_what_a_user_runs_ships(tarball):
    members = set(_members(tarball))
    missing = [name for name in SHIPPED if name not in members]
    assert not missing, "missing from the tarball: %s" % missing
    for top in ("roles", "playbooks", "plugins", "meta", "docs"):
        assert any(name.startswith(top + "/") for name in members), top
    # tests/unit and tests/sanity run without the lab: they may ship, and they do.
    assert any(name.startswith("tests/unit/plugins/") for name in members)
    assert any(name.startswith("tests/sanity/") for name in members)


def test_metadata_has_no_placeholder_link(tarball):
    with open("%s/galaxy.yml" % REPO, encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    with tarfile.open(str(tarball)) as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
    for key in ("repository", "documentation", "homepage", "issues"):
        for where, value in (("galaxy.yml", galaxy.get(key)), ("MANIFEST.json", manifest.get(key))):
            # A link with no real target yet is left out, never faked.
            assert not value or ".invalid" not in value and "example." not in value, (where, key, value)
    assert manifest["version"] == galaxy["version"]
