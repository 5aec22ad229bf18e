# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The catalogue of checks and the judge: observations in, findings out. Pure Python, controller side.

Each check is declared once, here, with its stable id, title, severity, the TAC checklist item it
comes from, where it runs, the evidence it reads and its remediation; docs/checks.md is generated
from this catalogue (tools/gen-checks-doc) and a unit test fails when they differ.

A check never raises: a missing observation gives status ``skip`` with the reason (e.g. the host
was unreachable, which is itself a finding of PREFLIGHT-HOST-REACHABLE), and an exception inside a
check becomes status ``error`` for that check alone.
"""

import datetime
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    urlsplit = None

SCHEMA_VERSION = 1
STATUSES = ('pass', 'warn', 'fail', 'skip', 'error')
SEVERITIES = ('error', 'warning')
SCOPES = {
    'host': 'every ECE host',
    'services': 'services servers (retriever, dispatcher, token refresh)',
    'application': 'application servers (initial token, alarm mail)',
    'tenant': 'once, for the tenant',
    'mailbox': 'once per mailbox ECE uses',
}
# The TAC checklist (Cisco ECE 12.6), by item number, as DESIGN and README name it.
CHECKLIST = {
    1: 'Minimum ECE version and Engineering Special',
    2: 'ECE External URL: set, https, same FQDN as the admin login and the redirect URI',
    3: 'Entra app registration: redirect URI, delegated permissions, consent, client secret',
    4: 'Token lifetime: access 60-90 min, refresh token 90 days unused',
    5: 'Token generated for the right user (not the SSO workstation user)',
    6: 'Mailbox protocols: SMTP AUTH, and IMAP or POP',
    7: 'Exchange Online licence provisioned',
    8: 'Mailbox rights: own account, or shared account with FullAccess',
    9: 'Network: 443, 587, 993, 995 from the services and application servers',
    10: 'Connectivity test: SMTP, IMAP, POP from each ECE server',
}
# Minimum Engineering Special per ECE release (TAC checklist item 1, bug CSCvr86493).
MINIMUM_ES = {
    '11.6(1)': ('ES12', 'ES12_ET1'),
    '12.0(1)': ('ES6',),
    '12.5(1)': ('ES3',),
    '12.6(1)': ('ES1',),
}
ACCESS_TOKEN_LIFETIME = (3600, 5400)  # Entra's documented default: 60-90 minutes
CLOCK_SKEW_WARN, CLOCK_SKEW_FAIL = 60, 300  # seconds; tokens carry nbf/exp, Kerberos allows 5 minutes
SECRET_EXPIRY_WARN_DAYS = 30
MAIL_PORTS = {
    # port: (who needs it, what for)
    443: (('services', 'application'), 'HTTPS to login.microsoftonline.com: tokens'),
    587: (('services', 'application'), 'SMTP submission with STARTTLS: the dispatcher and alarm mail'),
    993: (('services',), 'IMAP over TLS: the retriever'),
    995: (('services',), 'POP3 over TLS: the retriever'),
}


class Finding(dict):
    """One check's verdict for one subject (a host, the tenant, or a mailbox)."""


class Check(object):
    """A check as the catalogue declares it; JUDGE(context, subject) returns (status, detail, evidence)."""

    def __init__(self, check_id, title, severity, item, scope, tags, evidence, remediation, judge,
                 code=None):
        if severity not in SEVERITIES or scope not in SCOPES or item not in CHECKLIST:
            raise ValueError('check %s: bad severity, scope or checklist item' % check_id)
        self.id = check_id
        self.title = title
        self.severity = severity
        self.item = item
        self.scope = scope
        self.tags = tuple(tags)
        self.evidence = evidence
        self.remediation = remediation
        self.judge = judge
        self.code = code  # the Microsoft error code the remediation is about, where one applies

    def skip_variable(self):
        """The exact inventory variable that skips this check."""
        return 'ece_o365_skip_checks: [%s]' % self.id


# -- helpers for the judges -----------------------------------------------------------------

class Missing(Exception):
    """The observation a check needs is not there; the check is skipped with this reason."""


def _get(data, path, what=None):
    value = data
    for key in path.split('.'):
        if not isinstance(value, dict) or value.get(key) is None:
            raise Missing('no %s was observed' % (what or path))
        value = value[key]
    return value


def _port_results(context, port):
    probe = _get(context['host'], 'network.port_probe', 'port_probe result')
    found = [r for r in probe.get('results', []) if r.get('port') == port]
    if not found:
        raise Missing('port %d was not probed from this host' % port)
    return found


def _fqdn(url):
    try:
        parts = urlsplit(url or '')
    except ValueError:
        return None
    return (parts.hostname or '').lower() or None


# -- the judges -----------------------------------------------------------------------------

def judge_port(port):
    def judge(context, _subject):
        results = _port_results(context, port)
        failed = [r for r in results if r.get('error')]
        evidence = [{'target': r.get('name'), 'error': r.get('error'), 'elapsed_ms': r.get('elapsed_ms')}
                    for r in results]
        if failed:
            return 'fail', '; '.join(r.get('message') or r.get('error') for r in failed), evidence
        return 'pass', '%d target(s) reached on %d' % (len(results), port), evidence
    return judge


def judge_xoauth2(context, _subject):
    probe = _get(context['host'], 'network.port_probe', 'port_probe result')
    mail = [r for r in probe.get('results', []) if r.get('protocol') in ('smtp', 'imap', 'pop3') and not r.get('error')]
    if not mail:
        raise Missing('no mail port answered, see NET-PORT-*')
    without = [r for r in mail if 'XOAUTH2' not in (r.get('auth_mechanisms') or [])]
    evidence = [{'target': r.get('name'), 'auth_mechanisms': r.get('auth_mechanisms')} for r in mail]
    if without:
        return 'fail', 'XOAUTH2 is not offered on %s' % ', '.join(r.get('name') for r in without), evidence
    return 'pass', 'XOAUTH2 offered on %d mail port(s)' % len(mail), evidence


