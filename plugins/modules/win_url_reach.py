#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the module is win_url_reach.ps1 beside this file (PowerShell, for Windows hosts).

DOCUMENTATION = r"""
module: win_url_reach
short_description: Request HTTPS endpoints from a Windows host and report what came back (the PowerShell twin of url_reach)
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - The PowerShell twin of M(ece_o365.preflight.url_reach) for Windows hosts, where ECE's services and application
    servers run. It takes the same options and returns the very same result. A task calling
    M(ece_o365.preflight.url_reach) runs this module on hosts whose shell is PowerShell (WinRM, PSRP, or SSH with
    PowerShell), through the collection's C(meta/runtime.yml) routing, so playbooks need no Windows branch.
  - Requests a list of URLs concurrently (HTTP/1.1 over .NET sockets, in a pool of PowerShell runspaces), from the
    host the task runs on, through the proxy that host would use, and reports per URL what happened, so that the
    network path of each ECE server to Microsoft 365 (C(login.microsoftonline.com), C(outlook.office365.com),
    C(graph.microsoft.com)) is observed where ECE's traffic really leaves.
  - Per URL it reports the HTTP status, the final URL after redirects, timings in milliseconds, the TLS version and
    the certificate the client was shown (subject, issuer, SANs, expiry, days left, and the chain Windows built for it),
    whether that certificate was issued by one of the expected issuers (a TLS-inspecting proxy shows up as an
    unexpected issuer, RV(results[].intercepted)), the server's C(Date) header and this host's clock skew against it,
    and the results of JMESPath assertions on a JSON body.
  - A URL that cannot be reached, answers with an unexpected status or fails an assertion is a finding, not a task
    failure; it gets one error class (RV(results[].error_class)) and a message naming the URL, the cause and the fix.
    Use O(fail_on_error) to fail the task instead.
  - Each URL is bounded by its O(timeout) (the whole exchange, redirects and body included) and the whole call by
    O(deadline); a URL still running at the deadline gets the error class V(deadline). No result is lost and the call
    never hangs.
  - Only reads. The methods are limited to V(GET), V(HEAD) and V(OPTIONS), which do not change anything on a
    server. C(changed) is always V(false).
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
attributes:
  platform:
    support: full
    platforms: windows
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
      status_code:
        description:
          - The statuses that count as success for this URL. Defaults to O(status_code).
        type: list
        elements: int
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
      assertions:
        description:
          - JMESPath assertions on the response body, which must be JSON.
          - Each item is either a JMESPath expression, which passes when its value is true in JMESPath's sense
            (not V(false), V(null), an empty string, list or object), or a dictionary with C(query) (a JMESPath
            expression) and C(equals) (the value it must have, compared as JSON).
          - Every expression is compiled before any request is sent; a bad one fails the task and names the item.
          - Needs C(jmespath) on the host. Not allowed with V(HEAD).
        type: list
        elements: raw
      expected_issuers:
        description:
          - Expected issuers for this URL. Defaults to O(expected_issuers).
        type: list
        elements: str
      expected_ca_certs:
        description:
          - Expected CA certificates for this URL. Defaults to O(expected_ca_certs).
        type: list
        elements: str
  method:
    description:
      - The HTTP method. Only methods that change nothing are allowed.
    type: str
    choices: [GET, HEAD, OPTIONS]
    default: GET
  status_code:
    description:
      - The HTTP statuses that count as success. Any other status gives the error class V(http_status).
    type: list
    elements: int
    default: [200]
  headers:
    description:
      - Request headers sent with every URL.
      - The values of headers that look like secrets (C(Authorization), C(Proxy-Authorization), C(Cookie), and names
        containing C(auth), C(token), C(secret), C(password), C(api-key), C(session) or C(cookie)) are never returned,
        neither in the results nor in error messages nor in the module's invocation. The results list only the
        names of the headers sent (RV(results[].request_headers)).
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
      - When V(false), a redirect is the final answer and its status is compared with O(status_code).
    type: bool
    default: true
  max_redirects:
    description:
      - How many redirects to follow at most; one more gives the error class V(http_status).
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
        Windows certificate store (the trusted roots Windows software uses).
      - To verify through a TLS-inspecting proxy, this must hold the proxy's CA, as the host's software would need.
    type: path
  proxy:
    description:
      - The proxy to use, such as V(http://proxy.example.com:3128) or V(http://user:password@proxy.example.com:3128).
        Credentials are redacted in the output.
      - V("") (empty) for no proxy at all.
      - When not set, the proxy comes from the environment as on POSIX hosts (C(HTTPS_PROXY), C(HTTP_PROXY),
        C(ALL_PROXY)), minus the hosts in C(NO_PROXY) or O(no_proxy); else from the WinHTTP system proxy, minus its
        bypass list (or O(no_proxy)).
    type: str
  no_proxy:
    description:
      - Hosts, domains (V(.example.com)), addresses and networks (V(10.0.0.0/8)) reached without the proxy, or
        V(*) for all.
      - Replaces C(NO_PROXY) from the environment when set. With an explicit O(proxy), no host bypasses it unless
        listed here.
    type: list
    elements: str
  expected_issuers:
    description:
      - Names of the issuers expected to have issued the servers' certificates. When the issuer of a server's
        certificate matches none of them (nor O(expected_ca_certs)), RV(results[].intercepted) is V(true), as when a
        TLS-inspecting proxy re-signs the certificate with its own CA.
      - A bare name is compared with the issuer's common name (CN), without regard to case; C(*) and C(?) are
        wildcards. A distinguished name such as V(O=DigiCert Inc, C=US) matches when each attribute given is one of
        the issuer's (C(CN), C(O), C(OU), C(C), C(L), C(ST), C(DC) or a dotted OID).
      - The list is yours to give and keep current. Microsoft's certificates are issued by intermediates such as
        V(Microsoft Azure RSA TLS Issuing CA 03) or V(DigiCert SHA2 Secure Server CA) that change over time;
        patterns such as V(Microsoft Azure * TLS Issuing CA *) and V(DigiCert*) last longer.
      - When neither this nor O(expected_ca_certs) is given, RV(results[].intercepted) is V(null).
    type: list
    elements: str
    default: []
  expected_ca_certs:
    description:
      - CA certificates expected in the servers' chains, each a SHA-256 fingerprint (64 hex digits, colons allowed)
        or a PEM certificate (for example from P(ansible.builtin.file#lookup)).
      - A server's chain matches when one of its certificates has an expected fingerprint or is an expected PEM
        certificate, or when one of its certificates was signed by an expected PEM certificate (so a root CA
        certificate matches the intermediate it signed).
      - On Windows the chain compared is the one Windows built for the server's certificate.
    type: list
    elements: str
    default: []
  max_body_bytes:
    description:
      - At most this many bytes of each body are read. Assertions on a longer body fail.
    type: int
    default: 1048576
  fail_on_error:
    description:
      - Fail the task when any URL has an error class. The results are returned all the same.
      - By default an unreachable or misbehaving URL is a finding and the task succeeds.
    type: bool
    default: false
notes:
  - Needs Windows PowerShell 5.1 or PowerShell 7 on the host; nothing else is installed or needed there.
  - When neither O(proxy) nor the environment names a proxy, the WinHTTP system proxy (C(netsh winhttp show proxy))
    and its bypass list are used. Only V(http://) proxies (HTTP CONNECT) are supported.
  - O(urls[].assertions) are evaluated by a JMESPath subset written in PowerShell (identifiers, sub-expressions,
    indexes, V([*]) and V([?...]) projections, literals, comparisons, C(&&), C(||), C(!), and the functions
    C(contains), C(starts_with), C(ends_with), C(length), C(to_string), C(type), C(not_null)). Any other expression
    fails the task before a request is sent, naming the item.
  - Each request uses a new connection (C(Connection close)), so RV(results[].timings) always has every phase that
    happened. RV(results[].tls.chain) is the chain Windows built (leaf first), which may include the store's root.
  - This module is parsed and contract-tested against M(ece_o365.preflight.url_reach) in the collection's CI, which
    has no Windows host, so it is not executed there.
  - The environment seen is the one the module runs with on the managed host, which includes the task's
    C(environment) keyword.
  - Proxy credentials belong in the proxy URL (O(proxy) or C(HTTPS_PROXY)), not in a C(Proxy-Authorization) header,
    which would go to the server through the tunnel.
  - The clock skew has a resolution of about a second (a C(Date) header has whole seconds); tokens and certificate
    checks usually tolerate a few minutes.
seealso:
  - module: ece_o365.preflight.url_reach
  - module: ece_o365.preflight.win_port_probe
  - name: Microsoft 365 URLs and IP address ranges
    description: The endpoints Exchange Online and Entra ID use, and which of them must bypass TLS inspection.
    link: https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges
  - name: JMESPath
    description: The query language of O(urls[].assertions).
    link: https://jmespath.org/
"""

