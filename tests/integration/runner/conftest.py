# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One fleet lab (ece_lab.fleet) for the ansible-runner test: three ECE hosts over real SSH and the lab
serving Microsoft's ports (tests/integration/fleet_run.py). Run under the fleet lock:
flock /tmp/ece-fleet.lock python -m pytest tests/integration/runner -q"""

import pytest

from fleet_run import fleet_lab


@pytest.fixture(scope="session")
def runner_fleet():
    with fleet_lab() as built:
        yield built