def _url_results(context):
    reach = _get(context['host'], 'network.url_reach', 'url_reach result')
    results = reach.get('results') or []
    if not results:
        raise Missing('no URL was requested from this host')
    return results


def judge_urls(context, _subject):
    results = _url_results(context)
    failed = [r for r in results if not r.get('ok')]
    evidence = [{'url': r.get('url'), 'status': r.get('status'), 'error_class': r.get('error_class')} for r in results]
    if failed:
        return 'fail', '; '.join(str(r.get('error') or r.get('error_class')) for r in failed), evidence
    return 'pass', '%d endpoint(s) answered as expected' % len(results), evidence


def judge_interception(context, _subject):
    results = [r for r in _url_results(context) if r.get('intercepted') is not None]
    if not results:
        raise Missing('no URL was checked against expected issuers')
    intercepted = [r for r in results if r.get('intercepted')]
    evidence = [{'url': r.get('url'), 'intercepted': r.get('intercepted'),
                 'issuer': ((r.get('tls') or {}).get('certificate') or {}).get('issuer')} for r in results]
    if intercepted:
        return 'fail', 'TLS to %s is re-signed by %s' % (
            ', '.join(r.get('url') for r in intercepted),
            ', '.join(sorted(set(str(e['issuer']) for e in evidence if e['intercepted'])))), evidence
    return 'pass', 'certificates are issued by the expected CAs', evidence


def judge_clock(context, _subject):
    skews = [(r.get('url'), r.get('clock_skew_seconds')) for r in _url_results(context)
             if r.get('clock_skew_seconds') is not None]
    if not skews:
        raise Missing('no server Date header was seen')
    worst = max(skews, key=lambda item: abs(item[1]))
    evidence = [{'url': url, 'clock_skew_seconds': skew} for url, skew in skews]
    detail = 'this host\'s clock is %+.0f s off %s' % (worst[1], worst[0])
    if abs(worst[1]) >= CLOCK_SKEW_FAIL:
        return 'fail', detail, evidence
    if abs(worst[1]) >= CLOCK_SKEW_WARN:
        return 'warn', detail, evidence
    return 'pass', detail, evidence


def _es_number(value):
    match = re.match(r'ES(\d+)', (value or '').upper())
    return int(match.group(1)) if match else None


def judge_ece_version(context, _subject):
    ece = _get(context['host'], 'ece', 'ECE inventory facts (ece_o365_ece_version)')
    version = ece.get('version')
    if not version:
        raise Missing('ece_o365_ece_version is not set for this host')
    minimum = MINIMUM_ES.get(version)
    evidence = {'version': version, 'installed_es': ece.get('installed_es'), 'es_to_install': ece.get('es_to_install'),
                'minimum': list(minimum) if minimum else None, 'known_latest_es': ece.get('known_latest_es')}
    if minimum is None:
        newer = [v for v in MINIMUM_ES if _version_key(v) < _version_key(version)]
        if newer:
            return 'pass', 'ECE %s is newer than every release the checklist names' % version, evidence
        return 'fail', 'ECE %s predates OAuth2 mail support (needs 11.6(1) ES12 or later)' % version, evidence
    # The CI gate's case: judge the ES a pipeline is about to install, when given.
    effective = ece.get('es_to_install') or ece.get('installed_es') or ''
    installed = {e.strip().upper() for e in re.split(r'[,\s]+', effective) if e.strip()}
    needed_number = _es_number(minimum[0])
    have_number = max([_es_number(e) or 0 for e in installed] or [0])
    missing = [m for m in minimum[1:] if m.upper() not in installed]
    if have_number < needed_number or missing:
        return 'fail', 'ECE %s with %s; OAuth2 mail needs %s (CSCvr86493)' % (
            version, effective or 'no ES', ' and '.join(minimum)), evidence
    latest = _es_number(ece.get('known_latest_es'))
    if latest and latest > have_number:
        return 'warn', 'ECE %s with %s meets the minimum; %s is known' % (version, effective, ece['known_latest_es']), evidence
    return 'pass', 'ECE %s with %s (minimum %s)' % (version, effective, ' and '.join(minimum)), evidence


def _version_key(version):
    return tuple(int(n) for n in re.findall(r'\d+', version))


def judge_external_url(context, _subject):
    ece = _get(context['host'], 'ece', 'ECE inventory facts')
    url = ece.get('external_url')
    if not url:
        return 'fail', 'the ECE External URL is not set (ece_o365_ece_external_url)', {'external_url': None}
    evidence = {'external_url': url, 'admin_login_fqdn': ece.get('admin_login_fqdn')}
    if not url.lower().startswith('https://'):
        return 'fail', 'the External URL %s is not https' % url, evidence
    host = _fqdn(url)
    mismatches = []
    if ece.get('admin_login_fqdn') and ece['admin_login_fqdn'].lower() != host:
        mismatches.append('admins log in at %s' % ece['admin_login_fqdn'])
    if mismatches:
        return 'fail', 'the External URL names %s, but %s' % (host, '; '.join(mismatches)), evidence
    reach = ((ece.get('external_url_reach') or {}).get('results') or [None])[0]
    if reach is not None:  # recorded when the ece role requests the External URL from this host
        evidence['reach'] = {'status': reach.get('status'), 'error_class': reach.get('error_class')}
        if not reach.get('ok') and reach.get('error_class') not in (None, 'http_status', 'assertion'):
            return 'fail', 'the External URL %s does not answer with a valid certificate from this host: %s' % (
                url, reach.get('error')), evidence
    return 'pass', 'External URL %s, the FQDN admins log in with (the redirect URI: APP-REDIRECT-URI)' % url, evidence


