# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Conventions (issue 13, item 7): the action group microsoft sets the shared sign-in options once through
module_defaults (and the tenant role uses it), and the network and tenant roles' tasks carry their tags, so
--tags / --skip-tags (AWX job tags) select them. What a skipped part did not record is judged as not read (the
judge's own tests); here: which tasks a tag selects."""

import importlib
import os
import subprocess
import sys

import yaml

from conftest import REPO

GROUP = "microsoft"


def _collection_module(name):
    collections = os.path.join(REPO, ".build", "collections")
    if collections not in sys.path:
        sys.path.insert(0, collections)
    return importlib.import_module("ansible_collections.ece_o365.preflight.plugins.%s" % name)


def _runtime():
    with open(os.path.join(REPO, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_the_group_is_every_module_with_the_shared_sign_in_options():
    auth = set(_collection_module("module_utils._auth").argument_spec())
    sharing = set()
    for name in os.listdir(os.path.join(REPO, "plugins", "modules")):
        stem, ext = os.path.splitext(name)
        if ext == ".py" and not stem.startswith(("_", "win_")):
            module = _collection_module("modules.%s" % stem)
            if hasattr(module, "argument_spec") and auth <= set(module.argument_spec()):
                sharing.add(stem)
    assert sharing == {"token_acquire", "tenant_info", "mailbox_settings", "mailbox_protocols", "signin_activity"}
    assert sorted(_runtime()["action_groups"][GROUP]) == sorted(sharing)


def test_the_tenant_role_sets_the_sign_in_options_once():
    with open(os.path.join(REPO, "roles", "tenant", "tasks", "main.yml"), encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle)
    block = next(task for task in tasks if "block" in task)
    defaults = block["module_defaults"]["group/ece_o365.preflight.%s" % GROUP]
    auth = set(_collection_module("module_utils._auth").argument_spec())
    assert set(defaults) <= auth, "only the options every module of the group has"
    assert {"tenant", "authority", "cloud", "client_id", "client_secret", "proxy", "ca_path", "timeout"} <= set(defaults)
    for task in block["block"]:
        module = next((key for key in task if key.startswith("ece_o365.preflight.")), None)
        if module is None:
            continue
        repeated = set(task[module]) & set(defaults)
        if module.endswith(".mailbox_protocols"):
            # ECE's own app signs in there, not the preflight's: its own client id and secret, no certificate.
            assert repeated == {"client_id", "client_secret", "client_certificate_path"}, repeated
        else:
            assert not repeated, "%s repeats %s" % (module, sorted(repeated))


def test_module_defaults_reach_the_modules_through_the_group(tmp_path):
    playbook = tmp_path / "group.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/ece_o365.preflight.%s" % GROUP: {
            "authority": "https://127.0.0.1:9/from-the-group", "timeout": 2, "proxy": ""}},
        "tasks": [{"ece_o365.preflight.token_acquire": {"client_id": "00000000-0000-0000-0000-000000000001",
                                                        "grant": "client_credentials", "client_secret": "x"},
                   "register": "result"},
                  {"ansible.builtin.assert": {"that": ["result.authority == 'https://127.0.0.1:9/from-the-group'",
                                                       "result.error_class == 'refused'"]}}],
    }]), encoding="utf-8")
    run = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook),
                          "-e", "ansible_python_interpreter=%s" % sys.executable],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def _listed(*tag_options):
    run = subprocess.run(["ansible-playbook", "-i", "localhost,", "ece_o365.preflight.preflight", "--list-tasks"]
                         + list(tag_options), capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return [line.strip() for line in run.stdout.splitlines() if "TAGS:" in line and "play #" not in line]


def test_the_roles_tasks_carry_their_tags():
    everything = _listed()
    for role, tag in (("network", "network"), ("tenant", "tenant")):
        tasks = [line for line in everything if line.startswith("ece_o365.preflight.%s :" % role)
                 and "Validating arguments" not in line]
        assert tasks, role
        untagged = [line for line in tasks if "TAGS: [%s]" % tag not in line]
        assert not untagged, untagged
    network_only = _listed("--tags", "network")
    assert not [line for line in network_only if line.startswith("ece_o365.preflight.tenant :")
                and "Validating arguments" not in line]
    assert [line for line in network_only if line.startswith("ece_o365.preflight.network :")
            and "[network]" in line]
    assert any("Judge, report and gate" in line for line in network_only), "the judgement always runs"
    no_tenant = _listed("--skip-tags", "tenant")
    assert not [line for line in no_tenant if line.startswith("ece_o365.preflight.tenant :")
                and "Validating arguments" not in line]
    assert any(line.startswith("ece_o365.preflight.network :") for line in no_tenant)
