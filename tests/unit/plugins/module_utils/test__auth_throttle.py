# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_auth.acquire when the token endpoint throttles (429/503 with Retry-After) or answers HTML: retried by the
one throttling policy (_throttle) with a new msal application, else class throttled naming the Retry-After;
a page that is not JSON is class protocol saying so; msal's own traceback logging stays off stderr."""

import json
import logging

import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _throttle

TOKEN_URL = 'https://login.example/tenant/oauth2/v2.0/token'
PARAMS = {'authority': 'https://login.example/tenant', 'client_id': 'c', 'client_secret': 'planted-secret',
          'timeout': 5.0, 'cloud': 'public'}
THROTTLED = {'error': 'temporarily_unavailable', 'error_description': 'The server is temporarily too busy.'}


class _Response(object):
    def __init__(self, status, headers=None, body=b''):
        self.status_code, self.headers, self.content, self.url = status, headers or {}, body, TOKEN_URL + '?x=1'


class _App(object):
    """Stands in for msal's application: each call plays the next answer on the session."""

    def __init__(self, session, answers):
        self.session, self.answers = session, answers

    def acquire_token_for_client(self, scopes):
        response, result = self.answers.pop(0)
        self.session.last_response = response
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture
def play(monkeypatch):
    """play(answers) -> (facts, token, sleeps): acquire with build_app answering ANSWERS in turn."""
    sleeps, apps = [], []
    monkeypatch.setattr(_throttle.time, 'sleep', sleeps.append)

    def run(answers, deadline=None, **params):
        def build_app(params, session, confidential):
            apps.append(_App(session, answers))
            return apps[-1]
        monkeypatch.setattr(_auth, 'build_app', build_app)
        facts, token, _session = _auth.acquire(dict(PARAMS, **params), {}, 'client_credentials',
                                               ['https://graph.microsoft.com/.default'], deadline=deadline)
        return facts, token, sleeps, len(apps)
    return run


def test_a_429_whose_retry_after_fits_is_retried_with_a_new_application(play):
    facts, token, sleeps, apps = play([(_Response(429, {'Retry-After': '1'}), dict(THROTTLED)),
                                       (_Response(200), {'access_token': 'opaque', 'expires_in': 3599})])
    assert token == 'opaque' and facts['acquired'] is True and facts['ok'] is True and facts['error_class'] is None
    assert sleeps == [1.0] and apps == 2  # msal caches a throttled answer per application


def test_a_retry_after_beyond_the_timeout_is_throttled_at_once_naming_it(play):
    facts, token, sleeps, _apps = play([(_Response(429, {'Retry-After': '120'}), dict(THROTTLED))])
    assert token is None and facts['ok'] is False and facts['error_class'] == 'throttled' and sleeps == []
    assert facts['message'].startswith(PARAMS['authority'] + ': the service kept answering 429 or 503')
    assert 'HTTP 429 from %s, Retry-After: 120; waiting 120 s more would pass the deadline' % TOKEN_URL \
        in facts['message'] and 'Fix: ' in facts['message']


def test_a_retry_after_beyond_the_deadline_is_throttled(play):
    facts, _token, sleeps, _apps = play([(_Response(503, {'Retry-After': '3'}), dict(THROTTLED))],
                                        deadline=_auth.time.monotonic() + 1, timeout=10.0)
    assert facts['error_class'] == 'throttled' and sleeps == [] and 'would pass the deadline' in facts['message']


def test_throttled_every_time_stops_after_the_last_retry(play):
    answers = [(_Response(503, {'Retry-After': '0'}), dict(THROTTLED)) for _attempt in range(_throttle.MAX_RETRIES + 1)]
    facts, _token, sleeps, apps = play(answers)
    assert facts['error_class'] == 'throttled' and 'Retry-After: 0; still throttled after' in facts['message']
    assert apps == _throttle.MAX_RETRIES + 1 and sleeps == [0.0] * _throttle.MAX_RETRIES


def test_without_retry_after_the_back_off_is_bounded_by_the_timeout(play):
    answers = [(_Response(503), dict(THROTTLED)) for _attempt in range(_throttle.MAX_RETRIES + 1)]
    facts, _token, sleeps, apps = play(answers, timeout=5.0)
    # 2 s, 4 s, then 8 s would end past the start + 5 s (the sleeps are not taken, so the clock stays)
    assert facts['error_class'] == 'throttled'
    assert 'Retry-After: (none); waiting 8 s more would pass the deadline; 2 retries' in facts['message']
    assert sleeps == [2.0, 4.0] and apps == 3


