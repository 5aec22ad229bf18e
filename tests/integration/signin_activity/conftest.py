# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared with the other identity tests (tests/integration/identity_helpers.py)."""

from identity_helpers import intercepting_proxy, scenarios  # noqa: F401 pylint: disable=unused-import
