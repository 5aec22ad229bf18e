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


from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    TENANT_READ, Blocked, Missing, Verdict, check, parse_date)
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


def user(context, name):
    for entry in context.tenant['tenant_info'].get('users') or []:
        if (entry.get('address') or entry.get('name') or '').lower() == name.lower():
            if entry.get('exists') is None:
                raise Blocked(TENANT_READ, 'not judged: %s could not be read (see %s)' % (name, TENANT_READ))
            return entry
    raise Missing('not read: tenant_info did not read %s' % name)


def delegated_requested(app):
    return set(p.get('name') for p in app.get('required_permissions') or [] if p.get('type') == 'delegated')


def admin_consented(principal):
    """The delegated scopes granted for every user (consentType AllPrincipals)."""
    consented = set()
    for grant in principal.get('delegated_grants') or []:
        if grant.get('consent_type') == 'AllPrincipals':
            scopes = grant.get('scopes') or []
            consented.update(scopes.split() if isinstance(scopes, str) else scopes)
    return consented


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


@check('APP-REDIRECT-URI', 'A redirect URI on ECE\'s External URL host', 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: the app\'s redirect URIs as read, against ece_o365_ece_external_url',
       'add https://<External URL host>/... as a Web redirect URI of the app, exactly as ECE sends it', item=2,
       code='AADSTS50011', requires=('tenant', 'tenant_info'))
def judge_redirect_uri(context, _subject):
    app = existing_application(context)
    external = context.tenant.get('external_url') or ''
    uris = app.get('redirect_uris') or {}
    every = [uri for kind in ('web', 'spa', 'public_client') for uri in uris.get(kind) or []]
    evidence = {'redirect_uris': uris, 'external_url': external or None}
    if not external:
        raise Missing('not read: ece_o365_ece_external_url is not set, so there is no host to look for')
    host = fqdn(external)
    matching = [uri for uri in every if fqdn(uri) == host]
    evidence['matching'] = matching
    if not matching:
        return 'fail', 'no redirect URI of the app uses %s (ECE\'s External URL host); registered: %s' % (
            host, ', '.join(sorted(set(fqdn(u) or u for u in every))) or 'none'), evidence
    return 'pass', 'redirect URI on %s: %s' % (host, ', '.join(matching)), evidence


