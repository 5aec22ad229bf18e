# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_seal: the access token's way back from a services server (the PowerShell twin computes the same stream)."""

import base64
import hashlib
import hmac
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.ece_o365.preflight.plugins.module_utils import _seal


def test_the_stream_is_hmac_sha256_of_the_nonce_and_a_big_endian_counter():
    """The construction both twins implement, spelled out: block i = HMAC-SHA256(key, nonce || uint32be(i))."""
    key, nonce = 'k' * 64, bytes(range(16))
    expected = hmac.new(key.encode(), nonce + struct.pack('>I', 0), hashlib.sha256).digest() + \
        hmac.new(key.encode(), nonce + b'\x00\x00\x00\x01', hashlib.sha256).digest()
    assert _seal._stream(key, nonce, 40) == expected


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=1, max_size=3000), key=st.text(alphabet='0123456789abcdef', min_size=1, max_size=64))
def test_what_is_sealed_opens_with_its_key_only(text, key):
    sealed = _seal.seal(key, text)
    assert _seal.unseal(key, sealed) == text
    assert text not in sealed or len(text) < 4
    raw = base64.b64decode(sealed)
    assert len(raw) == 16 + len(text.encode('utf-8'))


def test_two_seals_of_one_token_differ_and_garbage_opens_to_nothing():
    assert _seal.seal('k', 'eyJ.a.b') != _seal.seal('k', 'eyJ.a.b'), 'a fresh nonce each time'
    for garbage in ('', 'not base64!', base64.b64encode(b'short').decode(), None, 42):
        assert _seal.unseal('k', garbage) is None


@pytest.mark.parametrize('secrets, expected_none', [((), True), (('', None), True), (('s',), False)])
def test_the_key_needs_a_secret(secrets, expected_none):
    assert (_seal.key_from(*secrets) is None) is expected_none
