# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The checks: an engine (_engine) and one file per family, each check declared beside its judge.

Importing this package registers every check in CATALOGUE, in family order (preflight, network, ece,
identity, signins, mailbox) and declaration order within a family. docs/checks.md is generated from it
(tools/gen-checks-doc). How to add a check: docs/development.md#adding-a-check.
"""

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (  # noqa: F401
    BASES, CATALOGUE, DECLARED_PHRASE, FAMILIES, HARD_FAIL, REQUIREMENTS, SCOPES, SEVERITIES, STATUSES, Blocked, Check, Context, Missing,
    NotApplicable, SelectionError, Verdict, blocking, by_id, check, drift, judge, parse_date, select, subjects_for,
    summarize, validate_waivers, waiver_for)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import (  # noqa: F401  (registers them)
    preflight, network, ece, identity, signins, mailbox)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._doc import catalogue_markdown  # noqa: F401

CHECKLIST = _facts.CHECKLIST
SECRET_EXPIRY_WARN_DAYS = _facts.SECRET_EXPIRY_WARN_DAYS
SCHEMA_VERSION = 2  # of the report (findings); the observations have their own, _contract.SCHEMA_VERSION
