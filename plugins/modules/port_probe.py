#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: port_probe
short_description: Probe many host:port targets at once for DNS, TCP, TLS or STARTTLS, banners and capabilities
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Observes, from the host it runs on, whether each target answers, and how. This is the network
    item of the Cisco TAC checklist for ECE OAuth2 mail (TCP 443 to C(login.microsoftonline.com),
    587 with STARTTLS, 993 and 995 to C(outlook.office365.com)), seen from where ECE's own traffic leaves.
  - All targets are probed concurrently in one call, each bounded by its own O(targets[].timeout)
    and the whole call by O(deadline).
  - Per target it reports every resolved address, the address used, timings per phase, the TLS
    version and cipher, the certificate (subject, issuer, SANs, expiry, days left), whether the
    chain verifies against the system store or O(ca_path), whether the certificate names the host
    (or O(targets[].server_name)), the protocol banner and capabilities (SMTP EHLO extensions,
    IMAP CAPABILITY, POP3 CAPA) with the SASL mechanisms offered, so that "XOAUTH2 offered" is a fact.
  - It reports facts, not verdicts. Each target echoes its O(targets[].purpose), so that the checks
    find "the IMAP path" by what it is for, not by its port number.
  - Each failed target gets one error class (RV(results[].error_class)) and a message that names the
    host, the port, the cause and the fix. An unreachable target is a finding, not a task failure,
    unless O(fail_on_error=true).
  - HTTPS targets are reached through an HTTP CONNECT proxy when O(proxy) names one or the
    environment does (C(https_proxy), C(all_proxy), in either case, honouring C(no_proxy)), by the
    same rules as every module of the collection. A proxy whose own name does not resolve is
    reported as V(proxy_dns), one that refuses or does not answer the connection as V(proxy_unreachable),
    so the proxy, not the target, is named as the cause.
  - Only reads. The only commands sent are greetings and capability queries (C(EHLO), C(CAPABILITY),
    C(CAPA)), C(STARTTLS) or C(STLS), and C(QUIT) or C(LOGOUT). Nothing is authenticated, nothing is sent.
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
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
      purpose:
        description:
          - What the target is for, echoed in RV(results[].purpose) for the checks that judge it.
          - V(token_endpoint) HTTPS to C(login.microsoftonline.com); V(smtp_submission) SMTP with STARTTLS;
            V(imap) and V(pop3) the retriever's protocols over TLS; V(oidc_discovery) the tenant's OpenID
            configuration; V(ece_external_url) ECE's own External URL; V(extra) anything else.
        type: str
        choices: [token_endpoint, smtp_submission, imap, pop3, oidc_discovery, ece_external_url, extra]
        default: extra
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
      - A PEM CA bundle to verify certificates against, instead of the system trust store.
    type: path
  proxy:
    description:
      - The proxy for HTTPS targets, an V(http://) or V(https://) URL that tunnels with HTTP CONNECT, for example
        V(http://proxy.example.com:3128) or V(http://user:password@proxy.example.com:3128). Without a scheme it is
        V(http://); without a port, 80 for V(http://) and 443 for V(https://). Any other scheme (V(socks5://)...)
        fails the task naming it.
      - Results show it with only the password replaced by C(********); the password, and the whole URL when it has
        one, are masked everywhere in the task's output.
      - Unset, the environment decides (C(https_proxy), then C(all_proxy), the lower-case variable winning over the
        upper-case one); V('') means no proxy.
    type: str
  no_proxy:
    description:
      - Host names, domains (V(.example.com)), addresses and networks (V(10.0.0.0/8)) reached directly, or V(*)
        for all; a list, or one comma-separated string.
      - Unset, C(no_proxy) or C(NO_PROXY) from the environment when the proxy comes from the environment; with an
        explicit O(proxy), no host bypasses it unless listed here.
    type: list
    elements: str
  ehlo_name:
    description: The name this host gives in SMTP C(EHLO).
    type: str
    default: preflight.invalid
  fail_on_error:
    description: Fail the task when any target has an error (the results are returned all the same).
    type: bool
    default: false
notes:
  - The environment seen is the one the module runs with on the target, including the task's C(environment) keyword.
  - For Windows hosts the collection routes this module to its PowerShell twin, which returns the same result shape.
seealso:
  - module: ece_o365.preflight.url_reach
  - name: Microsoft 365 URLs and IP address ranges
    description: The endpoints and ports Exchange Online needs.
    link: https://learn.microsoft.com/en-us/microsoft-365/enterprise/urls-and-ip-address-ranges
"""

EXAMPLES = r"""
- name: The TAC checklist's network item, from each ECE server
  ece_o365.preflight.port_probe:
    targets:
      - host: login.microsoftonline.com
        port: 443
        purpose: token_endpoint
      - host: outlook.office365.com
        port: 993
        purpose: imap
      - host: outlook.office365.com
        port: 995
        purpose: pop3
      - host: smtp.office365.com
        port: 587
        purpose: smtp_submission
  register: network

- name: Show which targets failed, and why
  ansible.builtin.debug:
    msg: "{{ network.results | selectattr('ok', 'false') | map(attribute='message') | list }}"

- name: Require XOAUTH2 after STARTTLS on the submission path, whatever its port
  ansible.builtin.assert:
    that:
      - "'XOAUTH2' in (network.results | selectattr('purpose', 'eq', 'smtp_submission') | first).auth_mechanisms"

- name: Through the site proxy, with a private CA bundle, and a hard stop at 20 seconds
  ece_o365.preflight.port_probe:
    proxy: http://proxy.corp.example:3128
    no_proxy: [localhost, .corp.example]
    ca_path: /etc/pki/tls/certs/corp-bundle.pem
    deadline: 20
    targets:
      - host: login.microsoftonline.com
        port: 443
        purpose: token_endpoint

- name: Gate a change window, failing the task when any target is unreachable
  ece_o365.preflight.port_probe:
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
    purpose:
      description: The target's O(targets[].purpose), as given.
      type: str
      sample: imap
    ok:
      description: Whether everything asked for succeeded, certificate checks included.
      type: bool
      sample: true
    error_class:
      description:
        - V(null) on success, else one of V(dns), V(refused), V(timeout), V(reset), V(unreachable),
          V(tls_handshake), V(cert_untrusted), V(cert_hostname), V(cert_expired), V(starttls_unsupported),
          V(protocol), V(proxy), V(proxy_dns), V(proxy_unreachable), V(deadline).
      type: str
      sample: timeout
    message:
      description: V(null) on success, else the host, port, cause and fix of the error.
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
      description: The proxy used, with only its password replaced by C(********); V(null) when direct.
      type: str
      sample: http://ece:********@proxy.corp.example:3128
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

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ece_o365.preflight.plugins.module_utils._module import PreflightModule
from ansible_collections.ece_o365.preflight.plugins.module_utils import _probe, _proxy, _tls

TARGET_OPTIONS = dict(
    host=dict(type='str', required=True),
    port=dict(type='int', required=True),
    mode=dict(type='str', default='auto', choices=list(_probe.MODES)),
    protocol=dict(type='str', default='auto', choices=list(_probe.PROTOCOLS)),
    server_name=dict(type='str'),
    name=dict(type='str'),
    purpose=dict(type='str', default='extra', choices=list(_probe.PURPOSES)),
    timeout=dict(type='float'),
    proxy=dict(type='bool'),
)


def argument_spec():
    return dict(
        targets=dict(type='list', elements='dict', required=True, options=TARGET_OPTIONS),
        timeout=dict(type='float', default=5),
        deadline=dict(type='float', default=60),
        concurrency=dict(type='int', default=32),
        ca_path=dict(type='path'),
        # Shown with only its password redacted: main() masks the password (and the whole URL) instead.
        proxy=dict(type='str', no_log=False),
        no_proxy=dict(type='list', elements='str'),
        ehlo_name=dict(type='str', default='preflight.invalid'),
        fail_on_error=dict(type='bool', default=False),
    )


def main():
    module = PreflightModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    # The proxy's password, and the whole URL when it has one, are masked wherever they would appear.
    module.no_log_values.update(_proxy.secrets(params['proxy'], os.environ))
    problem = _proxy.problem(params['proxy'])
    if problem:
        module.fail_json(msg=problem)
    if not _tls.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib('cryptography'), exception=str(_tls.CRYPTOGRAPHY_IMPORT_ERROR))
    for name in ('timeout', 'deadline'):
        if params[name] <= 0:
            module.fail_json(msg='%s must be more than 0 seconds, got %s' % (name, params[name]))
    if params['concurrency'] < 1:
        module.fail_json(msg='concurrency must be at least 1, got %d' % params['concurrency'])
    if params['ca_path'] and not os.path.isfile(params['ca_path']):
        module.fail_json(msg='ca_path %s is not a readable file' % params['ca_path'])
    targets = []
    for index, target in enumerate(params['targets']):
        target = _probe.resolve_target(target, params['timeout'])
        problem = _probe.validate_target(index, target)
        if problem:
            module.fail_json(msg=problem)
        targets.append(target)
    settings = dict(ca_path=params['ca_path'], proxy=params['proxy'], no_proxy=params['no_proxy'],
                    ehlo_name=params['ehlo_name'])
    results = _probe.probe_all(targets, settings, dict(os.environ), params['deadline'], params['concurrency'])
    errors = {}
    for result in results:
        if result['error_class']:
            errors[result['error_class']] = errors.get(result['error_class'], 0) + 1
    failed = sum(errors.values())
    summary = dict(total=len(results), ok=len(results) - failed, failed=failed, errors=errors)
    if failed and params['fail_on_error']:
        module.fail_json(msg='%d of %d targets failed: %s' % (
            failed, len(results), '; '.join(r['message'] for r in results if r['error_class'])),
            results=results, summary=summary, changed=False)
    module.exit_json(changed=False, results=results, summary=summary)


if __name__ == '__main__':
    main()
