# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmarks' figures in docs/performance.md: each script owns one block between
``<!-- NAME: begin -->`` and ``<!-- NAME: end -->`` and rewrites only that block."""

import os
import re


def replace_block(path, name, body, heading, intro):
    """Put BODY between NAME's markers in PATH; when the markers are absent, append a section
    with HEADING and INTRO that holds them."""
    begin, end = "<!-- %s: begin -->" % name, "<!-- %s: end -->" % name
    block = "%s\n%s\n%s" % (begin, body, end)
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Performance\n"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## %s\n\n%s\n\n%s\n" % (heading, intro, block)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