def judge_mailbox_protocol(protocol):
    def judge(context, subject):
        mailbox = context['mailboxes'][subject]
        token = mailbox.get('token') or {}
        if token and not token.get('acquired'):
            raise Missing('no token to log in with, see TOKEN-REFRESH')
        logins = [r for r in mailbox.get('logins') or [] if r.get('protocol') == protocol]
        if not logins:
            raise Missing('no %s login was tried for %s' % (protocol.upper(), subject))
        result = logins[0]
        evidence = {k: result.get(k) for k in ('login', 'host', 'port', 'authenticated', 'error', 'reply')}
        evidence['followup'] = (result.get('followup') or {}).get('command')
        if result.get('ok'):
            return 'pass', result.get('message'), evidence
        return 'fail', result.get('message'), evidence
    return judge


# -- tenant, token and mailbox judges ---------------------------------------------------------

DELEGATED_MAIL = ('IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access')


def _application(context):
    info = _get(context['tenant'], 'tenant_info', 'tenant_info result')
    app = info.get('application')
    if not app:
        if info.get('error'):
            raise Missing('tenant_info could not read the app registration: %s' % info.get('message'))
        raise Missing('no app registration was read (tenant_info application_id)')
    if app.get('found') is None:
        raise Missing('the app registration could not be read: %s' % ((app.get('error') or {}).get('message')))
    return app


def judge_app_registration(context, _subject):
    app = _application(context)
    evidence = {'app_id': app.get('app_id'), 'display_name': app.get('display_name'),
                'sign_in_audience': app.get('sign_in_audience')}
    if not app.get('found'):
        return 'fail', 'no app registration with application id %s in the tenant' % app.get('app_id'), evidence
    return 'pass', 'app registration %s (%s)' % (app.get('display_name'), app.get('app_id')), evidence


def judge_redirect_uri(context, _subject):
    app = _application(context)
    if not app.get('found'):
        raise Missing('the app registration does not exist, see APP-REGISTRATION')
    external = app.get('external_url') or {}
    evidence = {'redirect_uris': app.get('redirect_uris'), 'external_url': external.get('url'),
                'redirect_uri_hosts': app.get('redirect_uri_hosts')}
    if not external.get('url'):
        raise Missing('no ECE External URL was given to tenant_info')
    if not external.get('host_registered'):
        return 'fail', 'no redirect URI of the app uses %s (ECE\'s External URL host); registered: %s' % (
            external.get('host'), ', '.join(app.get('redirect_uri_hosts') or []) or 'none'), evidence
    return 'pass', 'redirect URI on %s: %s' % (external.get('host'), ', '.join(external.get('matching_redirect_uris') or [])), evidence


def judge_permissions(context, _subject):
    app = _application(context)
    if not app.get('found'):
        raise Missing('the app registration does not exist, see APP-REGISTRATION')
    requested = set(p.get('name') for p in app.get('required_permissions') or [] if p.get('type') == 'delegated')
    evidence = {'delegated': sorted(requested)}
    missing = [p for p in ('SMTP.Send', 'offline_access') if p not in requested]
    if not requested & {'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All'}:
        missing.insert(0, 'IMAP.AccessAsUser.All or POP.AccessAsUser.All')
    if missing:
        return 'fail', 'the app does not request %s' % ', '.join(missing), evidence
    return 'pass', 'requests %s' % ', '.join(sorted(requested & set(DELEGATED_MAIL))), evidence


def judge_consent(context, _subject):
    app = _application(context)
    principal = app.get('service_principal') or {}
    if not app.get('found') or not principal.get('found'):
        if app.get('found'):
            return 'fail', 'the app has no service principal in the tenant: nobody consented to it', {}
        raise Missing('the app registration does not exist, see APP-REGISTRATION')
    missing = principal.get('delegated_not_admin_consented') or []
    evidence = {'admin_consented_scopes': principal.get('admin_consented_scopes'), 'not_consented': missing}
    mail_missing = [p for p in missing if p in DELEGATED_MAIL]
    if mail_missing:
        return 'fail', 'no admin consent for %s (AADSTS65001 follows)' % ', '.join(mail_missing), evidence
    return 'pass', 'admin consent covers the mail permissions', evidence


def judge_secret(context, _subject):
    app = _application(context)
    if not app.get('found'):
        raise Missing('the app registration does not exist, see APP-REGISTRATION')
    secrets = app.get('secrets') or []
    certificates = app.get('certificates') or []
    evidence = {'secrets': [dict((k, s.get(k)) for k in ('display_name', 'hint', 'end', 'days_left')) for s in secrets],
                'certificates': len(certificates)}
    days = app.get('latest_secret_days_left')
    if days is None:
        if certificates:
            return 'pass', 'the app authenticates with a certificate', evidence
        return 'fail', 'the app has no client secret (ECE needs one to redeem its tokens)', evidence
    if days < 0:
        return 'fail', 'every client secret has expired (the last on %s; AADSTS7000222 follows)' % max(
            s.get('end') for s in secrets), evidence
    if days <= context.get('secret_warn_days', SECRET_EXPIRY_WARN_DAYS):
        return 'warn', 'the last client secret expires in %d day(s)' % days, evidence
    return 'pass', 'a client secret is valid for %d more day(s)' % days, evidence


def _mailbox(context, subject):
    mailbox = context['mailboxes'].get(subject) or {}
    return mailbox


def _token(context, subject):
    token = _mailbox(context, subject).get('token')
    if not token:
        raise Missing('no token facts for %s' % subject)
    return token


def judge_token_refresh(context, subject):
    token = _token(context, subject)
    evidence = dict((k, token.get(k)) for k in ('source', 'acquired', 'error', 'token_owner'))
    aadsts = token.get('aadsts') or {}
    if aadsts:
        evidence['aadsts'] = dict((k, aadsts.get(k)) for k in ('code', 'name', 'meaning', 'fix'))
    if not token.get('acquired'):
        return 'fail', token.get('message') or 'no token for %s' % subject, evidence
    return 'pass', 'token redeemed (%s)' % token.get('source'), evidence


