# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Sealing an access token for its way back from a services server to the controller.

A module's result crosses the connection as plain JSON, and ansible-core prints that raw JSON at -vvvv over SSH
before no_log has a say (the reliability suite's secret test saw a JWT so). The services server's refresh answers
with an access token the logins need on the controller, so url_reach returns it sealed with a key only the
controller and the task's (no_log) arguments hold: a stream of HMAC-SHA256(key, nonce || counter) blocks XORed
over the token, behind a fresh random 16-byte nonce. HMAC-SHA256 in counter mode is a pseudo-random function used
as a stream cipher (confidentiality is all that is needed: the token is judged and used, never trusted more for
having been sealed). It is this construction, not AES-GCM, because the PowerShell twin runs on Windows
PowerShell 5.1, whose .NET Framework has HMACSHA256 and no AesGcm: both sides must compute the same thing.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import hmac
import json
import os
import struct

NONCE_BYTES = 16
BLOCK = 32  # bytes of one HMAC-SHA256 output


def _stream(key, nonce, length):
    key = key.encode('utf-8')
    blocks = (length + BLOCK - 1) // BLOCK
    return b''.join(hmac.new(key, nonce + struct.pack('>I', index), hashlib.sha256).digest() for index in range(blocks))


def seal(key, text):
    """TEXT sealed with KEY: base64 of the nonce and the text XORed with the key's stream."""
    nonce = os.urandom(NONCE_BYTES)
    data = text.encode('utf-8')
    stream = _stream(key, nonce, len(data))
    return base64.b64encode(nonce + bytes(bytearray(a ^ b for a, b in zip(bytearray(data), bytearray(stream))))).decode('ascii')


def unseal(key, sealed):
    """The text SEALED holds, or None when it is not a sealed value (or KEY is not its key, which gives garbage that
    is not UTF-8 as a rule; the caller checks the shape of what it expects)."""
    try:
        raw = base64.b64decode(sealed.encode('ascii'), validate=True)
    except (ValueError, TypeError, AttributeError):
        return None
    if len(raw) <= NONCE_BYTES:
        return None
    nonce, body = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    stream = _stream(key, nonce, len(body))
    try:
        return bytes(bytearray(a ^ b for a, b in zip(bytearray(body), bytearray(stream)))).decode('utf-8')
    except UnicodeDecodeError:
        return None


def key_from(*secrets):
    """A key derived from SECRETS (the client secret and the stored refresh tokens): the same on every host of a run
    that holds the same inputs, and as secret as they are. None when no secret is given."""
    material = [s for s in secrets if s]
    if not material:
        return None
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode('utf-8')).hexdigest()
