# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tenant file: scenarios load, extends merges, mistakes are named."""

import os

import pytest
from conftest import SCENARIOS, scenario

from ece_lab.tenant import TenantFileError, load, split_scope


@pytest.mark.parametrize("name", sorted(n[:-4] for n in os.listdir(SCENARIOS) if n.endswith(".yml")))
def test_every_scenario_loads_and_says_what_it_breaks(name):
    tenant = load(scenario(name))
    with open(scenario(name), encoding="utf-8") as handle:
        assert handle.readline().startswith("# "), "first line of a scenario says what it breaks"
    assert tenant.tenant_id == "3f1a7c52-8e0b-4d1c-9a57-5b2e6d8c4a10"


def test_extends_overrides_only_what_the_scenario_names():
    healthy, broken = load(scenario("healthy")), load(scenario("imap-disabled"))
    assert healthy.users["support@contoso.example"]["mailbox"]["imap_enabled"] is True
    assert broken.users["support@contoso.example"]["mailbox"]["imap_enabled"] is False
    assert broken.users["support@contoso.example"]["mailbox"]["pop_enabled"] is True
    assert broken.applications == healthy.applications


def test_effective_smtp_auth_prefers_the_mailbox_setting():
    tenant = load(scenario("smtp-auth-tenant-off-mailbox-on"))
    assert tenant.smtp_client_authentication_disabled is True
    assert tenant.smtp_auth_enabled(tenant.users["support@contoso.example"]["mailbox"]) is True
    assert tenant.smtp_auth_enabled(tenant.users["sales@contoso.example"]["mailbox"]) is False


@pytest.mark.parametrize("text, message", [
    ("tenant: {domain: x}\n", "'id' is required"),
    ("- a list\n", "must hold a mapping"),
    ("tenant: {id: 1, domain: x}\napplications: {a: {client_id: c, object_id: o, service_principal_id: s, "
     "permissions: {delegated: [Mail.Teleport]}}}\n", "unknown permission 'Mail.Teleport'"),
    ("tenant: [unclosed\n", "not valid YAML"),
])
def test_mistakes_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "tenant.yml"
    path.write_text(text)
    with pytest.raises(TenantFileError) as err:
        load(str(path))
    assert message in str(err.value)
    assert "tenant.yml" in str(err.value)


def test_extends_loop_is_refused(tmp_path):
    (tmp_path / "a.yml").write_text("extends: b.yml\n")
    (tmp_path / "b.yml").write_text("extends: a.yml\n")
    with pytest.raises(TenantFileError, match="loops back"):
        load(str(tmp_path / "a.yml"))


@pytest.mark.parametrize("scope, expected", [
    ("https://outlook.office.com/SMTP.Send", ("https://outlook.office.com", "SMTP.Send")),
    ("https://outlook.office365.com/.default", ("https://outlook.office365.com", ".default")),
    ("IMAP.AccessAsUser.All", ("https://graph.microsoft.com", "IMAP.AccessAsUser.All")),
    ("offline_access", (None, "offline_access")),
    ("https://example.invalid/Mail.Read", (None, "Mail.Read")),
])
def test_scopes_map_to_audiences_as_entra_does(scope, expected):
    assert split_scope(scope) == expected
