#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: url_reach
short_description: Request HTTPS endpoints from the host as its own software would, and report what came back
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Requests a list of URLs concurrently with C(requests), from the host the task runs on, through the proxy that
    host would use, and reports per URL what happened, so that the network path of each ECE server to Microsoft 365
    (C(login.microsoftonline.com), C(outlook.office365.com), C(graph.microsoft.com)) is observed where ECE's traffic
    really leaves.
  - Per URL it reports facts, not verdicts - the HTTP status, the final URL after redirects, the response headers,
    timings in milliseconds, the TLS version and the certificate the client was shown (subject, issuer, SANs,
    expiry, days left) with the chain's subjects and issuers where Python shows them, the server's C(Date) header and
    this host's clock skew against it, and the JSON body parsed (RV(results[].json)).
  - Whether a status is the expected one, whether a JMESPath assertion on the body holds and whether a TLS-inspecting
    proxy re-signed the certificate are judged on the controller (P(ece_o365.preflight.preflight_report#module)).
    A URL's O(urls[].expect) and O(urls[].purpose) travel with it for that judge and are echoed unchanged in its
    result; this module never evaluates them.
  - A URL that cannot be reached is a finding, not a task failure; it gets one error class
    (RV(results[].error_class)) and a message naming the URL, the cause and the fix. Any HTTP response, whatever its
    status, is an observation made (RV(results[].ok) V(true)). Use O(fail_on_error) to fail the task on an error
    class instead.
  - Each URL is bounded by its O(timeout) (the whole exchange, redirects and body included) and the whole call by
    O(deadline); a URL still running at the deadline gets the error class V(deadline). No result is lost and the call
    never hangs.
  - Only reads. The methods are limited to V(GET), V(HEAD) and V(OPTIONS), which do not change anything on a
    server, and one V(POST), for a URL with O(urls[].form), which sends that form to an OAuth2 token endpoint (the
    refresh-token redemption ECE's services server makes; it reads a token and changes nothing the preflight sees).
    C(changed) is always V(false).
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
options:
  urls:
    description:
      - The URLs to request, each a dictionary. Options given here override the top-level options of the same name
        for that URL.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description:
          - An V(https://) or V(http://) URL.
          - A user name and password in the URL are sent as basic authentication and redacted in the output.
        type: str
        required: true
      name:
        description:
          - A label for the result. Defaults to the URL.
        type: str
      method:
        description:
          - The method for this URL. Defaults to O(method).
        type: str
        choices: [GET, HEAD, OPTIONS]
      purpose:
        description:
          - What the URL is for, echoed in RV(results[].purpose); the checks find "the token endpoint" by purpose.
          - V(token_endpoint) HTTPS to C(login.microsoftonline.com); V(oidc_discovery) the tenant's OpenID
            configuration document; V(ece_external_url) ECE's own External URL; V(smtp_submission), V(imap) and
            V(pop3) the mail paths; V(extra) anything else.
        type: str
        choices: [token_endpoint, smtp_submission, imap, pop3, oidc_discovery, ece_external_url, extra]
        default: extra
      expect:
        description:
          - What the judge on the controller expects of this URL's answer. Checked for shape here, echoed unchanged
            in RV(results[].expect), never evaluated by this module.
        type: dict
        suboptions:
          status:
            description: The HTTP statuses the judge counts as the expected answer.
            type: list
            elements: int
          assertions:
            description:
              - JMESPath expressions the judge evaluates on RV(results[].json), each of which must be true in
                JMESPath's sense (not V(false), V(null), an empty string, list or object).
            type: list
            elements: str
      headers:
        description:
          - Request headers for this URL, merged over O(headers) (this URL's value wins).
          - Values of secret-looking headers are never returned; see O(headers).
        type: dict
      timeout:
        description:
          - Seconds for this URL. Defaults to O(timeout).
        type: float
      follow_redirects:
        description:
          - Whether to follow redirects for this URL. Defaults to O(follow_redirects).
        type: bool
      form:
        description:
          - Form fields to POST as C(application/x-www-form-urlencoded), for an OAuth2 token request such as
            C(grant_type=refresh_token). The request is then a V(POST) (leave O(urls[].method) unset) and
            redirects are not followed.
          - The values of secret-looking fields (names containing C(token), C(secret), C(password), C(auth) and the
            other words listed under O(headers)) are never returned. The answer's C(access_token), C(refresh_token)
            and C(id_token) are left out of RV(results[].json) and no RV(results[].body_excerpt) is kept; with
            O(seal_key), the access token comes back sealed as C(access_token_sealed), for the caller on the
            controller (filter P(ece_o365.preflight.services_access_tokens#filter)). Run such a task with C(no_log).
        type: dict
  method:
    description:
      - The HTTP method. Only methods that change nothing are allowed.
    type: str
    choices: [GET, HEAD, OPTIONS]
    default: GET
  headers:
    description:
      - Request headers sent with every URL.
      - The values of headers that look like secrets (C(Authorization), C(Proxy-Authorization), C(Cookie), and names
        containing C(auth), C(token), C(secret), C(password), C(api-key), C(session) or C(cookie)) are never returned,
        neither in the results nor in error messages nor in the module's invocation. The results show the response's
        headers (RV(results[].headers)), never the request's.
      - Secret-looking headers are not sent on to another host when a redirect leaves the URL's host.
    type: dict
    default: {}
  timeout:
    description:
      - Seconds each URL may take in all, connection, proxy tunnel, TLS handshake, redirects and body included; also
        the limit for each single connect and read.
      - A URL that runs over gets the error class V(timeout).
    type: float
    default: 10
  deadline:
    description:
      - Seconds the whole call may take. URLs still running (or not started) then get the error class V(deadline).
    type: float
    default: 60
  max_workers:
    description:
      - How many URLs are requested at the same time.
    type: int
    default: 16
  follow_redirects:
    description:
      - Whether to follow redirects (301, 302, 303, 307, 308). A 303 turns the method into V(GET) (V(HEAD) stays).
      - When V(false), a redirect is the final answer and is reported as such.
    type: bool
    default: true
  max_redirects:
    description:
      - How many redirects to follow at most; the redirect after the last one followed is reported as the final
        answer (its status, and RV(results[].redirects) that long).
    type: int
    default: 10
  validate_certs:
    description:
      - Whether to verify the server's certificate chain and host name.
      - When V(false), the certificate is still reported, with RV(results[].tls.verified) V(null).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to verify servers against, on the managed host.
      - Defaults to the file named by the C(REQUESTS_CA_BUNDLE) or C(CURL_CA_BUNDLE) environment variable, else the
        CA bundle C(requests) ships with (C(certifi)).
      - To verify through a TLS-inspecting proxy, this must hold the proxy's CA, as the host's software would need.
    type: path
  proxy:
    description:
      - The proxy to use, an V(http://) or V(https://) URL that tunnels with HTTP CONNECT, such as
        V(http://proxy.example.com:3128) or V(http://user:password@proxy.example.com:3128). Without a scheme it is
        V(http://). Any other scheme (V(socks5://)...) fails the task naming it.
      - Results show it with only the password replaced by C(********); the password, and the whole URL when it has
        one, are masked everywhere in the task's output.
      - V("") (empty) for no proxy at all.
      - When not set, the proxy comes from the environment as C(requests) and C(curl) read it (C(https_proxy) for
        V(https://) URLs, C(http_proxy) for V(http://) ones, then C(all_proxy); the lower-case variable wins over the
        upper-case one), minus the hosts in C(no_proxy) / C(NO_PROXY) or O(no_proxy). A proxy whose own name does not
        resolve gives the error class V(proxy_dns), one that refuses or does not answer V(proxy_unreachable).
    type: str
  no_proxy:
    description:
      - Hosts, domains (V(.example.com)), addresses and networks (V(10.0.0.0/8)) reached without the proxy, or
        V(*) for all; a list, or one comma-separated string.
      - Replaces C(NO_PROXY) from the environment when set. With an explicit O(proxy), no host bypasses it unless
        listed here.
    type: list
    elements: str
  max_body_bytes:
    description:
      - At most this many bytes of each body are read. A longer body is not parsed (RV(results[].json) is V(null)).
    type: int
    default: 1048576
  seal_key:
    description:
      - A key that seals the access token of a O(urls[].form) POST's answer (C(access_token_sealed) in
        RV(results[].json)); without it the access token is not returned at all. A module's result crosses the
        connection as plain JSON, which ansible-core prints at C(-vvvv) whatever C(no_log) says, so a token never
        travels in clear. The network role derives it from the secrets of the run.
    type: str
  fail_on_error:
    description:
      - Fail the task when any URL has an error class. The results are returned all the same.
      - By default an unreachable or misbehaving URL is a finding and the task succeeds.
    type: bool
    default: false
notes:
  - The environment seen is the one the module runs with on the managed host, which includes the task's
    C(environment) keyword. Proxy variables set only in a login shell profile may not be there.
  - Proxy credentials belong in the proxy URL (O(proxy) or C(HTTPS_PROXY)), not in a C(Proxy-Authorization) header,
    which would go to the server through the tunnel.
  - The clock skew has a resolution of about a second (a C(Date) header has whole seconds); tokens and certificate
    checks usually tolerate a few minutes.
  - ECE itself runs on Windows; a PowerShell twin of this module for Windows hosts returns the same result shape.
requirements:
  - requests
  - cryptography (for certificate facts of V(https://) URLs)
seealso:
  - name: Microsoft 365 URLs and IP address ranges
    description: The endpoints Exchange Online and Entra ID use, and which of them must bypass TLS inspection.
    link: https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges
  - name: JMESPath
    description: The query language of O(urls[].expect.assertions).
    link: https://jmespath.org/
"""

EXAMPLES = r"""
# The ECE checklist's HTTPS endpoints, from every ECE server (services and application servers).
# expect travels with each URL to the judge on the controller; url_reach only echoes it.
- name: Reach Entra ID, Exchange Online and Graph as ECE would
  ece_o365.preflight.url_reach:
    urls:
      - name: OIDC discovery of the ECE tenant
        url: "https://login.microsoftonline.com/{{ ece_tenant_id }}/v2.0/.well-known/openid-configuration"
        purpose: oidc_discovery
        expect:
          status: [200]
          assertions:
            # The issuer names the tenant, so the tenant id is right and the answer is Entra's.
            - "contains(issuer, '{{ ece_tenant_id }}')"
      - name: Exchange Online (EWS answers 401 without a token, which proves the path)
        url: https://outlook.office365.com/EWS/Exchange.asmx
        expect:
          status: [401]
      - name: Microsoft Graph
        url: https://graph.microsoft.com/v1.0/$metadata
  register: reach

- name: Show the URLs that could not be reached, and why
  ansible.builtin.debug:
    msg: "{{ reach.results | rejectattr('ok') | map(attribute='message') | list }}"

- name: Show who issued each certificate the host was shown (a TLS-inspecting proxy shows here)
  ansible.builtin.debug:
    msg: "{{ reach.results | selectattr('tls') | map(attribute='tls.certificate.issuer') | list }}"

# Behind a proxy: given here, or taken from https_proxy / no_proxy on the host when not given.
- name: Reach Entra ID through the corporate proxy
  ece_o365.preflight.url_reach:
    proxy: http://proxy.corp.example.com:3128
    no_proxy: [localhost, .corp.example.com]
    urls:
      - url: https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration
        purpose: oidc_discovery
  register: through_proxy

- name: Fail on a clock skew over 5 minutes
  ansible.builtin.assert:
    that:
      - through_proxy.results | map(attribute='clock_skew_seconds') | select('number') | map('abs') | max <= 300
    fail_msg: clock skew on {{ inventory_hostname }}

# A CI gate: fail the task on any error class, with a tight time budget.
- name: Gate on the network path
  ece_o365.preflight.url_reach:
    urls:
      - url: https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration
        purpose: token_endpoint
    timeout: 5
    deadline: 20
    fail_on_error: true
"""

RETURN = r"""
results:
  description:
    - One result per URL, in the order of O(urls). The same shape for every URL, whatever happened; keys that do
      not apply are V(null).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The URL's O(urls[].name), else its URL with any password redacted.
      returned: always
      type: str
      sample: OIDC discovery of the ECE tenant
    url:
      description: The URL requested, with any password redacted.
      returned: always
      type: str
      sample: https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration
    purpose:
      description: The URL's O(urls[].purpose), as given.
      returned: always
      type: str
      sample: oidc_discovery
    expect:
      description:
        - The URL's O(urls[].expect) unchanged (only the keys given), for the judge on the controller; V(null) when
          none was given. Never evaluated here.
      returned: always
      type: dict
      sample: {status: [200], assertions: ["contains(issuer, '9188040d-6c67-4c5b-b112-36a304b66dad')"]}
    ok:
      description:
        - V(true) when an HTTP response was received, whatever its status; V(false) when the URL could not be
          reached (see RV(results[].error_class)).
      returned: always
      type: bool
      sample: true
    error_class:
      description:
        - V(null) when a response was received, else one of V(dns), V(refused), V(timeout), V(reset),
          V(unreachable), V(tls_handshake), V(cert_untrusted), V(cert_hostname), V(cert_expired), V(proxy),
          V(proxy_dns), V(proxy_unreachable), V(deadline), V(protocol) (the answer was not HTTP).
      returned: always
      type: str
      sample: cert_untrusted
    message:
      description: V(null) when a response was received, else one line naming the URL, the cause, the detail and the fix.
      returned: always
      type: str
      sample: >-
        https://login.microsoftonline.com/: the certificate chain does not verify against the trust store
        (unable to get local issuer certificate). Fix: a TLS-inspecting proxy or a missing intermediate: add the right
        CA to the trust store, or exempt Microsoft 365 from TLS inspection.
    status:
      description: The HTTP status of the final response, or V(null) when none arrived.
      returned: always
      type: int
      sample: 200
    reason:
      description: The reason phrase of the final response.
      returned: always
      type: str
      sample: OK
    method:
      description: The HTTP method sent first.
      returned: always
      type: str
      sample: GET
    final_url:
      description: The URL of the final response after redirects (redacted), or V(null) when none arrived.
      returned: always
      type: str
      sample: https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration
    redirects:
      description: Each redirect followed, in order.
      returned: always
      type: list
      elements: dict
      sample: [{status: 302, url: "https://login.microsoftonline.com/common/"}]
      contains:
        status:
          description: The redirect's status.
          returned: always
          type: int
        url:
          description: Where it pointed (redacted).
          returned: always
          type: str
    proxy:
      description:
        - The proxy the final request went through, with only its password replaced by C(********), or V(null) for
          none.
      returned: always
      type: str
      sample: http://ece:********@proxy.corp.example.com:3128
    headers:
      description:
        - The final response's headers, names in lower case; the values of secret-looking headers (C(set-cookie) and
          the like) are V(********).
      returned: always
      type: dict
      sample: {content-type: application/json; charset=utf-8, date: "Mon, 03 Mar 2025 10:00:00 GMT"}
    timings:
      description:
        - Milliseconds. The phases are those of the connection the final response came on; V(null) when that
          connection was reused or the phase did not happen.
      returned: always
      type: dict
      contains:
        total_ms:
          description: The whole exchange, redirects and body included.
          returned: always
          type: float
          sample: 182.4
        tcp_ms:
          description: Name resolution and TCP connect to the first hop (the proxy when one is used).
          returned: always
          type: float
          sample: 21.3
        proxy_tunnel_ms:
          description: The proxy's answer to C(CONNECT), or V(null) without a tunnel.
          returned: always
          type: float
          sample: 35.0
        tls_ms:
          description: The TLS handshake with the server.
          returned: always
          type: float
          sample: 48.9
        first_byte_ms:
          description: From sending the request to the response headers, without the connection set-up.
          returned: always
          type: float
          sample: 60.2
    tls:
      description:
        - The TLS facts of the final URL as this host's client saw them, or V(null) for V(http://) URLs and when no
          certificate was seen (for example the connection was refused).
      returned: always
      type: dict
      contains:
        version:
          description: The TLS version negotiated.
          returned: always
          type: str
          sample: TLSv1.3
        cipher:
          description: The cipher suite negotiated.
          returned: always
          type: str
          sample: TLS_AES_256_GCM_SHA384
        source:
          description:
            - V(connection) when the certificate is the one on the request's own connection; V(observation) when
              the verified handshake refused it and one more handshake without verification fetched it.
          returned: always
          type: str
          sample: connection
        verified:
          description:
            - V(true) when chain and host name verified, V(false) when the certificate was refused, V(null) with
              O(validate_certs=false).
          returned: always
          type: bool
          sample: true
        hostname_matches:
          description: Whether the certificate names the URL's host (DNS or IP SANs, one-label wildcards).
          returned: always
          type: bool
          sample: true
        certificate:
          description: The server's own (leaf) certificate.
          returned: always
          type: dict
          contains:
            subject:
              description: The subject's distinguished name.
              returned: always
              type: str
              sample: commonName=stamp2.login.microsoftonline.com
            subject_cn:
              description: The subject's common name, or V(null).
              returned: always
              type: str
              sample: stamp2.login.microsoftonline.com
            issuer:
              description: The issuer's distinguished name (a TLS-inspecting proxy's CA shows here).
              returned: always
              type: str
              sample: countryName=US,organizationName=Microsoft Corporation,commonName=Microsoft Azure RSA TLS Issuing CA 04
            issuer_cn:
              description: The issuer's common name, or V(null).
              returned: always
              type: str
              sample: Microsoft Azure RSA TLS Issuing CA 04
            sans:
              description: The subject alternative names, C(DNS:) and C(IP:) prefixed.
              returned: always
              type: list
              elements: str
              sample: ["DNS:login.microsoftonline.com", "DNS:login.windows.net"]
            serial:
              description: The serial number in hex.
              returned: always
              type: str
              sample: 3300e1c5a1b5c63c7a5b1d0b8c000000e1c5a1
            not_before:
              description: Start of validity, UTC, ISO 8601.
              returned: always
              type: str
              sample: "2025-01-10T00:00:00Z"
            not_after:
              description: End of validity, UTC, ISO 8601.
              returned: always
              type: str
              sample: "2025-07-09T23:59:59Z"
            days_left:
              description: Whole days until RV(results[].tls.certificate.not_after), negative once expired.
              returned: always
              type: int
              sample: 128
            expired:
              description: Whether the certificate is outside its validity now.
              returned: always
              type: bool
              sample: false
            self_signed:
              description: Whether issuer and subject are the same.
              returned: always
              type: bool
              sample: false
            sha256_fingerprint:
              description: SHA-256 fingerprint, colon-separated upper-case hex.
              returned: always
              type: str
              sample: "1A:2B:...:9F"
        chain:
          description:
            - The certificates the server sent, leaf first; only the leaf where Python cannot show the chain
              (before 3.10). The judge reads the issuers here to tell a TLS-inspecting proxy.
          returned: always
          type: list
          elements: dict
          contains:
            subject:
              description: Subject distinguished name.
              returned: always
              type: str
            issuer:
              description: Issuer distinguished name.
              returned: always
              type: str
            sha256_fingerprint:
              description: SHA-256 fingerprint.
              returned: always
              type: str
        error:
          description: V(null), or why the certificate could not be read.
          returned: always
          type: str
    server_date:
      description: The final response's C(Date) header as sent, or V(null).
      returned: always
      type: str
      sample: Mon, 03 Mar 2025 10:00:00 GMT
    server_time:
      description: RV(results[].server_date) as UTC ISO 8601, or V(null) when absent or unreadable.
      returned: always
      type: str
      sample: "2025-03-03T10:00:00Z"
    clock_skew_seconds:
      description:
        - This host's clock minus the server's, in seconds; positive when this host is ahead. Measured at the middle
          of the request, against the middle of the server's whole second. V(null) without a readable C(Date).
      returned: always
      type: float
      sample: -0.3
    body_bytes:
      description: Bytes of body read (at most O(max_body_bytes)), or V(null) when no body was read.
      returned: always
      type: int
      sample: 1753
    body_truncated:
      description: Whether the body was longer than O(max_body_bytes).
      returned: always
      type: bool
      sample: false
    body_excerpt:
      description:
        - The start of the body (300 characters, secrets replaced) whenever one was read, to show a proxy's block
          page; else V(null).
      returned: always
      type: str
      sample: <html><head><title>Access Denied</title>
    json:
      description:
        - The body parsed as JSON, when a response was received, its body was read whole (not cut at
          O(max_body_bytes)), is JSON and nests at most 64 levels, and its C(Content-Type) is a JSON type (or
          C(text/plain), or none); else V(null). The judge evaluates O(urls[].expect.assertions) on it.
      returned: always
      type: raw
      sample: {issuer: "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"}
summary:
  description: Counts over RV(results).
  returned: always
  type: dict
  contains:
    total:
      description: URLs requested.
      returned: always
      type: int
      sample: 3
    ok:
      description: URLs that answered (no error class).
      returned: always
      type: int
      sample: 2
    errors:
      description: URLs with an error class.
      returned: always
      type: int
      sample: 1
    by_class:
      description: How many URLs got each error class.
      returned: always
      type: dict
      sample: {timeout: 1}
    elapsed_ms:
      description: Wall time of the whole call in milliseconds.
      returned: always
      type: float
      sample: 412.7
    deadline_reached:
      description: Whether O(deadline) cut the call short.
      returned: always
      type: bool
      sample: false
"""

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils._module import PreflightModule
from ansible_collections.ece_o365.preflight.plugins.module_utils import _http, _proxy, _tls

URL_OPTIONS = dict(
    url=dict(type='str', required=True),
    name=dict(type='str'),
    method=dict(type='str', choices=list(_http.METHODS)),
    purpose=dict(type='str', default='extra', choices=list(_http.PURPOSES)),
    expect=dict(type='dict', options=dict(
        status=dict(type='list', elements='int'),
        assertions=dict(type='list', elements='str'),
    )),
    headers=dict(type='dict'),
    timeout=dict(type='float'),
    follow_redirects=dict(type='bool'),
    # Not no_log as a whole: its secret-looking fields are (_http.secret_values), grant_type and scope are shown.
    form=dict(type='dict', no_log=False),
)

ARGUMENT_SPEC = dict(
    urls=dict(type='list', elements='dict', required=True, options=URL_OPTIONS),
    method=dict(type='str', choices=list(_http.METHODS), default='GET'),
    headers=dict(type='dict', default={}),
    timeout=dict(type='float', default=10.0),
    deadline=dict(type='float', default=60.0),
    max_workers=dict(type='int', default=16),
    follow_redirects=dict(type='bool', default=True),
    max_redirects=dict(type='int', default=10),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    # Shown with only its password redacted: main() masks the password (and the whole URL) instead.
    proxy=dict(type='str', no_log=False),
    no_proxy=dict(type='list', elements='str'),
    max_body_bytes=dict(type='int', default=1048576),
    fail_on_error=dict(type='bool', default=False),
    seal_key=dict(type='str', no_log=True),
)


def main():
    module = PreflightModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                             secrets=_http.secret_values)
    # Secret header values, proxy passwords and whole proxy URLs that carry one never leave the module,
    # the invocation included; results show the proxy with only its password replaced.
    module.no_log_values.update(_http.secret_values(module.params, os.environ))
    module.no_log_values.update(_proxy.secrets(module.params['proxy'], os.environ))
    if not _http.HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib('requests'), exception=_http.REQUESTS_IMPORT_ERROR)
    if any(str(u.get('url') or '').lower().startswith('https:') for u in module.params['urls']) and not _tls.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=str(_tls.CRYPTOGRAPHY_IMPORT_ERROR))
    try:
        outcome = _http.reach(module.params, environ=dict(os.environ))
    except _http.ArgumentError as exc:
        module.fail_json(msg='url_reach: bad arguments: %s' % exc)
    for warning in outcome.pop('warnings'):
        module.warn(warning)
    if module.params['fail_on_error'] and outcome['summary']['errors']:
        failed = [r['message'] for r in outcome['results'] if r['error_class']]
        module.fail_json(msg='%d of %d URLs failed: %s' % (len(failed), outcome['summary']['total'], ' | '.join(failed)),
                         changed=False, **outcome)
    module.exit_json(changed=False, **outcome)


if __name__ == '__main__':
    main()