EXAMPLES = r"""
# The ECE checklist's HTTPS endpoints, from every ECE server (services and application servers).
- name: Reach Entra ID, Exchange Online and Graph as ECE would
  ece_o365.preflight.win_url_reach:
    urls:
      - name: OIDC discovery of the ECE tenant
        url: "https://login.microsoftonline.com/{{ ece_tenant_id }}/v2.0/.well-known/openid-configuration"
        assertions:
          # The issuer names the tenant, so the tenant id is right and the answer is Entra's.
          - "contains(issuer, '{{ ece_tenant_id }}')"
          - query: token_endpoint
            equals: "https://login.microsoftonline.com/{{ ece_tenant_id }}/oauth2/v2.0/token"
      - name: Exchange Online (EWS answers 401 without a token, which proves the path)
        url: https://outlook.office365.com/EWS/Exchange.asmx
        status_code: [401]
      - name: Microsoft Graph
        url: https://graph.microsoft.com/v1.0/$metadata
  register: reach

- name: Show the findings
  ansible.builtin.debug:
    msg: "{{ reach.results | selectattr('error_class') | map(attribute='error') | list }}"

# Behind a proxy: given here, or taken from HTTPS_PROXY / NO_PROXY on the host when not given.
- name: Reach Entra ID through the corporate proxy
  ece_o365.preflight.win_url_reach:
    proxy: http://proxy.corp.example.com:3128
    no_proxy: [localhost, .corp.example.com]
    urls:
      - url: https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration
  register: through_proxy

# Detect a TLS-inspecting proxy: Microsoft 365 traffic should reach the host with Microsoft's
# certificates. The issuer names are yours to keep current; wildcards make them last longer.
- name: Tell whether something re-signs Microsoft's certificates
  ece_o365.preflight.win_url_reach:
    method: HEAD
    status_code: [200, 301, 302, 400, 401, 404]
    expected_issuers:
      - Microsoft Azure * TLS Issuing CA *
      - Microsoft RSA TLS CA 0?
      - DigiCert*
    urls:
      - url: https://login.microsoftonline.com/
      - url: https://outlook.office365.com/
      - url: https://graph.microsoft.com/
  register: inspection

- name: Fail when TLS inspection or a clock skew over 5 minutes was seen
  ansible.builtin.assert:
    that:
      - inspection.summary.intercepted == 0
      - inspection.results | map(attribute='clock_skew_seconds') | select('number') | map('abs') | max <= 300
    fail_msg: TLS inspection or clock skew on {{ inventory_hostname }}

# A CI gate: fail the task on any error, with a tight time budget.
- name: Gate on the network path
  ece_o365.preflight.win_url_reach:
    urls:
      - url: https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration
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
      description: The URL requested, with any user information redacted.
      returned: always
      type: str
      sample: https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration
    method:
      description: The HTTP method sent first.
      returned: always
      type: str
      sample: GET
    ok:
      description: V(true) when there is no error class.
      returned: always
      type: bool
      sample: true
    error_class:
      description:
        - V(null) when all went well, else one of V(dns), V(refused), V(timeout), V(reset), V(unreachable),
          V(tls_handshake), V(cert_untrusted), V(cert_hostname), V(cert_expired), V(proxy), V(http_status),
          V(assertion), V(deadline), V(protocol) (the answer was not HTTP).
      returned: always
      type: str
      sample: cert_untrusted
    error:
      description: V(null), or one line naming the URL, the cause, the detail and the fix.
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
    expected_status:
      description: The statuses that counted as success.
      returned: always
      type: list
      elements: int
      sample: [200]
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
      description: The proxy the final request went through, with credentials redacted, or V(null) for none.
      returned: always
      type: str
      sample: http://********@proxy.corp.example.com:3128
    request_headers:
      description: The names of the request headers given (never their values).
      returned: always
      type: list
      elements: str
      sample: [Authorization, User-Agent]
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
              description: The issuer's distinguished name.
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
            - The chain Windows built for the server's certificate, leaf first (it may end with a root of the
              Windows certificate store that the server did not send).
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
        issuer_matched:
          description: Which of O(expected_issuers) or O(expected_ca_certs) matched, or V(null).
          returned: always
          type: str
          sample: issuer Microsoft Azure * TLS Issuing CA *
        error:
          description: V(null), or why the certificate could not be read.
          returned: always
          type: str
    intercepted:
      description:
        - V(true) when the certificate seen matches none of O(expected_issuers) and O(expected_ca_certs), as when a
          TLS-inspecting proxy re-signs it; V(false) when one matches.
        - V(null) when neither option is given or no certificate was seen.
      returned: always
      type: bool
      sample: false
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
        - The start of the body (300 characters) when the error class is V(http_status), V(assertion) or V(proxy),
          to show a proxy's block page; else V(null).
      returned: always
      type: str
      sample: <html><head><title>Access Denied</title>
    assertions:
      description: One result per O(urls[].assertions) item, in order.
      returned: always
      type: list
      elements: dict
      contains:
        query:
          description: The JMESPath expression.
          returned: always
          type: str
          sample: contains(issuer, '9188040d-6c67-4c5b-b112-36a304b66dad')
        equals:
          description: The expected value, when the item gave one.
          returned: when given
          type: raw
        passed:
          description: Whether the assertion held.
          returned: always
          type: bool
          sample: true
        value:
          description: What the query gave (cut to 2048 characters of JSON, then a string).
          returned: always
          type: raw
          sample: true
        truncated:
          description: Whether RV(results[].assertions[].value) was cut.
          returned: always
          type: bool
          sample: false
        error:
          description: V(null), or why the query could not be evaluated (no body, not JSON, a type error).
          returned: always
          type: str
    assertions_passed:
      description: Whether every assertion passed; V(null) when the URL had none.
      returned: always
      type: bool
      sample: true
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
      description: URLs without an error class.
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
    intercepted:
      description: How many URLs have RV(results[].intercepted) V(true).
      returned: always
      type: int
      sample: 0
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