def judge_token_owner(context, subject):
    token = _token(context, subject)
    if not token.get('acquired'):
        raise Missing('no token was acquired, see TOKEN-REFRESH')
    mailbox = _mailbox(context, subject)
    expected = (mailbox.get('account') or subject).lower()
    owner = (token.get('token_owner') or token.get('upn') or token.get('preferred_username') or '').lower()
    evidence = {'expected': expected, 'token_owner': owner or None}
    if not owner:
        raise Missing('the token does not say whose it is (an app-only token)')
    if owner != expected:
        return 'fail', 'the token for %s belongs to %s, not %s: it was generated by the wrong user (Kerberos SSO ' \
            'signs in the workstation user)' % (subject, owner, expected), evidence
    return 'pass', 'the token belongs to %s' % owner, evidence


def judge_token_lifetime(context, subject):
    token = _token(context, subject)
    lifetime = token.get('lifetime_seconds') or token.get('expires_in')
    if not token.get('acquired') or lifetime is None:
        raise Missing('no token lifetime was observed, see TOKEN-REFRESH')
    low, high = ACCESS_TOKEN_LIFETIME
    evidence = {'lifetime_seconds': lifetime, 'expected': [low, high]}
    if not low - 300 <= lifetime <= high + 300:
        return 'fail', 'access tokens live %d s, outside Entra\'s 60-90 minutes: a token lifetime policy applies' % lifetime, evidence
    return 'pass', 'access token lifetime %d s' % lifetime, evidence


def _user(context, name):
    info = _get(context['tenant'], 'tenant_info', 'tenant_info result')
    for user in info.get('users') or []:
        if (user.get('name') or '').lower() == name.lower():
            return user
    raise Missing('tenant_info did not read %s' % name)


def judge_user(context, subject):
    mailbox = _mailbox(context, subject)
    names = sorted(set([subject] + ([mailbox['account']] if mailbox.get('account') else [])))
    problems, evidence = [], {}
    for name in names:
        user = _user(context, name)
        if user.get('exists') is None:
            raise Missing('tenant_info could not read %s: %s' % (name, (user.get('error') or {}).get('message')))
        evidence[name] = {'exists': user.get('exists'), 'enabled': user.get('enabled')}
        if not user.get('exists'):
            problems.append('%s does not exist in the tenant (AADSTS50034)' % name)
        elif user.get('enabled') is False:
            problems.append('%s is disabled (AADSTS50057)' % name)
    if problems:
        return 'fail', '; '.join(problems), evidence
    return 'pass', ', '.join('%s enabled' % n for n in names), evidence


def _settings(context, subject):
    settings = _get(context['tenant'], 'mailbox_settings', 'mailbox_settings result')
    for mailbox in settings.get('mailboxes') or []:
        if (mailbox.get('mailbox') or '').lower() == subject.lower():
            if mailbox.get('exists') is None:
                raise Missing('the Exchange admin API could not read %s: %s' % (
                    subject, (mailbox.get('error') or {}).get('message')))
            return mailbox, settings
    if settings.get('error'):
        raise Missing('the Exchange admin API could not be read: %s' % settings.get('message'))
    raise Missing('mailbox_settings did not read %s' % subject)


def judge_licence(context, subject):
    user = _user(context, subject)
    settings, _all = None, None
    try:
        settings, _all = _settings(context, subject)
    except Missing:
        pass
    evidence = {'exchange_plans': user.get('exchange_plans'), 'mailbox_exists': settings.get('exists') if settings else None}
    missing = '%s has no provisioned Exchange Online plan and Exchange holds no mailbox for it (IMAP: "User is ' \
        'authenticated but not connected")' % subject
    if settings is not None:  # the Exchange admin API is the authority on whether the mailbox exists
        if settings.get('exists'):
            return 'pass', 'Exchange Online holds the mailbox', evidence
        return 'fail', missing, evidence
    if user.get('exchange_provisioned'):
        return 'pass', 'an Exchange Online plan is provisioned', evidence
    logged_in = [r for r in _mailbox(context, subject).get('logins') or [] if r.get('ok')]
    if logged_in:
        return 'pass', 'a %s login succeeded, so Exchange holds the mailbox (a shared mailbox needs no ' \
            'licence)' % logged_in[0].get('protocol', '').upper(), evidence
    raise Missing('no Exchange plan for %s, and the Exchange admin API was not read to tell whether a shared '
                  'mailbox exists (see PREFLIGHT-TENANT-READ)' % subject)


def judge_protocols_enabled(context, subject):
    settings, _all = _settings(context, subject)
    if not settings.get('exists'):
        raise Missing('Exchange holds no mailbox %s, see MBX-LICENCE' % subject)
    wanted = _mailbox(context, subject).get('protocols') or ['imap', 'pop3']
    evidence = {'imap_enabled': settings.get('imap_enabled'), 'pop_enabled': settings.get('pop_enabled'),
                'retrieval': [p for p in wanted if p in ('imap', 'pop3')]}
    retrieval = evidence['retrieval'] or ['imap', 'pop3']
    enabled = [p for p in retrieval if settings.get('imap_enabled' if p == 'imap' else 'pop_enabled')]
    if not enabled:
        return 'fail', '%s is disabled on %s (Set-CASMailbox -%sEnabled $true)' % (
            ' and '.join(p.upper() for p in retrieval), subject, 'Imap' if 'imap' in retrieval else 'Pop'), evidence
    return 'pass', '%s enabled' % ', '.join(p.upper() for p in enabled), evidence


