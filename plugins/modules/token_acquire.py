#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: token_acquire
short_description: Acquire a Microsoft Entra ID token with msal and report its facts, or the AADSTS error and its fix
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Asks Microsoft Entra ID for a token with msal, from the host the task runs on, and reports what came back.
    This covers the token items of the Cisco TAC checklist for ECE OAuth2 mail - the client secret works,
    the token lasts 60-90 minutes, ECE's stored refresh token still works from this host, and the token
    belongs to the mailbox account rather than to a workstation user signed in through Kerberos single sign-on.
  - Grants (O(grant)) - V(client_credentials) (app-only, for example Microsoft Graph or
    C(https://outlook.office365.com/.default)), V(refresh_token) (the token ECE stores), and V(password)
    (test accounts only; it cannot satisfy MFA).
  - Reports the lifetime, the granted scopes, the access token's claims when it is a readable JWT
    (RV(claims)), and for delegated grants the id_token claims that say whose token it is (RV(token_owner)).
    Claims are decoded without verifying the signature - they are what the token says, reported as found.
  - A refused request is a finding, not a task failure (unless O(fail_on_error=true)) - RV(error_class) is V(aadsts)
    and RV(aadsts) holds the code, Microsoft's own text, a one-line meaning and a fix that names the TAC
    checklist item. TLS and connection failures get an error class (V(dns), V(refused), V(timeout),
    V(cert_untrusted), ...) and a fix, never a traceback.
  - The token itself is never returned unless O(return_token=true), and then only when the task has
    C(no_log) set, so that Ansible hides the whole result.
extends_documentation_fragment:
  - ece_o365.preflight.auth
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
options:
  grant:
    description:
      - The OAuth2 grant.
      - V(auto) uses V(refresh_token) when O(refresh_token) is given, V(password) when O(username) is,
        else V(client_credentials).
      - V(client_credentials) needs O(client_secret) or O(client_certificate_path).
    type: str
    choices: [auto, client_credentials, refresh_token, password]
    default: auto
  scopes:
    description:
      - The scopes to ask for.
      - Default for V(client_credentials) - the cloud's Microsoft Graph C(/.default)
        (C(https://graph.microsoft.com/.default)).
      - Default for the delegated grants - the mail scopes ECE most often uses,
        C(https://outlook.office.com/IMAP.AccessAsUser.All) and C(https://outlook.office.com/SMTP.Send) (the cloud's
        Exchange host outside the public cloud). msal adds C(openid profile offline_access).
      - Add C(https://outlook.office.com/POP.AccessAsUser.All) for a mailbox read over POP3. Entra ID refuses a request
        for a permission nobody consented (AADSTS65001), also when the other permissions are consented.
    type: list
    elements: str
  refresh_token:
    description:
      - The refresh token to redeem (for example the one ECE stored for a mailbox). Never shown in results or logs.
      - Redeeming it does not invalidate it; Entra ID returns a new one, which is not returned either.
    type: str
  username:
    description: The user principal name for the V(password) grant.
    type: str
  password:
    description: The password for the V(password) grant. Never shown in results or logs.
    type: str
  return_token:
    description:
      - Return the access token in RV(access_token).
      - Requires C(no_log) on the task, else the task fails without contacting Entra ID - Ansible shows a
        task's result unless C(no_log) hides it.
      - The registered variable holds the token; every later task that uses or prints it needs C(no_log) too.
    type: bool
    default: false
  fail_on_error:
    description: Fail the task when no token was acquired (the facts are returned all the same).
    type: bool
    default: false
notes:
  - Redeeming a refresh token counts as using it, which restarts its 90-day inactivity window at Entra ID.
    Nothing else changes anywhere, so the module runs unchanged in check mode.
  - The module runs on the managed host, so the network path, proxy and trust store are that host's, as ECE's are.
seealso:
  - module: ece_o365.preflight.tenant_info
  - name: Authenticate an IMAP, POP or SMTP connection using OAuth
    description: Microsoft's scopes and token flows for Exchange Online mail.
    link: https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
  - name: Microsoft Entra authentication and authorization error codes
    description: The AADSTS codes this module explains.
    link: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
"""

EXAMPLES = r"""
- name: Does ECE's stored refresh token still work from this host, and whose token is it?
  ece_o365.preflight.token_acquire:
    tenant: contoso.onmicrosoft.com
    client_id: "{{ ece_app_client_id }}"
    client_secret: "{{ ece_app_client_secret }}"
    refresh_token: "{{ ece_mailbox_refresh_token }}"
  register: ece_token

- name: The token must be the mailbox's own, not the workstation user's (TAC checklist item 5)
  ansible.builtin.assert:
    that:
      - ece_token.acquired
      - ece_token.token_owner == 'support@contoso.com'
      - ece_token.lifetime_seconds >= 3600
    fail_msg: "{{ ece_token.message }}"

- name: App-only token for Microsoft Graph, through the site proxy
  ece_o365.preflight.token_acquire:
    tenant: "{{ tenant_id }}"
    client_id: "{{ preflight_client_id }}"
    client_secret: "{{ preflight_client_secret }}"
    proxy: http://proxy.corp.example:3128
  register: graph_token

- name: Show the application permissions (roles) the app-only token carries
  ansible.builtin.debug:
    msg: "{{ graph_token.claims.roles | default([]) }}"

- name: App-only token for the Exchange admin API with a certificate, in GCC High
  ece_o365.preflight.token_acquire:
    tenant: "{{ tenant_id }}"
    cloud: usgov
    client_id: "{{ preflight_client_id }}"
    client_certificate_path: /etc/preflight/app-cert.pem
    scopes: [https://outlook.office365.us/.default]

- name: A CI gate that fails on a refused secret, with the AADSTS meaning and fix as the message
  ece_o365.preflight.token_acquire:
    tenant: "{{ tenant_id }}"
    client_id: "{{ ece_app_client_id }}"
    client_secret: "{{ ece_app_client_secret }}"
    grant: client_credentials
    fail_on_error: true

- name: Hand a token to a later task (the result is hidden by no_log)
  ece_o365.preflight.token_acquire:
    tenant: "{{ tenant_id }}"
    client_id: "{{ preflight_client_id }}"
    client_secret: "{{ preflight_client_secret }}"
    return_token: true
  register: graph
  no_log: true
"""

RETURN = r"""
acquired:
  description: Whether a token was issued.
  returned: always
  type: bool
  sample: true
grant:
  description: The grant used, after V(auto) was resolved.
  returned: always
  type: str
  sample: refresh_token
authority:
  description: The authority asked.
  returned: always
  type: str
  sample: https://login.microsoftonline.com/contoso.onmicrosoft.com
cloud:
  description: The O(cloud) used for the hosts.
  returned: always
  type: str
  sample: public
client_id:
  description: The client id that asked.
  returned: always
  type: str
scopes_requested:
  description: The scopes asked for (msal adds C(openid profile offline_access) to delegated grants).
  returned: always
  type: list
  elements: str
scopes:
  description: The scopes granted, as Entra ID listed them.
  returned: when acquired
  type: list
  elements: str
  sample: ["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "openid", "profile", "offline_access"]
token_type:
  description: The token type.
  returned: when acquired
  type: str
  sample: Bearer
expires_in:
  description:
    - Seconds until the access token expires, as the token response said (C(expires_in)) - the real remaining
      lifetime, 60-90 minutes for a new token. Judge a token's expiry by this (or RV(expires_at)).
  returned: when acquired
  type: int
  sample: 4726
lifetime_seconds:
  description:
    - C(exp - iat) of the access token's claims as read, else RV(expires_in).
    - Entra ID back-dates C(iat) and C(nbf) by about 5 minutes, so this is about 300 seconds more than RV(expires_in)
      for a new token (Microsoft's sample tokens have C(exp - iat) = 3900 seconds for a 60-minute token).
  returned: when acquired
  type: int
  sample: 5026
expires_at:
  description: When the access token expires, UTC ISO 8601.
  returned: when acquired
  type: str
  sample: "2026-11-28T22:46:07Z"
access_token_format:
  description: V(jwt) when the access token is a readable JWT, V(encrypted) for a JWE, else V(opaque).
  returned: when acquired
  type: str
  sample: jwt
claims:
  description:
    - Claims of the access token when it is a readable JWT (best effort, the signature is not verified), else V(null).
    - Only these - C(aud), C(iss), C(tid), C(oid), C(sub), C(upn), C(unique_name), C(preferred_username), C(name),
      C(scp) (delegated permissions, space-separated), C(roles) (application permissions), C(appid), C(azp),
      C(app_displayname), C(idtyp), C(ver), C(iat), C(nbf), C(exp).
  returned: when acquired
  type: dict
  sample: {"aud": "https://outlook.office.com", "scp": "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send",
           "upn": "support@contoso.com", "tid": "3f1a7c52-8e0b-4d1c-9a57-5b2e6d8c4a10", "iat": 1764365167, "exp": 1764369893}
id_token_claims:
  description:
    - For delegated grants, the id_token's claims (C(aud), C(iss), C(tid), C(oid), C(sub), C(preferred_username),
      C(upn), C(email), C(name), C(iat), C(exp)), which say whose token it is; V(null) for app-only tokens.
  returned: when acquired
  type: dict
  sample: {"preferred_username": "support@contoso.com", "name": "Support", "oid": "11111111-aaaa-4bbb-8ccc-000000000001"}
token_owner:
  description:
    - Whose token it is - C(upn) (access token, else id_token), else C(preferred_username) (id_token, else access
      token), else C(unique_name) (a v1.0 token of a guest or personal account has no C(upn)); V(null) for app-only
      tokens.
    - A workstation user here instead of the mailbox account is TAC checklist item 5. Compare accounts by RV(oid).
  returned: when acquired
  type: str
  sample: support@contoso.com
token_owner_claim:
  description: The claim RV(token_owner) was taken from, V(upn), V(preferred_username) or V(unique_name); else V(null).
  returned: when acquired
  type: str
  sample: upn
token_kind:
  description:
    - V(delegated) when the access token has C(scp) (a user's token), V(app-only) when it has C(roles) and no C(scp).
      Without either, the C(idtyp) claim decides, else the grant (V(client_credentials) is app-only).
    - Not decided by the absence of C(upn) - a delegated v1.0 token of a guest has C(unique_name) and no C(upn).
  returned: when acquired
  type: str
  sample: delegated
oid:
  description: The C(oid) claim - the object id of the token's user (of the service principal for an app-only token).
  returned: when acquired
  type: str
  sample: 11111111-aaaa-4bbb-8ccc-000000000001
token_source:
  description: Where msal took the token from, V(identity_provider) (a network call) or V(cache).
  returned: when acquired
  type: str
  sample: identity_provider
refresh_token_returned:
  description: Whether Entra ID returned a refresh token (delegated grants with C(offline_access) consented).
  returned: when acquired
  type: bool
refresh_token_rotated:
  description: For the V(refresh_token) grant, whether the refresh token returned differs from the one redeemed; else V(false).
  returned: when acquired
  type: bool
ok:
  description: Whether a token was issued (the same as RV(acquired); every result that can fail carries it).
  returned: always
  type: bool
  sample: true
error_class:
  description:
    - V(null) when a token was issued, V(aadsts) when Entra ID refused (see RV(aadsts)), V(throttled) when it kept
      answering 429 or 503, V(entra_outage) when Entra ID's sign-in service kept failing (AADSTS50000, HTTP 500
      C(server_error)) after the retries - Microsoft's outage, not the tenant's configuration (retry later, check the
      Microsoft 365 service health); else the class of the failure - V(dns), V(refused), V(timeout), V(reset),
      V(unreachable), V(tls_handshake), V(cert_untrusted), V(cert_hostname), V(cert_expired), V(proxy),
      V(http_status), V(protocol), V(deadline).
  returned: always
  type: str
  sample: aadsts
message:
  description: What happened in one line; for a failure the cause, Microsoft's text and the fix.
  returned: always
  type: str
  sample: >-
    https://login.microsoftonline.com/contoso.com: AADSTS700082: the refresh token expired after 90 days without use
    (Microsoft: "AADSTS700082: The refresh token has expired due to inactivity. ..."). Fix: generate ECE's token again ...
aadsts:
  description: When Entra ID refused the request, its error facts and the catalogue's meaning and fix; else V(null).
  returned: always
  type: dict
  contains:
    code:
      description: The AADSTS code (the first of C(error_codes), else the one in Microsoft's text).
      type: int
      sample: 700082
    codes:
      description: Every code Entra ID listed.
      type: list
      elements: int
    oauth_error:
      description: The OAuth2 error (the C(error) of Entra ID's body).
      type: str
      sample: invalid_grant
    suberror:
      description: Entra ID's sub-error, when it gave one (for example C(consent_required)).
      type: str
    message:
      description: The first line of Microsoft's own text.
      type: str
    name:
      description: Entra ID's short name for the code, from the catalogue.
      type: str
      sample: ExpiredOrRevokedGrantInactiveToken
    meaning:
      description: What the code means, in one line, from the catalogue.
      type: str
    fix:
      description: What to do, from the catalogue.
      type: str
    checklist_item:
      description: The TAC checklist item the code belongs to, or V(null).
      type: int
      sample: 4
    known:
      description: Whether the catalogue knows the code.
      type: bool
    trace_id:
      description: Entra ID's trace id (for the sign-in logs and Microsoft support).
      type: str
    correlation_id:
      description: Entra ID's correlation id.
      type: str
    timestamp:
      description: Entra ID's timestamp of the error.
      type: str
    error_uri:
      description: Entra ID's error page for the code.
      type: str
retries:
  description:
    - How often the request was retried after a 429 or 503 (throttled) or a 500 AADSTS50000 (outage), within
      O(timeout) from the first such answer.
  returned: always
  type: int
  sample: 0
requests:
  description: The HTTP requests made (method, URL without query, status, milliseconds), for troubleshooting.
  returned: always
  type: list
  elements: dict
  sample: [{"method": "GET", "url": "https://login.microsoftonline.com/contoso.com/v2.0/.well-known/openid-configuration",
            "status": 200, "elapsed_ms": 84}]
proxy:
  description: The proxy used, credentials redacted; V(null) when direct.
  returned: always
  type: str
  sample: http://user:********@proxy.corp.example:3128
trust_store:
  description: The O(ca_path) used, or C(system (<bundle>)).
  returned: always
  type: str
  sample: system (/etc/ssl/certs/ca-certificates.crt)
elapsed_ms:
  description: Milliseconds the acquisition took.
  returned: always
  type: int
certificate:
  description: With O(client_certificate_path), the certificate's SHA-1 and SHA-256 thumbprints (to compare with the app registration).
  returned: when client_certificate_path is set
  type: dict
  sample: {"sha1_thumbprint": "3A5F...", "sha256_thumbprint": "9C1E..."}
access_token:
  description: The access token itself; only with O(return_token=true) on a C(no_log) task.
  returned: when return_token is true and a token was acquired
  type: str
"""

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils._module import PreflightModule
from ansible_collections.ece_o365.preflight.plugins.module_utils import _auth

GRANTS = ('auto', 'client_credentials', 'refresh_token', 'password')


def argument_spec():
    spec = _auth.argument_spec()
    spec.update(
        grant=dict(type='str', default='auto', choices=list(GRANTS)),
        scopes=dict(type='list', elements='str'),
        refresh_token=dict(type='str', no_log=True),
        username=dict(type='str'),
        password=dict(type='str', no_log=True),
        return_token=dict(type='bool', default=False, no_log=False),  # a switch, not a secret
        fail_on_error=dict(type='bool', default=False),
    )
    return spec


def resolve_grant(params):
    """(grant, problem): V(auto) resolved, and a message when the grant lacks what it needs."""
    grant = params['grant']
    if grant == 'auto':
        grant = 'refresh_token' if params.get('refresh_token') else 'password' if params.get('username') \
            else 'client_credentials'
    if grant == 'refresh_token' and not params.get('refresh_token'):
        return grant, 'grant refresh_token needs refresh_token'
    if grant == 'password' and not (params.get('username') and params.get('password') is not None):
        return grant, 'grant password needs username and password'
    if grant == 'client_credentials' and not (params.get('client_secret') or params.get('client_certificate_path')):
        return grant, 'grant client_credentials needs client_secret or client_certificate_path'
    return grant, None


def main():
    module = PreflightModule(
        argument_spec=argument_spec(),
        mutually_exclusive=_auth.MUTUALLY_EXCLUSIVE,
        required_by=_auth.REQUIRED_BY,
        supports_check_mode=True,
    )
    params = module.params
    for library, error in _auth.missing_libraries():
        module.fail_json(msg=missing_required_lib(library), exception=error)
    problem = _auth.validate(params)
    grant, grant_problem = resolve_grant(params)
    problem = problem or grant_problem
    if not problem and params['scopes'] is not None and not [s for s in params['scopes'] if s and s.strip()]:
        problem = 'scopes must name at least one scope when given'
    if not problem and params['return_token'] and not module.no_log:
        problem = ('return_token: true needs no_log: true on the task, so that Ansible never shows the token; '
                   'the module did not contact Entra ID')
    certificate = None
    if not problem and params.get('client_certificate_path'):
        try:
            _credential, certificate = _auth.certificate_credential(params)
        except (ValueError, OSError) as exc:
            problem = str(exc)
    if problem:
        module.fail_json(msg=problem)
    password = _auth.proxy_password(params.get('proxy'))
    if password:
        module.no_log_values.add(password)  # also where the URL is only part of a text
    scopes = [s.strip() for s in params['scopes'] if s and s.strip()] if params['scopes'] \
        else _auth.default_scopes(grant, params['cloud'])
    credentials = {'refresh_token': params.get('refresh_token'), 'username': params.get('username'),
                   'password': params.get('password')}
    facts, token, _session = _auth.acquire(params, dict(os.environ), grant, scopes, credentials)
    new_refresh_token = facts.pop('_refresh_token', None)
    if new_refresh_token:
        module.no_log_values.add(new_refresh_token)
    if certificate:
        facts['certificate'] = certificate
    if token and params['return_token']:
        facts['access_token'] = token
    elif token:
        module.no_log_values.add(token)  # never in the output, even inside a text
    if facts['error_class'] and params['fail_on_error']:
        module.fail_json(msg=facts['message'], changed=False, **facts)
    module.exit_json(changed=False, **facts)


if __name__ == '__main__':
    main()
