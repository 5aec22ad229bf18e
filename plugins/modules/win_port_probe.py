#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Documentation only: the module is win_port_probe.ps1 beside this file (PowerShell, for Windows hosts).

DOCUMENTATION = r"""
module: win_port_probe
short_description: Probe many host:port targets at once from a Windows host (the PowerShell twin of port_probe)
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - The PowerShell twin of M(ece_o365.preflight.port_probe) for Windows hosts, where ECE's services and application
    servers run. It takes the same options and returns the very same result. A task calling
    M(ece_o365.preflight.port_probe) runs this module on hosts whose shell is PowerShell (WinRM, PSRP, or SSH
    with PowerShell), through the collection's C(meta/runtime.yml) routing, so playbooks need no Windows branch.
  - Observes, from the host it runs on, whether each target answers, and how. This is the network
    item of the Cisco TAC checklist for ECE OAuth2 mail (TCP 443 to C(login.microsoftonline.com),
    587 with STARTTLS, 993 and 995 to C(outlook.office365.com)), seen from where ECE's own traffic leaves.
  - All targets are probed concurrently in one call (a pool of O(concurrency) PowerShell runspaces), each bounded
    by its own O(targets[].timeout) and the whole call by O(deadline).
  - Per target it reports every resolved address, the address used, timings per phase, the TLS
    version and cipher, the certificate (subject, issuer, SANs, expiry, days left), whether the
    chain verifies against the Windows certificate store (as Windows software sees it) or O(ca_path), whether the certificate names the host
    (or O(targets[].server_name)), the protocol banner and capabilities (SMTP EHLO extensions,
    IMAP CAPABILITY, POP3 CAPA) with the SASL mechanisms offered, so that "XOAUTH2 offered" is a fact.
  - Each failed target gets one error class (RV(results[].error)) and a message that names the
    host, the port, the cause and the fix. An unreachable target is a finding, not a task failure,
    unless O(fail_on_error=true).
  - HTTPS targets are reached through an HTTP CONNECT proxy when O(proxy) names one, or the environment does
    (C(HTTPS_PROXY), C(ALL_PROXY), honouring C(NO_PROXY)), or else the WinHTTP system proxy does
    (C(netsh winhttp show proxy)), honouring its bypass list.
  - Only reads. The only commands sent are greetings and capability queries (C(EHLO), C(CAPABILITY),
    C(CAPA)), C(STARTTLS) or C(STLS), and C(QUIT) or C(LOGOUT). Nothing is authenticated, nothing is sent.
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
attributes:
  platform:
    support: full
    platforms: windows
options:
  targets:
    description: The targets to probe.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Host name or IP address.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      mode:
        description:
          - V(tcp) connects only; V(tls) does a TLS handshake at once (implicit TLS);
            V(starttls) greets, asks for STARTTLS (SMTP, IMAP) or STLS (POP3), then does the handshake.
          - V(auto) chooses from the port, see O(targets[].protocol).
        type: str
        choices: [auto, tcp, tls, starttls]
        default: auto
      protocol:
        description:
          - The protocol spoken on the port, for banners and capabilities.
          - V(auto) chooses from the port. 443 means V(https) with V(tls); 587 and 25 V(smtp) with V(starttls);
            465 V(smtp) with V(tls); 993 V(imap) with V(tls); 143 V(imap) with V(starttls);
            995 V(pop3) with V(tls); 110 V(pop3) with V(starttls); any other port V(none) with V(tcp).
        type: str
        choices: [auto, none, https, smtp, imap, pop3]
        default: auto
      server_name:
        description:
          - The name sent as SNI and checked against the certificate, when it differs from O(targets[].host)
            (for example when O(targets[].host) is an IP address).
        type: str
      name:
        description: A label for the target in results; defaults to C(host:port).
        type: str
      timeout:
        description: Seconds this target may take in all (DNS, connect, proxy, TLS, dialogue). Defaults to O(timeout).
        type: float
      proxy:
        description:
          - Whether to go through the HTTP CONNECT proxy. Defaults to V(true) for V(https) targets
            (when a proxy is configured) and V(false) for mail protocols.
        type: bool
  timeout:
    description: Default seconds per target.
    type: float
    default: 5
  deadline:
    description:
      - Seconds the whole call may take. Targets not finished by then are reported with error class V(deadline).
    type: float
    default: 60
  concurrency:
    description: How many targets are probed at the same time.
    type: int
    default: 32
  ca_path:
    description:
      - A PEM CA bundle on the Windows host to verify certificates against, instead of the Windows certificate store.
    type: path
  proxy:
    description:
      - HTTP proxy URL for HTTPS targets, for example V(http://proxy.example.com:3128). Credentials in it are
        never shown in results.
      - Unset, the environment decides (C(HTTPS_PROXY), C(ALL_PROXY)), else the WinHTTP system proxy; V('') means no proxy.
    type: str
  no_proxy:
    description:
      - Comma-separated host names, domains and address ranges to reach directly. Unset, C(NO_PROXY) from the environment,
        or the WinHTTP bypass list with the WinHTTP proxy (C(<local>) there means names without a dot).
    type: str
  ehlo_name:
    description: The name this host gives in SMTP C(EHLO).
    type: str
    default: preflight.invalid
  fail_on_error:
    description: Fail the task when any target has an error (the results are returned all the same).
    type: bool
    default: false
notes:
  - Needs Windows PowerShell 5.1 or PowerShell 7 on the host; nothing else is installed or needed there.
  - The environment seen is the one the module runs with on the target, including the task's C(environment) keyword.
  - On Windows PowerShell 5.1 (.NET Framework) the TLS stack does not name the cipher suite, so
    RV(results[].tls.cipher) is the key exchange, cipher and hash algorithms joined by C(-); PowerShell 7 names the suite.
  - RV(results[].tls.verify_error) carries the Windows chain status text rather than OpenSSL's.
  - This module is parsed and contract-tested against M(ece_o365.preflight.port_probe) in the collection's CI, which
    has no Windows host, so it is not executed there.
seealso:
  - module: ece_o365.preflight.port_probe
  - module: ece_o365.preflight.win_url_reach
  - name: Microsoft 365 URLs and IP address ranges
    description: The endpoints and ports Exchange Online needs.
    link: https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges
"""