def judge_smtp_auth(context, subject):
    settings, everything = _settings(context, subject)
    if not settings.get('exists'):
        raise Missing('Exchange holds no mailbox %s, see MBX-LICENCE' % subject)
    evidence = {'smtp_auth_enabled': settings.get('smtp_auth_enabled'), 'source': settings.get('smtp_auth_source'),
                'mailbox_setting': settings.get('smtp_client_authentication_disabled'),
                'tenant_setting': (everything.get('transport_config') or {}).get('smtp_client_authentication_disabled')}
    if settings.get('smtp_auth_enabled') is False:
        return 'fail', 'SMTP AUTH is disabled for %s by the %s setting (535 5.7.139)' % (
            subject, settings.get('smtp_auth_source')), evidence
    if settings.get('smtp_auth_enabled') is None:
        raise Missing('the effective SMTP AUTH setting could not be read')
    return 'pass', 'SMTP AUTH enabled (from the %s setting)' % settings.get('smtp_auth_source'), evidence


def judge_full_access(context, subject):
    settings, _all = _settings(context, subject)
    account = (_mailbox(context, subject).get('account') or subject).lower()
    evidence = {'account': account, 'full_access': settings.get('full_access'),
                'denied': settings.get('full_access_denied')}
    if account == subject.lower():
        return 'pass', '%s uses its own account' % subject, evidence
    if not settings.get('account_has_full_access'):
        why = 'a Deny entry' if account in [d.lower() for d in settings.get('full_access_denied') or []] else 'no grant'
        return 'fail', '%s may not open %s (%s): Add-MailboxPermission -Identity %s -User %s -AccessRights FullAccess' % (
            account, subject, why, subject, account), evidence
    return 'pass', '%s holds FullAccess on %s' % (account, subject), evidence


def judge_tenant_read(context, _subject):
    tenant = context['tenant']
    if tenant.get('failed_tasks'):
        return 'fail', 'a tenant task failed, so the tenant and the mailboxes were not judged: %s' % '; '.join(
            tenant['failed_tasks']), {'failed_tasks': tenant['failed_tasks']}
    reads = [(name, tenant.get(name)) for name in ('tenant_info', 'mailbox_settings') if tenant.get(name)]
    if not reads:
        raise Missing('the tenant role did not run (no tenant_info or mailbox_settings result)')
    failed = []
    for name, result in reads:
        for error in result.get('errors') or []:
            failed.append('%s: %s' % (name, error.get('message')))
        token = result.get('token') or {}
        if token.get('acquired') is False:
            failed.append('%s: %s' % (name, token.get('message')))
    evidence = [{'module': name, 'error': result.get('error')} for name, result in reads]
    if failed:
        return 'fail', '; '.join(failed), evidence
    return 'pass', 'Graph and the Exchange admin API answered every read', evidence


# -- the catalogue ---------------------------------------------------------------------------

def _port_check(port):
    who, what = MAIL_PORTS[port]
    scope = 'services' if who == ('services',) else 'host'
    return Check(
        'NET-PORT-%d' % port, 'TCP %d reachable (%s)' % (port, what), 'error', 9, scope,
        ('network', 'ports'),
        'port_probe from this host to the Microsoft 365 endpoints on port %d (DNS, TCP, TLS/STARTTLS, certificate)' % port,
        'open TCP %d outbound from this host to *.office365.com / login.microsoftonline.com on every firewall and '
        'proxy on the way; exempt them from TLS inspection' % port,
        judge_port(port))


