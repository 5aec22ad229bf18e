# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The observation contract: the schema is valid JSON Schema, the controller's own validator agrees with the
jsonschema package, the generated docs are current, and a declared mailbox gets its defaults in one place."""

import copy
import json
import os

import jsonschema
import pytest

from ansible_collections.ece_o365.preflight.plugins.module_utils import _contract, _errors
from ansible_collections.ece_o365.preflight.tests.unit.plugins.plugin_utils._checks.observations import healthy

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *(['..'] * 4)))


def test_the_schema_is_valid_json_schema_and_the_healthy_document_follows_it():
    jsonschema.Draft202012Validator.check_schema(_contract.SCHEMA)
    jsonschema.validate(healthy(), _contract.SCHEMA)


def test_docs_observations_schema_is_generated_from_the_contract():
    with open(os.path.join(REPO, 'docs', 'observations.schema.json'), encoding='utf-8') as handle:
        assert json.load(handle) == json.loads(json.dumps(_contract.SCHEMA)), 'run tools/gen-contract-schema'


def test_the_error_class_vocabulary_is_the_one_of_errors():
    assert _contract.SCHEMA['$defs']['error_class']['enum'] == sorted(_errors.ERROR_CLASSES)


def _broken_documents():
    def mutate(fn):
        document = healthy()
        fn(document)
        return document
    yield 'purpose missing', mutate(lambda d: d['hosts']['svc1']['port_probe']['results'][0].pop('purpose'))
    yield 'unknown purpose', mutate(lambda d: d['hosts']['svc1']['port_probe']['results'][0].update(purpose='imap4'))
    yield 'error in the old field', mutate(lambda d: d['hosts']['svc1']['port_probe']['results'][0].pop('error_class'))
    yield 'unknown error class', mutate(lambda d: d['hosts']['app1']['url_reach']['results'][0].update(error_class='boom'))
    yield 'port as text', mutate(lambda d: d['hosts']['svc1']['port_probe']['results'][0].update(port='993'))
    yield 'no mailbox address', mutate(lambda d: d['mailboxes']['support@contoso.com'].pop('address'))
    yield 'no protocols', mutate(lambda d: d['mailboxes']['support@contoso.com'].update(protocols=[]))
    yield 'login result without address', mutate(
        lambda d: d['tenant']['mailbox_protocols']['results'][0].pop('address'))
    yield 'version 1', mutate(lambda d: d.update(schema_version=1))
    yield 'reached as text', mutate(lambda d: d['hosts']['svc1'].update(reached='yes'))


@pytest.mark.parametrize('name, document', list(_broken_documents()))
def test_the_validator_agrees_with_jsonschema_on_what_breaks_the_contract(name, document):
    problems = _contract.validate(document)
    assert problems, name
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _contract.SCHEMA)


def test_a_problem_names_the_path():
    document = healthy()
    del document['hosts']['svc1']['port_probe']['results'][2]['purpose']
    assert _contract.validate(document) == ['hosts.svc1.port_probe.results[2]: purpose is missing']
    host = copy.deepcopy(document['hosts']['svc1'])
    assert _contract.validate(host, _contract.SCHEMA['$defs']['host']) == ['port_probe.results[2]: purpose is missing']


def test_a_mailbox_written_with_the_documented_defaults():
    mailboxes, problems = _contract.declared_mailboxes(
        [{'address': 'support@contoso.com', 'refresh_token': 'secret'},
         {'address': 'sales@contoso.com', 'login': 'ece-sales@contoso.onmicrosoft.com', 'account': 'svc@contoso.com',
          'protocols': ['pop3', 'smtp']}], ['imap', 'smtp'])
    assert problems == []
    assert mailboxes == [
        {'address': 'support@contoso.com', 'login': 'support@contoso.com', 'account': 'support@contoso.com',
         'sender': 'support@contoso.com', 'protocols': ['imap', 'smtp']},
        {'address': 'sales@contoso.com', 'login': 'ece-sales@contoso.onmicrosoft.com', 'account': 'svc@contoso.com',
         'sender': 'sales@contoso.com', 'protocols': ['pop3', 'smtp']}]
    assert 'secret' not in repr(mailboxes)


def test_the_account_defaults_to_the_login():
    mailboxes, _problems = _contract.declared_mailboxes([{'address': 'a@contoso.com', 'login': 'b@contoso.com'}])
    assert mailboxes[0]['account'] == 'b@contoso.com'


@pytest.mark.parametrize('raw, message', [
    ('support@contoso.com', 'ece_o365_mailboxes must be a list'),
    (['support@contoso.com'], 'ece_o365_mailboxes[0] must be a mapping'),
    ([{'login': 'x@contoso.com', 'refresh_token': 'TOPSECRET'}], 'ece_o365_mailboxes[0]: address must be'),
    ([{'address': 'a@contoso.com', 'token': 'TOPSECRET'}], 'unknown key(s) token'),
    ([{'address': 'a@contoso.com', 'protocols': 'imap'}], 'protocols must be a list'),
    ([{'address': 'a@contoso.com'}, {'address': 'A@Contoso.com'}], 'declared twice'),
])
def test_bad_mailboxes_are_refused_naming_the_entry_never_a_secret(raw, message):
    _mailboxes, problems = _contract.declared_mailboxes(raw)
    assert any(message in p for p in problems), problems
    assert 'TOPSECRET' not in repr(problems)