EXAMPLES = r"""
- name: The TAC checklist's network item, from each ECE server
  ece_o365.preflight.win_port_probe:
    targets:
      - host: login.microsoftonline.com
        port: 443
      - host: outlook.office365.com
        port: 993
      - host: outlook.office365.com
        port: 995
      - host: smtp.office365.com
        port: 587
  register: network

- name: Show which targets failed, and why
  ansible.builtin.debug:
    msg: "{{ network.results | selectattr('ok', 'false') | map(attribute='message') | list }}"

- name: Require XOAUTH2 after STARTTLS on the submission port
  ansible.builtin.assert:
    that:
      - "'XOAUTH2' in (network.results | selectattr('port', 'eq', 587) | first).auth_mechanisms"

- name: Through the site proxy, with a private CA bundle, and a hard stop at 20 seconds
  ece_o365.preflight.win_port_probe:
    proxy: http://proxy.corp.example:3128
    ca_path: /etc/pki/tls/certs/corp-bundle.pem
    deadline: 20
    targets:
      - host: login.microsoftonline.com
        port: 443

- name: Gate a change window, failing the task when any target is unreachable
  ece_o365.preflight.win_port_probe:
    fail_on_error: true
    targets:
      - {host: outlook.office365.com, port: 993, timeout: 3}
"""

