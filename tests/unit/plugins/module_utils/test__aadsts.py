# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AADSTS catalogue, the parser of Entra's error bodies, and docs/identity.md's table kept in sync.

Run with UPDATE_DOCS=1 to rewrite the table in docs/identity.md from the catalogue.
"""

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _aadsts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
DOC = os.path.join(REPO, 'docs', 'identity.md')
LAB_CATALOGUE = os.path.join(REPO, 'tests', 'lab', 'ece_lab', 'aadsts.py')
START, END = '<!-- aadsts-table:start (generated from plugins/module_utils/_aadsts.py) -->', '<!-- aadsts-table:end -->'

# The codes issue 4 asks the catalogue for.
REQUIRED = (700016, 7000215, 7000222, 7000218, 50011, 65001, 70011, 700022, 500011, 50126, 50034, 50057, 50053,
            50076, 50079, 53003, 81012, 700082, 50173, 70043, 90002, 9002313, 50194)

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
        assert name and meaning and fix, code
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
    """The markdown table docs/identity.md carries, from the catalogue."""
    lines = [START, '', '| Code | Name | Meaning | Fix | TAC item |', '| --- | --- | --- | --- | --- |']
    for code in sorted(_aadsts.CATALOGUE):
        name, meaning, fix, item = _aadsts.CATALOGUE[code]
        cells = [str(code), name, meaning, fix, str(item) if item else '']
        lines.append('| %s |' % ' | '.join(cell.replace('|', '\\|') for cell in cells))
    return '\n'.join(lines + ['', END])


def test_docs_identity_md_carries_the_catalogue_table():
    with open(DOC, encoding='utf-8') as handle:
        text = handle.read()
    table = render_table()
    start, end = text.find(START), text.find(END)
    assert start >= 0 and end > start, 'docs/identity.md lacks the table markers'
    current = text[start:end + len(END)]
    if os.environ.get('UPDATE_DOCS') and current != table:
        with open(DOC, 'w', encoding='utf-8') as handle:
            handle.write(text[:start] + table + text[end + len(END):])
        current = table
    assert current == table, 'docs/identity.md is out of date: run UPDATE_DOCS=1 pytest %s' % __file__
