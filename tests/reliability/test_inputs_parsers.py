# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Inputs that misbehave: every parser, fed by hypothesis what a server, Entra ID, Graph, the admin API
or a hand-edited inventory may send. Each must answer (a value, a finding, an error class of its
own) and never raise anything else, within the case's bound.

What the unit tests already fuzz is not fuzzed again here; those cases add only what is missing and
name the unit test (tests/unit/plugins/module_utils/...) they build on:
- SMTP/IMAP/POP3 login dialogues on random bytes:
  test__mail.py::test_random_replies_never_raise_anything_unexpected
- banner and capability dialogues on random bytes:
  test__probe.py::test_random_server_bytes_never_raise_anything_but_a_probe_error
- JWT claims of random tokens: test__auth.py::test_decode_claims_never_raises_and_returns_plain_values
- AADSTS bodies (random JSON values, dicts, text, bytes):
  test__aadsts.py::test_parse_never_raises_and_returns_a_sane_shape
- url_reach arguments, Date headers (text), the JSON body (parse_json_body), server bytes:
  test__http.py::test_random_arguments_raise_only_argument_errors, test_random_date_headers_never_raise,
  test_random_bodies_never_raise, test_random_server_bytes_give_a_result_not_a_traceback
Graph and admin API bodies and the judge had no property at all.
"""

import base64
import datetime
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import _coverage
from ansible_collections.ece_o365.preflight.plugins.module_utils import (
    _aadsts, _auth, _errors, _exchange, _graph, _http, _mail, _probe)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _report
from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__graph import Clock, Response

EXAMPLES = 200
BOUND = 2.0  # seconds per example: pure Python, no network, no real sleep

COVERAGE = [
    _coverage.Case(
        'inputs-mail-replies', 'inputs',
        'any text as a server reply to classify, and any text with a token inside to redact '
        '(the login dialogues on random bytes: see tests/unit/plugins/module_utils/test__mail.py)',
        '_mail.classify_reply, _mail.redact',
        'None or a class of MAIL_ERROR_CLASSES with meaning and fix; the token and its base64 never survive '
        'redact', BOUND),
    _coverage.Case(
        'inputs-probe-capabilities', 'inputs',
        'any EHLO lines, IMAP CAPABILITY lines and POP3 CAPA lines (the dialogues on random bytes: see '
        'tests/unit/plugins/module_utils/test__probe.py)',
        '_probe.parse_ehlo, parse_imap_capabilities, parse_pop3_capa, starttls_offered',
        'lists of text, mechanisms upper-cased, a bool; no exception', BOUND),
    _coverage.Case(
        'inputs-token-facts', 'inputs',
        "msal reply dicts of any shape: access_token, id_token, id_token_claims, expires_in, scope, refresh_token "
        "of wrong types, malformed or non-base64 or non-JSON JWTs (decode_claims itself: see "
        "tests/unit/plugins/module_utils/test__auth.py)",
        '_auth.token_facts, failure_facts, app_token_facts',
        'a facts dict of plain JSON types, never the token; no exception', BOUND),
    _coverage.Case(
        'inputs-aadsts-json-text', 'inputs',
        'Entra error bodies as JSON text and bytes (not dicts) with error_codes of wrong types, nested, '
        'huge or negative (dicts, values and raw bytes: see tests/unit/plugins/module_utils/test__aadsts.py)',
        '_aadsts.parse, summary', 'None or facts with an int code among codes; summary is text', BOUND),
    _coverage.Case(
        'inputs-http-expect-json-dates', 'inputs',
        'any value as a URL\'s expect (status, assertions), any bytes or deeply nested JSON as a body under any '
        'Content-Type; Date values that are not text (text dates: see tests/unit/plugins/module_utils/test__http.py)',
        '_http._expect, parse_json_body, parse_http_date, clock_skew',
        'ArgumentError naming expect, or expect echoed as given; the body parsed or None, never NaN; None for a '
        'date; no other exception',
        BOUND),
    _coverage.Case(
        'inputs-graph-bodies', 'inputs',
        'Graph answers of any JSON shape: wrong types where lists and dicts are expected, non-JSON, paging '
        'links that are no text or leave the host, 401/403/404/429/5xx with any Retry-After',
        '_graph.read_tenant (application, service principal, consent, users, licences)',
        'facts, or errors of ERROR_CLASSES naming the call; never an exception', BOUND),
    _coverage.Case(
        'inputs-exchange-bodies', 'inputs',
        'admin API (InvokeCommand) answers of any JSON shape for Get-TransportConfig, Get-CASMailbox, '
        'Get-MailboxPermission',
        '_exchange.read_settings', 'facts, or errors of ERROR_CLASSES naming the call; never an exception', BOUND),
    _coverage.Case(
        'inputs-judge-observations', 'inputs',
        'observation dicts of any shape for every host, the tenant and the mailboxes (what the roles left, '
        'hand-edited or truncated), any waiver list',
        '_checks.judge, summarize, drift, then every _report writer',
        'one finding per check and subject with a known status (a broken check is status error, alone); '
        'reports render; no exception', BOUND),
]
CASES = dict((case.id, case) for case in COVERAGE)


def _settings(case):
    return settings(max_examples=EXAMPLES, derandomize=True, database=None,
                    deadline=datetime.timedelta(seconds=case.bound),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _timed(case, function, *args):
    """FUNCTION(*ARGS), asserting the case's bound on the time it took."""
    started = time.monotonic()
    value = function(*args)
    elapsed = time.monotonic() - started
    assert elapsed < case.bound, '%s took %.2f s, bound %.1f s' % (case.id, elapsed, case.bound)
    return value


