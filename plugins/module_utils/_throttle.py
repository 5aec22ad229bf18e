# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The one retry policy for Microsoft's throttling answers (429 and 503), used by the token requests
(_auth) and by the Graph and Exchange admin API reads (_graph, _exchange).

A throttled answer is retried after its Retry-After (seconds or an HTTP date, at most MAX_RETRY_AFTER),
or after an exponential back-off when it gives none, at most MAX_RETRIES times and only while the wait
ends before the caller's deadline. Otherwise the caller reports class ``throttled`` with the reason
(``Exhausted.detail``). Imports nothing of this collection, so any module util may use it.
"""

import datetime
import email.utils
import re
import time

STATUSES = (429, 503)
MAX_RETRIES = 5
DEFAULT_BACKOFF = 2.0  # seconds before the first retry when the answer has no Retry-After; doubled each time
MAX_RETRY_AFTER = 120.0


def retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = str(value).strip()
    if re.match(r'^\d+(\.\d+)?$', value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER))


class Exhausted(Exception):
    """No further try fits: WAIT seconds were asked for after RETRIES retries; DETAIL says why."""

    def __init__(self, wait, retries, past_deadline):
        self.wait = wait
        self.retries = retries
        self.past_deadline = past_deadline
        if past_deadline:
            detail = 'waiting %.0f s more would pass the deadline; %d retries' % (wait, retries)
        else:
            detail = 'still throttled after %d retries' % retries
        super(Exhausted, self).__init__(detail)
        self.detail = detail


class Throttle(object):
    """The retry state of one call: how often and how long it waited.

    DEADLINE is on CLOCK's scale (time.monotonic by default); None means no bound but MAX_RETRIES.
    """

    def __init__(self, deadline=None, sleep=None, clock=None, max_retries=MAX_RETRIES):
        self.deadline = deadline
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.max_retries = max_retries
        self.retries = 0
        self.waited = 0.0

    def planned_wait(self, header):
        """What the answer asks for: its Retry-After, else the back-off for this retry."""
        wait = retry_after(header)
        if wait is None:
            wait = min(DEFAULT_BACKOFF * (2 ** self.retries), MAX_RETRY_AFTER)
        return wait

    def wait(self, header):
        """Sleep before the next try after a 429 or 503 whose Retry-After is HEADER; returns the seconds slept.

        Raises Exhausted when the retries are used up or the wait would end at or after the deadline.
        """
        wait = self.planned_wait(header)
        past_deadline = self.deadline is not None and self.clock() + wait >= self.deadline
        if past_deadline or self.retries >= self.max_retries:
            raise Exhausted(wait, self.retries, past_deadline)
        self.retries += 1
        self.waited += wait
        self.sleep(wait)
        return wait
