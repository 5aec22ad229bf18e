# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""Mailbox checks (TAC checklist items 6, 7, 8 and 10): each mailbox ECE uses, by its address.

mailbox_settings returns the Exchange admin API's settings as read; the effective SMTP AUTH setting
and FullAccess minus Deny are judged here. The protocols ECE uses for a mailbox travel with it: a
POP check does not apply to a mailbox ECE reads over IMAP, and the other way round.
"""

from ansible_collections.ece_o365.preflight.plugins.module_utils import _licences, _mail
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    HARD_FAIL, TENANT_READ, Blocked, Missing, NotApplicable, Verdict, by_id, check)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks.identity import (
    consent_gaps, labelled, object_id, resolves_to, same_identity, token_facts, user)

SELF = 'NT AUTHORITY\\SELF'


def settings(context, address):
    """(this mailbox's settings, the whole mailbox_settings result), by address."""
    read = context.tenant['mailbox_settings']
    for entry in read.get('mailboxes') or []:
        if (entry.get('address') or entry.get('mailbox') or '').lower() == address.lower():
            if entry.get('exists') is None:
                raise Blocked(TENANT_READ, 'not judged: the Exchange admin API could not read %s (see %s)' % (
                    address, TENANT_READ))
            return entry, read
    if (read.get('token') or {}).get('acquired') is False:
        raise Blocked(TENANT_READ, 'not judged: the preflight\'s own Exchange admin API token was refused (see %s)'
                      % TENANT_READ)
    raise Missing('not read: mailbox_settings returned nothing for %s' % address)


def existing_mailbox(context, address):
    entry, read = settings(context, address)
    if not entry.get('exists'):
        raise Blocked('MBX-LICENCE', 'not judged: Exchange holds no mailbox %s (see MBX-LICENCE)' % address)
    return entry, read


def effective_smtp_auth(entry, read):
    """(enabled or None, source): the mailbox's SmtpClientAuthenticationDisabled when set, else the tenant's."""
    own = entry.get('smtp_client_authentication_disabled')
    if own is not None:
        return not own, 'mailbox'
    tenant = (read.get('transport_config') or {}).get('smtp_client_authentication_disabled')
    return (None if tenant is None else not tenant), 'tenant'


def _is_mailbox_plan(plan):
    name, plan_id = plan.get('name') or '', (plan.get('id') or '').lower()
    if name in _licences.NO_MAILBOX_PLANS or plan_id in _licences.NO_MAILBOX_PLANS.values():
        return False
    return name in _licences.MAILBOX_PLANS or (bool(plan_id) and plan_id in _licences.MAILBOX_PLANS.values())


def exchange_plans(entry):
    """The service plans of a user's licences that give a mailbox (_licences.MAILBOX_PLANS, by name or id):
    EXCHANGE_S_FOUNDATION, which comes with Microsoft 365 Apps, Power BI or Teams, gives none."""
    return [dict(plan, sku=licence.get('sku')) for licence in entry.get('licences') or []
            for plan in licence.get('service_plans') or [] if _is_mailbox_plan(plan)]


def _sender_settings(context, subject, sender):
    """The Exchange admin API's entry of the sender (MAIL FROM): the mailbox itself, or another one read."""
    if sender.lower() == subject.lower():
        return existing_mailbox(context, subject)[0]
    wanted = sender.lower()
    for entry in context.tenant['mailbox_settings'].get('mailboxes') or []:
        names = [str(entry.get(k) or '').lower() for k in ('address', 'mailbox', 'primary_smtp_address')]
        if wanted in names:
            return entry
    raise Missing('not read: mailbox_settings returned nothing for the sender %s' % sender)


def _grants(entries, key, right):
    """(allowed, denied) trustees of ENTRIES (Exchange's strings, as read) holding RIGHT, NT AUTHORITY\\SELF apart."""
    allowed, denied = [], []
    for grant in entries or []:
        name = str(grant.get(key) or '')
        if not name or name.upper() == SELF or right not in (grant.get('access_rights') or [right]):
            continue
        (denied if grant.get('deny') else allowed).append(name)
    return allowed, denied


# provisioningStatus of a plan: https://learn.microsoft.com/en-us/graph/api/resources/serviceplaninfo ("PendingInput -
# The service isn't provisioned and is awaiting service confirmation", PendingActivation, PendingProvisioning).
# GET /users/{id}/licenseDetails is documented "Application: Not supported":
# https://learn.microsoft.com/en-us/graph/api/user-list-licensedetails
@check('MBX-LICENCE', 'Exchange Online licence provisioned', 'error', 'mailbox', ('mailbox', 'licence'),
       'whether Exchange holds the mailbox (Get-CASMailbox, the authority); when the Exchange admin API could not '
       'say, tenant_info\'s licences (a plan that gives a mailbox, _licences.MAILBOX_PLANS, in status Success; '
       'EXCHANGE_S_FOUNDATION gives none; a pending status is its own finding; a refused licence read too) or a '
       'login that worked',
       'assign a licence with an Exchange Online plan (e.g. Office 365 E3 = ENTERPRISEPACK with EXCHANGE_S_ENTERPRISE), '
       'or use a shared mailbox', item=7, requires=('tenant', 'tenant_info'))
def judge_licence(context, subject):
    entry = None
    if context.tenant.get('mailbox_settings') is not None:
        try:
            entry, _read = settings(context, subject)
        except (Blocked, Missing):
            entry = None
    try:
        account = user(context, subject)
    except (Blocked, Missing):
        if entry is None:
            raise
        account = {}
    every = exchange_plans(account)
    plans = [p for p in every if p.get('status') == _licences.PROVISIONED]
    pending = [p for p in every if p.get('status') in _licences.PENDING_STATUSES]
    evidence = {'exchange_plans': [dict((k, p.get(k)) for k in ('name', 'status', 'sku')) for p in every],
                'mailbox_exists': entry.get('exists') if entry else None}
    licence_read = account.get('licence_read')
    if isinstance(licence_read, dict):
        evidence['licence_read'] = dict((k, licence_read.get(k)) for k in ('ok', 'source', 'status', 'error_class'))
    if entry is not None and entry.get('exists'):  # the Exchange admin API is the authority on the mailbox
        return 'pass', 'Exchange Online holds the mailbox', evidence
    if entry is None and plans:
        return 'pass', 'an Exchange Online plan is provisioned (%s)' % ', '.join(
            str(p.get('name') or p.get('id')) for p in plans), evidence
    logins = context.tenant.get('mailbox_protocols') or {}
    worked = [r for r in logins.get('results') or [] if r.get('ok') and (r.get('address') or '').lower() == subject.lower()]
    if entry is None and worked:
        return 'pass', 'a %s login succeeded, so Exchange holds the mailbox (a shared mailbox needs no licence)' % (
            worked[0].get('protocol', '').upper()), evidence
    if pending and not plans:
        # Microsoft's words for the statuses: https://learn.microsoft.com/en-us/graph/api/resources/serviceplaninfo
        return Verdict('fail', 'pending: %s has the mailbox plan %s in status %s, not Success: the plan is assigned but '
                       'not active for the user yet, so it gives no mailbox%s' % (
                           subject, pending[0].get('name') or pending[0].get('id'), pending[0].get('status'),
                           ', and Exchange holds no mailbox yet' if entry is not None else ''),
                       evidence, _facts.FIX['licence_pending'])
    if entry is not None:
        return 'fail', '%s has no provisioned Exchange Online plan and Exchange holds no mailbox for it (IMAP: "User ' \
            'is authenticated but not connected")' % subject, evidence
    if isinstance(licence_read, dict) and licence_read.get('ok') is False:
        return Verdict('fail', 'the licence read of %s was refused (%s), and the Exchange admin API could not tell '
                       'whether it holds a mailbox either: nothing read says whether %s has one' % (
                           subject, ' '.join(str(licence_read.get(k)) for k in ('status', 'message')
                                             if licence_read.get(k) is not None) or 'no reason given', subject),
                       evidence, _facts.FIX['licence_read'])
    raise Blocked(TENANT_READ, 'not judged: no Exchange plan for %s, and the Exchange admin API was not read to tell '
                  'whether a shared mailbox exists (see %s)' % (subject, TENANT_READ))


@check('MBX-PROTOCOLS', 'The retrieval protocols ECE uses are enabled on the mailbox', 'error', 'mailbox', ('mailbox',),
       'mailbox_settings: Get-CASMailbox ImapEnabled / PopEnabled, against the protocols ECE uses for the mailbox '
       '(ece_o365_mailboxes[].protocols)',
       _facts.FIX['enable_protocol'] % 'Imap' + ' (or -PopEnabled $true, for the protocol ECE uses)', item=6,
       requires=('tenant', 'mailbox_settings'))
def judge_protocols_enabled(context, subject):
    entry, _read = existing_mailbox(context, subject)
    used = [p for p in context.mailbox(subject)['protocols'] if p in ('imap', 'pop3')]
    if not used:
        raise NotApplicable('ECE uses neither IMAP nor POP for %s (ece_o365_mailboxes[].protocols)' % subject)
    switch = {'imap': 'imap_enabled', 'pop3': 'pop_enabled'}
    evidence = {'imap_enabled': entry.get('imap_enabled'), 'pop_enabled': entry.get('pop_enabled'), 'used': used}
    unread = [p for p in used if entry.get(switch[p]) is None]
    if unread:
        raise Missing('not read: the %s switch of %s' % (' and '.join(p.upper() for p in unread), subject))
    disabled = [p for p in used if not entry.get(switch[p])]
    if disabled:
        return Verdict('fail', '%s is disabled on %s, and ECE uses it for this mailbox' % (
            ' and '.join(p.upper() for p in disabled), subject), evidence,
            _facts.FIX['enable_protocol'].replace('<mailbox>', subject) % ('Imap' if disabled[0] == 'imap' else 'Pop'))
    return 'pass', '%s enabled, as ECE uses' % ', '.join(p.upper() for p in used), evidence


# SmtpClientAuthenticationDisabled is the setting of the mailbox that signs in to SMTP: in the shared-account
# model ECE signs in as the delegate (the account) and sends as the shared address, so the delegate's setting is
# the one Exchange applies (field: https://github.com/nextcloud/mail/pull/13668, 5.7.139 until SMTP AUTH was enabled
# on the identity signing in); $null defers to Get-TransportConfig
# (https://learn.microsoft.com/en-us/powershell/module/exchange/set-casmailbox).
@check('MBX-SMTP-AUTH', 'SMTP AUTH effectively enabled for the mailbox that signs in', 'error', 'mailbox',
       ('mailbox', 'smtp'),
       'mailbox_settings: Get-CASMailbox SmtpClientAuthenticationDisabled of the account ECE signs in to SMTP with (the '
       'mailbox itself, or the delegate in the shared-account model), else Get-TransportConfig\'s',
       _facts.FIX['smtp_auth'], item=6, code='5.7.139', requires=('tenant', 'mailbox_settings'))
def judge_smtp_auth(context, subject):
    if 'smtp' not in context.mailbox(subject)['protocols']:
        raise NotApplicable('ECE does not send from %s (ece_o365_mailboxes[].protocols)' % subject)
    account = context.mailbox(subject)['account']
    who = subject if same_identity(context, account, subject) else account
    entry, read = existing_mailbox(context, who) if who == subject else settings(context, who)
    if not entry.get('exists'):
        return Verdict('fail', '%s signs in to SMTP for %s but Exchange holds no mailbox for it, so it has no SMTP AUTH '
                       'setting to sign in with' % (who, subject), {'signs_in': who},
                       'give %s an Exchange Online mailbox (a licence), or let ECE sign in as a mailbox' % who)
    enabled, source = effective_smtp_auth(entry, read)
    evidence = {'smtp_auth_enabled': enabled, 'source': source, 'signs_in': who.lower(),
                'mailbox_setting': entry.get('smtp_client_authentication_disabled'),
                'tenant_setting': (read.get('transport_config') or {}).get('smtp_client_authentication_disabled')}
    if enabled is None:
        if (read.get('transport_config') or {}).get('ok') is False:  # a refused read, reported once by TENANT-READ
            raise Blocked(TENANT_READ, 'not judged: %s defers to the tenant\'s SmtpClientAuthenticationDisabled, and '
                          'Get-TransportConfig could not be read (see %s)' % (who, TENANT_READ))
        raise Missing('not read: neither the mailbox\'s nor the tenant\'s SmtpClientAuthenticationDisabled was read')
    whose = '' if who == subject else ' (the account ECE signs in to SMTP with for %s)' % subject
    if not enabled:
        return Verdict('fail', 'SMTP AUTH is disabled for %s%s by the %s setting (535 5.7.139)' % (
            who, whose, source), evidence, _facts.FIX['smtp_auth'].replace('<mailbox>', who))
    if who == subject:
        return 'pass', 'SMTP AUTH enabled (from the %s setting)' % source, evidence
    return 'pass', 'SMTP AUTH enabled for %s%s (from the %s setting)' % (who, whose, source), evidence


@check('MBX-FULLACCESS', 'The shared account holds FullAccess', 'error', 'mailbox', ('mailbox', 'rights'),
       'mailbox_settings: Get-MailboxPermission FullAccess entries as read (a Deny entry overrides a grant), their '
       'users resolved through tenant_info\'s users[] and compared with the account ECE uses by object id',
       _facts.FIX['full_access'] % ('<mailbox>', '<account>'), item=8, requires=('tenant', 'mailbox_settings'))
def judge_full_access(context, subject):
    declared = context.mailbox(subject)['account']
    account = declared.lower()
    if same_identity(context, declared, subject):
        return 'pass', '%s uses its own account' % subject, {'account': account}
    entry, _read = existing_mailbox(context, subject)
    holders, denied = _grants(entry.get('full_access'), 'user', 'FullAccess')
    account_id = object_id(context, declared)
    evidence = {'account': account, 'account_id': account_id, 'full_access': [h.lower() for h in holders],
                'denied': [d.lower() for d in denied]}
    held = [h for h in holders if resolves_to(context, h, declared, account_id)]
    refused = [d for d in denied if resolves_to(context, d, declared, account_id)]
    if refused or not held:
        why = 'a Deny entry' if refused else 'no grant'
        return Verdict('fail', '%s may not open %s (%s)' % (account, subject, why), evidence,
                       _facts.FIX['full_access'] % (subject, account))
    named = '' if held[0].lower() == account else ' (as %s)' % held[0]
    return 'pass', '%s holds FullAccess on %s%s' % (account, subject, named), evidence


# FullAccess lets a delegate open a mailbox but not send from it; sending as it needs Send As, which Exchange
# checks when the message is submitted (554 5.2.252 SendAsDenied after DATA), not at MAIL FROM:
# https://learn.microsoft.com/en-us/powershell/module/exchange/add-mailboxpermission and
# https://learn.microsoft.com/en-us/powershell/module/exchange/add-recipientpermission
@check('MBX-SENDAS', 'The account may send as the sender (Send As)', 'error', 'mailbox', ('mailbox', 'rights', 'smtp'),
       'mailbox_settings: Get-RecipientPermission SendAs entries on the sender (MAIL FROM), their trustees resolved '
       'through tenant_info\'s users[] and compared with the account ECE signs in with by object id (a Deny entry '
       'overrides a grant; FullAccess does not count), when the sender is not the account',
       _facts.FIX['send_as'] % ('<sender>', '<account>'), item=8, code='5.2.252',
       requires=('tenant', 'mailbox_settings'))
def judge_send_as(context, subject):
    declared = context.mailbox(subject)
    if 'smtp' not in declared['protocols']:
        raise NotApplicable('ECE does not send from %s (ece_o365_mailboxes[].protocols)' % subject)
    account, sender = declared['account'], declared.get('sender') or subject
    if same_identity(context, account, sender):
        raise NotApplicable('%s sends as itself (MAIL FROM %s): no Send As needed' % (account, sender))
    entry = _sender_settings(context, subject, sender)
    if entry.get('send_as') is None:
        if (entry.get('send_as_read') or {}).get('ok') is False:  # a refused read, reported once by TENANT-READ
            raise Blocked(TENANT_READ, 'not judged: the Send As entries of %s (Get-RecipientPermission) could not be '
                          'read (see %s)' % (sender, TENANT_READ))
        raise Missing('not read: the Send As entries of %s (Get-RecipientPermission) were not read' % sender)
    allowed, denied = _grants(entry.get('send_as'), 'trustee', 'SendAs')
    account_id = object_id(context, account)
    evidence = {'account': account.lower(), 'account_id': account_id, 'sender': sender.lower(),
                'send_as': [a.lower() for a in allowed], 'denied': [d.lower() for d in denied]}
    granted = [a for a in allowed if resolves_to(context, a, account, account_id)]
    refused = [d for d in denied if resolves_to(context, d, account, account_id)]
    if refused or not granted:
        full, _none = _grants(entry.get('full_access'), 'user', 'FullAccess')
        has_full = any(resolves_to(context, f, account, account_id) for f in full)
        return Verdict('fail', '%s may not send as %s (%s%s): Exchange refuses the message when it is submitted '
                       '(554 5.2.252 SendAsDenied)' % (
                           account.lower(), sender, 'a Deny entry' if refused else 'no Send As grant',
                           '; its FullAccess does not let it send' if has_full else ''), evidence,
                       _facts.FIX['send_as'] % (sender, account))
    return 'pass', '%s holds Send As on %s' % (account.lower(), sender), evidence


# -- the logins, and the cause this run already knows when one is refused -------------------------

# Refusals a known setting explains; a network failure or a server without XOAUTH2 is not one of them. A store
# that is not there (MailboxNotFound, "mailbox unavailable") is explained by a missing mailbox plan only.
UNEXPLAINED = ('basic_auth_blocked', 'mailbox_unavailable', 'auth_unsupported')
EXPLAINED_CLASSES = tuple(c for c in _mail.MAIL_CLASSES if c not in UNEXPLAINED)
EXPLAINED_BY_LICENCE_ONLY = ('mailbox_unavailable',)
SWITCH = {'imap': 'imap_enabled', 'pop3': 'pop_enabled'}
CAUSES = {  # the checks that can explain a refused login, per protocol, in the order they are named
    'imap': ('TOKEN-OWNER', 'MBX-LICENCE', 'MBX-PROTOCOLS', 'MBX-FULLACCESS', 'APP-CONSENT'),
    'pop3': ('TOKEN-OWNER', 'MBX-LICENCE', 'MBX-PROTOCOLS', 'MBX-FULLACCESS', 'APP-CONSENT'),
    'smtp': ('TOKEN-OWNER', 'MBX-LICENCE', 'MBX-SMTP-AUTH', 'MBX-SENDAS', 'APP-CONSENT'),
}


def _verdict_of(context, check_id, subject):
    """The verdict CHECK_ID gives SUBJECT in this run, or None when it is not judged."""
    check_ = by_id()[check_id]
    subject = 'tenant' if check_.scope == 'tenant' else subject
    try:
        for what in check_.requires:
            context.require(what, subject, check_.scope)
        return check_.judge(context, subject)
    except Exception:  # pylint: disable=broad-except  # not judged here: that check reports it itself
        return None


def known_causes(context, subject, protocol, only=None):
    """[(what, check id, fix)]: the failures this run already knows that refuse PROTOCOL's login to SUBJECT
    (of the checks in ONLY, when given)."""
    causes = []
    for check_id in CAUSES[protocol]:
        if only is not None and check_id not in only:
            continue
        verdict = _verdict_of(context, check_id, subject)
        if verdict is None or verdict[0] not in ('fail', HARD_FAIL):
            continue
        fix = (verdict[3] if len(verdict) > 3 else None) or by_id()[check_id].remediation
        if check_id == 'MBX-PROTOCOLS':
            if verdict[2].get(SWITCH[protocol]) is not False:
                continue
            causes.append(('%s is disabled on the mailbox' % protocol.upper(), check_id,
                           _facts.FIX['enable_protocol'].replace('<mailbox>', subject) % (
                               'Imap' if protocol == 'imap' else 'Pop')))
        elif check_id == 'APP-CONSENT':
            account = context.mailbox(subject)['account']
            permission = _facts.PERMISSION_OF_PROTOCOL[protocol]
            gaps = consent_gaps(context)[1].get(account) or {}
            if permission in gaps.get('not_consented', [permission]):
                causes.append(('%s is not consented for %s' % (permission, account), check_id, fix))
        else:
            causes.append((verdict[1], check_id, fix))
    return causes


def _login_judge(protocol):
    def judge(context, subject):
        if protocol not in context.mailbox(subject)['protocols']:
            raise NotApplicable('ECE does not use %s for %s (ece_o365_mailboxes[].protocols)' % (
                protocol.upper(), subject))
        if not token_facts(context, subject).get('acquired'):
            raise Blocked('TOKEN-REFRESH', 'not judged: no token to log in with (see TOKEN-REFRESH)')
        logins = [r for r in context.tenant['mailbox_protocols'].get('results') or []
                  if r.get('protocol') == protocol and (r.get('address') or '').lower() == subject.lower()]
        if not logins:
            raise Missing('not read: no %s login was tried for %s' % (protocol.upper(), subject))
        result = logins[0]
        evidence = dict((k, result.get(k)) for k in ('login', 'host', 'port', 'authenticated', 'error_class', 'reply'))
        evidence['followup'] = (result.get('followup') or {}).get('command')
        for key in ('mail_from', 'mechanisms_offered'):
            if key in result:
                evidence[key] = result.get(key)
        if result.get('ok'):
            return 'pass', result.get('message'), evidence
        error_class = result.get('error_class')
        causes = (known_causes(context, subject, protocol) if error_class in EXPLAINED_CLASSES else
                  known_causes(context, subject, protocol, only=('MBX-LICENCE',))
                  if error_class in EXPLAINED_BY_LICENCE_ONLY else [])
        if causes:
            evidence['known_causes'] = [c[1] for c in causes]
            fixes = []
            for _what, _id, fix in causes:
                if fix not in fixes:
                    fixes.append(fix)
            return Verdict('fail', '%s login refused (%s); this run already knows why: %s' % (
                protocol.upper(), (result.get('reply') or result.get('error_class') or '').strip(),
                '; '.join('%s (see %s)' % (what, check_id) for what, check_id, _fix in causes)), evidence,
                '; '.join(fixes))
        return Verdict('fail', result.get('message'), evidence, result.get('fix'))
    judge.__name__ = 'judge_login_%s' % protocol
    return labelled(judge)


for _id, _protocol, _how in (('MBX-LOGIN-IMAP', 'imap', 'AUTHENTICATE XOAUTH2 as ECE does, then EXAMINE INBOX'),
                             ('MBX-LOGIN-POP3', 'pop3', 'AUTH XOAUTH2 in two steps, then STAT'),
                             ('MBX-LOGIN-SMTP', 'smtp', 'EHLO, STARTTLS, AUTH XOAUTH2 as the account (the token\'s '
                                                        'owner) after 334, then MAIL FROM the sender and RSET')):
    check(_id, '%s login with OAuth2' % _protocol.upper(), 'error', 'mailbox', ('mailbox', _protocol),
          'mailbox_protocols: %s; a refusal that a failing check of this run explains names that check' % _how,
          'follow the fix in the finding: it names Microsoft\'s reply and what it means, or the check that explains '
          'it', item=10, code='5.7.139' if _protocol == 'smtp' else None, requires=('tenant', 'mailbox_protocols'))(
        _login_judge(_protocol))