def test_an_html_page_instead_of_json_is_protocol_and_says_so(play):
    page = _Response(200, {'Content-Type': 'text/html'}, b'<html>Sign in to the network</html>')
    facts, _token, _sleeps, _apps = play([(page, json.JSONDecodeError('Expecting value', '<html>', 0))])
    assert facts['error_class'] == 'protocol'
    assert '(HTTP 200 text/html from %s instead of JSON)' % TOKEN_URL in facts['message']


def test_msals_traceback_logging_has_a_handler_so_nothing_reaches_stderr():
    assert any(isinstance(handler, logging.NullHandler) for handler in logging.getLogger('msal').handlers)


# -- AADSTS50000: Microsoft's sign-in service failed (issue 12) -----------------------------------------
# The body as Entra sends it (HTTP 500, error server_error); the code and text from
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS50000 TokenIssuanceError).
OUTAGE = {'error': 'server_error', 'error_codes': [50000], 'error_description':
          'AADSTS50000: There was an error issuing a token or an issue with our sign-in service.\r\n'
          'Trace ID: 0a1b\r\nCorrelation ID: 2c3d\r\nTimestamp: 2026-12-05 15:00:00Z'}
WRONG_SECRET = {'error': 'invalid_client', 'error_codes': [7000215], 'error_description':
                'AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t'}


def test_one_outage_answer_is_retried_and_the_token_comes(play):
    facts, token, sleeps, apps = play([(_Response(500), dict(OUTAGE)),
                                       (_Response(200), {'access_token': 'opaque', 'expires_in': 3599})])
    assert token == 'opaque' and facts['ok'] is True and facts['error_class'] is None and facts['aadsts'] is None
    assert sleeps == [_throttle.DEFAULT_BACKOFF] and apps == 2 and facts['retries'] == 1


def test_a_persistent_outage_is_entra_outage_naming_microsoft_never_a_wrong_secret(play):
    answers = [(_Response(500), dict(OUTAGE)) for _attempt in range(_throttle.MAX_RETRIES + 1)]
    facts, token, sleeps, _apps = play(answers, timeout=5.0)
    assert token is None and facts['ok'] is False and facts['acquired'] is False
    assert facts['error_class'] == 'entra_outage' and facts['aadsts']['code'] == 50000
    assert facts['aadsts']['name'] == 'TokenIssuanceError' and 'service health' in facts['aadsts']['fix']
    assert sleeps == [2.0, 4.0] and facts['retries'] == 2
    message = facts['message']
    assert message.startswith(PARAMS['authority'] + ": Microsoft Entra ID's sign-in service failed")
    assert 'HTTP 500 from %s after 2 retries: AADSTS50000' % TOKEN_URL in message
    assert 'the next wait would pass the deadline' in message and 'service health' in message
    assert 'secret' not in message.lower().split('fix:')[0]


def test_an_outage_with_retry_after_waits_what_it_says(play):
    facts, token, sleeps, _apps = play([(_Response(500, {'Retry-After': '1'}), dict(OUTAGE)),
                                        (_Response(200), {'access_token': 'opaque', 'expires_in': 3599})])
    assert token == 'opaque' and sleeps == [1.0]


def test_a_wrong_secret_is_not_retried(play):
    facts, _token, sleeps, apps = play([(_Response(401), dict(WRONG_SECRET))])
    assert facts['error_class'] == 'aadsts' and sleeps == [] and apps == 1 and facts['retries'] == 0


def test_an_outage_past_the_callers_deadline_is_not_waited_for(play):
    facts, _token, sleeps, _apps = play([(_Response(500), dict(OUTAGE))], deadline=_auth.time.monotonic() + 1)
    assert facts['error_class'] == 'entra_outage' and sleeps == [] and 'after 0 retries' in facts['message']


def test_msal_raising_on_the_500_is_read_from_the_body_and_retried(play):
    """msal raises MsalServiceError('HTTP Error: 500') for a 5xx (oauth2cli raise_for_status) instead of returning
    the body: the class comes from the body the session saw."""
    body = json.dumps(OUTAGE).encode()
    facts, token, sleeps, _apps = play([(_Response(500, {'Content-Type': 'application/json'}, body),
                                         RuntimeError('HTTP Error: 500')),
                                        (_Response(200), {'access_token': 'opaque', 'expires_in': 3599})])
    assert token == 'opaque' and sleeps == [_throttle.DEFAULT_BACKOFF]
    facts, token, _sleeps, _apps = play([(_Response(500, {}, body), RuntimeError('HTTP Error: 500'))],
                                        deadline=_auth.time.monotonic() + 1)
    assert token is None and facts['error_class'] == 'entra_outage' and facts['aadsts']['code'] == 50000
