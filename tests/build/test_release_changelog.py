# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The 0.1.0 release notes (issue 13, item 3): changelogs/changelog.yaml (antsibull-changelog) names every module,
filter, callback, role and playbook in the tree, lists no development fix, and CHANGELOG.rst is generated from it."""

import glob
import os
import re
import shutil
import subprocess

import yaml

from conftest import REPO

VERSION = "0.1.0"


def _release():
    with open(os.path.join(REPO, "changelogs", "changelog.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["releases"][VERSION]


def _stems(pattern):
    return {os.path.splitext(os.path.basename(path))[0] for path in glob.glob(os.path.join(REPO, pattern))
            if not os.path.basename(path).startswith("_")}


def _filters():
    """Every filter name a FilterModule in plugins/filter returns (one file may hold several)."""
    names = set()
    for path in glob.glob(os.path.join(REPO, "plugins", "filter", "*.py")):
        with open(path, encoding="utf-8") as handle:
            body = handle.read().split("def filters(", 1)[-1]
        names.update(re.findall(r"['\"](\w+)['\"]\s*:", body))
    return names


def test_every_module_filter_callback_role_and_playbook_is_named():
    release = _release()
    named = {
        "module": {entry["name"] for entry in release.get("modules", [])},
        "filter": {entry["name"] for entry in release.get("plugins", {}).get("filter", [])},
        "callback": {entry["name"] for entry in release.get("plugins", {}).get("callback", [])},
        "role": {entry["name"] for entry in release.get("objects", {}).get("role", [])},
        "playbook": {entry["name"] for entry in release.get("objects", {}).get("playbook", [])},
    }
    in_tree = {
        "module": _stems("plugins/modules/*.py"),
        "filter": _filters(),
        "callback": _stems("plugins/callback/*.py"),
        "role": {os.path.basename(path) for path in glob.glob(os.path.join(REPO, "roles", "*")) if os.path.isdir(path)},
        "playbook": _stems("playbooks/*.yml"),
    }
    assert {"preflight", "ci_gate", "fleet_audit", "windows_selftest"} <= in_tree["playbook"]
    assert len(in_tree["filter"]) >= 9 and len(in_tree["module"]) >= 11, in_tree
    for kind, names in in_tree.items():
        missing = sorted(names - named[kind])
        assert not missing, "the %s release notes do not name the %s(s) %s" % (VERSION, kind, missing)
        unknown = sorted(named[kind] - names)
        assert not unknown, "the %s release notes name %s(s) not in the tree: %s" % (VERSION, kind, unknown)
        for entry in (release.get("modules", []) if kind == "module" else []):
            assert entry["description"], entry


def test_no_development_fix_in_the_first_release():
    changes = _release()["changes"]
    assert changes.get("release_summary")
    assert "bugfixes" not in changes, "0.1.0 is the first release: nothing it fixes was ever released"
    text = yaml.safe_dump(changes)
    for dev_only in ("tests/", "tools/", "mutant", "the lab's", "pep8", "sanity"):
        assert dev_only not in text, "a development matter in the release notes: %r" % dev_only


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path):
    # CHANGELOG.rst is what antsibull-changelog generates from changelog.yaml (a copy, not the checkout).
    for name in ("galaxy.yml", "changelogs"):
        source = os.path.join(REPO, name)
        (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, str(tmp_path / name))
    generated = subprocess.run(["antsibull-changelog", "generate"], cwd=str(tmp_path), capture_output=True, text=True, check=False,
                               timeout=60)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    with open(os.path.join(REPO, "CHANGELOG.rst"), encoding="utf-8") as handle:
        assert handle.read() == (tmp_path / "CHANGELOG.rst").read_text(encoding="utf-8"), (
            "CHANGELOG.rst is stale: run antsibull-changelog generate")
