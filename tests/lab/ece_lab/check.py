# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab check: prove, with plain clients, that each lab service answers as Microsoft's would.

For the healthy tenant every line passes; for a scenario the lines that touch the broken
thing fail with Microsoft's own error, which is the point of the scenario.
"""

import json
import os
import time

from .clients import Lab
from .tenant import load

# The scope each protocol needs; a client asks only for those of the protocols it uses (asking for one more
# than was consented is AADSTS65001), IMAP and SMTP when the mailbox names none - as ECE and the collection do.
PROTOCOL_SCOPES = {"imap": "https://outlook.office.com/IMAP.AccessAsUser.All",
                   "pop3": "https://outlook.office.com/POP.AccessAsUser.All",
                   "smtp": "https://outlook.office.com/SMTP.Send"}
DEFAULT_PROTOCOLS = ("imap", "smtp")


def _error_text(reply):
    return (reply.get("error_description") or reply.get("error") or "no token").split("\r\n")[0]


def run_check(run_dir):
    lab = Lab(run_dir)
    tenant = load(lab.state["tenant_file"])
    results = []

    def record(service, what, ok, detail):
        results.append((service, what, ok, detail))

    discovery = lab.session.get(lab.state["authority"] + "/v2.0/.well-known/openid-configuration")
    record("login", "OIDC discovery", discovery.ok and discovery.json().get("issuer") == lab.state["issuer"],
           "HTTP %d issuer %s" % (discovery.status_code, discovery.json().get("issuer")))
    preflight = tenant.applications[tenant.ece.get("preflight_application", "preflight")]
    secret = preflight["secrets"][0]["value"]
    graph_token = lab.app_token(preflight["client_id"], secret, "https://graph.microsoft.com")
    record("login", "client credentials (Graph)", "access_token" in graph_token,
           "expires_in %s" % graph_token.get("expires_in") if "access_token" in graph_token else _error_text(graph_token))
    ece_app = tenant.applications[tenant.ece.get("application", "ece-mail")]
    if "access_token" in graph_token:
        reply = lab.graph("/v1.0/applications(appId='%s')" % ece_app["client_id"], graph_token["access_token"])
        record("graph", "GET application", reply.ok, "HTTP %d %s" % (reply.status_code, reply.json().get(
            "displayName") or reply.json().get("error", {}).get("message")))
    admin_token = lab.app_token(preflight["client_id"], secret, "https://outlook.office365.com")
    if "access_token" in admin_token:
        reply = lab.exchange("Get-TransportConfig", admin_token["access_token"])
        body = reply.json() if reply.content else {}
        record("exchange", "Get-TransportConfig", reply.ok, "HTTP %d %s" % (reply.status_code, json.dumps(
            body.get("value", body.get("error", {}).get("message", "")))[:90]))
    else:
        record("exchange", "admin API token", False, _error_text(admin_token))
    app = lab.msal_app(ece_app["client_id"], ece_app["secrets"][0]["value"] if ece_app["secrets"] else None)
    for mailbox in tenant.ece.get("mailboxes", []):
        refresh = tenant.refresh_tokens[mailbox["refresh_token"]]
        protocols = mailbox.get("protocols") or DEFAULT_PROTOCOLS
        reply = app.acquire_token_by_refresh_token(refresh["value"], scopes=[PROTOCOL_SCOPES[p] for p in protocols])
        who = "%s (token %s)" % (mailbox["login"], mailbox["refresh_token"])
        if "access_token" not in reply:
            record("login", "refresh token " + who, False, _error_text(reply))
            continue
        owner = reply.get("id_token_claims", {}).get("preferred_username", "?")
        record("login", "refresh token " + who, True, "owner %s, expires_in %s" % (owner, reply["expires_in"]))
        token = reply["access_token"]
        # IMAP and POP3 open the mailbox as its login (a delegate with FullAccess may); SMTP signs in as the
        # account whose token it is and sends from the mailbox's address (Send As), as Exchange requires.
        account = mailbox.get("account", mailbox["login"])
        probes = {"imap": ("imaps", mailbox["login"], lambda: lab.imap_examine(mailbox["login"], token)),
                  "pop3": ("pop3s", mailbox["login"], lambda: lab.pop3_stat(mailbox["login"], token)),
                  "smtp": ("submission", account, lambda: lab.smtp_auth(account, token, send_to=mailbox["address"],
                                                                        mail_from=mailbox["address"]))}
        for protocol in protocols:
            service, user, probe = probes[protocol]
            stage, ok, detail = probe()
            record(service, "XOAUTH2 %s %s" % (stage, user), ok, detail)
    sink = os.path.join(run_dir, "sink")
    deadline = time.monotonic() + 5
    sent = sum(1 for r in results if r[0] == "submission" and r[2])
    while time.monotonic() < deadline and len(os.listdir(sink)) < sent:
        time.sleep(0.05)
    record("sink", "messages arrived", len(os.listdir(sink)) >= sent, "%d in %s" % (len(os.listdir(sink)), sink))
    width = max(len(r[1]) for r in results)
    print("lab check: %s (%s)" % (tenant.path, tenant.domain))
    for service, what, ok, detail in results:
        print("  %-4s %-10s %-*s  %s" % ("ok" if ok else "FAIL", service, width, what, detail))
    failed = sum(1 for r in results if not r[2])
    print("lab check: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0
