# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Identity checks (TAC checklist items 3, 4, 5 and 8): ECE's app registration as Graph shows it, the
token ECE stored for each mailbox, and the accounts. tenant_info returns Graph's objects as read; the
redirect-URI match, the consent gaps and the secret expiry are judged here."""


import functools

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    TENANT_READ, Blocked, Missing, NotApplicable, Verdict, check, parse_date)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks.ece import fqdn


# -- reading the tenant record, joined by address ----------------------------------------------

def application(context):
    info = context.tenant['tenant_info']
    app = info.get('application')
    if not app:
        if (info.get('token') or {}).get('acquired') is False:  # nothing was read: not a missing client id
            raise Blocked(TENANT_READ, 'not judged: the preflight\'s own Graph token was refused (see %s)' % TENANT_READ)
        raise Missing('not read: no app registration was read (ece_o365_ece_app_client_id is empty)')
    if app.get('found') is None:
        raise Blocked(TENANT_READ, 'not judged: the app registration could not be read (see %s)' % TENANT_READ)
    return app


def existing_application(context):
    app = application(context)
    if not app.get('found'):
        raise Blocked('APP-REGISTRATION', 'not judged: the app registration does not exist (see APP-REGISTRATION)')
    return app


def token_facts(context, address):
    for token in context.tenant['mailbox_protocols'].get('tokens') or []:
        if (token.get('address') or '').lower() == address.lower():
            return token
    raise Missing('not read: mailbox_protocols returned no token facts for %s' % address)


def acquired_token(context, address):
    token = token_facts(context, address)
    if not token.get('acquired'):
        raise Blocked('TOKEN-REFRESH', 'not judged: no token for %s (see TOKEN-REFRESH)' % address)
    return token


# -- identities: any name to the directory's user, compared by object id --------------------------
# A mailbox address is often not the user principal name (hybrid tenants, aliases): GET /users/{id or
# userPrincipalName} takes no mail address (https://learn.microsoft.com/en-us/graph/api/user-get), so tenant_info
# resolves a name by mail, then proxyAddresses, then as a UPN, and the judge compares people by object id.

def _lower(value):
    return value.lower() if isinstance(value, str) and value else None


def names_of(entry):
    """Every name a users[] entry answers to, lower-case: the name asked, its UPN, mail, SMTP proxy addresses, id."""
    names = set(_lower(entry.get(k)) for k in ('name', 'address', 'user_principal_name', 'mail', 'id'))
    for proxy in entry.get('proxy_addresses') or []:
        proxy = _lower(proxy)
        names.add(proxy[5:] if proxy and proxy.startswith('smtp:') else proxy)
    names.discard(None)
    return names


def directory_entry(context, name):
    """The tenant_info users[] entry NAME designates, or None. NAME may be an address, a UPN, a mail, a proxy
    address or an object id. The entry read under that very name wins, unless Graph found no user under it and
    another user read answers to it (the name is that user's alias)."""
    wanted = _lower(name)
    if not wanted:
        return None
    asked = known = None
    for entry in (context.tenant.get('tenant_info') or {}).get('users') or []:
        if not isinstance(entry, dict):
            continue
        if asked is None and _lower(entry.get('address') or entry.get('name')) == wanted:
            asked = entry
        elif known is None and entry.get('exists') and wanted in names_of(entry):
            known = entry
    if asked is not None and (asked.get('exists') is not False or known is None):
        return asked
    return known


def _exchange_names(entry):
    return set(_lower(entry.get(k)) for k in ('address', 'mailbox', 'primary_smtp_address', 'user_principal_name',
                                              'external_directory_object_id')) - set([None])


def object_id(context, name):
    """The Entra object id NAME designates: tenant_info's users[] id, else the Exchange admin API's
    ExternalDirectoryObjectId of a mailbox that answers to NAME, else None (lower-case)."""
    entry = directory_entry(context, name)
    if entry is not None and entry.get('exists') and _lower(entry.get('id')):
        return _lower(entry.get('id'))
    wanted = _lower(name)
    for mailbox_entry in (context.tenant.get('mailbox_settings') or {}).get('mailboxes') or []:
        if isinstance(mailbox_entry, dict) and wanted in _exchange_names(mailbox_entry):
            found = _lower(mailbox_entry.get('external_directory_object_id'))
            if found:
                return found
    return None


def same_identity(context, first, second):
    """True or False when both names are known to be (or not to be) one user: by object id, else by the name
    itself when it is the same string; None when neither tells (the ids were not read and the names differ)."""
    if (_lower(first) or '') == (_lower(second) or '') and first:
        return True
    first_id, second_id = object_id(context, first), object_id(context, second)
    if first_id and second_id:
        return first_id == second_id
    return None


def resolves_to(context, name, account, account_id):
    """Whether NAME (a trustee as Exchange shows it, usually a UPN) is ACCOUNT: the same string, one of the
    account's names in the directory, or the same object id."""
    wanted = _lower(name)
    if not wanted:
        return False
    if wanted == _lower(account):
        return True
    entry = directory_entry(context, account)
    if entry is not None and entry.get('exists') and wanted in names_of(entry):
        return True
    return bool(account_id) and object_id(context, name) == account_id


def _own_token_refused(result):
    """Whether a tenant module got no token of its own (nothing it reads was read: PREFLIGHT-TENANT-READ says why)."""
    return (result.get('token') or {}).get('acquired') is False


def user(context, name):
    entry = directory_entry(context, name)
    if entry is None:
        if _own_token_refused(context.tenant['tenant_info']):
            raise Blocked(TENANT_READ, 'not judged: the preflight\'s own Graph token was refused (see %s)' % TENANT_READ)
        raise Missing('not read: tenant_info did not read %s' % name)
    if entry.get('exists') is None:
        raise Blocked(TENANT_READ, 'not judged: %s could not be read (see %s)' % (name, TENANT_READ))
    return entry


def delegated_requested(app):
    return set(p.get('name') for p in app.get('required_permissions') or [] if p.get('type') == 'delegated')


def _scopes(grant):
    scopes = grant.get('scopes') or []
    return set(scopes.split() if isinstance(scopes, str) else scopes)


def admin_consented(principal):
    """The delegated scopes granted for every user (consentType AllPrincipals)."""
    consented = set()
    for grant in principal.get('delegated_grants') or []:
        if grant.get('consent_type') == 'AllPrincipals':
            consented.update(_scopes(grant))
    return consented


def user_consented(principal, account_id):
    """The delegated scopes one user consented to for himself (consentType Principal, principalId = his object id).
    As valid for that user as admin consent: https://learn.microsoft.com/en-us/graph/api/resources/oauth2permissiongrant
    """
    consented = set()
    for grant in principal.get('delegated_grants') or []:
        if grant.get('consent_type') == 'Principal' and account_id and _lower(grant.get('principal_id')) == account_id:
            consented.update(_scopes(grant))
    return consented


def needed_permissions(context):
    """{delegated permission: [the declared mailboxes that need it]}: each protocol's permission
    (_facts.PERMISSION_OF_PROTOCOL) and offline_access (ECE keeps a refresh token). Empty: no mailbox declared."""
    needs = {}
    for address, declared in sorted(context.mailboxes.items()):
        protocols = [p for p in declared.get('protocols') or [] if p in _facts.PERMISSION_OF_PROTOCOL]
        for permission in [_facts.PERMISSION_OF_PROTOCOL[p] for p in protocols] + ['offline_access'] * bool(protocols):
            needs.setdefault(permission, []).append(address)
    return needs


def needs_by_account(context):
    """{account (lower-case): (the account as declared, the permissions its mailboxes need, their addresses)}."""
    accounts = {}
    for address, declared in sorted(context.mailboxes.items()):
        account = declared.get('account') or address
        protocols = [p for p in declared.get('protocols') or [] if p in _facts.PERMISSION_OF_PROTOCOL]
        if not protocols:
            continue
        entry = accounts.setdefault(account.lower(), (account, set(), []))
        entry[1].update([_facts.PERMISSION_OF_PROTOCOL[p] for p in protocols] + ['offline_access'])
        entry[2].append(address)
    return accounts


def consent_gaps(context):
    """(admin-consented scopes, {account: its consent facts}) of the app's service principal, for every account
    whose mailboxes are declared: what they need, what admin or the account's own consent grants, what is left."""
    app = existing_application(context)
    principal = app.get('service_principal') or {}
    admin = admin_consented(principal) if principal.get('found') else set()
    out = {}
    for account, needed, addresses in needs_by_account(context).values():
        account_id = object_id(context, account)
        own = user_consented(principal, account_id) if principal.get('found') else set()
        out[account] = {'needed': sorted(needed), 'admin': sorted(needed & admin), 'own': sorted(needed & own),
                        'not_consented': sorted(needed - admin - own), 'object_id': account_id,
                        'mailboxes': addresses}
    return admin, out


def _days_left(end, today):
    try:
        return (parse_date(end) - today).days
    except (TypeError, ValueError):
        return None


# -- the app registration ------------------------------------------------------------------------

@check('APP-REGISTRATION', 'ECE\'s app registration exists in the tenant', 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: GET /applications(appId=...) for the client id ECE is configured with',
       'register the app (or fix the client id in ECE): Entra admin center > App registrations', item=3,
       code='AADSTS700016', requires=('tenant', 'tenant_info'))
def judge_app_registration(context, _subject):
    app = application(context)
    evidence = {'app_id': app.get('app_id'), 'display_name': app.get('display_name'),
                'sign_in_audience': app.get('sign_in_audience')}
    if not app.get('found'):
        return 'fail', 'no app registration with application id %s in the tenant' % app.get('app_id'), evidence
    return 'pass', 'app registration %s (%s)' % (app.get('display_name'), app.get('app_id')), evidence


# A redirect URI must be https (http only for localhost): https://learn.microsoft.com/en-us/entra/identity-platform/reply-url
# ECE is a confidential web app (it redeems the code with a client secret), so its redirect URI belongs to the Web
# platform; a URI under the single-page-application or mobile/desktop (public client) platform is not one of its
# redirect URIs: https://learn.microsoft.com/en-us/entra/identity-platform/how-to-add-redirect-uri
PLATFORMS = (('web', 'Web'), ('spa', 'Single-page application'), ('public_client', 'Mobile and desktop applications'))


@check('APP-REDIRECT-URI', 'A Web redirect URI, https, on ECE\'s External URL host', 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: the app\'s redirect URIs per platform (web, spa, public_client) as read, against '
       'ece_o365_ece_external_url',
       'add https://<External URL host>/... as a Web redirect URI of the app (Authentication > Add a platform > Web), '
       'exactly as ECE sends it', item=2, code='AADSTS50011', requires=('tenant', 'tenant_info'))
def judge_redirect_uri(context, _subject):
    app = existing_application(context)
    external = context.tenant.get('external_url') or ''
    uris = app.get('redirect_uris') or {}
    every = [uri for kind, _name in PLATFORMS for uri in uris.get(kind) or []]
    evidence = {'redirect_uris': uris, 'external_url': external or None}
    if not external:
        raise Missing('not read: ece_o365_ece_external_url is not set, so there is no host to look for')
    host = fqdn(external)
    matching = [uri for uri in every if fqdn(uri) == host]
    evidence['matching'] = matching
    if not matching:
        return 'fail', 'no redirect URI of the app uses %s (ECE\'s External URL host); registered: %s' % (
            host, ', '.join(sorted(set(fqdn(u) or u for u in every))) or 'none'), evidence
    good = [uri for uri in uris.get('web') or [] if fqdn(uri) == host and uri.lower().startswith('https://')]
    if good:
        return 'pass', 'redirect URI on %s: %s' % (host, ', '.join(good)), evidence
    plain = [uri for uri in matching if not uri.lower().startswith('https://')]
    if plain:
        return 'fail', 'the redirect URI on %s uses %s://, not https:// (%s): Entra accepts http only for localhost' % (
            host, plain[0].split(':', 1)[0].lower(), ', '.join(plain)), evidence
    platforms = [name for kind, name in PLATFORMS if kind != 'web'
                 and any(fqdn(uri) == host for uri in uris.get(kind) or [])]
    return 'fail', 'the redirect URI on %s is registered for the %s platform, not Web: ECE is a web app that ' \
        'redeems the code with a client secret (%s)' % (host, ' and '.join(platforms), ', '.join(matching)), evidence


@check('APP-PERMISSIONS', 'Delegated mail permissions requested for the protocols ECE uses', 'error', 'tenant',
       ('tenant', 'app'),
       'tenant_info: requiredResourceAccess resolved to names, against what the declared mailboxes need: each '
       'protocol\'s permission (IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) and offline_access',
       'API permissions > Add > Microsoft Graph > Delegated: the permission of each protocol ECE uses '
       '(IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) and offline_access', item=3,
       requires=('tenant', 'tenant_info'))
def judge_permissions(context, _subject):
    # The scopes per protocol: https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/
    # how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
    requested = delegated_requested(existing_application(context))
    evidence = {'delegated': sorted(requested)}
    needs = needed_permissions(context)
    if not needs:  # no mailbox declared: what any ECE mailbox needs
        missing = [p for p in ('SMTP.Send', 'offline_access') if p not in requested]
        if not requested & {'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All'}:
            missing.insert(0, 'IMAP.AccessAsUser.All or POP.AccessAsUser.All')
        if missing:
            return 'fail', 'the app does not request %s' % ', '.join(missing), evidence
        return 'pass', 'requests %s' % ', '.join(sorted(requested & set(_facts.DELEGATED_MAIL))), evidence
    evidence['needed'] = dict((p, list(a)) for p, a in needs.items())
    missing = [p for p in sorted(needs) if p not in requested]
    if missing:
        return 'fail', 'the app does not request %s' % ', '.join(
            '%s (needed by %s)' % (p, ', '.join(needs[p])) for p in missing), evidence
    return 'pass', 'requests what the mailboxes use: %s' % ', '.join(sorted(needs)), evidence


@check('APP-CONSENT', 'Consent for the mail permissions each account uses', 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: the service principal\'s oauth2PermissionGrants: admin consent (AllPrincipals) and each mailbox '
       'account\'s own consent (Principal, by object id), against what the account\'s mailboxes need',
       'API permissions > Grant admin consent for <tenant> (or have the account consent for itself when it generates '
       'the token in ECE)', item=3, code='AADSTS65001', requires=('tenant', 'tenant_info'))
def judge_consent(context, _subject):
    app = existing_application(context)
    principal = app.get('service_principal') or {}
    if not principal.get('found'):
        return 'fail', 'the app has no service principal in the tenant: nobody consented to it', {}
    admin, accounts = consent_gaps(context)
    if not accounts:  # no mailbox declared: admin consent for what the app requests
        missing = sorted(p for p in delegated_requested(app) if p not in admin and p in _facts.DELEGATED_MAIL)
        evidence = {'admin_consented_scopes': sorted(admin), 'not_consented': missing}
        if missing:
            return 'fail', 'no admin consent for %s (AADSTS65001 follows)' % ', '.join(missing), evidence
        return 'pass', 'admin consent covers the mail permissions', evidence
    evidence = {'admin_consented_scopes': sorted(admin), 'accounts': accounts,
                'not_consented': sorted(set(p for facts in accounts.values() for p in facts['not_consented']))}
    gaps = [(a, f) for a, f in sorted(accounts.items()) if f['not_consented']]
    unmatched = [a for a, f in gaps if f['object_id'] is None and any(
        g.get('consent_type') == 'Principal' for g in principal.get('delegated_grants') or [])]
    if unmatched:
        raise Missing('not read: the object id of %s, so its own consent cannot be told from another user\'s' %
                      ', '.join(unmatched))
    if gaps:
        return 'fail', 'no consent (admin, or the account\'s own) for %s (AADSTS65001 follows)' % '; '.join(
            '%s: %s' % (a, ', '.join(f['not_consented'])) for a, f in gaps), evidence
    return 'pass', 'the mail permissions each account uses are consented: %s' % ', '.join(
        '%s by %s' % (a, 'admin consent' if not f['own'] else 'its own consent' if not f['admin'] else
                      'admin and its own consent') for a, f in sorted(accounts.items())), evidence


@check('APP-SECRET-EXPIRY', 'The client secret ECE uses is valid, warning within ece_o365_secret_warn_days (%d)' %
       _facts.SECRET_EXPIRY_WARN_DAYS, 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: passwordCredentials end dates, and which secret ECE holds (in_use: its hint, the first three '
       'characters, against ECE\'s secret when given; the secret values are never returned)',
       'Certificates & secrets > New client secret, put its value in ECE, then delete the old one', item=3,
       code='AADSTS7000222', requires=('tenant', 'tenant_info'))
def judge_secret(context, _subject):
    # Graph shows each secret's first three characters (hint) and its endDateTime:
    # https://learn.microsoft.com/en-us/graph/api/resources/passwordcredential
    app = existing_application(context)
    secrets = [s for s in app.get('secrets') or [] if isinstance(s, dict)]
    certificates = app.get('certificates') or []
    evidence = {'secrets': [dict((k, s.get(k)) for k in ('display_name', 'hint', 'end', 'in_use')) for s in secrets],
                'certificates': len(certificates)}
    in_use = [s for s in secrets if s.get('in_use')]
    if secrets and not in_use and all(s.get('in_use') is False for s in secrets):
        return Verdict('fail', 'none of the app\'s %d client secret(s) is the one ECE holds (hints %s): it was deleted, '
                       'or it belongs to another app (AADSTS7000215 follows)' % (
                           len(secrets), ', '.join(sorted(set(str(s.get('hint')) for s in secrets)))), evidence,
                       'Certificates & secrets > New client secret on this app (%s), and put its value in ECE' %
                       app.get('app_id'))
    judged = in_use or secrets
    unknown = '' if in_use else '; which secret ECE holds is unknown (ECE\'s secret was not given), so the ' \
        'newest is judged'
    days = [d for d in (_days_left(s.get('end'), context.today) for s in judged) if d is not None]
    if not days:
        if certificates and not in_use:
            return 'pass', 'the app authenticates with a certificate', evidence
        return 'fail', 'the app has no client secret (ECE needs one to redeem its tokens)', evidence
    latest = max(days)
    evidence['days_left'] = latest
    which = 'the client secret ECE holds (hint %s)' % in_use[0].get('hint') if in_use else None
    if latest < 0:
        if which:
            return 'fail', '%s expired on %s (AADSTS7000222 follows)' % (which, max(
                str(s.get('end'))[:10] for s in judged)), evidence
        return 'fail', 'every client secret has expired (the last on %s; AADSTS7000222 follows)%s' % (max(
            str(s.get('end'))[:10] for s in judged), unknown), evidence
    if latest <= context.options.get('secret_warn_days', _facts.SECRET_EXPIRY_WARN_DAYS):
        if which:
            return 'warn', '%s expires in %d day(s)' % (which, latest), evidence
        return 'warn', 'the last client secret expires in %d day(s)%s' % (latest, unknown), evidence
    if which:
        return 'pass', '%s is valid for %d more day(s)' % (which, latest), evidence
    return 'pass', 'a client secret is valid for %d more day(s)%s' % (latest, unknown), evidence


# -- the token ECE stored, per mailbox -------------------------------------------------------------

@check('TOKEN-REFRESH', 'ECE\'s stored refresh token still works', 'error', 'mailbox', ('token',),
       'mailbox_protocols: the refresh-token grant with ECE\'s app',
       _facts.FIX['generate_token'] + '; AADSTS700082 means 90 days unused, AADSTS50173 a password reset', item=4,
       code='AADSTS700082', requires=('tenant', 'mailbox_protocols'))
def judge_token_refresh(context, subject):
    token = token_facts(context, subject)
    if token.get('source') not in (None, 'refresh_token', 'services_server'):
        # ECE redeems the refresh token it stored; a token got another way proves nothing about that one.
        raise Missing('not read: no refresh token was given for %s (ece_o365_mailboxes[].refresh_token), so ECE\'s '
                      'stored token was not tried (the logins used %s%s)' % (
                          subject, SOURCE_TEXT.get(token.get('source'), token.get('source')), NOT_ECE))
    evidence = dict((k, token.get(k)) for k in ('source', 'acquired', 'error_class', 'token_owner', 'refreshed_on'))
    aadsts = token.get('aadsts') or {}
    if aadsts:
        evidence['aadsts'] = dict((k, aadsts.get(k)) for k in ('code', 'name', 'meaning', 'fix'))
    where = token.get('refreshed_on') or 'the controller (%s), not a services server' % context.tenant.get('host')
    if not token.get('acquired'):
        return Verdict('fail', '%s (refreshed from %s)' % (token.get('message') or 'no token for %s' % subject, where),
                       evidence, aadsts.get('fix'))
    return 'pass', 'ECE\'s stored refresh token redeemed from %s' % where, evidence


# How a token the logins used was obtained, when it is not ECE's own (a fallback, docs/ece-secrets.md).
SOURCE_TEXT = {'given': 'an access token the admin supplied', 'password': 'a token from the account\'s password '
               '(resource-owner grant)', 'client_credentials': 'an app-only token of ECE\'s app'}
NOT_ECE = ': not ECE\'s own token'


def token_label(context, subject):
    """' (not ECE's own token: how it was obtained)' when the logins' token for SUBJECT is a fallback, else ''."""
    try:
        token = token_facts(context, subject)
    except Missing:
        return ''
    if token.get('ece_token') is False or token.get('source') in SOURCE_TEXT:
        return ' (not ECE\'s own token: %s)' % SOURCE_TEXT.get(token.get('source'), token.get('source'))
    return ''


def labelled(judge):
    """JUDGE, whose verdicts on a fallback token say so (every finding built on such a token)."""
    @functools.wraps(judge)  # its module too: the check's family is its judge's module
    def wrapper(context, subject):
        verdict = judge(context, subject)
        label = token_label(context, subject)
        if not label or verdict[0] not in ('pass', 'warn', 'fail', 'fail!'):
            return verdict
        return Verdict(verdict[0], '%s%s' % (verdict[1], label), verdict[2], verdict[3] if len(verdict) > 3 else None)
    return wrapper


@check('TOKEN-REFRESH-SERVER', 'ECE\'s stored refresh tokens are redeemed from the services server, through its proxy',
       'error', 'services', ('token', 'network'),
       'url_reach on each services server: the refresh-token POST to the tenant\'s token endpoint ECE makes there, '
       'through that server\'s proxy; the answer judged here with the AADSTS table',
       'let the services server redeem tokens as ECE does: its proxy must pass the tenant\'s token endpoint '
       '(login.microsoftonline.com/<tenant>/oauth2/v2.0/token) without TLS inspection, and no Conditional Access '
       'policy may block sign-ins from its egress address (AADSTS53003: exclude that named location for ECE\'s app)',
       item=10, code='AADSTS53003', requires=('reached',))
def judge_token_refresh_server(context, subject):
    host = context.host(subject)
    records = host.get('token_refresh')
    if records is None:
        why = host.get('token_refresh_not_run')
        if why and (why.startswith('ece_o365_refresh_on_services') or 'ece_o365_ece_tokens: none' in why):
            raise NotApplicable('not run on %s: %s' % (subject, why))
        raise Missing('not read: the refresh from %s did not run (%s)' % (
            subject, why or 'the network role recorded no token_refresh'))
    if not records:
        raise Missing('not read: %s redeemed no token (no mailbox with a refresh token)' % subject)
    failed = [r for r in records if not r.get('acquired')]
    evidence = [dict([(k, r.get(k)) for k in ('address', 'refreshed_on', 'status', 'error_class', 'token_owner')],
                     aadsts=(r.get('aadsts') or {}).get('code')) for r in records]
    if not failed:
        return 'pass', 'refreshed %s from %s' % (', '.join(r['address'] for r in records), records[0]['refreshed_on']), \
            evidence
    # A refusal of the token itself (the same AADSTS code where the logins' token was refreshed) is TOKEN-REFRESH's.
    here = [r for r in failed if not _refused_everywhere(context, r)]
    if not here:
        raise Blocked('TOKEN-REFRESH', 'not judged: the stored token of %s is refused wherever it is redeemed (see '
                      'TOKEN-REFRESH for it)' % failed[0]['address'], subject=failed[0]['address'])
    fixes = [(r.get('aadsts') or {}).get('fix') for r in here if (r.get('aadsts') or {}).get('fix')]
    return Verdict('fail', '; '.join(r.get('message') or r['address'] for r in here) + (
        ' (the same token is redeemed from the controller: only this server\'s path or location is refused)'
        if any(_redeemed_elsewhere(context, r) for r in here) else ''), evidence, fixes[0] if fixes else None)


def _controller_token(context, address):
    protocols = context.tenant.get('mailbox_protocols') if context.tenant.get('ran') else None
    for token in (protocols or {}).get('tokens') or []:
        if (token.get('address') or '').lower() == (address or '').lower() and token.get('source') == 'refresh_token':
            return token
    return None


def _redeemed_elsewhere(context, record):
    token = _controller_token(context, record.get('address'))
    return bool(token and token.get('acquired'))


def _refused_everywhere(context, record):
    token = _controller_token(context, record.get('address'))
    if not token or token.get('acquired'):
        return False
    here, there = (record.get('aadsts') or {}).get('code'), (token.get('aadsts') or {}).get('code')
    return here is not None and here == there


@check('TOKEN-OWNER', 'The token belongs to the mailbox (or shared) account', 'error', 'mailbox', ('token',),
       'the access token\'s oid (object id) against the object id of the account ECE uses (tenant_info); the upn / '
       'preferred_username / unique_name names it in the message, and decides only when an object id was not read',
       'generate the token in a private browser window signed in as the mailbox account, not through Kerberos '
       'single sign-on as the workstation user', item=5, requires=('tenant', 'mailbox_protocols'))
@labelled
def judge_token_owner(context, subject):
    token = acquired_token(context, subject)
    account = context.mailbox(subject)['account']
    expected = account.lower()
    owner = (token.get('token_owner') or token.get('upn') or token.get('preferred_username') or
             token.get('unique_name') or '').lower()
    oid = _lower(token.get('oid'))
    account_id = object_id(context, account) if context.tenant.get('tenant_info') else None
    evidence = {'expected': expected, 'token_owner': owner or None, 'oid': oid, 'account_id': account_id}
    if token.get('token_kind') == 'app-only':  # roles and no scp, whatever name it carries
        raise Missing('not read: the token is app-only (roles, no scp): it belongs to no user')
    if not owner and not oid:
        raise Missing('not read: the token names no user (no oid, upn, preferred_username or unique_name claim)')
    who = owner or 'object id %s' % oid
    if oid and account_id:
        evidence['compared_by'] = 'object id'
        same = oid == account_id
    else:
        evidence['compared_by'] = 'name'
        entry = directory_entry(context, account) if context.tenant.get('tenant_info') else None
        same = bool(owner) and (owner == expected or (entry is not None and bool(entry.get('exists')) and
                                                      owner in names_of(entry)))
    if not same:
        return 'fail', 'the token for %s belongs to %s, not %s: it was generated by the wrong user (Kerberos SSO ' \
            'signs in the workstation user)' % (subject, who, expected), evidence
    return 'pass', 'the token belongs to %s' % who, evidence


@check('TOKEN-LIFETIME', 'Access-token lifetime 60-90 minutes', 'warning', 'mailbox', ('token',),
       'the token response\'s expires_in, else the access token\'s exp - iat less the %d s Entra back-dates iat' %
       _facts.IAT_BACKDATE,
       'remove the token lifetime policy that applies to the app or the tenant', item=4,
       requires=('tenant', 'mailbox_protocols'))
@labelled
def judge_token_lifetime(context, subject):
    # Entra issues access tokens for a random 60-90 minutes and back-dates iat/nbf by about 5 minutes (its own
    # sample token: exp - iat = 3900 s for a 60-minute token):
    # https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens
    token = acquired_token(context, subject)
    if token.get('expires_in') is not None:
        lifetime, basis = token['expires_in'], 'expires_in'
    elif token.get('lifetime_seconds') is not None:
        lifetime, basis = token['lifetime_seconds'] - _facts.IAT_BACKDATE, 'exp - iat - %d' % _facts.IAT_BACKDATE
    else:
        raise Missing('not read: the token\'s lifetime was not observed')
    low, high = _facts.ACCESS_TOKEN_LIFETIME
    slack = _facts.TOKEN_LIFETIME_SLACK
    evidence = {'lifetime_seconds': lifetime, 'basis': basis, 'expected': [low, high]}
    if not low - slack <= lifetime <= high + slack:
        return 'fail', 'access tokens live %d s (%s), outside Entra\'s 60-90 minutes: a token lifetime policy ' \
            'applies' % (lifetime, basis), evidence
    return 'pass', 'access token lifetime %d s (%s)' % (lifetime, basis), evidence


@check('USER-ACCOUNT', 'The mailbox exists; the account that signs in exists and is enabled', 'error', 'mailbox',
       ('tenant', 'user'),
       'tenant_info: the mailbox\'s and the account\'s users (resolved by mail, proxyAddresses, then UPN) with '
       'accountEnabled; a mailbox reached through a delegate (another object id) may have sign-in blocked',
       'create or enable the account in Entra ID', item=8, code='AADSTS50057', requires=('tenant', 'tenant_info'))
def judge_user(context, subject):
    # Microsoft recommends blocking sign-in on a shared mailbox's account: "You should always block sign-in for
    # the shared mailbox account and keep it blocked."
    # https://learn.microsoft.com/en-us/microsoft-365/admin/email/about-shared-mailboxes and
    # https://learn.microsoft.com/en-us/microsoft-365/lighthouse/m365-lighthouse-block-signin-shared-mailboxes
    account = context.mailbox(subject)['account']
    mailbox_entry, account_entry = user(context, subject), user(context, account)
    delegate = same_identity(context, subject, account) is not True
    evidence = {subject: {'exists': mailbox_entry.get('exists'), 'enabled': mailbox_entry.get('enabled'),
                          'id': mailbox_entry.get('id'), 'resolved_by': mailbox_entry.get('resolved_by')}}
    if delegate:
        evidence[account] = {'exists': account_entry.get('exists'), 'enabled': account_entry.get('enabled'),
                             'id': account_entry.get('id'), 'resolved_by': account_entry.get('resolved_by')}
    problems, notes = [], []
    if not mailbox_entry.get('exists'):
        problems.append('%s does not exist in the tenant (AADSTS50034)' % subject)
    elif not delegate and mailbox_entry.get('enabled') is False:
        problems.append('%s is disabled (AADSTS50057)' % subject)
    elif delegate and mailbox_entry.get('enabled') is False:
        notes.append('sign-in is blocked on %s, as Microsoft recommends for a shared mailbox: ECE signs in as %s' % (
            subject, account))
    if delegate:
        if not account_entry.get('exists'):
            problems.append('%s does not exist in the tenant (AADSTS50034)' % account)
        elif account_entry.get('enabled') is False:
            problems.append('%s is disabled (AADSTS50057)' % account)
    if problems:
        return 'fail', '; '.join(problems), evidence
    names = [subject, account] if delegate else [subject]
    detail = ', '.join('%s %s' % (n, 'exists' if n == subject and delegate else 'enabled') for n in names)
    if not delegate and account.lower() != subject.lower():
        detail += ' (%s is the same user)' % account
    return 'pass', '; '.join([detail] + notes), evidence
