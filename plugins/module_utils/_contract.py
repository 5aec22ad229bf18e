# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The observation contract: what every probe returns and what the roles record (docs/contract.md).

One file holds it: the purposes a target can serve, the mail protocols ECE can use, the JSON Schema
of the observations the judge reads (``SCHEMA``, versioned), a validator for the subset of JSON
Schema it uses (so the controller needs no extra library; the tests cross-check it with the
``jsonschema`` package), and the one normalisation of a declared mailbox. The error-class
vocabulary is ``_errors.ERROR_CLASSES``; the schema names it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ece_o365.preflight.plugins.module_utils import _errors

SCHEMA_VERSION = 2

# What a port_probe target or url_reach URL is for; the roles set it, the judge selects by it.
PURPOSES = ('token_endpoint', 'smtp_submission', 'imap', 'pop3', 'oidc_discovery', 'ece_external_url', 'extra')
# The protocols ECE can use per mailbox: one or both retrieval protocols, and SMTP to send.
MAIL_PROTOCOLS = ('imap', 'pop3', 'smtp')
RETRIEVAL_PROTOCOLS = ('imap', 'pop3')
# Which network paths an ECE server needs (ece_o365_network_model): Cisco TAC's checklist (all four from every
# server, the default) or per role (retrieval from the services servers, for the protocols ECE uses).
NETWORK_MODELS = ('checklist', 'per_role')
DEFAULT_NETWORK_MODEL = 'checklist'
DEFAULT_MAIL_PROTOCOLS = ['imap', 'smtp']  # what ECE most often uses (issue 12); POP when declared
# The purpose of the network path each mail protocol needs.
PURPOSE_OF_PROTOCOL = {'imap': 'imap', 'pop3': 'pop3', 'smtp': 'smtp_submission'}


def error_class_names():
    return sorted(_errors.ERROR_CLASSES)


_NULLABLE_STR = {'type': ['string', 'null']}
_NULLABLE_BOOL = {'type': ['boolean', 'null']}
_NULLABLE_INT = {'type': ['integer', 'null']}
_NULLABLE_NUM = {'type': ['number', 'null']}
_STRINGS = {'type': 'array', 'items': {'type': 'string'}}
_FAILURE = {
    'ok': {'type': 'boolean'},
    'error_class': {'anyOf': [{'type': 'null'}, {'$ref': '#/$defs/error_class'}]},
    'message': _NULLABLE_STR,
}

