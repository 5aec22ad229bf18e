# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/reliability.md lists exactly the cases the suite runs; every case is well formed."""

import os
import re

import _coverage

DOC = os.path.join(os.path.dirname(os.path.dirname(_coverage.HERE)), "docs", "reliability.md")


def test_every_case_is_well_formed_and_unique():
    cases = [case for _name, case in _coverage.collect()]
    assert cases, "no COVERAGE in tests/reliability/test_*.py"
    seen = set()
    for case in cases:
        assert re.match(r"^[a-z0-9]+(-[a-z0-9]+)*$", case.id), case
        assert case.id not in seen, "duplicate case id %s" % case.id
        seen.add(case.id)
        assert case.area in _coverage.AREAS, case
        assert case.condition and case.subject and case.expect, case
        assert isinstance(case.bound, (int, float)) and 0 < case.bound <= 300, case


def test_the_page_is_current():
    with open(DOC, encoding="utf-8") as handle:
        current = handle.read()
    assert current == _coverage.markdown(), "docs/reliability.md is stale: run tools/gen-reliability-doc"
