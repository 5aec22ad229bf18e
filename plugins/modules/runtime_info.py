#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: runtime_info
short_description: Report the Python runtime, libraries, proxy and CA settings the preflight depends on
version_added: 0.1.0
author:
  - ece_o365.preflight contributors (@ece_o365)
description:
  - Reports what the collection's probes need on a host, so that a missing library or a stray
    proxy variable is found before any probe fails because of it.
  - The Python interpreter that runs modules on the host, its version and executable.
  - For each library the collection's modules use (C(msal), C(requests), C(jmespath),
    C(cryptography)) and any in O(extra_libraries), whether it imports and which version is installed.
  - The proxy environment (C(HTTPS_PROXY), C(HTTP_PROXY), C(ALL_PROXY), C(NO_PROXY), in upper and lower case)
    with any user name and password in a proxy URL redacted, and the proxy that C(requests) would use.
  - The CA bundle variables C(REQUESTS_CA_BUNDLE), C(SSL_CERT_FILE) and C(CURL_CA_BUNDLE), and whether the
    file each one names exists.
  - Only reads; never changes anything. C(changed) is always V(false).
extends_documentation_fragment:
  - ece_o365.preflight.attributes
  - ece_o365.preflight.attributes.info_module
  - ece_o365.preflight.attributes.posix
options:
  extra_libraries:
    description:
      - Import names of further Python libraries to report on, in addition to the collection's own.
      - The version is read from the installed distribution of the same name, else from the module's C(__version__).
    type: list
    elements: str
    default: []
notes:
  - The environment seen is the one the module runs with on the target, which includes the task's
    C(environment) keyword. Proxy variables set only in a login shell profile may not be there.
seealso:
  - name: Proxies in requests
    description: How C(requests) chooses a proxy from the environment.
    link: https://requests.readthedocs.io/en/latest/user/advanced/#proxies
"""

EXAMPLES = r"""
- name: Report the runtime of every ECE host
  ece_o365.preflight.runtime_info:
  register: runtime

- name: Require msal on the host
  ansible.builtin.assert:
    that:
      - runtime.libraries.msal.importable
    fail_msg: "msal does not import: {{ runtime.libraries.msal.error }}"

- name: Also report on certifi, where requests finds its default CA bundle
  ece_o365.preflight.runtime_info:
    extra_libraries:
      - certifi
"""

RETURN = r"""
python:
  description: The Python interpreter that ran the module.
  returned: always
  type: dict
  contains:
    version:
      description: The version as C(major.minor.micro).
      returned: always
      type: str
      sample: 3.11.7
    version_info:
      description: The five fields of C(sys.version_info).
      returned: always
      type: list
      elements: raw
      sample: [3, 11, 7, "final", 0]
    executable:
      description: The path of the interpreter (C(sys.executable)).
      returned: always
      type: str
      sample: /usr/bin/python3
    implementation:
      description: The interpreter implementation, in lower case.
      returned: always
      type: str
      sample: cpython
libraries:
  description:
    - One entry per library, keyed by import name; the collection's libraries first, then O(extra_libraries).
  returned: always
  type: dict
  sample:
    msal:
      importable: true
      version: 1.31.0
      path: /usr/lib/python3/dist-packages/msal
      error: null
    jmespath:
      importable: false
      version: null
      path: null
      error: "ModuleNotFoundError: No module named 'jmespath'"
  contains:
    importable:
      description: Whether C(import <name>) succeeded.
      returned: always
      type: bool
    version:
      description: The installed version, or V(null) when the library does not import or has no known version.
      returned: always
      type: str
    path:
      description: The directory the library was imported from, or V(null).
      returned: always
      type: str
    error:
      description: The exception type and message when the import failed, else V(null).
      returned: always
      type: str
proxy:
  description: The proxy environment of the module.
  returned: always
  type: dict
  contains:
    variables:
      description:
        - Every proxy variable that is set, keyed by its name as spelled in the environment.
        - The user information (C(user:password@)) of a proxy URL is replaced by C(********).
      returned: always
      type: dict
      sample:
        HTTPS_PROXY: http://********@proxy.example.com:3128
        NO_PROXY: localhost,.corp.example.com
    redacted:
      description: Names of the variables whose user information was redacted.
      returned: always
      type: list
      elements: str
      sample: [HTTPS_PROXY]
    effective:
      description:
        - The proxy C(requests) would use per scheme (V(https), V(http), V(all)), lower-case variables winning
          over upper-case ones as in C(urllib). Redacted as in RV(proxy.variables).
      returned: always
      type: dict
      sample:
        https: http://********@proxy.example.com:3128
    no_proxy:
      description: The entries of the effective C(no_proxy) or C(NO_PROXY) variable.
      returned: always
      type: list
      elements: str
      sample: [localhost, .corp.example.com]
ca_bundles:
  description:
    - One entry per CA bundle variable that is set (C(REQUESTS_CA_BUNDLE), C(SSL_CERT_FILE), C(CURL_CA_BUNDLE)).
    - An empty dictionary when none of them is set.
  returned: always
  type: dict
  sample:
    REQUESTS_CA_BUNDLE:
      path: /etc/pki/tls/certs/corp-ca.pem
      exists: true
      is_file: true
      readable: true
  contains:
    path:
      description: The value of the variable.
      returned: always
      type: str
    exists:
      description: Whether the path exists.
      returned: always
      type: bool
    is_file:
      description: Whether the path is a regular file (or a link to one).
      returned: always
      type: bool
    readable:
      description: Whether the module's user can read the path.
      returned: always
      type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ece_o365.preflight.plugins.module_utils._runtime import gather_runtime_info


def main():
    module = AnsibleModule(
        argument_spec=dict(
            extra_libraries=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    info = gather_runtime_info(environ=os.environ, extra_libraries=module.params['extra_libraries'])
    module.exit_json(changed=False, **info)


if __name__ == '__main__':
    main()