SCHEMA = {
    '$schema': 'https://json-schema.org/draft/2020-12/schema',
    '$id': 'urn:ece_o365:preflight:observations:v%d' % SCHEMA_VERSION,
    'title': 'ece_o365.preflight observations',
    'description': 'What the probes return and the roles record, as the judge reads it (docs/contract.md).',
    'type': 'object',
    'required': ['schema_version', 'hosts', 'tenant', 'mailboxes'],
    'properties': {
        'schema_version': {'const': SCHEMA_VERSION},
        'hosts': {'type': 'object', 'additionalProperties': {'$ref': '#/$defs/host'}},
        'tenant': {'$ref': '#/$defs/tenant'},
        'mailboxes': {'type': 'object', 'additionalProperties': {'$ref': '#/$defs/declared_mailbox'}},
    },
    '$defs': {
        'error_class': {'enum': error_class_names()},
        'purpose': {'enum': list(PURPOSES)},
        'protocol': {'enum': list(MAIL_PROTOCOLS)},
        'host': {
            'description': 'One ECE server: what its probes returned (null: not run) and the ECE facts declared for it.',
            'type': 'object',
            'required': ['roles', 'reached', 'port_probe', 'url_reach', 'ece'],
            'properties': {
                'roles': {'type': 'array', 'items': {'enum': ['services', 'application']}},
                'reached': {'type': 'boolean'},
                'unreachable_reason': _NULLABLE_STR,
                'failed_tasks': _STRINGS,
                'port_probe': {'anyOf': [{'type': 'null'}, {'$ref': '#/$defs/port_probe'}]},
                'url_reach': {'anyOf': [{'type': 'null'}, {'$ref': '#/$defs/url_reach'}]},
                'token_refresh': {'description': 'A services server\'s refresh of each mailbox\'s stored token, '
                                                 'as ECE refreshes (null: not run there)',
                                  'anyOf': [{'type': 'null'},
                                            {'type': 'array', 'items': {'$ref': '#/$defs/token_refresh'}}]},
                'token_refresh_not_run': dict(_NULLABLE_STR, description='why a services server did not refresh'),
                'ece': {'$ref': '#/$defs/ece_declared'},
            },
        },
        'ece_declared': {
            'description': 'ECE\'s release and configuration as declared in the inventory (not read from the server).',
            'type': 'object',
            'required': ['version', 'installed_es', 'es_to_install', 'known_latest_es', 'external_url',
                         'admin_login_fqdn', 'mail_protocols'],
            'properties': {
                'version': {'type': 'string'},
                'installed_es': {'type': 'string'},
                'es_to_install': {'type': 'string'},
                'known_latest_es': {'type': 'string'},
                'external_url': {'type': 'string'},
                'admin_login_fqdn': {'type': 'string'},
                'mail_protocols': {'type': 'array', 'items': {'$ref': '#/$defs/protocol'}},
                'egress_addresses': dict(_STRINGS, description='the addresses this server\'s traffic to Microsoft '
                                                               'leaves from (ece_o365_egress_addresses), as declared'),
                'network_model': {'enum': list(NETWORK_MODELS),
                                  'description': 'checklist: every ECE server needs all four mail paths (TAC); '
                                                 'per_role: services servers the retrieval protocols ECE uses'},
            },
        },
        'token_refresh': {
            'description': 'One mailbox\'s refresh from a services server (filter token_refresh_facts): never a token.',
            'type': 'object',
            'required': ['address', 'host', 'refreshed_on', 'source', 'acquired', 'ok', 'error_class', 'message'],
            'properties': dict({
                'address': {'type': 'string'},
                'host': {'type': 'string'},
                'refreshed_on': {'type': 'string'},
                'source': {'const': 'services_server'},
                'acquired': {'type': 'boolean'},
                'proxy': _NULLABLE_STR,
                'status': _NULLABLE_INT,
                'aadsts': {'type': ['object', 'null']},
                'token_owner': _NULLABLE_STR,
                'oid': _NULLABLE_STR,
                'scopes': _STRINGS,
                'expires_in': _NULLABLE_INT,
            }, **_FAILURE),
        },
        'port_probe': {
            'type': 'object',
            'required': ['results'],
            'properties': {'results': {'type': 'array', 'items': {'$ref': '#/$defs/port_target'}}},
        },
        'port_target': {
            'type': 'object',
            'required': ['name', 'host', 'port', 'purpose', 'protocol', 'ok', 'error_class', 'message'],
            'properties': dict({
                'name': {'type': 'string'},
                'host': {'type': 'string'},
                'port': {'type': 'integer'},
                'purpose': {'$ref': '#/$defs/purpose'},
                'protocol': {'type': 'string'},
                'mode': {'type': 'string'},
                'proxy': _NULLABLE_STR,
                'banner': _NULLABLE_STR,
                'capabilities': _STRINGS,
                'auth_mechanisms': _STRINGS,
                'starttls_offered': _NULLABLE_BOOL,
                'tls': {'type': ['object', 'null']},
                'timings': {'type': 'object'},
                'elapsed_ms': _NULLABLE_NUM,
            }, **_FAILURE),
        },
        'url_reach': {
            'type': 'object',
            'required': ['results'],
            'properties': {'results': {'type': 'array', 'items': {'$ref': '#/$defs/url_result'}}},
        },
        'url_result': {
            'type': 'object',
            'required': ['name', 'url', 'purpose', 'ok', 'error_class', 'message', 'status'],
            'properties': dict({
                'name': _NULLABLE_STR,
                'url': {'type': 'string'},
                'purpose': {'$ref': '#/$defs/purpose'},
                'expect': {'type': ['object', 'null'], 'properties': {
                    'status': {'type': 'array', 'items': {'type': 'integer'}},
                    'assertions': _STRINGS}},
                'status': _NULLABLE_INT,
                'proxy': _NULLABLE_STR,
                'headers': {'type': 'object'},
                'tls': {'type': ['object', 'null'], 'properties': {
                    'chain': {'type': 'array', 'items': {'type': 'object', 'properties': {
                        'subject': _NULLABLE_STR, 'issuer': _NULLABLE_STR, 'sha256_fingerprint': _NULLABLE_STR}}}}},
                'clock_skew_seconds': _NULLABLE_NUM,
                'json': {},
            }, **_FAILURE),
        },
        'tenant': {
            'description': 'What the tenant role read, once; null parts did not run. left_out: the user chose not to read the tenant.',
            'type': 'object',
            'required': ['ran', 'left_out'],
            'properties': {
                'ran': {'type': 'boolean'},
                'left_out': {'type': 'boolean'},
                'host': _NULLABLE_STR,
                'why_not': _NULLABLE_STR,
                'failed_tasks': _STRINGS,
                'tenant_info': {'type': ['object', 'null'], 'properties': {
                    'application': {'type': ['object', 'null']},
                    'users': {'type': 'array', 'items': {'type': 'object', 'required': ['name']}}}},
                'mailbox_settings': {'type': ['object', 'null'], 'properties': {
                    'transport_config': {'type': ['object', 'null']},
                    'mailboxes': {'type': 'array', 'items': {'type': 'object', 'required': ['address']}}}},
                'mailbox_protocols': {'type': ['object', 'null'], 'properties': {
                    'results': {'type': 'array', 'items': {'type': 'object', 'required': ['address', 'protocol']}},
                    'tokens': {'type': 'array', 'items': {'type': 'object', 'required': ['address']}}}},
                'signin_activity': {
                    'description': 'Entra\'s record of ECE\'s sign-ins and the accounts\' signInActivity, as the module '
                                   'signin_activity returned it (docs/signin-logs.md); null: not run',
                    'type': ['object', 'null'], 'properties': {
                        'read': {'type': 'object'},
                        'accounts': {'type': 'array', 'items': {'type': 'object', 'required': ['address']}},
                        'other_users': {'type': 'array', 'items': {'type': 'object'}}}},
                'ece_tokens': {'enum': ['stored', 'none', None],
                               'description': 'none: the user supplies no ECE token or secret (ece_o365_ece_tokens); '
                                              'the logins and refreshes do not run, by that choice'},
                'read_signins': dict(_NULLABLE_BOOL,
                                     description='false: the user chose not to read the sign-in logs (ece_o365_read_signins)'),
                'external_url': {'type': 'string'},
            },
        },
        'declared_mailbox': {
            'description': 'A mailbox ECE uses, by its one key, the address; who signs in, whose token, who sends.',
            'type': 'object',
            'required': ['address', 'login', 'account', 'sender', 'protocols'],
            'properties': {
                'address': {'type': 'string'},
                'login': {'type': 'string'},
                'account': {'type': 'string'},
                'sender': {'type': 'string'},
                'protocols': {'type': 'array', 'minItems': 1, 'items': {'$ref': '#/$defs/protocol'}},
            },
        },
    },
}


