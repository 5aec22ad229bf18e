# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment's build context (issue 13, item 2): ansible-builder create on the documented
definition (docs/examples/ee/), which installs this collection from its built tarball.

No container engine runs here, so creating and validating the context is the test: the Containerfile is
written, the tarball is in the context, and the two steps of the image's build that decide what goes in are
run here as the Containerfile runs them: its galaxy stage (ansible-galaxy collection install -r
requirements.yml, in the context's _build directory) and its builder stage (the context's own introspect.py,
which reads the installed collection's meta/execution-environment.yml). Their requirements files must carry
the Windows connections' libraries (pypsrp, pywinrm) beside what the modules use.
"""

import os
import re
import shutil
import subprocess
import sys

import yaml

from conftest import REPO, isolated_env

EXAMPLE = os.path.join(REPO, "docs", "examples", "ee")
PYTHON_NEEDED = ("msal", "requests", "jmespath", "cryptography", "pypsrp", "pywinrm")


def _names(lines):
    """The distribution names of requirement lines (extras, versions and comments left off)."""
    return {re.split(r"[\s\[<>=!~;#]", line.strip(), maxsplit=1)[0].lower() for line in lines if line.strip()}


def test_the_context_installs_the_tarball_with_the_windows_connections(tarball, tmp_path):
    work = tmp_path / "ee"
    shutil.copytree(EXAMPLE, str(work))
    shutil.copy(str(tarball), str(work))
    with open(str(work / "collections.yml"), encoding="utf-8") as handle:
        named = [entry["name"] for entry in yaml.safe_load(handle)["collections"] if entry.get("type") == "file"]
    assert named == ["collections/%s" % tarball.name], "collections.yml names the version galaxy.yml builds"

    created = subprocess.run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context",
                              "--output-filename", "Containerfile"],
                             cwd=str(work), capture_output=True, text=True, check=False, timeout=60)
    assert created.returncode == 0, created.stdout + created.stderr
    context = work / "context"
    build = context / "_build"
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile
    assert "COPY _build /build" in containerfile and "WORKDIR /build" in containerfile
    assert (build / "collections" / tarball.name).is_file(), "the tarball is in the context"
    assert (build / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    with open(str(build / "requirements.yml"), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["collections"] == [{"name": "collections/%s" % tarball.name, "type": "file"}]

    # The galaxy stage, as the Containerfile runs it (in /build, that is the context's _build).
    collections = tmp_path / "usr-share-ansible-collections"
    installed = subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml",
                                "--collections-path", str(collections)],
                               cwd=str(build), env=isolated_env(collections), capture_output=True, text=True, check=False,
                               timeout=60)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (collections / "ansible_collections" / "ece_o365" / "preflight" / "MANIFEST.json").is_file()

    # The builder stage: the context's introspect.py writes the requirements files the image installs.
    pip_file, bindep_file = build / "introspected-requirements.txt", build / "introspected-bindep.txt"
    introspected = subprocess.run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect",
                                   str(collections), "--write-pip", str(pip_file), "--write-bindep", str(bindep_file)],
                                  capture_output=True, text=True, check=False, timeout=60)
    assert introspected.returncode == 0, introspected.stdout + introspected.stderr
    python = pip_file.read_text(encoding="utf-8").splitlines()
    missing = [name for name in PYTHON_NEEDED if name not in _names(python)]
    assert not missing, "the image would lack %s: %s" % (missing, python)
    assert all("from collection ece_o365.preflight" in line for line in python if line.strip())
    system = _names(bindep_file.read_text(encoding="utf-8").splitlines())
    assert {"ca-certificates", "openssl", "krb5-libs", "krb5-workstation", "krb5-devel"} <= system, system