@check('APP-PERMISSIONS', 'Delegated mail permissions requested', 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: requiredResourceAccess resolved to names (IMAP.AccessAsUser.All and/or POP.AccessAsUser.All, '
       'SMTP.Send, offline_access)',
       'API permissions > Add > Microsoft Graph > Delegated: IMAP.AccessAsUser.All (or POP.AccessAsUser.All), '
       'SMTP.Send, offline_access', item=3, requires=('tenant', 'tenant_info'))
def judge_permissions(context, _subject):
    requested = delegated_requested(existing_application(context))
    evidence = {'delegated': sorted(requested)}
    missing = [p for p in ('SMTP.Send', 'offline_access') if p not in requested]
    if not requested & {'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All'}:
        missing.insert(0, 'IMAP.AccessAsUser.All or POP.AccessAsUser.All')
    if missing:
        return 'fail', 'the app does not request %s' % ', '.join(missing), evidence
    return 'pass', 'requests %s' % ', '.join(sorted(requested & set(_facts.DELEGATED_MAIL))), evidence


@check('APP-CONSENT', 'Admin consent for the mail permissions', 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: the service principal\'s oauth2PermissionGrants (AllPrincipals) against the requested permissions',
       'API permissions > Grant admin consent for <tenant>', item=3, code='AADSTS65001',
       requires=('tenant', 'tenant_info'))
def judge_consent(context, _subject):
    app = existing_application(context)
    principal = app.get('service_principal') or {}
    if not principal.get('found'):
        return 'fail', 'the app has no service principal in the tenant: nobody consented to it', {}
    consented = admin_consented(principal)
    missing = sorted(p for p in delegated_requested(app) if p not in consented and p in _facts.DELEGATED_MAIL)
    evidence = {'admin_consented_scopes': sorted(consented), 'not_consented': missing}
    if missing:
        return 'fail', 'no admin consent for %s (AADSTS65001 follows)' % ', '.join(missing), evidence
    return 'pass', 'admin consent covers the mail permissions', evidence


@check('APP-SECRET-EXPIRY', 'Client secret valid, warning within ece_o365_secret_warn_days (%d)' %
       _facts.SECRET_EXPIRY_WARN_DAYS, 'error', 'tenant', ('tenant', 'app'),
       'tenant_info: passwordCredentials end dates (the secret values are never read)',
       'Certificates & secrets > New client secret, put its value in ECE, then delete the old one', item=3,
       code='AADSTS7000222', requires=('tenant', 'tenant_info'))
def judge_secret(context, _subject):
    app = existing_application(context)
    secrets = app.get('secrets') or []
    certificates = app.get('certificates') or []
    evidence = {'secrets': [dict((k, s.get(k)) for k in ('display_name', 'hint', 'end')) for s in secrets],
                'certificates': len(certificates)}
    days = [d for d in (_days_left(s.get('end'), context.today) for s in secrets) if d is not None]
    if not days:
        if certificates:
            return 'pass', 'the app authenticates with a certificate', evidence
        return 'fail', 'the app has no client secret (ECE needs one to redeem its tokens)', evidence
    latest = max(days)
    evidence['days_left'] = latest
    if latest < 0:
        return 'fail', 'every client secret has expired (the last on %s; AADSTS7000222 follows)' % max(
            str(s.get('end'))[:10] for s in secrets), evidence
    if latest <= context.options.get('secret_warn_days', _facts.SECRET_EXPIRY_WARN_DAYS):
        return 'warn', 'the last client secret expires in %d day(s)' % latest, evidence
    return 'pass', 'a client secret is valid for %d more day(s)' % latest, evidence


# -- the token ECE stored, per mailbox -------------------------------------------------------------

@check('TOKEN-REFRESH', 'ECE\'s stored refresh token still works', 'error', 'mailbox', ('token',),
       'mailbox_protocols: the refresh-token grant with ECE\'s app',
       _facts.FIX['generate_token'] + '; AADSTS700082 means 90 days unused, AADSTS50173 a password reset', item=4,
       code='AADSTS700082', requires=('tenant', 'mailbox_protocols'))
def judge_token_refresh(context, subject):
    token = token_facts(context, subject)
    if token.get('source') not in (None, 'refresh_token'):
        # ECE redeems the refresh token it stored; a token got another way proves nothing about that one.
        raise Missing('not read: no refresh token was given for %s (ece_o365_mailboxes[].refresh_token), so ECE\'s '
                      'stored token was not tried (the token came from %s)' % (subject, token.get('source')))
    evidence = dict((k, token.get(k)) for k in ('source', 'acquired', 'error_class', 'token_owner'))
    aadsts = token.get('aadsts') or {}
    if aadsts:
        evidence['aadsts'] = dict((k, aadsts.get(k)) for k in ('code', 'name', 'meaning', 'fix'))
    if not token.get('acquired'):
        return Verdict('fail', token.get('message') or 'no token for %s' % subject, evidence, aadsts.get('fix'))
    return 'pass', 'token redeemed (%s)' % token.get('source'), evidence


@check('TOKEN-OWNER', 'The token belongs to the mailbox (or shared) account', 'error', 'mailbox', ('token',),
       'the id_token\'s preferred_username / the access token\'s upn against the account ECE uses',
       'generate the token in a private browser window signed in as the mailbox account, not through Kerberos '
       'single sign-on as the workstation user', item=5, requires=('tenant', 'mailbox_protocols'))
def judge_token_owner(context, subject):
    token = acquired_token(context, subject)
    expected = context.mailbox(subject)['account'].lower()
    owner = (token.get('token_owner') or token.get('upn') or token.get('preferred_username') or '').lower()
    evidence = {'expected': expected, 'token_owner': owner or None}
    if not owner:
        raise Missing('not read: the token does not say whose it is (an app-only token)')
    if owner != expected:
        return 'fail', 'the token for %s belongs to %s, not %s: it was generated by the wrong user (Kerberos SSO ' \
            'signs in the workstation user)' % (subject, owner, expected), evidence
    return 'pass', 'the token belongs to %s' % owner, evidence


@check('TOKEN-LIFETIME', 'Access-token lifetime 60-90 minutes', 'warning', 'mailbox', ('token',),
       'the lifetime of the access token issued (exp - iat)',
       'remove the token lifetime policy that applies to the app or the tenant', item=4,
       requires=('tenant', 'mailbox_protocols'))
def judge_token_lifetime(context, subject):
    token = acquired_token(context, subject)
    lifetime = token.get('lifetime_seconds') or token.get('expires_in')
    if lifetime is None:
        raise Missing('not read: the token\'s lifetime was not observed')
    low, high = _facts.ACCESS_TOKEN_LIFETIME
    evidence = {'lifetime_seconds': lifetime, 'expected': [low, high]}
    if not low - 300 <= lifetime <= high + 300:
        return 'fail', 'access tokens live %d s, outside Entra\'s 60-90 minutes: a token lifetime policy applies' % (
            lifetime), evidence
    return 'pass', 'access token lifetime %d s' % lifetime, evidence


@check('USER-ACCOUNT', 'Mailbox and login accounts exist and are enabled', 'error', 'mailbox', ('tenant', 'user'),
       'tenant_info: GET /users/{address}?$select=accountEnabled for the mailbox and the account',
       'create or enable the account in Entra ID', item=8, code='AADSTS50057', requires=('tenant', 'tenant_info'))
def judge_user(context, subject):
    declared = context.mailbox(subject)
    names = sorted(set([subject, declared['account']]), key=lambda n: n.lower())
    problems, evidence = [], {}
    for name in names:
        entry = user(context, name)
        evidence[name] = {'exists': entry.get('exists'), 'enabled': entry.get('enabled')}
        if not entry.get('exists'):
            problems.append('%s does not exist in the tenant (AADSTS50034)' % name)
        elif entry.get('enabled') is False:
            problems.append('%s is disabled (AADSTS50057)' % name)
    if problems:
        return 'fail', '; '.join(problems), evidence
    return 'pass', ', '.join('%s enabled' % n for n in names), evidence
