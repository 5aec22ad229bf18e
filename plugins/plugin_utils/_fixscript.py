# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The fix script: one reviewable PowerShell file with every fix of this run that is a command.

Built from the findings only (docs/fix-script.md). A finding gets a command when it fails, is not waived, and its
check has a command fix (_facts.COMMANDS) that its evidence can fill: the mailbox, the delegate, the protocol, the
sender, the scopes, the redirect URI. Each command says, as comments above it, every finding it answers (check id,
subject, detail); the same command is written once. The sections follow _facts.FIX_SECTIONS, so what a fix depends on
comes first. Every other fix of a failing or erroring finding is listed under "Manual steps", as comments. Values are
quoted for PowerShell (single quotes, doubled inside); nothing secret is read from the findings (no token, no client
secret: the script creates a new secret only when APP-SECRET-EXPIRY fails, and prints it when it is run). The
collection never runs the script; it refuses to run without -Reviewed.
"""

import os
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    urlsplit = None

from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts

FILENAME = 'preflight-fixes.ps1'
GUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
# PowerShell reads any of these as a single quote, inside a single-quoted string too: each is doubled.
_QUOTES = re.compile(u"['\u2018\u2019\u201a\u201b]")
_LINE_BREAKS = re.compile(u'[\r\n\x0b\x0c\x85\u2028\u2029]+')
_CONTROL = re.compile(u'[\x00-\x08\x0e-\x1f\x7f]')
SECTIONS = dict((s[0], s) for s in _facts.FIX_SECTIONS)
ORDER = dict((check_id, index) for index, check_id in enumerate(
    ['USER-ACCOUNT', 'MBX-LICENCE', 'MBX-PROTOCOLS', 'MBX-SMTP-AUTH', 'MBX-FULLACCESS', 'MBX-SENDAS',
     'APP-REDIRECT-URI', 'APP-SECRET-EXPIRY', 'APP-CONSENT']))
LOGINS = ('MBX-LOGIN-IMAP', 'MBX-LOGIN-POP3', 'MBX-LOGIN-SMTP')


def ps_quote(value):
    """VALUE as a PowerShell single-quoted string: every single-quote character doubled, no control character."""
    text = _CONTROL.sub('', _LINE_BREAKS.sub(' ', u'%s' % (value,)))
    return u"'%s'" % _QUOTES.sub(lambda match: match.group(0) * 2, text)


def ps_list(values):
    return ', '.join(ps_quote(v) for v in values)


def comment(text):
    """TEXT as one comment line: no line break can end the comment and start a command."""
    return u'# %s' % _CONTROL.sub('', _LINE_BREAKS.sub(' ', u'%s' % (text,))).strip()


def needs_fixing(finding):
    """A finding the script answers: it fails or errors and no active waiver covers it."""
    return finding.get('status') in ('fail', 'error') and not (finding.get('waiver') or {}).get('active')


def _render(check_id, variant, values):
    template = _facts.COMMANDS[check_id][1][variant]
    for name, value in values.items():
        template = template.replace('<%s>' % name, value)
    return template


def _host(url):
    try:
        return (urlsplit(url or '').hostname or '').lower() or None
    except ValueError:
        return None


# -- what each check's command is filled from: [(variant, values)], and whether that covers the whole finding ------

def _user_account(finding):
    evidence = finding.get('evidence') or {}
    delegate = len(evidence) > 1
    out, covered = [], True
    for name, facts in sorted(evidence.items()):
        if not isinstance(facts, dict) or (name == finding['subject'] and delegate):
            continue  # a shared mailbox's own sign-in stays blocked, as Microsoft recommends
        if facts.get('exists') is False:
            covered = False  # creating an account is a decision, not a command
        elif facts.get('enabled') is False:
            out.append(('enable', {'user': ps_quote(name)}))
    return out, covered and bool(out)


def _licence(finding, check_):
    evidence = finding.get('evidence') or {}
    # Only the check's own fix (no plan at all) is a licence to assign; a pending plan or a refused read is not.
    if finding.get('remediation') != check_.remediation or evidence.get('mailbox_exists') is True:
        return [], False
    return [('assign', {'user': ps_quote(finding['subject'])})], True


def _protocols(finding):
    evidence = finding.get('evidence') or {}
    switch = {'imap': 'imap_enabled', 'pop3': 'pop_enabled'}
    off = [p for p in evidence.get('used') or [] if p in switch and evidence.get(switch[p]) is False]
    return [(p, {'mailbox': ps_quote(finding['subject'])}) for p in off], bool(off)


def _smtp_auth(finding):
    evidence = finding.get('evidence') or {}
    if evidence.get('smtp_auth_enabled') is not False or not evidence.get('signs_in'):
        return [], False  # no mailbox to sign in with: a licence, not a setting
    return [('enable', {'mailbox': ps_quote(evidence['signs_in'])})], True


def _rights(finding, target):
    evidence = finding.get('evidence') or {}
    account = evidence.get('account')
    where = evidence.get(target) if target != 'mailbox' else finding['subject']
    if not account or not where:
        return [], False
    values = {'account': ps_quote(account), target: ps_quote(where)}
    out = [('undeny', values)] if '(a Deny entry' in (finding.get('detail') or '') else []
    return out + [('grant', values)], True


def _redirect_uri(finding):
    evidence = finding.get('evidence') or {}
    host = _host(evidence.get('external_url'))
    uris = evidence.get('redirect_uris') or {}
    if not host or not isinstance(uris, dict):
        return [], False
    wanted = []
    for kind in ('web', 'spa', 'public_client'):
        for uri in uris.get(kind) or []:
            if _host(uri) != host:
                continue
            scheme, _sep, rest = str(uri).partition('://')
            https = 'https://' + rest if scheme.lower() == 'http' else uri if scheme.lower() == 'https' else None
            if https and https not in wanted and not (kind == 'web' and https == uri):
                wanted.append(https)
    # No redirect URI on the External URL's host at all: the path ECE sends is not known here.
    return ([('add_web', {'uris': ps_list(wanted)})], True) if wanted else ([], False)


def _consent(finding):
    scopes = (finding.get('evidence') or {}).get('not_consented') or []
    if not scopes:
        return [], False  # no service principal at all: consent in the admin center creates it
    return [('grant', {'scopes': ps_list(scopes)})], True


def commands_for(finding, check_):
    """([(check id, variant, command text)], covered): the commands that answer FINDING; covered is False when a
    part of its fix is not a command (it is listed under the manual steps too)."""
    check_id = finding['id']
    if finding.get('status') != 'fail' or check_id not in _facts.COMMANDS:
        return [], False
    fill = {'USER-ACCOUNT': _user_account, 'MBX-PROTOCOLS': _protocols, 'MBX-SMTP-AUTH': _smtp_auth,
            'MBX-FULLACCESS': lambda f: _rights(f, 'mailbox'), 'MBX-SENDAS': lambda f: _rights(f, 'sender'),
            'APP-REDIRECT-URI': _redirect_uri, 'APP-CONSENT': _consent,
            'APP-SECRET-EXPIRY': lambda f: ([('new_secret', {})], True),
            'MBX-LICENCE': lambda f: _licence(f, check_)}[check_id]
    filled, covered = fill(finding)
    return [(check_id, variant, _render(check_id, variant, values)) for variant, values in filled], covered


# -- the script ----------------------------------------------------------------------------------------------------

def _answers(finding):
    return comment('answers %s for %s: %s' % (finding['id'], finding['subject'], finding.get('detail') or ''))


def _app_id(findings):
    for finding in findings:
        if finding['id'] == 'APP-REGISTRATION':
            app_id = str((finding.get('evidence') or {}).get('app_id') or '')
            return app_id if GUID.match(app_id) else None
    return None


def plan(findings, catalogue):
    """(commands, manual, app id): commands = [{'section', 'check', 'text', 'findings'}] in script order, each text
    once; manual = [{'fix', 'findings'}], each fix text once, for what is not a command; ECE's client id or None."""
    commands, by_text, manual, by_fix = [], {}, [], {}
    app_id = _app_id(findings)
    chosen = [f for f in findings if needs_fixing(f)]

    def to_manual(finding):
        fix = finding.get('remediation') or 'see the finding'
        if finding.get('status') == 'error':
            fix = 'not judged (%s): read the finding, then run the preflight again; its fix once judged: %s' % (
                finding.get('detail'), fix)
        entry = by_fix.get(fix)
        if entry is None:
            entry = by_fix[fix] = {'fix': fix, 'findings': []}
            manual.append(entry)
        entry['findings'].append(finding)

    waiting = []
    for finding in chosen:
        check_ = catalogue.get(finding['id'])
        found, covered = commands_for(finding, check_) if check_ is not None else ([], False)
        section = _facts.COMMANDS[finding['id']][0] if found else None
        if found and SECTIONS[section][1] == 'graph' and finding['id'].startswith('APP-') and not app_id:
            found, covered = [], False  # which app to change is not known (APP-REGISTRATION not read)
        for check_id, _variant, text in found:
            entry = by_text.get(text)
            if entry is None:
                entry = by_text[text] = {'section': section, 'check': check_id, 'text': text, 'findings': []}
                commands.append(entry)
            if finding not in entry['findings']:
                entry['findings'].append(finding)
        if not covered:
            waiting.append(finding)
    for finding in waiting:
        # A refused login that a failing check of this run explains is answered by that check's commands.
        causes = (finding.get('evidence') or {}).get('known_causes') if finding['id'] in LOGINS else None
        answered = []
        for cause in causes or []:
            key = (cause, 'tenant' if cause == 'APP-CONSENT' else finding['subject'])
            answered += [c for c in commands if key in [(f['id'], f['subject']) for f in c['findings']]]
        if causes and answered and all(any(c['check'] == cause for c in answered) for cause in causes):
            for entry in answered:
                if finding not in entry['findings']:
                    entry['findings'].append(finding)
        else:
            to_manual(finding)
    commands.sort(key=lambda c: ([s[0] for s in _facts.FIX_SECTIONS].index(c['section']), ORDER.get(c['check'], 99)))
    return commands, manual, app_id