# -- a validator for the subset of JSON Schema used above ------------------------------------

_TYPES = {
    'object': lambda v: isinstance(v, dict),
    'array': lambda v: isinstance(v, (list, tuple)),
    'string': lambda v: isinstance(v, str),
    'integer': lambda v: isinstance(v, int) and not isinstance(v, bool),
    'number': lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    'boolean': lambda v: isinstance(v, bool),
    'null': lambda v: v is None,
}


def _resolve(schema, root):
    while '$ref' in schema:
        name = schema['$ref'].rsplit('/', 1)[-1]
        schema = root['$defs'][name]
    return schema


def validate(instance, schema=None, path='', root=None):
    """Problems of INSTANCE against SCHEMA (default: the contract), as ['path: message', ...]."""
    root = root or SCHEMA
    schema = _resolve(schema if schema is not None else SCHEMA, root)
    here = path or '(document)'
    if 'anyOf' in schema:
        outcomes = [validate(instance, option, path, root) for option in schema['anyOf']]
        if any(not problems for problems in outcomes):
            return []
        # Report the option whose type the instance has (an object that breaks the object's schema), if any.
        for option, problems in zip(schema['anyOf'], outcomes):
            if not _type_mismatch(instance, _resolve(option, root)):
                return problems
        return ['%s: %s' % (here, _describe_any_of(schema['anyOf'], root, instance))]
    problems = []
    if 'const' in schema and instance != schema['const']:
        return ['%s: must be %r, got %r' % (here, schema['const'], instance)]
    if 'enum' in schema and instance not in schema['enum']:
        return ['%s: must be one of %s, got %r' % (here, ', '.join(str(e) for e in schema['enum']), instance)]
    types = schema.get('type')
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](instance) for t in types):
            return ['%s: must be %s, got %s' % (here, ' or '.join(types), _type_name(instance))]
    if isinstance(instance, dict):
        for key in schema.get('required', []):
            if key not in instance:
                problems.append('%s: %s is missing' % (here, key))
        properties = schema.get('properties', {})
        for key, value in instance.items():
            if key in properties:
                problems.extend(validate(value, properties[key], _join(path, key), root))
            elif isinstance(schema.get('additionalProperties'), dict):
                problems.extend(validate(value, schema['additionalProperties'], _join(path, key), root))
    if isinstance(instance, (list, tuple)):
        if len(instance) < schema.get('minItems', 0):
            problems.append('%s: needs at least %d item(s)' % (here, schema['minItems']))
        if 'items' in schema:
            for index, item in enumerate(instance):
                problems.extend(validate(item, schema['items'], '%s[%d]' % (path, index), root))
    return problems


