# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One lab for the whole lab test session; each scenario test switches the tenant it serves."""

import os
import shutil
import sys
import tempfile

import pytest

LAB_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, LAB_ROOT)

from ece_lab import control  # noqa: E402  (needs the path above)
from ece_lab.clients import Lab  # noqa: E402
from ece_lab.tenant import load  # noqa: E402

SCENARIOS = os.path.join(LAB_ROOT, "scenarios")
MAIL_SCOPES = ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/POP.AccessAsUser.All",
               "https://outlook.office.com/SMTP.Send"]


def scenario(name):
    return os.path.join(SCENARIOS, name + ".yml")


@pytest.fixture(scope="session")
def lab_run_dir():
    # Not pytest's tmp_path: its base is private (0700) and Dovecot's mail processes run as the
    # dovecot user, who must reach the run directory.
    base = tempfile.mkdtemp(prefix="ece-lab-test-")
    os.chmod(base, 0o755)
    run_dir = os.path.join(base, "run")
    control.up(scenario("healthy"), run_dir)
    yield run_dir
    control.down(run_dir)
    shutil.rmtree(base, ignore_errors=True)


class LabScenario:
    """The running lab switched to one scenario, with its tenant file loaded for the test."""

    def __init__(self, run_dir, name):
        path = name if name.endswith(".yml") else scenario(name)
        control.switch(path, run_dir)
        self.run_dir = run_dir
        self.tenant = load(path)
        self.lab = Lab(run_dir, tenant=self.tenant)

    def app(self, key):
        return self.tenant.applications[key]

    def ece_msal(self, secret=None):
        app = self.app("ece-mail")
        return self.lab.msal_app(app["client_id"], secret or app["secrets"][0]["value"])

    def refresh(self, token_key, scopes=None):
        return self.ece_msal().acquire_token_by_refresh_token(
            self.tenant.refresh_tokens[token_key]["value"], scopes=scopes or MAIL_SCOPES)

    def preflight_token(self, resource):
        app = self.app("preflight")
        return self.lab.app_token(app["client_id"], app["secrets"][0]["value"], resource)["access_token"]


@pytest.fixture
def use_scenario(lab_run_dir):
    return lambda name: LabScenario(lab_run_dir, name)