def _containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(SCALARS, _containers, max_leaves=12)
LINES = st.lists(st.text(max_size=60) | st.sampled_from(
    ['AUTH XOAUTH2 PLAIN', 'AUTH=LOGIN', 'STARTTLS', '* CAPABILITY IMAP4rev1 AUTH=XOAUTH2', 'SASL XOAUTH2',
     'STLS', '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN', ' ', '']), max_size=8)


def _run(case_id, strategy):
    """A hypothesis property for CASE_ID over STRATEGY (decorator)."""
    def wrap(check):
        @_settings(CASES[case_id])
        @given(strategy)
        def run(value):
            check(CASES[case_id], value)
        return run
    return wrap


# -- mail replies ------------------------------------------------------------------------------

MICROSOFT_WORDS = st.sampled_from(['535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled '
                                   'for the Tenant', 'User is authenticated but not connected.', '5.7.3',
                                   'AUTHENTICATE failed.', 'STOREDRV', '554 5.2.252 SendAsDenied', '5.7.30'])


@_run('inputs-mail-replies', st.tuples(st.lists(st.text(max_size=40) | MICROSOFT_WORDS, max_size=4).map(' '.join),
                                       st.text(min_size=4, max_size=40)))
def _mail_property(case, drawn):
    reply, token = drawn
    verdict = _timed(case, _mail.classify_reply, reply)
    assert verdict is None or (verdict[0] in _mail.MAIL_ERROR_CLASSES and all(verdict[1:])), verdict
    said = 'server said: %s %s / %s' % (reply, token, base64.b64encode(token.encode()).decode())
    redacted = _timed(case, _mail.redact, said, [token, None, ''])
    assert token not in redacted and base64.b64encode(token.encode()).decode() not in redacted


# -- capabilities ------------------------------------------------------------------------------

@_run('inputs-probe-capabilities', st.tuples(LINES, st.sampled_from(['smtp', 'imap', 'pop3'])))
def _probe_property(case, drawn):
    lines, protocol = drawn
    extensions, mechanisms = _timed(case, _probe.parse_ehlo, lines)
    assert all(isinstance(e, str) for e in extensions) and all(m == m.upper() for m in mechanisms)
    for line in lines:
        words, imap_mechanisms = _timed(case, _probe.parse_imap_capabilities, line)
        assert all(isinstance(w, str) for w in words) and all(m == m.upper() for m in imap_mechanisms)
    capa, pop_mechanisms = _timed(case, _probe.parse_pop3_capa, lines)
    assert len(capa) == len(lines) and all(m == m.upper() for m in pop_mechanisms)
    assert _timed(case, _probe.starttls_offered, protocol, lines) in (True, False)


