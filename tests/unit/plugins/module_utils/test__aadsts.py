# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AADSTS catalogue, the parser of Entra's error bodies, and docs/entra.md's table kept in sync.

Run with UPDATE_DOCS=1 to rewrite the table in docs/entra.md from the catalogue.
"""

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _aadsts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
DOC = os.path.join(REPO, 'docs', 'entra.md')
LAB_CATALOGUE = os.path.join(REPO, 'tests', 'lab', 'ece_lab', 'aadsts.py')
START, END = '<!-- aadsts-table:start (generated from plugins/module_utils/_aadsts.py) -->', '<!-- aadsts-table:end -->'

# The codes issue 4 asks the catalogue for.
REQUIRED = (700016, 7000215, 7000222, 7000218, 50011, 65001, 70011, 700022, 500011, 50126, 50034, 50057, 50053,
            50076, 50079, 53003, 81012, 700082, 50173, 70043, 90002, 9002313, 50194)

# Codes Microsoft's table lists without a short name
# (https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
UNNAMED = (7000218,)

# What Entra's token endpoint answers (the lab renders the same shape).
BODY = {
    'error': 'invalid_grant',
    'error_description': ('AADSTS700082: The refresh token has expired due to inactivity. The token was issued on '
                          '05/12/2026 10:00:00 and was inactive for 90.00:00:00.\r\nTrace ID: 0c6e7a0e-1111\r\n'
                          'Correlation ID: 5d2f-2222\r\nTimestamp: 2026-11-28 21:00:00Z'),
    'error_codes': [700082],
    'timestamp': '2026-11-28 21:00:00Z',
    'trace_id': '0c6e7a0e-1111',
    'correlation_id': '5d2f-2222',
    'error_uri': 'https://login.microsoftonline.com/error?code=700082',
}


def test_the_catalogue_holds_every_required_code_with_meaning_fix_and_checklist_item():
    assert set(REQUIRED) <= set(_aadsts.CATALOGUE)
    for code, (name, meaning, fix, item) in _aadsts.CATALOGUE.items():
        assert (name or code in UNNAMED) and meaning and fix, code
        assert item is None or item in _aadsts.CHECKLIST, code
        assert not meaning.endswith('.') and not fix.endswith('.'), 'summary() adds the full stop (%d)' % code


def test_the_catalogue_knows_every_code_the_lab_produces():
    if not os.path.exists(LAB_CATALOGUE):
        pytest.skip('the lab is not part of this tree')
    with open(LAB_CATALOGUE) as handle:
        lab_codes = {int(c) for c in re.findall(r'^    (\d+): \(', handle.read(), re.M)}
    assert lab_codes and lab_codes <= set(_aadsts.CATALOGUE), lab_codes - set(_aadsts.CATALOGUE)


def test_parse_an_entra_body_as_msal_returns_it():
    facts = _aadsts.parse(BODY)
    assert facts['code'] == 700082 and facts['codes'] == [700082] and facts['oauth_error'] == 'invalid_grant'
    assert facts['message'].startswith('AADSTS700082: The refresh token has expired due to inactivity.')
    assert 'Trace ID' not in facts['message'], 'first line only'
    assert facts['trace_id'] == '0c6e7a0e-1111' and facts['correlation_id'] == '5d2f-2222'
    assert facts['known'] and facts['checklist_item'] == 4 and facts['name'] == 'ExpiredOrRevokedGrantInactiveToken'
    assert _aadsts.parse(json.dumps(BODY)) == facts, 'the JSON text gives the same facts'
    assert _aadsts.parse(json.dumps(BODY).encode()) == facts


def test_summary_names_code_meaning_microsofts_text_fix_and_checklist_item():
    text = _aadsts.summary(_aadsts.parse(BODY))
    assert text.startswith('AADSTS700082: the refresh token expired after 90 days without use')
    assert '(Microsoft: "AADSTS700082: The refresh token has expired' in text
    assert "Fix: generate ECE's token again" in text and '[TAC checklist item 4: token lifetimes' in text
    assert _aadsts.summary(None) is None


@pytest.mark.parametrize('body, code', [
    ({'error': 'invalid_client', 'error_description': 'AADSTS7000222: The provided client secret keys are expired.'},
     7000222),
    ({'error_description': 'AADSTS50011: The redirect URI ... does not match'}, 50011),
    ({'error': 'x', 'error_codes': ['65001']}, 65001),
    ({'error': 'x', 'error_codes': [True, 53003]}, 53003),
    ('<html><p>AADSTS90002: Tenant not found.</p></html>', 90002),
    ('AADSTS50126: Error validating credentials', 50126),
])
def test_the_code_comes_from_error_codes_or_the_text(body, code):
    assert _aadsts.parse(body)['code'] == code


def test_unknown_codes_point_at_microsofts_error_page():
    facts = _aadsts.parse({'error': 'invalid_request', 'error_codes': [123456789]})
    assert facts['known'] is False and facts['meaning'] is None
    assert 'https://login.microsoftonline.com/error?code=123456789' in facts['fix']


def test_an_error_without_a_code_is_still_an_error():
    facts = _aadsts.parse({'error': 'invalid_grant', 'error_description': 'no code here'})
    assert facts['code'] is None and facts['oauth_error'] == 'invalid_grant' and 'error' not in facts
    assert _aadsts.summary(facts).startswith('invalid_grant')


@pytest.mark.parametrize('body', [None, 1, [], {}, '', '[1, 2]', b'\xff\xfe', {'access_token': 'x'}, 'plain text',
                                  {'error_codes': 'not a list'}])
def test_not_an_error_body_gives_none(body):
    assert _aadsts.parse(body) is None


# Entra's error response as Microsoft documents it (error, error_description beginning with AADSTSnnnnn:, error_codes,
# suberror, timestamp, trace_id, correlation_id), for a refresh token ECE holds that consent no longer covers.
CONSENT_BODY = {
    'error': 'invalid_grant',
    'error_description': ("AADSTS65001: The user or administrator has not consented to use the application with ID "
                          "'3f7a2c1e-0000-4000-8000-000000000001' named 'ECE'. Send an interactive authorization request "
                          "for this user and resource.\r\nTrace ID: 9a1b-3333\r\nCorrelation ID: 7c2d-4444\r\n"
                          "Timestamp: 2026-11-28 21:05:00Z"),
    'error_codes': [65001],
    'timestamp': '2026-11-28 21:05:00Z',
    'trace_id': '9a1b-3333',
    'correlation_id': '7c2d-4444',
    'suberror': 'consent_required',
}


# kills: suberror never read (parse's 'suberror', and the summary a user reads); the bug: summary dropped it
@pytest.mark.parametrize('body, suberror, starts', [
    (CONSENT_BODY, 'consent_required', "AADSTS65001: neither an administrator (for all users) nor this user has "
                                       "consented to a permission the request asked for (suberror: consent_required) "
                                       "(Microsoft: \"AADSTS65001: The user"),
    (dict(BODY, error_codes=[70008], suberror='bad_token', error_description='AADSTS70008: The provided authorization '
          'code or refresh token has expired due to inactivity.'), 'bad_token',
     'AADSTS70008: the authorization code or refresh token has expired or was revoked (suberror: bad_token) (Microsoft'),
    ({'error': 'interaction_required', 'suberror': 'basic_action'}, 'basic_action',
     'interaction_required (suberror: basic_action).'),
])
def test_suberror_is_read_and_named_in_the_summary(body, suberror, starts):
    facts = _aadsts.parse(body)
    assert facts['suberror'] == suberror
    assert _aadsts.summary(facts).startswith(starts)
    assert '(suberror' not in _aadsts.summary(_aadsts.parse(BODY)), 'no suberror, none named'


# kills: every fact parse reads from Microsoft's shape (trace, correlation, timestamp, error_uri, first line)
def test_parse_reads_every_field_of_microsofts_error_response():
    facts = _aadsts.parse(CONSENT_BODY)
    assert facts == {
        'code': 65001, 'codes': [65001], 'oauth_error': 'invalid_grant', 'suberror': 'consent_required',
        'message': CONSENT_BODY['error_description'].split('\r\n', 1)[0], 'trace_id': '9a1b-3333',
        'correlation_id': '7c2d-4444', 'timestamp': '2026-11-28 21:05:00Z', 'error_uri': None, 'known': True,
        'name': 'DelegationDoesNotExist', 'meaning': _aadsts.CATALOGUE[65001][1], 'fix': _aadsts.CATALOGUE[65001][2],
        'checklist_item': 3}
    assert _aadsts.parse(BODY)['error_uri'] == BODY['error_uri'] and _aadsts.parse(BODY)['timestamp'] == BODY['timestamp']


# kills: error_codes ignored when the body has a description (the description must not replace error_codes)
@pytest.mark.parametrize('description, codes', [
    ('The refresh token has expired due to inactivity.', [700082]),
    ('AADSTS700082: The refresh token has expired due to inactivity.', [700082]),
    ('AADSTS50173: The provided grant has expired. See also AADSTS700082.', [700082]),
])
def test_error_codes_come_first_whatever_the_description_says(description, codes):
    facts = _aadsts.parse({'error': 'invalid_grant', 'error_description': description, 'error_codes': [700082]})
    assert (facts['code'], facts['codes'], facts['name']) == (700082, codes, 'ExpiredOrRevokedGrantInactiveToken')
    assert _aadsts.parse({'error': 'invalid_grant', 'error_description': description.replace('700082', '70008'),
                          'error_codes': []})['code'] in (None, 70008, 50173)


# kills: the bounds of error_codes (bool, 0, 10**9, nine-digit strings, 20 at most) and the bug: '²' raised ValueError
@pytest.mark.parametrize('raw, codes', [
    ([True, False, 0, -5, 10 ** 9, 999999999, 1], [999999999, 1]),
    (['0', '1234567890', '0000000001', '123456789', '²', '12a', ' 7'], [123456789]),
    (list(range(1, 30)), list(range(1, 21))),
    ((50126, '50034'), [50126, 50034]),
    ([None, 1.5, [50126], {'code': 1}], []),
])
def test_error_codes_bounds_and_odd_items(raw, codes):
    facts = _aadsts.parse({'error': 'invalid_request', 'error_codes': raw})
    assert facts['codes'] == codes and facts['code'] == (codes[0] if codes else None)


# kills: the codes read from the text (20 at most, after AADSTS only, at most 9 digits)
def test_codes_from_the_text_when_error_codes_say_nothing():
    text = ' '.join('AADSTS%d: x' % (50000 + n) for n in range(25))
    assert _aadsts.parse({'error_description': text})['codes'] == [50000 + n for n in range(20)]
    assert _aadsts.parse('AADSTS1234567890 and 50126')['codes'] == [123456789]


# kills: MAX_BODY (JSON beyond it is text) and MAX_TEXT (texts cut), for dict, str and bytes bodies
def test_bodies_and_texts_are_cut_at_their_bounds():
    head = '{"error": "invalid_grant", "error_description": "AADSTS70008: expired", "pad": "'
    fits = head + 'x' * (65536 - len(head) - 2) + '"}'
    over = head + 'x' * (65536 - len(head) - 1) + '"}'
    assert len(fits) == _aadsts.MAX_BODY == 65536 and len(over) == 65537
    # bytes are cut before they are decoded: 65537 bytes that are 65536 characters are still too many
    wide = (head + '\u00e9' + 'x' * (65536 - len(head) - 3) + '"}').encode()
    assert len(wide) == 65537 and _aadsts.parse(wide)['oauth_error'] is None
    for body in (fits, fits.encode()):
        assert _aadsts.parse(body)['oauth_error'] == 'invalid_grant'
    for body in (over, over.encode()):
        facts = _aadsts.parse(body)
        assert (facts['oauth_error'], facts['code']) == (None, 70008) and facts['message'] == over[:_aadsts.MAX_TEXT]
    long_text = 'AADSTS50126: ' + 'y' * 3000
    facts = _aadsts.parse({'error_description': long_text, 'suberror': 's' * 3000, 'trace_id': b'\xfft'})
    assert facts['message'] == long_text[:1000] and facts['suberror'] == 's' * 1000 and facts['trace_id'] == '\ufffdt'


# kills: the first line (CRLF or LF, stripped, None when blank) and the fix of an error without a code
@pytest.mark.parametrize('description, message', [
    ('AADSTS50126: bad\r\nTrace ID: 1', 'AADSTS50126: bad'), ('  AADSTS50126: bad  \nmore', 'AADSTS50126: bad'),
    ('   \nAADSTS50126: second line', None), ('', None)])
def test_the_message_is_microsofts_first_line(description, message):
    facts = _aadsts.parse({'error': 'invalid_grant', 'error_description': description, 'error_codes': [50126]})
    assert facts['message'] == message
    assert _aadsts.parse({'error': 'invalid_grant'})['fix'] is None


# kills: summary's parts (code or error, meaning, checklist item only when there is one)
def test_summary_of_an_unknown_code_and_of_a_code_without_checklist_item():
    unknown = _aadsts.summary(_aadsts.parse({'error': 'invalid_request', 'error_codes': [123456789]}))
    assert unknown == ('AADSTS123456789. Fix: look the code up at https://login.microsoftonline.com/error?code=123456789 '
                       'and in the sign-in logs (Entra ID > Sign-in logs, by the correlation id).')
    blocked = _aadsts.summary(_aadsts.parse({'error': 'access_denied', 'error_codes': [53003]}))
    assert blocked == 'AADSTS53003: %s. Fix: %s.' % _aadsts.CATALOGUE[53003][1:3]
    assert _aadsts.summary(_aadsts.parse({'error': 'temporarily_unavailable'})) == 'temporarily_unavailable.'


# kills: describe() called nowhere: it was removed (parse gives the catalogue's facts; nothing called it)
def test_the_catalogue_is_read_through_parse_only():
    assert not hasattr(_aadsts, 'describe')
    for code, (name, meaning, fix, item) in _aadsts.CATALOGUE.items():
        facts = _aadsts.parse({'error': 'x', 'error_codes': [code]})
        assert (facts['name'], facts['meaning'], facts['fix'], facts['checklist_item'], facts['known']) == (
            name, meaning, fix, item, True)


# The TAC checklist item each code's fix points at, by what the code is about (README.md, "What it covers").
CHECKLIST_ITEMS = {
    2: {50011},  # the External URL and the redirect URI
    3: {28000, 50194, 65001, 70011, 90002, 500011, 700016, 700022, 700025, 700027, 1002012, 7000215, 7000218,
        7000222},
    4: {50173, 70008, 70043, 700082, 9002313},  # expired or revoked grants: the token's lifetime
    5: {50034, 50053, 50057, 50076, 50079, 50126, 81012},  # the account the token is for
    # Conditional Access, a grant type, the host's clock, Microsoft's own outage: no checklist item
    None: {50000, 53003, 70003, 700024},
}


# kills: a code pointing at the wrong TAC checklist item, and the items' numbers and titles
def test_each_code_points_at_the_checklist_item_of_what_it_is_about():
    assert {code: item for item, codes in CHECKLIST_ITEMS.items() for code in codes} == {
        code: entry[3] for code, entry in _aadsts.CATALOGUE.items()}
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as handle:
        covers = dict(re.findall(r'^(\d+)\. (.+)$', handle.read(), re.M))
    assert sorted(_aadsts.CHECKLIST) == [2, 3, 4, 5, 9]
    for item, words in ((2, 'external application URL'), (3, 'Entra app registration'), (4, 'Token lifetimes'),
                        (5, 'mailbox (or shared) account'), (9, 'Network')):
        assert words in covers[str(item)], (item, covers[str(item)])
    assert _aadsts.CHECKLIST[9] == 'the network path to Microsoft' and 'app registration' in _aadsts.CHECKLIST[3]


def _containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
                     _containers,
                     max_leaves=12)
_keys = st.sampled_from(['error', 'error_description', 'error_codes', 'trace_id', 'correlation_id', 'suberror',
                         'timestamp', 'error_uri'])


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, st.dictionaries(_keys, _json), st.text(), st.binary(),
                 st.builds(lambda n, t: 'AADSTS%d: %s' % (n, t), st.integers(min_value=0), st.text())))
def test_parse_never_raises_and_returns_a_sane_shape(body):
    facts = _aadsts.parse(body)
    if facts is not None:
        assert facts['code'] is None or (isinstance(facts['code'], int) and facts['code'] in facts['codes'])
        assert facts['message'] is None or ('\n' not in facts['message'] and len(facts['message']) <= 1000)
        assert isinstance(_aadsts.summary(facts), str)


def test_the_catalogues_fix_texts_are_held_in_the_catalogue_only():
    """No other module util restates an AADSTS fix (e.g. "generate ECE's token again")."""
    from ansible_collections.ece_o365.preflight.tests.unit.plugins.module_utils.test__mail import files_saying
    assert files_saying("generate ECE's token again") == {'_aadsts.py'}
    assert files_saying('Partition > Apps > Email') == {'_aadsts.py'}


def render_table():
    """The markdown table docs/entra.md carries, from the catalogue."""
    lines = [START, '', '| Code | Name | Meaning | Fix | TAC item |', '| --- | --- | --- | --- | --- |']
    for code in sorted(_aadsts.CATALOGUE):
        name, meaning, fix, item = _aadsts.CATALOGUE[code]
        cells = [str(code), name or '', meaning, fix, str(item) if item else '']
        lines.append('| %s |' % ' | '.join(cell.replace('|', '\\|') for cell in cells))
    return '\n'.join(lines + ['', END])


def test_docs_entra_md_carries_the_catalogue_table():
    with open(DOC, encoding='utf-8') as handle:
        text = handle.read()
    table = render_table()
    start, end = text.find(START), text.find(END)
    assert start >= 0 and end > start, 'docs/entra.md lacks the table markers'
    current = text[start:end + len(END)]
    if os.environ.get('UPDATE_DOCS') and current != table:
        with open(DOC, 'w', encoding='utf-8') as handle:
            handle.write(text[:start] + table + text[end + len(END):])
        current = table
    assert current == table, 'docs/entra.md is out of date: run UPDATE_DOCS=1 pytest %s' % __file__


# -- names and fixes as Microsoft's table has them (issue 12) -----------------------------------------
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes


def test_7000218_is_the_missing_credential_and_700025_the_public_client_with_one():
    name, meaning, _fix, _item = _aadsts.CATALOGUE[7000218]
    assert name is None and 'neither a client secret nor a client assertion' in meaning
    assert _aadsts.CATALOGUE[700025][0] == 'InvalidClientPublicClientWithCredential'
    facts = _aadsts.parse({'error': 'invalid_client', 'error_codes': [7000218], 'error_description':
                           "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' "
                           "or 'client_secret'.\r\nTrace ID: t"})
    assert facts['known'] is True and facts['name'] is None
    assert _aadsts.summary(facts).startswith('AADSTS7000218: the request carried neither a client secret')


def test_81012_carries_microsofts_name():
    assert _aadsts.CATALOGUE[81012][0] == 'DesktopSsoMismatchBetweenTokenUpnAndChosenUpn'


def test_50057_is_a_disabled_account_never_the_90_day_inactivity_fix():
    name, meaning, fix, item = _aadsts.CATALOGUE[50057]
    assert name == 'UserDisabled' and 'disabled' in meaning
    assert '90' not in fix and 'inactiv' not in fix and _aadsts.REGENERATE not in fix
    assert 'enable the account' in fix and 'shared mailbox' in fix and 'delegate' in fix
    summary = _aadsts.summary(_aadsts.parse({'error': 'invalid_grant', 'error_codes': [50057],
                                             'error_description': 'AADSTS50057: The user account is disabled.'}))
    assert '90 days' not in summary and 'TAC checklist item 4' not in summary


def test_50000_is_microsofts_sign_in_service_not_the_tenant():
    body = {'error': 'server_error', 'error_codes': [50000], 'error_description':
            'AADSTS50000: There was an error issuing a token or an issue with our sign-in service.\r\nTrace ID: t'}
    facts = _aadsts.parse(body)
    assert facts['name'] == 'TokenIssuanceError' and facts['oauth_error'] == 'server_error'
    assert 'service health' in facts['fix'] and 'retry later' in facts['fix']
    assert facts['checklist_item'] is None


def test_65001_names_the_scopes_asked_not_every_mail_permission():
    _name, meaning, fix, _item = _aadsts.CATALOGUE[65001]
    assert 'consented' in meaning and 'scopes_requested' in fix and 'POP.AccessAsUser.All' not in fix
