# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One fleet lab (ece_lab.fleet) for every preflight test: the lab in a namespace of its own on
Microsoft's port numbers, three ECE hosts with an sshd each (the services server drops outbound
TCP 993), and a controller namespace where ansible-playbook runs, by FQCN, from the collection
(tests/integration/fleet_run.py)."""

import pytest

from fleet_run import fleet_lab


@pytest.fixture(scope="session")
def preflight_fleet():
    with fleet_lab() as built:
        yield built


@pytest.fixture
def report_dir(tmp_path):
    path = tmp_path / "reports"
    path.mkdir()
    return path