RETURN = r"""
results:
  description: One entry per target, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The target's label.
      type: str
      sample: outlook.office365.com:993
    host:
      description: The host probed.
      type: str
      sample: outlook.office365.com
    port:
      description: The port probed.
      type: int
      sample: 993
    mode:
      description: The TLS mode used, after V(auto) was resolved (V(tcp), V(tls) or V(starttls)).
      type: str
      sample: tls
    protocol:
      description: The protocol used, after V(auto) was resolved.
      type: str
      sample: imap
    ok:
      description: Whether everything asked for succeeded, certificate checks included.
      type: bool
      sample: true
    error:
      description:
        - V(null) on success, else one of V(dns), V(refused), V(timeout), V(reset), V(unreachable),
          V(tls_handshake), V(cert_untrusted), V(cert_hostname), V(cert_expired), V(starttls_unsupported),
          V(protocol), V(proxy), V(deadline).
      type: str
      sample: timeout
    message:
      description: What was seen, or the host, port, cause and fix of the error.
      type: str
      sample: "outlook.office365.com:993: no answer in time (packets dropped by a firewall, or a server too slow) (timed out). Fix: open the port outbound..."
    addresses:
      description: Every address the name resolved to, IPv4 and IPv6 (empty through a proxy, which resolves).
      type: list
      elements: str
      sample: ["52.97.146.146", "2603:1026:c0a::2"]
    address:
      description: The address connected to (the proxy's, through a proxy).
      type: str
      sample: 52.97.146.146
    proxy:
      description: The proxy used, credentials redacted; V(null) when direct.
      type: str
      sample: http://********@proxy.corp.example:3128
    banner:
      description: The server's greeting line (first line for SMTP), non-printable characters replaced.
      type: str
      sample: "* OK The Microsoft Exchange IMAP4 service is ready."
    capabilities:
      description:
        - SMTP EHLO extensions, IMAP capabilities or POP3 CAPA lines; after STARTTLS, those offered inside TLS.
      type: list
      elements: str
      sample: ["IMAP4rev1", "AUTH=PLAIN", "AUTH=XOAUTH2", "SASL-IR"]
    capabilities_before_tls:
      description: With V(starttls), the capabilities offered before the TLS handshake.
      type: list
      elements: str
      returned: when mode is starttls and the handshake happened
    auth_mechanisms:
      description: The SASL mechanisms offered (upper case), from the last capability list read.
      type: list
      elements: str
      sample: ["LOGIN", "XOAUTH2"]
    starttls_offered:
      description: With V(starttls), whether the capabilities listed STARTTLS (STLS for POP3); else V(null).
      type: bool
    tls:
      description: TLS facts; all V(null) for V(tcp) or when no handshake happened.
      type: dict
      contains:
        version:
          description: Protocol version negotiated.
          type: str
          sample: TLSv1.3
        cipher:
          description: Cipher suite negotiated.
          type: str
          sample: TLS_AES_256_GCM_SHA384
        bits:
          description: Secret bits of the cipher.
          type: int
          sample: 256
        server_name:
          description: The name sent as SNI (unless an IP address) and checked against the certificate.
          type: str
        verified:
          description: Whether the chain verified against RV(results[].tls.trust_store).
          type: bool
        verify_error:
          description: Why the chain did not verify.
          type: str
          sample: "certificate has expired"
        hostname_match:
          description: Whether the certificate names RV(results[].tls.server_name).
          type: bool
        trust_store:
          description: V(system), or the O(ca_path) used.
          type: str
        certificate:
          description: The server certificate as presented.
          type: dict
          contains:
            subject:
              description: Subject distinguished name.
              type: str
            subject_cn:
              description: Subject common name.
              type: str
            issuer:
              description: Issuer distinguished name (a TLS-inspecting proxy shows here).
              type: str
            issuer_cn:
              description: Issuer common name.
              type: str
            sans:
              description: Subject alternative names, C(DNS:) and C(IP:) prefixed.
              type: list
              elements: str
            serial:
              description: Serial number, hex.
              type: str
            not_before:
              description: Start of validity, UTC ISO 8601.
              type: str
            not_after:
              description: End of validity, UTC ISO 8601.
              type: str
            days_left:
              description: Whole days until RV(results[].tls.certificate.not_after) (negative when expired).
              type: int
            expired:
              description: Whether now is outside the validity period.
              type: bool
            self_signed:
              description: Whether issuer and subject are the same.
              type: bool
            sha256_fingerprint:
              description: SHA-256 fingerprint, colon-separated hex.
              type: str
    timings:
      description: Milliseconds per phase that happened (C(dns_ms), C(connect_ms), C(proxy_ms), C(starttls_ms), C(tls_ms), C(banner_ms)).
      type: dict
      sample: {"dns_ms": 2, "connect_ms": 14, "tls_ms": 31, "banner_ms": 40}
    elapsed_ms:
      description: Milliseconds the whole target took.
      type: int
      sample: 95
summary:
  description: Counts of targets by outcome.
  returned: always
  type: dict
  contains:
    total:
      description: Targets probed.
      type: int
    ok:
      description: Targets without error.
      type: int
    failed:
      description: Targets with an error.
      type: int
    errors:
      description: Targets per error class.
      type: dict
      sample: {"timeout": 2}
  sample: {"total": 4, "ok": 3, "failed": 1, "errors": {"timeout": 1}}
"""
