# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared set-up for the reliability suite (runs as root: Dovecot, network namespaces).

Makes the collection importable as ansible_collections.ece_o365.preflight, and the lab package,
the integration tests' helpers (certs.py, netns.py, servers.py) and this directory importable.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
for path in (HERE, os.path.join(REPO, "tests", "integration"), os.path.join(REPO, "tests", "lab"), COLLECTIONS):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def reliability_fleet():
    """One fleet lab (tests/integration/fleet_run.py) for every test that runs the full preflight;
    each test switches it to the scenario it needs."""
    from fleet_run import fleet_lab
    with fleet_lab() as built:
        yield built
