#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: mailbox_protocols
short_description: Log in to mailboxes over IMAP, POP3 and SMTP with OAuth2, exactly as ECE does
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - The last mile of the Cisco TAC checklist for ECE OAuth2 mail. Can ECE's retriever read the mailbox
    over IMAP or POP3, and can its dispatcher send over SMTP, with OAuth2, as the account ECE uses?
  - Before any login the module reads the SASL mechanisms the server offers (IMAP C(CAPABILITY) C(AUTH=), POP3
    C(CAPA) C(SASL), SMTP C(EHLO) C(AUTH) after C(STARTTLS)) and returns them as C(mechanisms_offered). When
    C(XOAUTH2) (or the O(mailboxes[].mechanism) asked for) is not among them the token is not sent and the result's
    C(error_class) is V(auth_unsupported).
  - IMAP on implicit TLS runs C(AUTHENTICATE XOAUTH2) and then C(EXAMINE) (read-only; never C(SELECT)),
    because Exchange Online can accept the login and then answer C(User is authenticated but not connected).
  - POP3 on implicit TLS runs C(AUTH XOAUTH2) with the token after the C(+) continuation (the two-step form
    Microsoft requires), then C(STAT).
  - SMTP runs C(EHLO), C(STARTTLS), C(EHLO), C(AUTH XOAUTH2) without an initial response and the token after
    C(334) (long tokens break one-line AUTH), then C(MAIL FROM) and C(RSET). Nothing is sent unless
    O(send_test_message=true) with O(test_recipient), which sends one test message and returns its queue id.
  - The shared-account model is one mailbox entry per shared mailbox with the delegate's (O(mailboxes[].account)'s)
    token, logged in to as a client like ECE does it. IMAP and POP3 sign in with C(user=) the mailbox
    (O(mailboxes[].login)); FullAccess lets the delegate's token open it. SMTP signs in with C(user=) the
    account (the token's owner) and sends with C(MAIL FROM) the mailbox's address (O(mailboxes[].sender));
    Exchange Online refuses XOAUTH2 as the shared mailbox with C(535 5.7.3 Authentication unsuccessful), and
    checks Send As (not FullAccess) when a message is submitted, after C(DATA). Without a test message
    (C(MAIL FROM) then C(RSET)) Send As is therefore not proven; read it with M(ece_o365.preflight.mailbox_settings).
  - Each refresh asks only for the Exchange Online permissions of that mailbox's protocols (C(IMAP.AccessAsUser.All),
    C(POP.AccessAsUser.All), C(SMTP.Send) with the cloud's resource prefix); msal adds C(offline_access),
    C(openid) and C(profile). Asking for a permission the app has no consent for fails the refresh (AADSTS65001).
  - Every login is bounded by O(timeout), all of them together by O(deadline), and all run concurrently.
  - Each server reply is returned with the token removed and classified against Microsoft's known replies
    (C(AUTHENTICATE failed), C(User is authenticated but not connected), C(535 5.7.139) SMTP AUTH disabled for
    the tenant or the mailbox, C(535 5.7.3), C(550 5.7.30), C(-ERR Authentication failure), C(430 4.2.0 STOREDRV),
    C(554 5.2.252 SendAsDenied) and C(550 5.7.60) (no Send As), C(550 5.1.8) (the account is blocked from
    sending)), each with its meaning and fix.
  - A refused login is a finding (C(ok=false) with its C(error_class) and C(message)), not a task failure, unless
    O(fail_on_error=true).
  - The token comes from M(ece_o365.preflight.token_acquire), passed in under C(no_log) (O(access_token)), or the
    module acquires it through the shared authentication options, from the refresh token ECE stores
    (O(refresh_token), O(mailboxes[].refresh_token)) or, for app-only access, with the client credentials.
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
  - ece_o365.preflight.auth
options:
  mailboxes:
    description: The mailboxes to log in to, each by its address (its one key, echoed in every result).
    type: list
    elements: dict
    required: true
    suboptions:
      address:
        description:
          - The mailbox's address. Every login result and token entry carries it as C(address); no two mailboxes
            may share one.
        type: str
        required: true
      login:
        description:
          - The login name ECE signs in with over IMAP and POP3 (their XOAUTH2 C(user=)). Defaults to
            O(mailboxes[].address), which is also what a shared mailbox logs in with, with the delegate's token.
          - SMTP does not use it; it signs in as the account (see O(mailboxes[].account)).
        type: str
      account:
        description:
          - The account whose token ECE holds for this mailbox (another account in the shared-account model).
            Echoed in RV(tokens) for the judge; the token itself comes from O(mailboxes[].access_token) or
            O(mailboxes[].refresh_token).
          - The SMTP XOAUTH2 C(user=). Defaults to the token's owner (its C(upn), else C(preferred_username), else
            C(unique_name)), else, for an app-only token, O(mailboxes[].login).
        type: str
      sender:
        description:
          - The SMTP C(MAIL FROM) address. Defaults to O(mailboxes[].address). When it is not the account's own
            address, Exchange needs Send As for the account on it.
        type: str
      protocols:
        description:
          - The protocols ECE uses for this mailbox. The default is what ECE most often uses, IMAP to read and SMTP
            to send; add V(pop3) when the mailbox is read over POP3. The refresh asks only for these protocols'
            permissions.
        type: list
        elements: str
        choices: [imap, pop3, smtp]
        default: [imap, smtp]
      access_token:
        description:
          - The OAuth2 access token for this mailbox. Defaults to O(access_token).
          - Without O(mailboxes[].refreshed_on) it is a token the admin supplies, not ECE's own token
            (C(ece_token) V(false) in RV(tokens)); its findings say so.
        type: str
      refreshed_on:
        description:
          - Where O(mailboxes[].access_token) was redeemed from ECE's stored refresh token, for example
            C(ece-svc01 through proxy http://proxy.example.com:3128), the services server, as ECE refreshes. The token
            is then ECE's own (C(source) V(services_server) and C(ece_token) V(true) in RV(tokens)).
        type: str
      password:
        description:
          - The password of the account, for the resource-owner password grant, when ECE's stored refresh token cannot
            be read. Entra refuses it with MFA, for federated users and where a policy forbids it; Microsoft advises
            against it (U(https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth-ropc)). The token is not
            ECE's own (C(source) V(password) and C(ece_token) V(false) in RV(tokens)).
        type: str
      refresh_token:
        description:
          - The refresh token ECE stores for this mailbox; the module redeems it for a delegated token
            (with the client credentials of the shared authentication options). Defaults to O(refresh_token).
        type: str
      mechanism:
        description: The SASL mechanism.
        type: str
        choices: [xoauth2, oauthbearer]
        default: xoauth2
  access_token:
    description:
      - The OAuth2 access token for every mailbox that has none of its own, for example a delegated token for
        C(https://outlook.office.com) returned by M(ece_o365.preflight.token_acquire) with C(return_token=true).
    type: str
  refresh_token:
    description: The refresh token for every mailbox that has no token of its own.
    type: str
  scopes:
    description:
      - Scopes for the delegated token redeemed from a refresh token, for every mailbox. Defaults, per mailbox, to
        the permissions of its O(mailboxes[].protocols) only, with the cloud's Exchange Online resource prefix
        (C(https://outlook.office.com/IMAP.AccessAsUser.All), C(.../POP.AccessAsUser.All), C(.../SMTP.Send) in the
        public cloud). msal adds C(offline_access), C(openid) and C(profile) itself.
    type: list
    elements: str
  imap_host:
    description:
      - IMAP server. Defaults to the O(cloud)'s (C(outlook.office365.com) in the public cloud,
        C(outlook.office365.us) in V(usgov), C(outlook-dod.office365.us) in V(usgov_dod), C(partner.outlook.cn)
        in V(china)).
    type: str
  imap_port:
    description: IMAP port (implicit TLS).
    type: int
    default: 993
  pop3_host:
    description: POP3 server. Defaults to the O(cloud)'s, the same host as O(imap_host)'s default.
    type: str
  pop3_port:
    description: POP3 port (implicit TLS).
    type: int
    default: 995
  smtp_host:
    description:
      - SMTP submission server. Defaults to the O(cloud)'s (C(smtp.office365.com) in the public cloud,
        C(outlook.office365.us) in V(usgov), C(outlook-dod.office365.us) in V(usgov_dod),
        C(smtp.partner.outlook.cn) in V(china)).
    type: str
  smtp_port:
    description: SMTP submission port (STARTTLS).
    type: int
    default: 587
  folder:
    description: The IMAP folder to EXAMINE.
    type: str
    default: INBOX
  ehlo_name:
    description: The name this host gives in SMTP C(EHLO).
    type: str
    default: preflight.invalid
  send_test_message:
    description: Send one test message per SMTP login to O(test_recipient), like Microsoft's outbound SMTP test.
    type: bool
    default: false
  test_recipient:
    description: The recipient of the test message.
    type: str
  login_timeout:
    description: Seconds each login may take, from connecting to logging out. O(ca_path) applies to the mail servers too.
    type: float
    default: 15
  deadline:
    description: Seconds the whole call may take; logins not finished by then get error class V(deadline).
    type: float
    default: 60
  fail_on_error:
    description: Fail the task when any login fails (the results are returned all the same).
    type: bool
    default: false
notes:
  - Read-only unless O(send_test_message=true). IMAP uses C(EXAMINE), which changes no flag.
    C(changed) is V(true) only when a test message was accepted; in check mode no test message is sent.
  - This module runs where Python runs; for a Windows ECE fleet run it from the controller or a Linux host with
    the same egress.
seealso:
  - module: ece_o365.preflight.token_acquire
  - module: ece_o365.preflight.port_probe
  - name: Authenticate an IMAP, POP or SMTP connection using OAuth
    description: Microsoft's description of the XOAUTH2 exchanges this module performs.
    link: https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
"""

EXAMPLES = r"""
- name: Get ECE's delegated token for the support mailbox from its stored refresh token
  ece_o365.preflight.token_acquire:
    tenant: contoso.onmicrosoft.com
    client_id: "{{ ece_app_client_id }}"
    client_secret: "{{ ece_app_client_secret }}"
    grant: refresh_token
    refresh_token: "{{ ece_support_refresh_token }}"
    scopes:
      - https://outlook.office.com/IMAP.AccessAsUser.All
      - https://outlook.office.com/SMTP.Send
    return_token: true
  register: support_token
  no_log: true

- name: Log in as ECE does, over IMAP and SMTP (the default protocols)
  ece_o365.preflight.mailbox_protocols:
    access_token: "{{ support_token.access_token }}"
    mailboxes:
      - address: support@contoso.com
  register: logins

- name: Let the module redeem ECE's stored refresh token itself
  ece_o365.preflight.mailbox_protocols:
    tenant: contoso.onmicrosoft.com
    client_id: "{{ ece_app_client_id }}"
    client_secret: "{{ ece_app_client_secret }}"
    mailboxes:
      - address: support@contoso.com
        refresh_token: "{{ ece_support_refresh_token }}"

- name: Shared-account model (IMAP as the mailbox, SMTP as the account with MAIL FROM the mailbox), one test message
  ece_o365.preflight.mailbox_protocols:
    access_token: "{{ service_account_token.access_token }}"
    send_test_message: true
    test_recipient: ece-admins@contoso.com
    mailboxes:
      - address: sales@contoso.com
        account: ece.service@contoso.com
        protocols: [imap, smtp]
      - address: billing@contoso.com
        account: ece.service@contoso.com
        protocols: [imap]
"""

RETURN = r"""
results:
  description: One entry per mailbox and protocol, mailboxes in the order given, then V(imap), V(pop3), V(smtp).
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The mailbox's address (O(mailboxes[].address)) - the key the judge joins on.
      type: str
      sample: support@contoso.com
    login:
      description:
        - The XOAUTH2 C(user=) signed in with. IMAP and POP3, the mailbox's login (O(mailboxes[].login)); SMTP, the
          account (the token's owner), also for a shared mailbox.
      type: str
      sample: support@contoso.com
    mail_from:
      description: SMTP only, the C(MAIL FROM) sender (O(mailboxes[].sender)); V(null) for IMAP and POP3.
      type: str
      sample: sales@contoso.com
    mechanisms_offered:
      description:
        - The SASL mechanisms the server offered, upper-case (SMTP C(EHLO) C(AUTH) after C(STARTTLS), IMAP
          C(CAPABILITY) C(AUTH=), POP3 C(CAPA) C(SASL)); V(null) when the dialogue did not get that far.
      type: list
      elements: str
      sample: [LOGIN, XOAUTH2]
    protocol:
      description: V(imap), V(pop3) or V(smtp).
      type: str
    host:
      description: The server.
      type: str
      sample: outlook.office365.com
    port:
      description: The port.
      type: int
      sample: 993
    server_address:
      description: The IP address connected to.
      type: str
    connected:
      description: Whether TCP and TLS (after STARTTLS for SMTP) succeeded.
      type: bool
    tls:
      description: TLS C(version), C(cipher), C(verified), C(hostname_match); V(null) when TLS did not complete.
      type: dict
    authenticated:
      description: Whether the server accepted the token.
      type: bool
    auth_reply:
      description: The server's reply to the authentication, token removed.
      type: str
      sample: "a1 OK AUTHENTICATE completed."
    followup:
      description:
        - The real command after the login and its result. C(command) (C(EXAMINE INBOX), C(STAT), C(MAIL FROM)),
          C(reply), C(ok), and C(messages) (the message count, IMAP and POP3).
      type: dict
      sample: {"command": "EXAMINE INBOX", "reply": "a2 OK [READ-ONLY] EXAMINE completed.", "ok": true, "messages": 12}
    test_message:
      description: With O(send_test_message), C(recipient), C(reply), C(accepted) and C(queue_id).
      type: dict
      returned: when a test message was sent
    ok:
      description: Whether login and follow-up both succeeded.
      type: bool
    error_class:
      description:
        - V(null), a network class of M(ece_o365.preflight.port_probe) (V(dns), V(refused), V(timeout),
          V(tls_handshake), V(cert_untrusted)...), a mail class from Microsoft's replies (V(auth_failed),
          V(not_connected), V(smtp_auth_disabled), V(basic_auth_blocked), V(mailbox_unavailable),
          V(send_as_denied), V(sender_blocked), V(followup_failed)), V(auth_unsupported) (the server does not offer
          XOAUTH2; the token was not sent), V(deadline), or, when no token was at hand, the token's class
          (V(aadsts), ...) or V(no_token).
      type: str
      sample: smtp_auth_disabled
    meaning:
      description: What the server's refusal means, when it is a mail class.
      type: str
    reply:
      description: The server's reply that ended the login, token removed; V(null) when none.
      type: str
      sample: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."
    message:
      description: The protocol, server, login, reply, meaning and fix in one line.
      type: str
    elapsed_ms:
      description: Milliseconds the login took; V(null) for a login never tried (no token).
      type: int
tokens:
  description:
    - One entry per mailbox, in the order given - where its token came from and whose it is (never the token).
    - C(address), C(login), C(account) (as given), C(source) (V(given), V(services_server), V(refresh_token),
      V(password) or V(client_credentials)), C(ece_token) (V(true) only for a token redeemed from ECE's stored refresh
      token, here or on a services server), C(refreshed_on) (O(mailboxes[].refreshed_on) or V(null)),
      C(acquired), C(ok), C(error_class), C(message) (with the AADSTS code, meaning and fix when Entra refused),
      C(aadsts), C(token_owner), C(oid), C(token_kind) (V(delegated) or V(app-only)), C(audience), C(scopes),
      C(scopes_requested) (what the refresh asked for, the permissions of the mailbox's protocols and what msal
      adds; V(null) for a given token), C(expires_in), C(lifetime_seconds), C(refresh_token_rotated),
      and the C(upn), C(preferred_username), C(app_id) and C(roles) claims where the token has them.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts of logins by outcome, failures by error class.
  returned: always
  type: dict
  sample: {"total": 3, "ok": 2, "failed": 1, "errors": {"smtp_auth_disabled": 1}}
"""

import os
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils._module import PreflightModule
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth, _errors, _mail, _tls

# What ECE most often uses: IMAP to read, SMTP to send. POP3 only when a mailbox says so.
DEFAULT_PROTOCOLS = ('imap', 'smtp')
PROTOCOL_PERMISSION = _auth.PROTOCOL_PERMISSION
MSAL_RESERVED_SCOPES = _auth.MSAL_RESERVED_SCOPES

MAILBOX_OPTIONS = dict(
    address=dict(type='str', required=True),
    login=dict(type='str'),
    account=dict(type='str'),
    sender=dict(type='str'),
    protocols=dict(type='list', elements='str', choices=list(_mail.PROTOCOLS), default=list(DEFAULT_PROTOCOLS)),
    access_token=dict(type='str', no_log=True),
    refreshed_on=dict(type='str'),
    refresh_token=dict(type='str', no_log=True),
    password=dict(type='str', no_log=True),
    mechanism=dict(type='str', choices=list(_mail.MECHANISMS), default='xoauth2'),
)


def argument_spec():
    spec = _auth.argument_spec()
    spec.update(
        mailboxes=dict(type='list', elements='dict', required=True, options=MAILBOX_OPTIONS),
        access_token=dict(type='str', no_log=True),
        refresh_token=dict(type='str', no_log=True),
        scopes=dict(type='list', elements='str'),
        imap_host=dict(type='str'),
        imap_port=dict(type='int', default=993),
        pop3_host=dict(type='str'),
        pop3_port=dict(type='int', default=995),
        smtp_host=dict(type='str'),
        smtp_port=dict(type='int', default=587),
        folder=dict(type='str', default='INBOX'),
        ehlo_name=dict(type='str', default='preflight.invalid'),
        send_test_message=dict(type='bool', default=False),
        test_recipient=dict(type='str'),
        login_timeout=dict(type='float', default=15),
        deadline=dict(type='float', default=60),
        fail_on_error=dict(type='bool', default=False),
    )
    return spec


def mail_scopes(params, protocols=_mail.PROTOCOLS):
    """The scopes a refresh asks for: O(scopes) when given, else only the permissions of PROTOCOLS, with the
    cloud's resource prefix (a refresh that asks for a permission without consent gets AADSTS65001)."""
    if params['scopes']:
        return list(params['scopes'])
    return _auth.mail_scopes(params['cloud'], protocols)


def mail_host(params, protocol):
    """The server for PROTOCOL: the option when given, else the cloud's (_auth.CLOUDS)."""
    return params['%s_host' % protocol] or _auth.CLOUDS[params['cloud'] or 'public']['%s_host' % protocol]


def normalise(mailboxes):
    """(mailboxes with login and sender defaulted to the address, problem or None): addresses must be unique."""
    out, seen = [], {}
    for index, mailbox in enumerate(mailboxes):
        address = mailbox['address']
        key = address.strip().lower()
        if key in seen:
            return out, ('mailboxes[].address must be unique (the one key of a mailbox): %s is given as mailboxes[%d] '
                         'and mailboxes[%d]' % (address, seen[key], index))
        seen[key] = index
        out.append(dict(mailbox, login=mailbox['login'] or address, sender=mailbox['sender'] or address))
    return out, None


def _given_token_facts(token):
    """What a given token says about whose it is (never the token)."""
    facts = _auth.app_token_facts('given', token)
    claims = _auth.decode_claims(token, ('upn', 'preferred_username', 'unique_name', 'scp', 'roles', 'idtyp',
                                         'oid', 'exp', 'iat')) or {}
    if isinstance(claims.get('exp'), int) and isinstance(claims.get('iat'), int):
        # Its issued lifetime (exp - iat, which Entra back-dates by about 5 minutes): TOKEN-LIFETIME reads it when
        # expires_in, which only the token endpoint's answer carries, is unknown.
        facts['lifetime_seconds'] = claims['exp'] - claims['iat']
    owner = _auth.owner_facts(claims)  # upn, else preferred_username, else unique_name; kind by scp / roles
    facts.update(upn=claims.get('upn'), preferred_username=claims.get('preferred_username'),
                 token_owner=owner['token_owner'], oid=owner['oid'], token_kind=owner['token_kind'],
                 scopes=claims['scp'].split() if isinstance(claims.get('scp'), str) else [], scopes_requested=None)
    return facts


def resolve_tokens(module, params, mailboxes, environ, deadline):
    """[(token or None, facts)] for every mailbox, in order; redeems each refresh token once."""
    redeemed, tokens = {}, []
    # A refresh token is redeemed once per set of scopes: each mailbox asks only for its protocols'.
    for mailbox in mailboxes:
        ids = {'address': mailbox['address'], 'login': mailbox['login'], 'account': mailbox['account']}
        given = mailbox['access_token'] or (None if mailbox['refresh_token'] or mailbox['password']
                                            else params['access_token'])
        refresh = mailbox['refresh_token'] or (None if mailbox['access_token'] or mailbox['password']
                                               else params['refresh_token'])
        if given:
            facts = _given_token_facts(given)
            if mailbox['refreshed_on']:  # redeemed from ECE's stored refresh token where ECE refreshes
                facts.update(source='services_server', refreshed_on=mailbox['refreshed_on'], ece_token=True)
            else:
                facts.update(ece_token=False, refreshed_on=None)
            tokens.append((given, dict(facts, **ids)))
            continue
        if refresh:
            scopes = mail_scopes(params, mailbox['protocols'])
            key, grant, credentials = (refresh, tuple(scopes)), 'refresh_token', {'refresh_token': refresh}
        elif mailbox['password']:
            scopes = mail_scopes(params, mailbox['protocols'])
            user = mailbox['account'] or mailbox['login']
            key, grant = ('password', user, tuple(scopes)), 'password'
            credentials = {'username': user, 'password': mailbox['password']}
        elif params['client_secret'] or params['client_certificate_path']:
            resource = _auth.CLOUDS[params['cloud']]['exchange']
            key, grant, scopes, credentials = 'app-only', 'client_credentials', ['%s/.default' % resource], None
        else:
            tokens.append((None, dict(ids, source=None, acquired=False, ok=False, error_class='no_token',
                                      message=_errors.describe('no_token', mailbox['address']))))
            continue
        if key not in redeemed:
            facts, token, _session = _auth.acquire(params, environ, grant, scopes, credentials, deadline=deadline)
            for secret in (token, facts.pop('_refresh_token', None)):
                if secret:
                    module.no_log_values.add(secret)
            # What went to the token endpoint: the scopes given, and what msal adds to a delegated request.
            requested = list(scopes) + ([s for s in MSAL_RESERVED_SCOPES if s not in scopes]
                                        if grant == 'refresh_token' else [])
            requested = requested if grant != 'password' else list(scopes) + [
                s for s in MSAL_RESERVED_SCOPES if s not in scopes]
            # Only a refresh of ECE's stored token is ECE's own; where it ran: this host (the controller, as a rule).
            redeemed[key] = (token, dict(facts, source=grant, scopes_requested=requested, ece_token=grant == 'refresh_token',
                                         refreshed_on=None))
        token, facts = redeemed[key]
        tokens.append((token, dict(facts, **ids)))
    return tokens


def smtp_login(mailbox, facts):
    """The SMTP AUTH user: the account whose token this is (O(mailboxes[].account), else the token's owner),
    never the shared mailbox. Exchange answers 535 5.7.3 to XOAUTH2 as a shared mailbox with a delegate's
    token; the delegate signs in as itself and sends with MAIL FROM the shared address, which needs Send As.
    https://github.com/nextcloud/mail/issues/13667 https://github.com/frappe/frappe/issues/23079
    https://github.com/simonrob/email-oauth2-proxy/pull/426 https://github.com/jstedfast/MailKit/issues/1770
    An app-only token has no owner: the mailbox's login then."""
    return mailbox['account'] or facts.get('token_owner') or mailbox['login']


def build_jobs(params, mailboxes, tokens):
    """[(mailbox index, protocol, job or a result)]: a login job per mailbox and protocol that has a token, a
    finished result for each that has none."""
    plan = []
    for index, mailbox in enumerate(mailboxes):
        token, facts = tokens[index]
        for protocol in _mail.PROTOCOLS:
            if protocol not in mailbox['protocols']:
                continue
            host, port = mail_host(params, protocol), params['%s_port' % protocol]
            login = smtp_login(mailbox, facts) if protocol == 'smtp' else mailbox['login']
            if not token:
                result = _mail.new_result(login, protocol, host, port, mailbox['address'], mail_from=mailbox['sender'])
                result.update(error_class=facts.get('error_class') or 'no_token', message='%s: no token: %s' % (
                    _mail.where(protocol, host, port, login, mailbox['address']), facts.get('message')))
                plan.append((index, protocol, result))
                continue
            plan.append((index, protocol, dict(
                protocol=protocol, host=host, port=port, address=mailbox['address'], login=login,
                token=token, mechanism=mailbox['mechanism'], timeout=params['login_timeout'],
                settings={'sender': mailbox['sender']})))
    return plan


def main():
    module = PreflightModule(argument_spec=argument_spec(), supports_check_mode=True,
                             mutually_exclusive=_auth.MUTUALLY_EXCLUSIVE, required_by=_auth.REQUIRED_BY,
                             required_if=[('send_test_message', True, ['test_recipient'])])
    params = module.params
    if not _tls.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=str(_tls.CRYPTOGRAPHY_IMPORT_ERROR))
    for name in ('login_timeout', 'deadline'):
        if params[name] <= 0:
            module.fail_json(msg='%s must be more than 0 seconds, got %s' % (name, params[name]))
    if params['ca_path'] and not os.path.isfile(params['ca_path']):
        module.fail_json(msg='ca_path %s is not a readable file' % params['ca_path'])
    mailboxes, problem = normalise(params['mailboxes'])
    if problem:
        module.fail_json(msg=problem)
    needs_auth = any(not m['access_token'] for m in mailboxes) and not params['access_token']
    if needs_auth:
        for library, error in _auth.missing_libraries():
            module.fail_json(msg=missing_required_lib(library), exception=error)
        problem = _auth.validate(params, need_client=True)
        if problem:
            module.fail_json(msg=problem)
    password = _auth.proxy_password(params.get('proxy'))
    if password:
        module.no_log_values.add(password)
    environ = dict(os.environ)
    deadline = time.monotonic() + params['deadline']
    tokens = resolve_tokens(module, params, mailboxes, environ, deadline)
    plan = build_jobs(params, mailboxes, tokens)
    settings = dict(ca_path=params['ca_path'], folder=params['folder'], ehlo_name=params['ehlo_name'],
                    send_test_message=params['send_test_message'] and not module.check_mode,
                    test_recipient=params['test_recipient'])
    jobs = [item for _index, _protocol, item in plan if 'token' in item]
    done = iter(_mail.login_all(jobs, settings, max(0.1, deadline - time.monotonic())))
    results = [next(done) if 'token' in item else item for _index, _protocol, item in plan]
    errors = {}
    for result in results:
        if result['error_class']:
            errors[result['error_class']] = errors.get(result['error_class'], 0) + 1
    failed = sum(errors.values())
    summary = dict(total=len(results), ok=len(results) - failed, failed=failed, errors=errors)
    token_facts = [_public_token_facts(facts) for _token, facts in tokens]
    sent = any((r.get('test_message') or {}).get('accepted') for r in results)
    if failed and params['fail_on_error']:
        module.fail_json(msg='%d of %d logins failed: %s' % (failed, len(results), '; '.join(
            r['message'] for r in results if r['error_class'])), results=results, summary=summary,
            tokens=token_facts, changed=False)
    # A test message is the only thing this module ever changes, and only when asked.
    module.exit_json(changed=sent, results=results, summary=summary, tokens=token_facts)


def _public_token_facts(facts):
    keep = ('address', 'login', 'account', 'source', 'acquired', 'ok', 'error_class', 'message', 'aadsts',
            'token_owner', 'audience', 'scopes', 'scopes_requested', 'expires_in', 'lifetime_seconds',
            'refresh_token_rotated', 'upn', 'preferred_username', 'app_id', 'roles', 'oid', 'token_kind',
            'ece_token', 'refreshed_on')
    return dict((key, facts.get(key)) for key in keep if key in facts)


if __name__ == '__main__':
    main()