# -- token facts -------------------------------------------------------------------------------

def _b64(value):
    return base64.urlsafe_b64encode(value).decode().rstrip('=')


TOKENS = st.one_of(
    JSON,
    st.builds(lambda header, payload: '%s.%s.sig' % (_b64(json.dumps(header).encode()),
                                                     _b64(json.dumps(payload).encode())),
              JSON, st.dictionaries(st.sampled_from(list(_auth.ACCESS_TOKEN_CLAIMS)), JSON, max_size=6)),
    st.builds(lambda raw: 'eyJhbGciOiJub25lIn0.%s.' % _b64(raw), st.binary(max_size=40)),
    st.sampled_from(['a.b.c', '...', 'x' * 70000, 'not base64!.e30.s', 'e30.e30.e30.e30.e30']))
MSAL_KEYS = ['access_token', 'id_token', 'id_token_claims', 'expires_in', 'scope', 'refresh_token', 'token_type',
             'token_source', 'error', 'error_description', 'error_codes']
MSAL_REPLIES = st.dictionaries(st.sampled_from(MSAL_KEYS), TOKENS | JSON, max_size=8)


def _plain(value):
    """Whether VALUE is made of JSON's own types only (what Ansible can return)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


GRANTS = st.sampled_from(['client_credentials', 'refresh_token', 'password'])


@_run('inputs-token-facts', st.tuples(MSAL_REPLIES, GRANTS, TOKENS))
def _token_property(case, drawn):
    reply, grant, token = drawn
    reply = dict(reply, access_token=reply.get('access_token') or 'opaque-access-token')
    facts = _timed(case, _auth.token_facts, reply, grant, 'sent-refresh-token', 1764000000)
    assert _plain(facts) and facts['acquired'] is True
    token_text = reply['access_token'] if isinstance(reply['access_token'], str) else ''
    elsewhere = json.dumps(dict((k, v) for k, v in reply.items() if k != 'access_token'), default=repr)
    if len(token_text) >= 8 and token_text not in elsewhere:  # the same text as scope, say, may be shown
        assert token_text not in json.dumps(facts), 'the access token is in the facts'
    error_class, aadsts, message = _timed(case, _auth.failure_facts, reply)
    assert error_class in ('aadsts', 'protocol') and isinstance(message, str) and message
    assert aadsts is None or _plain(aadsts)
    app = _timed(case, _auth.app_token_facts, 'given', token)
    assert _plain(app) and isinstance(app['roles'], list)


# -- AADSTS bodies as JSON text --------------------------------------------------------------------

ERROR_CODES = st.one_of(JSON, st.lists(st.integers() | st.text(max_size=12) | st.booleans() | st.floats(), max_size=25))
AADSTS_BODIES = st.fixed_dictionaries({}, optional={
    'error': JSON, 'error_description': st.text(max_size=80) | st.builds('AADSTS{}: x'.format, st.integers()) | JSON,
    'error_codes': ERROR_CODES, 'suberror': JSON, 'trace_id': JSON, 'timestamp': JSON})


@_run('inputs-aadsts-json-text', st.tuples(AADSTS_BODIES, st.booleans(), st.sampled_from(['', '\n', ' x'])))
def _aadsts_property(case, drawn):
    body, as_bytes, tail = drawn
    text = json.dumps(body) + tail
    facts = _timed(case, _aadsts.parse, text.encode('utf-8') if as_bytes else text)
    if facts is not None:
        assert facts['code'] is None or (isinstance(facts['code'], int) and facts['code'] in facts['codes'])
        assert all(isinstance(code, int) and not isinstance(code, bool) for code in facts['codes'])
        assert isinstance(_aadsts.summary(facts), str)


# -- url_reach expect, JSON bodies and Date values -----------------------------------------------

QUERIES = st.text(max_size=30) | st.sampled_from(['@', 'a.b', '[*].x', 'length(@)', '`{`', ''])
EXPECTS = JSON | st.fixed_dictionaries({}, optional={
    'status': st.lists(st.integers(-1, 700) | JSON, max_size=3) | JSON,
    'assertions': st.lists(QUERIES | JSON, max_size=3) | JSON})
BODIES = st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=100),
                   st.integers(1, 3000).map(lambda depth: ('[' * depth + ']' * depth).encode()),
                   st.sampled_from([b'NaN', b'[Infinity]', b'{"a": -Infinity}']))
CONTENT_TYPES = st.none() | st.sampled_from(['application/json', 'text/html', 'application/a+json; x=y', '']) | \
    st.text(max_size=20)


@_run('inputs-http-expect-json-dates', st.tuples(EXPECTS, BODIES, CONTENT_TYPES, st.booleans(),
                                                 JSON | st.binary(max_size=30) | st.datetimes()))
def _http_property(case, drawn):
    expect, body, content_type, truncated, date = drawn
    try:
        shown = _timed(case, _http._expect, expect, 'expect')  # pylint: disable=protected-access
    except _http.ArgumentError as exc:
        assert str(exc).startswith('expect')
    else:
        assert shown is None or (set(shown) <= {'status', 'assertions'} and all(
            shown[key] == expect[key] for key in shown))
    value = _timed(case, _http.parse_json_body, body, content_type, truncated)
    json.dumps(value, allow_nan=False)
    assert value is None or not truncated
    assert _timed(case, _http.parse_http_date, date) is None or isinstance(date, str)
    skew = _timed(case, _http.clock_skew, date, time.time())
    assert skew is None or isinstance(skew, (dict, int, float))


# -- Graph and admin API bodies ------------------------------------------------------------------

GRAPH_KEYS = ['value', '@odata.nextLink', 'id', 'appId', 'displayName', 'web', 'spa', 'publicClient', 'redirectUris',
              'passwordCredentials', 'keyCredentials', 'endDateTime', 'startDateTime', 'keyId', 'hint',
              'requiredResourceAccess', 'resourceAppId', 'resourceAccess', 'type', 'oauth2PermissionScopes',
              'appRoles', 'resourceId', 'scope', 'consentType', 'principalId', 'appRoleId', 'resourceDisplayName',
              'servicePlans', 'servicePlanName', 'provisioningStatus', 'skuPartNumber', 'userPrincipalName',
              'accountEnabled', 'mail', 'error', 'code', 'message',
              'ImapEnabled', 'PopEnabled', 'SmtpClientAuthenticationDisabled', 'AccessRights', 'User', 'Deny',
              'Identity']
SHAPED = st.recursive(SCALARS | st.sampled_from(['https://graph.invalid/v1.0/next', 'FullAccess', 'Scope',
                                                 'EXCHANGE_S_STANDARD', 'Success', '2030-01-01T00:00:00Z']),
                      lambda children: st.lists(children, max_size=3) | st.dictionaries(
                          st.sampled_from(GRAPH_KEYS), children, max_size=5), max_leaves=16)
BASE = 'https://graph.invalid'
NEXT_LINKS = st.sampled_from([BASE + '/v1.0/users?$skiptoken=1', 'https://elsewhere.invalid/v1.0/x', '', 5, None,
                              ['x'], 'not a url', 'https://[::1'])
ANSWERS = st.lists(st.tuples(
    st.sampled_from([200] * 6 + [401, 403, 404, 429, 500, 503]),
    st.one_of(st.fixed_dictionaries({'value': st.lists(SHAPED, max_size=3) | SHAPED},
                                    optional={'@odata.nextLink': NEXT_LINKS}), SHAPED, st.text(max_size=20)),
    st.sampled_from([None, '0', '1', '-1', 'soon', 'Wed, 21 Oct 2015 07:28:00 GMT', '1e999', '99999'])),
    min_size=1, max_size=12)


class _Session(object):
    """Answers every GET and POST with the next drawn answer, the last one again when they run out."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def _next(self, *_args, **_kwargs):
        status, body, retry_after = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return Response(status, body, {'Retry-After': retry_after} if retry_after is not None else {})

    get = post = _next


