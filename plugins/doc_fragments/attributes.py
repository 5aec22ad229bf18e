# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared attribute documentation for the collection's modules."""


class ModuleDocFragment(object):

    # Descriptions of the attributes; every module extends this one.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
  platform:
    description: Target operating system/family on which the module can run.
"""

    # Read-only probes and info modules: they observe and never change anything.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This module only reads information and never changes anything, so check mode runs it unchanged.
  diff_mode:
    support: none
    details:
      - This module never changes anything, so there is no diff to show.
  idempotent:
    support: full
"""

    # Modules written in Python for POSIX hosts (Windows twins are separate modules).
    POSIX = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
"""