CATALOGUE = [
    _port_check(443),
    _port_check(587),
    _port_check(993),
    _port_check(995),
    Check('NET-XOAUTH2', 'XOAUTH2 offered on the mail ports', 'error', 9, 'host', ('network', 'mail'),
          'the SASL mechanisms port_probe read from SMTP EHLO (after STARTTLS), IMAP CAPABILITY and POP3 CAPA',
          'something between this host and Exchange Online rewrites the session (an SMTP fix-up or a mail proxy): '
          'exempt the Microsoft 365 mail endpoints from it', judge_xoauth2),
    Check('NET-URL-ENDPOINTS', 'Microsoft endpoints answer over HTTPS', 'error', 9, 'host', ('network', 'https'),
          'url_reach from this host: the tenant\'s OIDC discovery document (issuer names the tenant) and the other '
          'endpoints configured, through the host\'s proxy',
          'allow login.microsoftonline.com and graph.microsoft.com through the proxy and firewall; check the tenant id',
          judge_urls),
    Check('NET-TLS-INTERCEPT', 'No TLS inspection on Microsoft endpoints', 'error', 9, 'host', ('network', 'tls'),
          'the certificate issuer url_reach saw, against the expected Microsoft issuers or CA fingerprints',
          'exempt login.microsoftonline.com and *.office365.com from TLS inspection on the proxy or firewall',
          judge_interception),
    Check('NET-CLOCK-SKEW', 'Host clock within %d s of Microsoft\'s' % CLOCK_SKEW_WARN, 'warning', 4, 'host',
          ('network', 'time'),
          'the Date header of the Microsoft endpoints against this host\'s clock, from url_reach',
          'synchronise the host\'s clock (w32time / chrony); token validity (nbf/exp) tolerates only small skew',
          judge_clock),
    Check('ECE-VERSION', 'ECE version and Engineering Special support OAuth2 mail', 'error', 1, 'host',
          ('ece', 'version'),
          'ece_o365_ece_version, ece_o365_ece_installed_es (or ece_o365_ece_es_to_install in a CI gate) and '
          'ece_o365_ece_known_latest_es from the inventory',
          'install the Engineering Special the checklist names for this release (11.6(1) ES12 and ES12_ET1, '
          '12.0(1) ES6, 12.5(1) ES3, 12.6(1) ES1), or a later one', judge_ece_version, code='CSCvr86493'),
    Check('ECE-EXTERNAL-URL', 'External URL set, https, and the FQDN admins log in with', 'error', 2,
          'host', ('ece', 'url'),
          'ece_o365_ece_external_url and ece_o365_ece_admin_login_fqdn from the inventory, and, when the ece role '
          'requests it, whether the External URL answers from the host with a valid certificate (the redirect URI is '
          'APP-REDIRECT-URI\'s)',
          'set Partition > Apps > General settings > External URL of application (11.5-12.5: Web Server URL or Load '
          'Balancer URL) to https://<the FQDN admins use>, and register exactly that host in the app\'s redirect URI',
          judge_external_url),
    Check('PREFLIGHT-TENANT-READ', 'The preflight could read the tenant', 'error', 3, 'tenant', ('preflight', 'tenant'),
          'the errors tenant_info (Microsoft Graph) and mailbox_settings (Exchange admin API) returned, with the '
          'permission or role a 401/403 names',
          'give the preflight\'s own app registration Application.Read.All and User.Read.All (Graph) and '
          'Exchange.ManageAsApp with an Exchange administrator role, with admin consent; the tenant checks that need '
          'a read are skipped until then', judge_tenant_read),
    Check('APP-REGISTRATION', 'ECE\'s app registration exists in the tenant', 'error', 3, 'tenant', ('tenant', 'app'),
          'tenant_info: GET /applications(appId=...) for the client id ECE is configured with',
          'register the app (or fix the client id in ECE): Entra admin center > App registrations', judge_app_registration,
          code='AADSTS700016'),
    Check('APP-REDIRECT-URI', 'A redirect URI on ECE\'s External URL host', 'error', 2, 'tenant', ('tenant', 'app'),
          'tenant_info: the app\'s web redirect URIs against ece_o365_ece_external_url',
          'add https://<External URL host>/... as a Web redirect URI of the app, exactly as ECE sends it',
          judge_redirect_uri, code='AADSTS50011'),
    Check('APP-PERMISSIONS', 'Delegated mail permissions requested', 'error', 3, 'tenant', ('tenant', 'app'),
          'tenant_info: requiredResourceAccess resolved to names (IMAP.AccessAsUser.All and/or POP.AccessAsUser.All, '
          'SMTP.Send, offline_access)',
          'API permissions > Add > Microsoft Graph > Delegated: IMAP.AccessAsUser.All (or POP.AccessAsUser.All), '
          'SMTP.Send, offline_access', judge_permissions),
    Check('APP-CONSENT', 'Admin consent for the mail permissions', 'error', 3, 'tenant', ('tenant', 'app'),
          'tenant_info: the service principal\'s oauth2PermissionGrants (AllPrincipals) against the requested permissions',
          'API permissions > Grant admin consent for <tenant>', judge_consent, code='AADSTS65001'),
    Check('APP-SECRET-EXPIRY', 'Client secret valid, warning within ece_o365_secret_warn_days (%d)' %
          SECRET_EXPIRY_WARN_DAYS, 'error', 3,
          'tenant', ('tenant', 'app'),
          'tenant_info: passwordCredentials end dates (the secret values are never read)',
          'Certificates & secrets > New client secret, put its value in ECE, then delete the old one',
          judge_secret, code='AADSTS7000222'),
    Check('TOKEN-REFRESH', 'ECE\'s stored refresh token still works', 'error', 4, 'mailbox', ('token',),
          'mailbox_protocols / token_acquire: the refresh-token grant with ECE\'s app, from the controller',
          'generate the token again in ECE (Partition > Apps > Email > the mailbox > Generate token) signed in as the '
          'mailbox account; AADSTS700082 means 90 days unused, AADSTS50173 a password reset', judge_token_refresh,
          code='AADSTS700082'),
    Check('TOKEN-OWNER', 'The token belongs to the mailbox (or shared) account', 'error', 5, 'mailbox', ('token',),
          'the id_token\'s preferred_username / the access token\'s upn against the account ECE uses',
          'generate the token in a private browser window signed in as the mailbox account, not through Kerberos '
          'single sign-on as the workstation user', judge_token_owner),
    Check('TOKEN-LIFETIME', 'Access-token lifetime 60-90 minutes', 'warning', 4, 'mailbox', ('token',),
          'the lifetime of the access token issued (exp - iat)',
          'remove the token lifetime policy that applies to the app or the tenant', judge_token_lifetime),
    Check('USER-ACCOUNT', 'Mailbox and login accounts exist and are enabled', 'error', 8, 'mailbox', ('tenant', 'user'),
          'tenant_info: GET /users/{upn}?$select=accountEnabled for the mailbox and the account',
          'create or enable the account in Entra ID', judge_user, code='AADSTS50057'),
    Check('MBX-LICENCE', 'Exchange Online licence provisioned', 'error', 7, 'mailbox', ('mailbox', 'licence'),
          'tenant_info licenseDetails (EXCHANGE_S_* Success) and whether Exchange holds the mailbox (Get-CASMailbox)',
          'assign a licence with an Exchange Online plan (e.g. Office 365 E3 = ENTERPRISEPACK with EXCHANGE_S_ENTERPRISE), '
          'or use a shared mailbox', judge_licence),
    Check('MBX-PROTOCOLS', 'IMAP or POP enabled on the mailbox', 'error', 6, 'mailbox', ('mailbox',),
          'mailbox_settings: Get-CASMailbox ImapEnabled / PopEnabled',
          'Set-CASMailbox -Identity <mailbox> -ImapEnabled $true (or -PopEnabled $true)', judge_protocols_enabled),
    Check('MBX-SMTP-AUTH', 'SMTP AUTH effectively enabled for the mailbox', 'error', 6, 'mailbox', ('mailbox', 'smtp'),
          'mailbox_settings: Get-CASMailbox SmtpClientAuthenticationDisabled, else Get-TransportConfig\'s',
          'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false', judge_smtp_auth, code='5.7.139'),
    Check('MBX-FULLACCESS', 'The shared account holds FullAccess', 'error', 8, 'mailbox', ('mailbox', 'rights'),
          'mailbox_settings: Get-MailboxPermission FullAccess entries (Deny flagged) for the account ECE uses',
          'Add-MailboxPermission -Identity <mailbox> -User <account> -AccessRights FullAccess', judge_full_access),
    Check('MBX-LOGIN-IMAP', 'IMAP login with OAuth2 and EXAMINE', 'error', 10, 'mailbox', ('mailbox', 'imap'),
          'mailbox_protocols: AUTHENTICATE XOAUTH2 as ECE does, then EXAMINE INBOX',
          'follow the fix in the finding: it names Microsoft\'s reply and what it means', judge_mailbox_protocol('imap')),
    Check('MBX-LOGIN-POP3', 'POP3 login with OAuth2 and STAT', 'error', 10, 'mailbox', ('mailbox', 'pop3'),
          'mailbox_protocols: AUTH XOAUTH2 in two steps, then STAT',
          'follow the fix in the finding: it names Microsoft\'s reply and what it means', judge_mailbox_protocol('pop3')),
    Check('MBX-LOGIN-SMTP', 'SMTP login with OAuth2 and MAIL FROM', 'error', 10, 'mailbox', ('mailbox', 'smtp'),
          'mailbox_protocols: EHLO, STARTTLS, AUTH XOAUTH2 with the token after 334, then MAIL FROM and RSET',
          'follow the fix in the finding: 535 5.7.139 means SMTP AUTH is disabled (Set-CASMailbox '
          '-SmtpClientAuthenticationDisabled $false)', judge_mailbox_protocol('smtp'), code='5.7.139'),
]


