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

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks._engine import (
    TENANT_READ, Blocked, Missing, NotApplicable, Verdict, check)
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks.identity import token_facts, user

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


def full_access(entry):
    """(holders, denied): who holds FullAccess on the mailbox, Deny entries apart (lower-case)."""
    holders, denied = [], []
    for grant in entry.get('full_access') or []:
        name = str(grant.get('user') or '')
        if name.upper() == SELF or 'FullAccess' not in (grant.get('access_rights') or ['FullAccess']):
            continue
        (denied if grant.get('deny') else holders).append(name.lower())
    return holders, denied


def exchange_plans(entry):
    """The Exchange Online service plans of a user's licences that give a mailbox (EXCHANGE_S_FOUNDATION gives none)."""
    return [dict(plan, sku=licence.get('sku')) for licence in entry.get('licences') or []
            for plan in licence.get('service_plans') or []
            if (plan.get('name') or '').startswith('EXCHANGE_S_') and plan.get('name') != 'EXCHANGE_S_FOUNDATION']


@check('MBX-LICENCE', 'Exchange Online licence provisioned', 'error', 'mailbox', ('mailbox', 'licence'),
       'whether Exchange holds the mailbox (Get-CASMailbox, the authority); when the Exchange admin API could not '
       'say, tenant_info licenseDetails (an EXCHANGE_S_* plan other than EXCHANGE_S_FOUNDATION, status Success) or a '
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
    account = user(context, subject)
    plans = [p for p in exchange_plans(account) if p.get('status') == 'Success']
    evidence = {'exchange_plans': [dict((k, p.get(k)) for k in ('name', 'status', 'sku')) for p in exchange_plans(account)],
                'mailbox_exists': entry.get('exists') if entry else None}
    if entry is not None:  # the Exchange admin API is the authority on whether the mailbox exists
        if entry.get('exists'):
            return 'pass', 'Exchange Online holds the mailbox', evidence
        return 'fail', '%s has no provisioned Exchange Online plan and Exchange holds no mailbox for it (IMAP: "User ' \
            'is authenticated but not connected")' % subject, evidence
    if plans:
        return 'pass', 'an Exchange Online plan is provisioned (%s)' % ', '.join(p.get('name') for p in plans), evidence
    logins = context.tenant.get('mailbox_protocols') or {}
    worked = [r for r in logins.get('results') or [] if r.get('ok') and (r.get('address') or '').lower() == subject.lower()]
    if worked:
        return 'pass', 'a %s login succeeded, so Exchange holds the mailbox (a shared mailbox needs no licence)' % (
            worked[0].get('protocol', '').upper()), evidence
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


@check('MBX-SMTP-AUTH', 'SMTP AUTH effectively enabled for the mailbox', 'error', 'mailbox', ('mailbox', 'smtp'),
       'mailbox_settings: Get-CASMailbox SmtpClientAuthenticationDisabled, else Get-TransportConfig\'s',
       _facts.FIX['smtp_auth'], item=6, code='5.7.139', requires=('tenant', 'mailbox_settings'))
def judge_smtp_auth(context, subject):
    if 'smtp' not in context.mailbox(subject)['protocols']:
        raise NotApplicable('ECE does not send from %s (ece_o365_mailboxes[].protocols)' % subject)
    entry, read = existing_mailbox(context, subject)
    enabled, source = effective_smtp_auth(entry, read)
    evidence = {'smtp_auth_enabled': enabled, 'source': source,
                'mailbox_setting': entry.get('smtp_client_authentication_disabled'),
                'tenant_setting': (read.get('transport_config') or {}).get('smtp_client_authentication_disabled')}
    if enabled is None:
        raise Missing('not read: neither the mailbox\'s nor the tenant\'s SmtpClientAuthenticationDisabled was read')
    if not enabled:
        return 'fail', 'SMTP AUTH is disabled for %s by the %s setting (535 5.7.139)' % (subject, source), evidence
    return 'pass', 'SMTP AUTH enabled (from the %s setting)' % source, evidence


@check('MBX-FULLACCESS', 'The shared account holds FullAccess', 'error', 'mailbox', ('mailbox', 'rights'),
       'mailbox_settings: Get-MailboxPermission FullAccess entries as read (a Deny entry overrides a grant) for the '
       'account ECE uses', _facts.FIX['full_access'] % ('<mailbox>', '<account>'), item=8,
       requires=('tenant', 'mailbox_settings'))
def judge_full_access(context, subject):
    account = context.mailbox(subject)['account'].lower()
    if account == subject.lower():
        return 'pass', '%s uses its own account' % subject, {'account': account}
    entry, _read = existing_mailbox(context, subject)
    holders, denied = full_access(entry)
    evidence = {'account': account, 'full_access': holders, 'denied': denied}
    if account in denied or account not in holders:
        why = 'a Deny entry' if account in denied else 'no grant'
        return Verdict('fail', '%s may not open %s (%s)' % (account, subject, why), evidence,
                       _facts.FIX['full_access'] % (subject, account))
    return 'pass', '%s holds FullAccess on %s' % (account, subject), evidence


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
        if result.get('ok'):
            return 'pass', result.get('message'), evidence
        return Verdict('fail', result.get('message'), evidence, result.get('fix'))
    judge.__name__ = 'judge_login_%s' % protocol
    return judge


for _id, _protocol, _how in (('MBX-LOGIN-IMAP', 'imap', 'AUTHENTICATE XOAUTH2 as ECE does, then EXAMINE INBOX'),
                             ('MBX-LOGIN-POP3', 'pop3', 'AUTH XOAUTH2 in two steps, then STAT'),
                             ('MBX-LOGIN-SMTP', 'smtp', 'EHLO, STARTTLS, AUTH XOAUTH2 with the token after 334, then '
                                                        'MAIL FROM and RSET')):
    check(_id, '%s login with OAuth2' % _protocol.upper(), 'error', 'mailbox', ('mailbox', _protocol),
          'mailbox_protocols: %s' % _how,
          'follow the fix in the finding: it names Microsoft\'s reply and what it means', item=10,
          code='5.7.139' if _protocol == 'smtp' else None, requires=('tenant', 'mailbox_protocols'))(
        _login_judge(_protocol))
