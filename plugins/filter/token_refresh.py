# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The token refresh from the services server: the requests url_reach sends there, and on the controller the facts
of its answers (no token) and the access tokens the logins use."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# The documentation of each filter is its own sidecar file: token_refresh_requests.yml, token_refresh_facts.yml,
# services_access_tokens.yml and with_services_tokens.yml.

from ansible.errors import AnsibleFilterError

from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _contract, _errors, _seal

TOKEN_PATH = '/oauth2/v2.0/token'


def token_refresh_requests(raw, authority, client_id, client_secret=None, cloud='public', default_protocols=None):
    """url_reach URLs, one per declared mailbox that has a refresh token."""
    if not authority or not client_id:
        raise AnsibleFilterError('token_refresh_requests: the authority and ECE\'s client id are needed')
    if cloud not in _auth.CLOUDS:
        raise AnsibleFilterError('token_refresh_requests: unknown cloud %r (one of %s)' % (cloud, ', '.join(_auth.CLOUDS)))
    mailboxes, problems = _contract.declared_mailboxes(raw, default_protocols or _contract.DEFAULT_MAIL_PROTOCOLS)
    if problems:
        raise AnsibleFilterError('%s (docs/variables.md)' % '; '.join(problems))
    secrets = dict((str(m.get('address')).lower(), m.get('refresh_token')) for m in raw or [] if isinstance(m, dict))
    urls = []
    for mailbox in mailboxes:
        refresh_token = secrets.get(mailbox['address'].lower())
        if not refresh_token:
            continue
        scopes = _auth.mail_scopes(cloud, mailbox['protocols'])
        form = {'grant_type': 'refresh_token', 'client_id': client_id, 'refresh_token': refresh_token,
                'scope': ' '.join(scopes + [s for s in _auth.MSAL_RESERVED_SCOPES if s not in scopes])}
        if client_secret:
            form['client_secret'] = client_secret
        urls.append({'name': mailbox['address'], 'url': authority.rstrip('/') + TOKEN_PATH, 'purpose': 'token_endpoint',
                     'form': form})
    return urls


def token_seal_key(raw, client_secret=None):
    """The key url_reach seals the services servers' access tokens with (_seal): derived from ECE's client secret
    and the stored refresh tokens, so the network and tenant roles compute the same one; None without a secret."""
    tokens = sorted(str(m.get('refresh_token')) for m in raw or [] if isinstance(m, dict) and m.get('refresh_token'))
    return _seal.key_from(client_secret or '', *tokens)


def _access_token(body, seal_key):
    """The access token an answer's JSON holds, unsealed; None when there is none or it cannot be opened."""
    sealed = body.get(_SEALED) if isinstance(body, dict) else None
    if not (isinstance(sealed, str) and seal_key):
        return None
    token = _seal.unseal(seal_key, sealed)
    # A wrong key gives bytes that are not a token (as a rule not even UTF-8): only a printable, unbroken string is.
    return token if token and all(33 <= ord(c) < 127 for c in token) else None


_SEALED = 'access_token_sealed'


def _where(host, result):
    proxy = result.get('proxy')
    return '%s%s' % (host, ' through proxy %s' % proxy if proxy else ' (no proxy)')


def _one(host, result, seal_key):
    """The facts of one refresh answer, in mailbox_protocols' token-facts shape, without any token."""
    where = _where(host, result)
    facts = {'address': result.get('name'), 'host': host, 'refreshed_on': where, 'source': 'services_server',
             'proxy': result.get('proxy'), 'status': result.get('status'), 'acquired': False, 'ok': False,
             'error_class': None, 'message': None, 'aadsts': None}
    body = result.get('json') if isinstance(result.get('json'), dict) else None
    if result.get('error_class'):  # the request never got an answer: the path from this server
        facts.update(error_class=result['error_class'],
                     message='refresh from %s: %s' % (where, result.get('message') or result['error_class']))
        return facts
    token = _access_token(body, seal_key)
    if result.get('status') == 200 and token:
        token_facts = _auth.token_facts(dict(body, access_token=token), 'refresh_token')
        token_facts.pop('claims', None)
        token_facts.pop('id_token_claims', None)
        facts.update(token_facts)
        facts.update(ok=True, acquired=True, message='refreshed from %s' % where)
        return facts
    if result.get('status') == 200 and isinstance(body, dict) and body.get(_SEALED):
        facts.update(error_class='protocol', message='refresh from %s: the sealed access token could not be opened: the '
                     'key differs (the network and tenant roles derive it from the same ece_o365_mailboxes and ECE\'s '
                     'client secret)' % where)
        return facts
    if body:
        error_class, aadsts, detail = _auth.failure_facts(body)
        facts.update(error_class=error_class, aadsts=aadsts,
                     message='refresh from %s: HTTP %s: %s' % (where, result.get('status'), detail))
        return facts
    facts.update(error_class='http_status', message='refresh from %s: %s' % (where, _errors.describe(
        'http_status', result.get('url') or 'the token endpoint',
        'HTTP %s without a token or an error body (a proxy\'s page?)' % result.get('status'))))
    return facts


def token_refresh_facts(registered, host, seal_key=None):
    """url_reach's REGISTERED result (the services server's refresh) as token facts per mailbox, without any token;
    None when the refresh did not run (skipped, or no result)."""
    if not isinstance(registered, dict) or registered.get('skipped') or not isinstance(registered.get('results'), list):
        return None
    return [_one(host, result, seal_key) for result in registered['results'] if isinstance(result, dict)]


def services_access_tokens(hostvars, hosts, seal_key=None, variable='__network_token_refresh'):
    """{mailbox address (lower case): {'access_token', 'refreshed_on'}} from the first of HOSTS (the services
    servers) whose refresh of that mailbox succeeded; a mailbox no services server refreshed is absent."""
    found = {}
    for host in hosts or []:
        try:
            registered = hostvars[host].get(variable)
        except (KeyError, AttributeError):
            continue
        if not isinstance(registered, dict) or not isinstance(registered.get('results'), list):
            continue
        for result in registered['results']:
            body = result.get('json') if isinstance(result, dict) else None
            name = str(result.get('name') or '').lower() if isinstance(result, dict) else ''
            token = _access_token(body, seal_key) if result.get('status') == 200 else None
            if name and name not in found and token:
                found[name] = {'access_token': token, 'refreshed_on': _where(host, result)}
    return found


def with_services_tokens(mailboxes, tokens):
    """MAILBOXES (mailbox_protocols' mailboxes) with the access token a services server obtained for each (TOKENS,
    from services_access_tokens) and where it was refreshed; a token the admin supplied stays as it is."""
    out = []
    for mailbox in mailboxes or []:
        mailbox = dict(mailbox)
        found = (tokens or {}).get(str(mailbox.get('address') or '').lower())
        if found and not mailbox.get('access_token'):
            mailbox.update(access_token=found['access_token'], refreshed_on=found['refreshed_on'])
        out.append(mailbox)
    return out


class FilterModule(object):
    def filters(self):
        return {'token_refresh_requests': token_refresh_requests, 'token_refresh_facts': token_refresh_facts,
                'services_access_tokens': services_access_tokens, 'with_services_tokens': with_services_tokens,
                'token_seal_key': token_seal_key}