def _assert_errors(errors):
    for error in errors:
        assert error['error_class'] in _errors.ERROR_CLASSES, error
        assert isinstance(error['message'], str) and error['call'] in error['message'], error


def _assert_failure_vocabulary(results):
    """Each result that can fail says ok, error_class (of ERROR_CLASSES, or null) and message, and nothing as error."""
    for result in results:
        assert result['ok'] is (result['error_class'] is None) and 'error' not in result, result
        assert result['error_class'] is None or result['error_class'] in _errors.ERROR_CLASSES, result


@_run('inputs-graph-bodies', st.tuples(ANSWERS, st.sampled_from([None, 'ece-app', "o'brien"]),
                                       st.lists(st.text(max_size=10), max_size=2)))
def _graph_property(case, drawn):
    answers, app_id, users = drawn
    clock = Clock()
    graph = _graph.Graph(_Session(answers), BASE, 'TOKEN', clock.now + 30, sleep=clock.sleep, clock=clock)
    facts = _timed(case, _graph.read_tenant, graph, app_id, users or ['a@contoso.invalid'])
    json.dumps(facts)
    assert [u['address'] for u in facts['users']] == (users or ['a@contoso.invalid'])
    _assert_errors(facts['errors'])
    _assert_failure_vocabulary(facts['users'] + ([facts['application']] if app_id else []))
    assert 'TOKEN' not in json.dumps(facts)


