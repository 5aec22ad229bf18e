# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's certificate authority and the one server certificate every lab service presents."""

import os

import trustme

# The names the lab answers for: loopback, and Microsoft's own host names so that clients
# which set SNI / server_hostname to them verify exactly as they would against Microsoft.
LAB_SERVER_NAMES = (
    "127.0.0.1", "::1", "localhost",
    "login.microsoftonline.com", "graph.microsoft.com",
    "outlook.office365.com", "outlook.office.com", "smtp.office365.com",
)


def create(run_dir, extra_names=()):
    """Write ca.pem, server.pem (chain) and server.key under RUN_DIR; return their paths.

    EXTRA_NAMES: more names or addresses the certificate must carry, e.g. the address the lab
    binds when it is not loopback (``lab.host`` in the tenant file: a network namespace's address
    in the fleet lab), so clients that connect by that address verify the certificate too.
    """
    names = list(LAB_SERVER_NAMES) + [name for name in extra_names if name and name not in LAB_SERVER_NAMES]
    ca = trustme.CA(organization_name="ece_o365 preflight lab CA")
    server = ca.issue_cert(*names, organization_name="ece_o365 preflight lab")
    paths = {
        "ca": os.path.join(run_dir, "ca.pem"),
        "cert": os.path.join(run_dir, "server.pem"),
        "key": os.path.join(run_dir, "server.key"),
    }
    ca.cert_pem.write_to_path(paths["ca"])
    server.private_key_pem.write_to_path(paths["key"])
    with open(paths["cert"], "wb") as handle:
        for blob in server.cert_chain_pems:
            handle.write(blob.bytes())
    os.chmod(paths["key"], 0o600)
    return paths