def _type_mismatch(instance, schema):
    types = schema.get('type')
    if types is None:
        return 'enum' in schema and instance not in schema['enum'] and not isinstance(instance, str)
    types = [types] if isinstance(types, str) else types
    return not any(_TYPES[t](instance) for t in types)


def _describe_any_of(options, root, instance):
    names = []
    for option in options:
        option = _resolve(option, root)
        if 'enum' in option:
            names.append('one of %s' % ', '.join(str(e) for e in option['enum']))
        elif 'type' in option:
            names.append(option['type'] if isinstance(option['type'], str) else ' or '.join(option['type']))
        else:
            names.append('an object of the contract')
    return 'must be %s, got %s' % (' or '.join(names), _type_name(instance) if not isinstance(instance, str)
                                   else repr(instance))


def _join(path, key):
    return '%s.%s' % (path, key) if path else str(key)


def _type_name(value):
    for name in ('null', 'boolean', 'integer', 'number', 'string', 'array', 'object'):
        if _TYPES[name](value):
            return name
    return type(value).__name__


# -- the one normalisation of a declared mailbox ---------------------------------------------

# refresh_token: the one ECE stored (docs/ece-secrets.md); access_token and password: the fallbacks when it cannot be
# read (a token the admin supplies, the account's password for the resource-owner grant): not ECE's own token.
MAILBOX_KEYS = ('address', 'login', 'account', 'sender', 'protocols', 'refresh_token', 'access_token', 'password')


def declared_mailboxes(raw, default_protocols=None, variable='ece_o365_mailboxes'):
    """(mailboxes, problems): RAW (the inventory's list) with every default applied, keyed by nothing but order.

    login defaults to the address, account (whose token ECE holds) to the login, sender (MAIL FROM) to
    the address, protocols to DEFAULT_PROTOCOLS. The refresh token is never copied out. PROBLEMS name the
    variable and the entry, never a value that could be a secret.
    """
    default_protocols = list(default_protocols or DEFAULT_MAIL_PROTOCOLS)
    if raw is None:
        return [], []
    if not isinstance(raw, (list, tuple)):
        return [], ['%s must be a list of mappings (address, login, account, sender, refresh_token, protocols), got %s'
                    % (variable, _type_name(raw))]
    mailboxes, problems, seen = [], [], set()
    for index, item in enumerate(raw):
        where = '%s[%d]' % (variable, index)
        if not isinstance(item, dict):
            problems.append('%s must be a mapping with at least an address, got %s' % (where, _type_name(item)))
            continue
        unknown = sorted(str(k) for k in item if k not in MAILBOX_KEYS)
        if unknown:
            problems.append('%s: unknown key(s) %s; known: %s' % (where, ', '.join(unknown), ', '.join(MAILBOX_KEYS)))
        address = item.get('address')
        if not isinstance(address, str) or '@' not in address:
            problems.append('%s: address must be the mailbox\'s e-mail address, got %r' % (
                where, address if isinstance(address, str) else _type_name(address)))
            continue
        entry = {'address': address}
        for key, default in (('login', address), ('account', None), ('sender', address)):
            value = item.get(key)
            if value in (None, ''):
                value = default if default is not None else entry['login']
            if not isinstance(value, str):
                problems.append('%s (%s): %s must be a string' % (where, address, key))
                value = default or entry['login']
            entry[key] = value
        protocols = item.get('protocols')
        if protocols in (None, []):
            protocols = default_protocols
        if not isinstance(protocols, (list, tuple)) or any(p not in MAIL_PROTOCOLS for p in protocols):
            problems.append('%s (%s): protocols must be a list of %s' % (where, address, ', '.join(MAIL_PROTOCOLS)))
            protocols = [p for p in protocols if p in MAIL_PROTOCOLS] if isinstance(protocols, (list, tuple)) else []
        entry['protocols'] = list(protocols)
        if address.lower() in seen:
            problems.append('%s: %s is declared twice (a mailbox has one entry, keyed by its address)' % (where, address))
            continue
        seen.add(address.lower())
        mailboxes.append(entry)
    return mailboxes, problems
