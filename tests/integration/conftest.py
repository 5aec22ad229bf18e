# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared set-up for the integration tests (they run as root: Dovecot, network namespaces).

Makes the collection importable as ansible_collections.ece_o365.preflight (through the
.build/collections link tools/bootstrap.sh makes), the lab package and the helpers beside this
file (certs.py, netns.py) importable, and gives one lab for the whole session.
"""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
SCENARIOS = os.path.join(REPO, "tests", "lab", "scenarios")
for path in (HERE, os.path.join(REPO, "tests", "lab"), COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def lab():
    """The lab serving the healthy tenant, in its own run directory; yields its state dict
    (ports, ca, authority, issuer, graph_url, exchange_url, run_dir, tenant_file...).
    Tests that switch scenarios must switch back to healthy.yml (ece_lab.control.switch)."""
    from ece_lab import control
    base = tempfile.mkdtemp(prefix="integration-lab-")
    os.chmod(base, 0o755)  # Dovecot's mail processes (user dovecot) must reach the run directory
    run_dir = os.path.join(base, "run")
    state = control.up(os.path.join(SCENARIOS, "healthy.yml"), run_dir)
    yield state
    control.down(run_dir)
    shutil.rmtree(base, ignore_errors=True)
