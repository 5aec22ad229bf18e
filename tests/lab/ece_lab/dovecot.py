# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Dovecot as Exchange Online's IMAP, POP3 and SMTP submission front ends.

The oauth2 passdb validates the issuer's JWTs locally (signature, issuer, expiry); a Lua passdb
then applies what Exchange Online applies after the token: the audience, the mailbox's
existence and licence, who may open it (the mailbox itself or a FullAccess delegate), and the
per-mailbox protocol switches with the effective SMTP AUTH setting. The Lua policy is a data
file rewritten from the tenant file, so a changed tenant takes effect without a restart.
"""

import os
import shutil

from .tenant import MAIL_PERMISSIONS, OUTLOOK_AUDIENCES

# Exchange Online's replies, which the lab returns as the reason of a refused login.
# Dovecot prefixes its own status (IMAP "NO [CONTACTADMIN]", POP3 "-ERR [AUTH]",
# SMTP "525 5.7.13"); the text after it is Microsoft's.
REPLIES = {
    "imap": {
        "auth_failed": "AUTHENTICATE failed.",
        "not_connected": "User is authenticated but not connected.",
        "disabled": "AUTHENTICATE failed.",
    },
    "pop3": {
        "auth_failed": "Authentication failure: unknown user name or bad password.",
        "not_connected": "Authentication failure: unknown user name or bad password.",
        "disabled": "Authentication failure: unknown user name or bad password.",
    },
    "submission": {
        "auth_failed": "Authentication unsuccessful, the user credentials were incorrect.",
        # XOAUTH2 as a mailbox other than the token's owner (a shared mailbox with a delegate's token): Exchange
        # answers 535 5.7.3, FullAccess or not (IMAP and POP3 accept the same login).
        # https://github.com/nextcloud/mail/issues/13667 https://github.com/nextcloud/mail/pull/13668
        # https://github.com/frappe/frappe/issues/23079 https://github.com/jstedfast/MailKit/issues/1770
        # https://github.com/simonrob/email-oauth2-proxy/pull/426
        "not_owner": "5.7.3 Authentication unsuccessful",
        "not_connected": "STOREDRV.Submission.Exception:MailboxNotFound; the mailbox is not provisioned.",
        "disabled_tenant": "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
                           "Visit https://aka.ms/smtp_auth_disabled for more information.",
        "disabled_mailbox": "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
                            "Visit https://aka.ms/smtp_auth_disabled for more information.",
    },
}
# The scope each protocol needs in a delegated token.
PROTOCOL_SCOPE = {"imap": "IMAP.AccessAsUser.All", "pop3": "POP.AccessAsUser.All", "submission": "SMTP.Send"}
assert set(PROTOCOL_SCOPE.values()) == set(MAIL_PERMISSIONS)
GREETINGS = {
    "imap": "The Microsoft Exchange IMAP4 service is ready.",
    "pop3": "The Microsoft Exchange POP3 service is ready.",
    "submission": "Microsoft ESMTP MAIL Service ready",
}

LUA_SCRIPT = r'''
-- Exchange Online's checks after the token is valid. Policy data: %(policy)s
local POLICY_FILE = "%(policy)s"

local function refuse(reason)
  return dovecot.auth.PASSDB_RESULT_OK, { nopassword = "y", nologin = "y", reason = reason }
end

local function has_word(list, word)
  for item in string.gmatch(list or "", "[^%%s,]+") do
    if item == word then return true end
  end
  return false
end

function auth_passdb_lookup(req)
  local policy = dofile(POLICY_FILE)
  local service = req.service
  local replies = policy.replies[service]
  local login = string.lower(req.user)
  local aud = req:var_expand("%%{passdb:token_aud}")
  local upn = string.lower(req:var_expand("%%{passdb:token_upn}"))
  local oid = string.lower(req:var_expand("%%{passdb:token_oid}"))
  local scp = req:var_expand("%%{passdb:token_scp}")
  if not policy.audiences[aud] then
    req:log_info("token audience " .. aud .. " is not an Exchange Online audience")
    return refuse(replies.auth_failed)
  end
  local mailbox = policy.mailboxes[login]
  if mailbox == nil then
    req:log_info("no mailbox " .. login)
    return refuse(replies.auth_failed)
  end
  if oid ~= mailbox.oid and not mailbox.full_access[oid] then
    req:log_info("token of " .. (upn ~= "" and upn or oid) .. " holds no FullAccess on " .. login)
    return refuse(replies.auth_failed)
  end
  if scp ~= "" and not has_word(scp, policy.scopes[service]) then
    req:log_info("token lacks scope " .. policy.scopes[service])
    return refuse(replies.auth_failed)
  end
  if not mailbox.licensed then
    req:log_info("mailbox " .. login .. " has no Exchange Online licence")
    return refuse(replies.not_connected)
  end
  if service == "imap" and not mailbox.imap then return refuse(replies.disabled) end
  if service == "pop3" and not mailbox.pop3 then return refuse(replies.disabled) end
  if service == "submission" and not mailbox.smtp_auth then
    return refuse(mailbox.smtp_auth_source == "tenant" and replies.disabled_tenant or replies.disabled_mailbox)
  end
  -- SMTP AUTH signs in as the token's owner only: a delegated token (scp) for another mailbox gets 535 5.7.3
  -- whatever FullAccess it holds; the delegate sends as itself with MAIL FROM the shared address (Send As).
  -- Exchange says 5.7.139 first while SMTP AUTH is off for that mailbox, 5.7.3 once it is on (nextcloud/mail #13668).
  if service == "submission" and scp ~= "" and oid ~= mailbox.oid then
    req:log_info("SMTP AUTH as " .. login .. " with the token of " .. (upn ~= "" and upn or oid))
    return refuse(replies.not_owner)
  end
  return dovecot.auth.PASSDB_RESULT_OK, { nopassword = "y" }
end

function auth_passdb_verify(req, pass)
  return auth_passdb_lookup(req)
end
'''

CONFIG = r'''# Generated by the ece_o365.preflight lab from %(tenant_path)s. Do not edit.
base_dir = %(base_dir)s
state_dir = %(state_dir)s
log_path = %(log)s
info_log_path = %(log)s
instance_name = ece-lab-%(instance)s
protocols = imap pop3 submission
listen = %(host)s
hostname = outlook.office365.com
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:%(mail_dir)s/%%Lu
ssl = required
ssl_cert = <%(cert)s
ssl_key = <%(key)s
ssl_min_protocol = TLSv1.2
auth_mechanisms = %(mechanisms)s
auth_failure_delay = 0
auth_verbose = yes
auth_verbose_passwords = no
auth_debug = %(auth_debug)s
auth_username_format = %%Lu
verbose_proctitle = yes
login_log_format_elements = user=<%%u> method=%%m rip=%%r lip=%%l mpid=%%e %%c session=<%%{session}>
submission_relay_host = %(host)s
submission_relay_port = %(sink_port)d
submission_relay_trusted = yes
submission_relay_ssl = no
submission_max_recipients = 10
protocol imap {
  login_greeting = %(greeting_imap)s
}
protocol pop3 {
  login_greeting = %(greeting_pop3)s
}
protocol submission {
  login_greeting = %(greeting_submission)s
}
service auth {
  # The lab's key and policy files live in the caller's run directory, which the unprivileged
  # dovecot user may not be able to traverse.
  user = root
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = %(imaps_port)d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = %(pop3s_port)d
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    port = %(submission_port)d
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
%(oauth2_passdbs)spassdb {
  driver = lua
  args = file=%(lua_script)s blocking=yes
  skip = unauthenticated
  result_success = return-ok
  result_failure = return-fail
}
userdb {
  driver = passwd-file
  args = %(users_file)s
  default_fields = uid=dovecot gid=dovecot
}
'''

OAUTH2_CONF = r'''introspection_mode = local
local_validation_key_dict = fs:posix:prefix=%(keys_dir)s/
issuers = %(issuer)s
username_attribute = %(username_attribute)s
username_format = %(username_format)s
pass_attrs = token_aud=%%{oauth2:aud} token_upn=%%{oauth2:upn} token_oid=%%{oauth2:oid} token_scp=%%{oauth2:scp}
active_attribute =
active_value =
'''


OAUTH2_PASSDB = r'''passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %(args)s
  result_success = continue-ok
  result_failure = %(on_failure)s
}
'''


def _oauth2_passdbs(tenant, root, keys_dir, issuer):
    """One oauth2 passdb for a mailbox's own token, then one per FullAccess grant.

    Dovecot's oauth2 passdb insists that a claim of the token equals the login name. Exchange
    lets a FullAccess delegate log in with the shared mailbox's name and the delegate's own
    token, so each grant gets a passdb whose username_format maps the delegate's upn (or, for
    an app-only token, the service principal's oid) to the mailbox it may open.
    """
    sp_ids = {}
    for app in tenant.applications.values():
        sp_ids[app["key"]] = sp_ids[app["client_id"]] = app["service_principal_id"]
    variants = [("self", "upn", "%Lu")]
    for user in tenant.users.values():
        mailbox = user["mailbox"]
        if mailbox is None:
            continue
        # Exchange takes any of a mailbox's SMTP addresses as the login (a hybrid tenant's address is often not
        # its UPN): each alias maps to the owner's upn, and to each delegate's for the grants below.
        names = [user["upn"]] + [a for a in user.get("proxy_addresses") or [] if a != user["upn"]]
        for alias in names[1:]:
            variants.append(("alias-%d" % len(variants), "upn", "%%{if;%%Lu;eq;%s;%s;%%Lu}" % (user["upn"], alias)))
        for holder in mailbox.get("full_access", []):
            if holder in mailbox["full_access_deny"]:
                continue
            attribute, value = ("oid", sp_ids[holder]) if holder in sp_ids else ("upn", holder)
            for name in names:
                variants.append(("grant-%d" % len(variants), attribute,
                                 "%%{if;%%Lu;eq;%s;%s;%%Lu}" % (value, name)))
    blocks = []
    for name, attribute, fmt in variants:
        args = os.path.join(root, "oauth2-%s.conf.ext" % name)
        with open(args, "w", encoding="utf-8") as handle:
            handle.write(OAUTH2_CONF % {"keys_dir": keys_dir, "issuer": issuer, "username_attribute": attribute,
                                        "username_format": fmt})
        # A variant that does not apply fails without undoing one that did (continue keeps the status); when none
        # applied, nothing authenticated and the Lua passdb (skip = unauthenticated) is skipped: the login fails.
        blocks.append(OAUTH2_PASSDB % {"args": args, "on_failure": "continue"})
    return "".join(blocks)


def _lua_string(value):
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def _lua_table(value):
    if isinstance(value, dict):
        return "{" + ", ".join("[%s] = %s" % (_lua_string(k), _lua_table(v)) for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _lua_string(value)


def policy(tenant):
    """What the Lua passdb needs to know, from the tenant file."""
    oids = {user["upn"]: user["object_id"] for user in tenant.users.values()}
    for app in tenant.applications.values():  # app-only access: the grant names the service principal
        oids[app["key"]] = app["service_principal_id"]
        oids[app["client_id"]] = app["service_principal_id"]
    mailboxes = {}
    for user in tenant.users.values():
        mailbox = user["mailbox"]
        if mailbox is None:
            continue
        smtp_source = "mailbox" if mailbox["smtp_client_authentication_disabled"] is not None else "tenant"
        granted = {oids.get(h, h): True for h in mailbox["full_access"] if h not in mailbox["full_access_deny"]}
        entry = mailboxes[user["upn"]] = {
            "oid": user["object_id"],
            "licensed": tenant.has_mailbox(user),
            "imap": mailbox["imap_enabled"], "pop3": mailbox["pop_enabled"],
            "smtp_auth": tenant.smtp_auth_enabled(mailbox), "smtp_auth_source": smtp_source,
            "full_access": granted,
        }
        for alias in user.get("proxy_addresses") or []:  # the same mailbox under each of its SMTP addresses
            mailboxes.setdefault(alias, entry)
    return {
        "audiences": {aud: True for aud in OUTLOOK_AUDIENCES},
        "scopes": PROTOCOL_SCOPE,
        "replies": REPLIES,
        "mailboxes": mailboxes,
    }


def write(tenant, run_dir, issuer, ports, cert, key, signing_key, client_ids, auth_debug=False):
    """Write dovecot.conf and everything it reads under RUN_DIR/dovecot; return the config path."""
    root = os.path.join(run_dir, "dovecot")
    paths = {name: os.path.join(root, name) for name in ("base", "state", "keys", "mail")}
    for path in paths.values():
        os.makedirs(path, exist_ok=True)
    # Mail processes run as the dovecot user (Dovecot refuses uid 0 for mail access).
    shutil.chown(paths["mail"], "dovecot", "dovecot")
    # Dovecot looks the key up under the token's azp (when present) or "default".
    for owner in ["default"] + list(client_ids):
        key_dir = os.path.join(paths["keys"], owner, "RS256")
        os.makedirs(key_dir, exist_ok=True)
        with open(os.path.join(key_dir, signing_key.kid), "wb") as handle:
            handle.write(signing_key.public_pem)
    write_policy(tenant, run_dir)
    lua_script = os.path.join(root, "exchange-policy.lua")
    with open(lua_script, "w", encoding="utf-8") as handle:
        handle.write(LUA_SCRIPT % {"policy": os.path.join(root, "policy.lua")})
    oauth2_passdbs = _oauth2_passdbs(tenant, root, paths["keys"], issuer)
    users_file = os.path.join(root, "users.passwd")
    with open(users_file, "w", encoding="utf-8") as handle:
        for user in tenant.users.values():
            if user["mailbox"] is not None:
                for name in [user["upn"]] + [a for a in user.get("proxy_addresses") or [] if a != user["upn"]]:
                    handle.write("%s:::::%s::\n" % (name, os.path.join(paths["mail"], user["upn"])))
    config = os.path.join(root, "dovecot.conf")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(CONFIG % {
            "tenant_path": tenant.path, "base_dir": paths["base"], "state_dir": paths["state"],
            "log": os.path.join(run_dir, "logs", "dovecot.log"), "instance": os.path.basename(run_dir.rstrip("/")),
            "host": tenant.host, "mail_dir": paths["mail"], "cert": cert, "key": key,
            "auth_debug": "yes" if auth_debug else "no", "sink_port": ports["sink"],
            "mechanisms": " ".join(tenant.mail_mechanisms),
            "greeting_imap": GREETINGS["imap"], "greeting_pop3": GREETINGS["pop3"],
            "greeting_submission": GREETINGS["submission"], "imaps_port": ports["imaps"],
            "pop3s_port": ports["pop3s"], "submission_port": ports["submission"],
            "oauth2_passdbs": oauth2_passdbs, "lua_script": lua_script, "users_file": users_file,
        })
    return config


def write_policy(tenant, run_dir):
    """(Re)write the Lua policy data; Dovecot reads it on every login."""
    path = os.path.join(run_dir, "dovecot", "policy.lua")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("return " + _lua_table(policy(tenant)) + "\n")
    os.replace(tmp, path)
    return path
