# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared documentation of the authentication options (plugins/module_utils/_auth.py)."""


class ModuleDocFragment(object):

    # Every module that talks to Microsoft Entra ID takes these options, from one argument spec.
    DOCUMENTATION = r"""
options:
  tenant:
    description:
      - The Microsoft Entra tenant, as its directory (tenant) id or one of its verified domains.
      - With O(cloud) it makes the authority, for example C(https://login.microsoftonline.com/<tenant>).
      - One of O(tenant) or O(authority) is needed to acquire a token.
    type: str
  client_id:
    description:
      - The Application (client) ID of the app registration that asks for the token.
    type: str
  client_secret:
    description:
      - The client secret's value (not its secret ID) of a confidential app registration.
      - Never shown in results or logs.
      - Mutually exclusive with O(client_certificate_path). Without either, the app is treated as a public
        client (allowed only when the registration allows public client flows).
    type: str
  client_certificate_path:
    description:
      - A PEM file with the certificate registered on the app (and its private key, unless
        O(client_private_key_path) names another file), for certificate credentials instead of a secret.
      - msal signs the client assertion with the SHA-256 thumbprint (C(x5t#S256)) unless
        O(client_certificate_thumbprint) gives a SHA-1 thumbprint.
    type: path
  client_private_key_path:
    description:
      - A PEM file with the certificate's private key, when it is not in O(client_certificate_path).
    type: path
  client_private_key_password:
    description:
      - The passphrase of an encrypted private key. Never shown in results or logs.
    type: str
  client_certificate_thumbprint:
    description:
      - The certificate's SHA-1 thumbprint as the app registration shows it (hex, colons allowed). Only
        needed where SHA-1 thumbprints are expected; the module computes both thumbprints itself.
    type: str
  authority:
    description:
      - An explicit authority URL, C(https://host[:port]/<tenant>), used instead of O(tenant) and O(cloud),
        for a private or test identity provider such as the collection's lab.
      - With an explicit authority msal skips Microsoft's instance discovery, and its user-realm look-up (which
        drops the port) is sent to the authority's port.
    type: str
  cloud:
    description:
      - The Microsoft cloud the tenant lives in, which sets the hosts used when O(authority) is not given.
      - V(public) C(login.microsoftonline.com), Graph C(graph.microsoft.com), Exchange C(outlook.office365.com).
      - V(usgov) (GCC High) C(login.microsoftonline.us), C(graph.microsoft.us), C(outlook.office365.us).
      - V(usgov_dod) (DoD) C(login.microsoftonline.us), C(dod-graph.microsoft.us), C(outlook-dod.office365.us).
      - V(china) (operated by 21Vianet) C(login.partner.microsoftonline.cn), C(microsoftgraph.chinacloudapi.cn),
        C(partner.outlook.cn).
    type: str
    choices: [public, usgov, usgov_dod, china]
    default: public
  proxy:
    description:
      - HTTP proxy URL for the calls to Microsoft, for example V(http://user:password@proxy.example.com:3128).
        Its password is never shown, in the results or anywhere else the module writes (results show
        V(http://user:********@proxy.example.com:3128)); a proxy without credentials is shown as it is.
      - Unset, the environment decides (C(https_proxy), then C(HTTPS_PROXY), C(all_proxy), C(ALL_PROXY), a
        lower-case variable winning) with C(no_proxy) honoured; V('') means no proxy. Either way it is chosen per host.
    type: str
  no_proxy:
    description:
      - Host names, domains and address ranges to reach directly, as a list or a comma-separated string (the
        same rules as M(ece_o365.preflight.port_probe) and M(ece_o365.preflight.url_reach)). Unset, C(no_proxy)
        from the environment when O(proxy) is unset too.
    type: list
    elements: str
  ca_path:
    description:
      - A PEM CA bundle to verify the TLS certificates of Entra ID and Graph against, instead of the system
        trust store.
      - The module gives msal an HTTP session of its own, so C(REQUESTS_CA_BUNDLE) and C(CURL_CA_BUNDLE) in the
        environment never override this (nor the system store when this is unset).
    type: path
  timeout:
    description: Seconds each HTTP request may take.
    type: float
    default: 10
requirements:
  - msal >= 1.19
  - requests
notes:
  - TLS and connection failures (name not resolved, refused, timeout, untrusted or wrong-host certificate, proxy
    refusal) are reported as an error class with a fix (C(ok), C(error_class) and C(message) of the result that
    failed), never raised.
  - A C(429) or C(503) answer is retried after its C(Retry-After) (or a doubling back-off without one) while the
    wait ends before the deadline, at most 5 times; else the class is C(throttled), naming the C(Retry-After).
"""