def judge_reachable(context, _subject):
    host = context['host']
    if host.get('unreachable'):
        return 'fail', 'Ansible could not reach this host: %s' % (host.get('unreachable_reason') or 'unreachable'), {
            'reason': host.get('unreachable_reason')}
    if host.get('failed_tasks'):
        return 'fail', 'a probe task failed on this host: %s' % '; '.join(host['failed_tasks']), {
            'failed_tasks': host['failed_tasks']}
    return 'pass', 'reached; every probe ran', {}


CATALOGUE.insert(0, Check(
    'PREFLIGHT-HOST-REACHABLE', 'Host reachable and every probe ran', 'error', 9, 'host', ('preflight',),
    'Ansible\'s own connection to the host and the status of the probe tasks',
    'check the inventory address, the credentials and that Python (or PowerShell) runs on the host; '
    'the other checks for this host are skipped until it is reachable', judge_reachable))


# -- selection, waivers, the judge ------------------------------------------------------------

class SelectionError(ValueError):
    """Unknown check ids or tags; the message lists the known ones."""


def by_id(catalogue=None):
    return dict((check.id, check) for check in (catalogue or CATALOGUE))


def select(checks=None, tags=None, skip=None, catalogue=None):
    """The checks to run: ids in CHECKS (all when empty) with a tag in TAGS (any when empty), less SKIP."""
    catalogue = catalogue or CATALOGUE
    known = by_id(catalogue)
    known_tags = sorted(set(tag for check in catalogue for tag in check.tags))
    unknown = sorted(set(i for i in list(checks or []) + list(skip or []) if i not in known))
    if unknown:
        raise SelectionError('unknown check id(s): %s. Known checks: %s' % (', '.join(unknown), ', '.join(sorted(known))))
    unknown_tags = sorted(set(t for t in (tags or []) if t not in known_tags))
    if unknown_tags:
        raise SelectionError('unknown tag(s): %s. Known tags: %s' % (', '.join(unknown_tags), ', '.join(known_tags)))
    chosen = [c for c in catalogue if (not checks or c.id in checks) and (not tags or set(c.tags) & set(tags))]
    skipped = [c for c in chosen if c.id in (skip or [])]
    return [c for c in chosen if c not in skipped], skipped


def _parse_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    return datetime.datetime.strptime(str(value)[:10], '%Y-%m-%d').date()


def validate_waivers(waivers):
    """A message naming the first bad waiver, or None. A waiver needs id, reason and expires (YYYY-MM-DD)."""
    known = by_id()
    for index, waiver in enumerate(waivers or []):
        where = 'ece_o365_waivers[%d]' % index
        if not isinstance(waiver, dict):
            return '%s must be a mapping with id, reason and expires' % where
        if waiver.get('id') not in known:
            return '%s: unknown check id %r. Known checks: %s' % (where, waiver.get('id'), ', '.join(sorted(known)))
        if not str(waiver.get('reason') or '').strip():
            return '%s (%s): a waiver needs a reason' % (where, waiver['id'])
        try:
            _parse_date(waiver.get('expires'))
        except (TypeError, ValueError):
            return '%s (%s): expires must be a date YYYY-MM-DD, got %r' % (where, waiver['id'], waiver.get('expires'))
    return None


def _waiver_for(finding, waivers, today):
    for waiver in waivers or []:
        if waiver['id'] != finding['id']:
            continue
        subject = waiver.get('subject') or waiver.get('host') or '*'
        if subject not in ('*', finding['subject']):
            continue
        expires = _parse_date(waiver['expires'])
        return {'reason': waiver['reason'], 'expires': expires.isoformat(), 'active': expires >= today}
    return None


def subjects_for(check, hosts, mailboxes):
    if check.scope == 'tenant':
        return ['tenant']
    if check.scope == 'mailbox':
        return sorted(mailboxes)
    if check.scope == 'host':
        return sorted(hosts)
    return sorted(name for name, host in hosts.items() if check.scope in (host.get('roles') or []))