def build(findings, catalogue, generated='', inventory=None):
    """The fix script's text for FINDINGS (the engine's), CATALOGUE {id: Check}."""
    commands, manual, app_id = plan(findings, catalogue)
    present = [s for s in _facts.FIX_SECTIONS if any(c['section'] == s[0] for c in commands)]
    graph_scopes = []
    for section in present:
        for scope in section[3]:
            if scope not in graph_scopes:
                graph_scopes.append(scope)
    uses_exchange = any(s[1] == 'exchange' for s in present)
    out = [
        '# preflight-fixes.ps1: the fixes of this preflight run that are commands, written by ece_o365.preflight',
        comment('(preflight_report) at %s%s. The collection NEVER runs it.' % (
            generated or 'an unknown time', ' for the inventory %s' % os.path.basename(str(inventory)) if inventory else '')),
        '#',
        '# Review it before you run it:',
        '#   1. Read every command and the findings it answers (the comments above it). Delete what you do not want.',
        '#   2. Commands go in order: accounts and licences, mailbox settings, mailbox rights, ECE\'s app',
        '#      registration, consent. "Manual steps" at the end are fixes that are not commands.',
        '#   3. Run it in PowerShell 7 as an administrator who may make these changes:',
        '#        pwsh -File preflight-fixes.ps1 -Reviewed',
        '#      It signs in itself: Connect-ExchangeOnline (module ExchangeOnlineManagement) for the mailbox',
        '#      sections, Connect-MgGraph -Scopes <the scopes below> (module Microsoft.Graph) for the others.',
        '#   4. Run the preflight again: it judges what these commands changed.',
        '# Nothing secret is written here; a new client secret, when one is needed, is created and shown when you run it.',
        '',
        '[CmdletBinding()]',
        'param(',
        '    # The reviewer says so: without it the script stops before changing anything.',
        '    [switch]$Reviewed,',
        '    # MBX-LICENCE: the SkuId (a GUID) of a licence with an Exchange Online plan, when the script assigns one.',
        '    [string]$ExchangeSkuId = \'\'',
        ')',
        'Set-StrictMode -Version Latest',
        '$ErrorActionPreference = \'Stop\'',
        'if (-not $Reviewed) { throw \'Review preflight-fixes.ps1 first, then run it with -Reviewed\' }',
        '',
    ]
    if not commands:
        out += ['# Nothing to run: no failing, unwaived finding of this run has a fix that is a command.', '']
    else:
        if uses_exchange:
            out += ['# Exchange Online PowerShell, for the mailbox sections.', 'Connect-ExchangeOnline']
        if graph_scopes:
            out += ['# Microsoft Graph PowerShell, with the scopes the sections below need.',
                    'Connect-MgGraph -Scopes %s' % ps_list(graph_scopes)]
        if any(c['check'] == 'MBX-LICENCE' for c in commands):
            out += ['if (-not $ExchangeSkuId) { throw \'MBX-LICENCE: pass -ExchangeSkuId <the SkuId of a licence with '
                    'an Exchange Online plan> (or remove the licence commands and use a shared mailbox)\' }']
        if app_id and any(SECTIONS[c['section']][0] in ('app_registration', 'consent') for c in commands):
            out += ['# ECE\'s app registration (its client id, from APP-REGISTRATION).',
                    '$EceAppId = %s' % ps_quote(app_id),
                    '$EceApp = Get-MgApplication -Filter "appId eq \'$EceAppId\'"',
                    'if (-not $EceApp) { throw "No app registration with the client id $EceAppId" }']
        if any(c['section'] == 'consent' for c in commands):
            out += ['$EceSp = Get-MgServicePrincipal -Filter "appId eq \'$EceAppId\'"',
                    'if (-not $EceSp) { throw \'ECE\'\'s app has no service principal: grant consent in the Entra admin '
                    'center instead\' }',
                    '$GraphSp = Get-MgServicePrincipal -Filter "appId eq \'%s\'"' % _facts.MICROSOFT_GRAPH_APP_ID]
        out.append('')
        for section in present:
            tool = 'Microsoft Graph PowerShell' if section[1] == 'graph' else 'Exchange Online PowerShell'
            scopes = ', scopes %s' % ', '.join(section[3]) if section[3] else ''
            out += ['# ' + '=' * 100, comment('%s (%s%s)' % (section[2], tool, scopes)), '# ' + '=' * 100, '']
            for entry in [c for c in commands if c['section'] == section[0]]:
                out += [_answers(f) for f in entry['findings']]
                out += entry['text'].split('\n') + ['']
    if manual:
        out += ['# ' + '=' * 100, '# Manual steps: fixes that are not commands (nothing below runs)', '# ' + '=' * 100, '']
        for entry in manual:
            out += [_answers(f) for f in entry['findings']]
            out += [comment('fix: %s' % entry['fix']), '#']
        out.append('')
    return '\n'.join(out).rstrip('\n') + '\n'


def write(findings, catalogue, directory, generated='', inventory=None):
    """Write the fix script into DIRECTORY (UTF-8 with a byte order mark, as Windows PowerShell 5.1 reads it)."""
    path = os.path.join(directory, FILENAME)
    with open(path, 'w', encoding='utf-8-sig', newline='\r\n') as handle:
        handle.write(build(findings, catalogue, generated, inventory))
    return path
