# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The build tests: what a user gets (the tarball, the execution environment's build context, the release
notes), built from this checkout. No root, no lab, no network: run by the build stage of tools/test.
Not shipped (build_ignore): they build the tarball from a checkout."""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def isolated_env(collections_path):
    """The environment for ansible-galaxy with only COLLECTIONS_PATH visible (not the checkout's symlink)."""
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    return env


@pytest.fixture(scope="session")
def tarball(tmp_path_factory):
    """The collection's tarball, built from the checkout with ansible-galaxy collection build."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(["ansible-galaxy", "collection", "build", REPO, "--output-path", str(dist)],
                   check=True, capture_output=True, text=True, timeout=120)
    built = sorted(dist.glob("ece_o365-preflight-*.tar.gz"))
    assert len(built) == 1, built
    return built[0]