def judge(hosts, tenant=None, mailboxes=None, checks=None, skipped=None, waivers=None, today=None,
          secret_warn_days=SECRET_EXPIRY_WARN_DAYS):
    """Findings for every chosen check and subject.

    HOSTS: {name: {'roles': [...], 'unreachable': bool, 'network': {...}, 'ece': {...}}};
    TENANT: the tenant-level observations; MAILBOXES: {login: {'logins': [...], 'token': {...}, ...}}.
    """
    today = today or datetime.date.today()
    mailboxes = mailboxes or {}
    findings = []
    for check in checks if checks is not None else CATALOGUE:
        for subject in subjects_for(check, hosts, mailboxes):
            host = hosts.get(subject, {})
            context = {'host': host, 'tenant': tenant or {}, 'mailboxes': mailboxes, 'hosts': hosts,
                       'secret_warn_days': secret_warn_days}
            if check.scope in ('host', 'services', 'application') and check.id != 'PREFLIGHT-HOST-REACHABLE' \
                    and (host.get('unreachable') or host.get('failed_tasks')):
                status, detail, evidence = 'skip', 'not judged: see PREFLIGHT-HOST-REACHABLE for this host', {}
            else:
                try:
                    status, detail, evidence = check.judge(context, subject)
                except Missing as exc:
                    status, detail, evidence = 'skip', str(exc), {}
                except Exception as exc:  # one broken check must not hide the others
                    status, detail, evidence = 'error', 'the check itself failed: %r' % exc, {}
            if status == 'fail' and check.severity == 'warning':
                status = 'warn'
            finding = Finding(
                id=check.id, title=check.title, severity=check.severity, checklist_item=check.item,
                checklist=CHECKLIST[check.item], scope=check.scope, subject=subject, status=status,
                detail=detail, evidence=evidence, remediation=check.remediation, code=check.code,
                skip_with=check.skip_variable(), waiver=None)
            finding['waiver'] = _waiver_for(finding, waivers, today)
            findings.append(finding)
    for check in skipped or []:
        findings.append(Finding(
            id=check.id, title=check.title, severity=check.severity, checklist_item=check.item,
            checklist=CHECKLIST[check.item], scope=check.scope, subject='*', status='skip',
            detail='disabled by ece_o365_skip_checks', evidence={}, remediation=check.remediation, code=check.code,
            skip_with=check.skip_variable(), waiver=None, disabled=True))
    return findings


def blocking(finding, fail_on_warn=False):
    """Whether a finding fails the gate: a fail (or, when strict, a warn) not covered by an active waiver."""
    statuses = ('fail', 'error', 'warn') if fail_on_warn else ('fail', 'error')
    return finding['status'] in statuses and not (finding.get('waiver') or {}).get('active')


def summarize(findings, fail_on_warn=False):
    counts = dict((status, 0) for status in STATUSES)
    for finding in findings:
        counts[finding['status']] += 1
    blockers = [f for f in findings if blocking(f, fail_on_warn)]
    return {'counts': counts, 'total': len(findings), 'blocking': len(blockers),
            'waived': sum(1 for f in findings if (f.get('waiver') or {}).get('active') and f['status'] != 'pass'),
            'passed_gate': not blockers, 'fail_on_warn': fail_on_warn}


def drift(findings, previous):
    """What changed since PREVIOUS (a report's findings): new failures, fixed, still failing, changed."""
    def key(finding):
        return finding['id'], finding['subject']
    before = dict((key(f), f['status']) for f in previous or [])
    out = {'new_failures': [], 'fixed': [], 'still_failing': [], 'changed': [], 'previous_found': previous is not None}
    for finding in findings:
        old = before.get(key(finding))
        now = finding['status']
        entry = {'id': finding['id'], 'subject': finding['subject'], 'was': old, 'now': now}
        if now in ('fail', 'error') and old not in ('fail', 'error'):
            out['new_failures'].append(entry)
        elif now in ('fail', 'error'):
            out['still_failing'].append(entry)
        elif old in ('fail', 'error'):
            out['fixed'].append(entry)
        elif old is not None and old != now:
            out['changed'].append(entry)
    return out


# -- docs/checks.md, generated from the catalogue ---------------------------------------------

def catalogue_markdown():
    """docs/checks.md: every check once, with its evidence, fix and the variable that skips it."""
    out = ['# The check catalogue', '',
           'Generated from `plugins/plugin_utils/_checks.py` by `tools/gen-checks-doc`; a unit test fails when this',
           'file and the catalogue differ. Each check yields one finding per subject (a host, the tenant, or a',
           'mailbox) with status pass, warn, fail, skip (not observed, with the reason) or error (the check itself',
           'broke). A failing check of severity `warning` is reported as warn; `ece_o365_fail_on_warn: true` makes',
           'warnings block the gate.', '',
           'Skip a check: `ece_o365_skip_checks: [ID]`. Waive a finding, with a reason and an expiry date:',
           '`ece_o365_waivers: [{id: ID, subject: HOST|tenant|MAILBOX|"*", reason: "...", expires: YYYY-MM-DD}]`;',
           'an expired waiver stops waiving. Select by id (`ece_o365_checks`) or tag (`ece_o365_check_tags`);',
           'unknown ids and tags are refused with the known ones listed.', '',
           '| Id | Title | Severity | TAC item | Runs for | Tags |', '| --- | --- | --- | --- | --- | --- |']
    for check in CATALOGUE:
        out.append('| [%s](#%s) | %s | %s | %d | %s | %s |' % (
            check.id, check.id.lower(), check.title, check.severity, check.item, SCOPES[check.scope],
            ', '.join(check.tags)))
    out += ['', '## The TAC checklist items', '']
    out += ['%d. %s' % (number, text) for number, text in sorted(CHECKLIST.items())]
    for check in CATALOGUE:
        out += ['', '## %s' % check.id, '', '**%s.** Severity %s; TAC checklist item %d (%s); runs for %s.' % (
            check.title, check.severity, check.item, CHECKLIST[check.item], SCOPES[check.scope]), '',
            '- Evidence: %s.' % check.evidence, '- Fix: %s.' % check.remediation]
        if check.code:
            out.append('- Microsoft code: `%s`.' % check.code)
        out.append('- Skip: `%s`.' % check.skip_variable())
    return '\n'.join(out) + '\n'
