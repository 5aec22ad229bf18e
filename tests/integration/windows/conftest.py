# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One fleet lab (ece_lab.fleet) for the Windows path's tests: three ECE hosts over real SSH, where the
routing picks the Python twins, and the lab serving Microsoft's ports (tests/integration/fleet_run.py).
Run under the fleet lock: flock /tmp/ece-fleet.lock python -m pytest windows -x -q"""

import pytest

from fleet_run import fleet_lab


@pytest.fixture(scope="session")
def windows_fleet():
    with fleet_lab() as built:
        yield built


@pytest.fixture
def report_dir(tmp_path):
    path = tmp_path / "reports"
    path.mkdir()
    return path
