# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The support range says what is tested (issue 13, item 6): requires_ansible admits no ansible-core older than
the one every stage of tools/test runs on, the development requirements install that one, and the README names
it and the managed hosts' tested Python."""

import os
import re
import sys

import yaml
from ansible.release import __version__ as ansible_core_version

from conftest import REPO


def _read(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as handle:
        return handle.read()


def _minor(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def test_requires_ansible_starts_at_the_tested_release():
    requires = yaml.safe_load(_read("meta", "runtime.yml"))["requires_ansible"]
    lower = re.fullmatch(r">=\s*(\d+\.\d+)(\.\d+)?", requires.strip())
    assert lower, "requires_ansible is one lower bound: %r" % requires
    tested = _minor(ansible_core_version)
    assert _minor(lower.group(1)) == tested, (
        "requires_ansible %r admits releases no stage runs on: CI tests ansible-core %s only" % (
            requires, ansible_core_version))
    pin = re.search(r"^ansible-core\s*>=\s*([\d.]+)\s*,\s*<\s*([\d.]+)\s*$", _read("tools", "requirements-dev.txt"),
                    re.MULTILINE)
    assert pin and _minor(pin.group(1)) == tested, "tools/requirements-dev.txt installs the admitted release"


def test_the_readme_names_the_tested_range():
    readme = _read("README.md")
    core = "%d.%d" % _minor(ansible_core_version)
    assert "requires_ansible: '>=%s.0'" % core in readme
    assert "ansible-core %s on the controller" % core in readme
    python = "%d.%d" % sys.version_info[:2]  # the fleet lab's hosts run this Python (PREFLIGHT_PYTHON)
    assert "managed hosts with\nPython %s" % python in readme or "managed hosts with Python %s" % python in readme
    for stale in ("2.16 or newer", ">=2.16"):
        assert stale not in readme


def test_ansible_test_units_installs_what_the_unit_tests_import():
    requirements = {line.split("#")[0].strip().split(">")[0].split("=")[0].lower()
                    for line in _read("tests", "unit", "requirements.txt").splitlines()} - {""}
    imported = set()
    for folder, _dirs, files in os.walk(os.path.join(REPO, "tests", "unit")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    imported.update(re.findall(r"^import (jsonschema|hypothesis|yaml|msal|requests|jmespath)\b",
                                               handle.read(), re.MULTILINE))
    imported = {"pyyaml" if name == "yaml" else name for name in imported}
    assert imported <= requirements, "tests/unit/requirements.txt lacks %s" % sorted(imported - requirements)