@_run('inputs-exchange-bodies', st.tuples(ANSWERS, st.lists(st.fixed_dictionaries(
    {'address': st.sampled_from(['sales@contoso.invalid', 'SALES@contoso.invalid', 'ü@x.invalid'])},
    optional={'account': st.sampled_from([None, 'svc@contoso.invalid', ''])}), min_size=1, max_size=2)))
def _exchange_property(case, drawn):
    answers, mailboxes = drawn
    clock = Clock()
    admin = _exchange.ExchangeAdmin(_Session(answers), BASE, 'contoso.invalid', 'TOKEN', clock.now + 30,
                                    sleep=clock.sleep, clock=clock)
    facts = _timed(case, _exchange.read_settings, admin, mailboxes)
    json.dumps(facts)
    # One entry per mailbox, in order, then one per account that is not one of them (role account: SMTP AUTH).
    declared = [m for m in facts['mailboxes'] if m.get('role') != 'account']
    assert [m['address'] for m in declared] == [m['address'] for m in mailboxes]
    extra = [m['address'] for m in facts['mailboxes'] if m.get('role') == 'account']
    assert all(m.get('account') and m['account'].lower() not in [x['address'].lower() for x in mailboxes]
               for m in mailboxes if m.get('account') in extra)
    _assert_errors(facts['errors'])
    _assert_failure_vocabulary(facts['mailboxes'] + [facts['transport_config']])


# -- the judge -----------------------------------------------------------------------------------

OBSERVATION_KEYS = ['port_probe', 'url_reach', 'results', 'port', 'purpose', 'error_class', 'ok', 'ece', 'version',
                    'installed_es', 'external_url', 'mail_protocols', 'tenant_info', 'mailbox_settings',
                    'mailbox_protocols', 'application', 'users', 'mailboxes', 'tokens', 'protocol', 'protocols',
                    'address', 'login', 'account', 'summary', 'errors', 'found', 'secrets', 'end',
                    'required_permissions', 'service_principal', 'delegated_grants', 'scopes', 'consent_type',
                    'redirect_uris', 'web', 'clock_skew_seconds', 'tls', 'chain', 'issuer', 'expect', 'status', 'json',
                    'auth_mechanisms', 'lifetime_seconds', 'token_owner', 'acquired', 'exists', 'enabled', 'licences',
                    'service_plans', 'imap_enabled', 'pop_enabled', 'smtp_client_authentication_disabled',
                    'transport_config', 'full_access', 'deny', 'user', 'reached', 'ran', 'left_out', 'roles',
                    'unreachable_reason', 'failed_tasks', 'message']
OBSERVED = st.recursive(SCALARS | st.sampled_from([443, 587, 993, 995, '12.6(1)', 'ES1', 'https://ece.invalid/']),
                        lambda children: st.lists(children, max_size=3) | st.dictionaries(
                            st.sampled_from(OBSERVATION_KEYS), children, max_size=5), max_leaves=20)
HOSTS = st.dictionaries(st.sampled_from(['ece-svc01', 'ece-app01']), st.builds(
    lambda observed, roles, reached: dict(observed if isinstance(observed, dict) else {}, roles=roles, reached=reached),
    OBSERVED, st.lists(st.sampled_from(['services', 'application']), unique=True), st.booleans()) | OBSERVED,
    max_size=2)
WAIVERS = st.lists(st.fixed_dictionaries({'id': st.sampled_from([c.id for c in _checks.CATALOGUE[:5]]),
                                          'reason': st.sampled_from(['known', 'ü change 42'])},
                                         optional={'expires': st.sampled_from(['2030-01-01', '2000-01-01']),
                                                   'subject': st.sampled_from(['*', 'ece-svc01', 'tenant'])}),
                   max_size=2)


@_run('inputs-judge-observations', st.tuples(HOSTS, st.dictionaries(st.sampled_from(OBSERVATION_KEYS), OBSERVED,
                                                                    max_size=4),
                                             st.dictionaries(st.sampled_from(['a@contoso.invalid', 'b@x.invalid']),
                                                             OBSERVED, max_size=2), WAIVERS, st.booleans()))
def _judge_property(case, drawn):
    """The judge on any document, contract-shaped or not (the action quarantines what breaks the contract, but
    the engine must not raise whatever reaches it): one finding per check and subject, never an exception."""
    hosts, tenant, mailboxes, waivers, strict = drawn
    waivers = [w for w in waivers if 'expires' in w]
    assert _checks.validate_waivers(waivers) is None
    document = {'schema_version': 2, 'hosts': hosts, 'tenant': tenant, 'mailboxes': mailboxes}
    findings = _timed(case, _checks.judge, document, None, [], waivers, {'today': datetime.date(2026, 12, 1)})
    context = _checks.Context(document)
    expected = sum(len(_checks.subjects_for(check, context)) for check in _checks.CATALOGUE)
    assert len(findings) == expected
    for finding in findings:
        assert finding['status'] in _checks.STATUSES, finding
        if finding['status'] == 'error':
            JUDGE_ERRORS.add('%s: %s' % (finding['id'], finding['detail'][:120]))
    summary = _checks.summarize(findings, strict)
    report = _report.build(findings, summary, _checks.drift(findings, findings[:3]), {}, {}, '2026-12-01T00:00:00Z')
    for writer in (_report.to_json, _report.to_junit, _report.to_markdown, _report.to_html, _report.summary_table):
        assert isinstance(_timed(case, writer, report), str)


JUDGE_ERRORS = set()
PROPERTIES = {
    'inputs-mail-replies': _mail_property, 'inputs-probe-capabilities': _probe_property,
    'inputs-token-facts': _token_property, 'inputs-aadsts-json-text': _aadsts_property,
    'inputs-http-expect-json-dates': _http_property, 'inputs-graph-bodies': _graph_property,
    'inputs-exchange-bodies': _exchange_property, 'inputs-judge-observations': _judge_property,
}


@pytest.mark.parametrize('case', COVERAGE, ids=_coverage.ids(COVERAGE))
def test_parser(case):
    started = time.monotonic()
    PROPERTIES[case.id]()  # pylint: disable=no-value-for-parameter
    print('%s: %d examples in %.1f s' % (case.id, EXAMPLES, time.monotonic() - started))
    if case.id == 'inputs-judge-observations' and JUDGE_ERRORS:
        print('%d kinds of check breaking on hostile observations (status error, contained), e.g.:\n  %s' % (
            len(JUDGE_ERRORS), '\n  '.join(sorted(JUDGE_ERRORS)[:5])))
