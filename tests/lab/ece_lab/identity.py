# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Entra-like token issuer: grants, JWTs, refresh tokens and authorization codes.

Pure logic (no sockets): httpd.py calls ``Issuer.token(form)`` and renders what it returns or
the EntraError it raises. Behaviour follows Entra's v2.0 endpoint: access tokens live a random
60-90 minutes, refresh tokens rotate and die after 90 days unused, delegated grants return an
id_token whose preferred_username says whose token it is.
"""

import base64
import datetime
import hashlib
import ipaddress
import random
import secrets
import threading
import time
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .aadsts import EntraError
from .tenant import (
    EXCHANGE_APP_ID,
    GRAPH_AUDIENCE,
    MAIL_PERMISSIONS,
    OIDC_SCOPES,
    REFRESH_TOKEN_MAX_INACTIVE_DAYS,
    RESOURCES,
    resource_of_audience,
    split_scope,
)

AUTH_CODE_LIFETIME = 600
# Entra back-dates iat and nbf by about 5 minutes: Microsoft's sample access tokens (v1.0 and v2.0) have
# exp - iat = 3900 s for a 60-minute token, while the token response's expires_in is the real lifetime.
# https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens ("Token formats", the sample tokens)
BACKDATE_SECONDS = 300
# The consumer (Microsoft account) tenant, the home of a personal account that is a guest here.
# https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference (tid, iss)
MSA_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"


# The client's address of the request being answered (httpd sets it per request thread): what Entra sees as the
# sign-in's IP address, the one a Conditional Access named location matches (a proxy's egress address, if any).
REQUEST = threading.local()


def _in_locations(locations):
    """Whether the request's client address is in LOCATIONS (IP ranges, a named location), or no locations are set:
    https://learn.microsoft.com/en-us/entra/identity/conditional-access/concept-assignment-network"""
    if not locations:
        return True
    address = getattr(REQUEST, "client_address", None)
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in locations)


class SigningKey:
    """The issuer's RS256 key, kept as PEM in the run directory so every lab process shares it."""

    def __init__(self, private_pem):
        self.private_pem = private_pem
        self._key = serialization.load_pem_private_key(private_pem, password=None)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        # Entra's kid is a base64 thumbprint; a short one of the public key does the same job.
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(self.public_pem).digest()).decode().rstrip("=")

    @classmethod
    def generate(cls):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))

    def jwk(self):
        numbers = self._key.public_key().public_numbers()

        def b64(value):
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": b64(numbers.n),
                "e": b64(numbers.e)}

    def sign(self, claims):
        return jwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token, audience, issuer):
        """Decode and verify TOKEN; raises jwt.InvalidTokenError with the reason."""
        return jwt.decode(token, self.public_pem, algorithms=["RS256"], audience=audience, issuer=issuer,
                          options={"require": ["exp", "iat", "aud", "iss"]})


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _date(value):
    return value.strftime("%m/%d/%Y %H:%M:%S")


class Issuer:
    """Token logic for one tenant file."""

    def __init__(self, tenant, key, issuer_base):
        self.tenant = tenant
        self.key = key
        self.issuer_base = issuer_base.rstrip("/")  # https://127.0.0.1:PORT
        self.issuer = "%s/%s/v2.0" % (self.issuer_base, tenant.tenant_id)
        self._lock = threading.Lock()
        # Refresh tokens issued while the lab runs, plus those the tenant file seeds.
        self._refresh_tokens = {rt["value"]: dict(rt) for rt in tenant.refresh_tokens.values()}
        self._codes = {}

    # -- the token endpoint ----------------------------------------------------------------
    def token(self, tenant_segment, form):
        if not self.tenant.matches_tenant(tenant_segment):
            raise EntraError(90002, tenant=tenant_segment)
        grant_type = form.get("grant_type", "")
        handlers = {
            "client_credentials": self._client_credentials,
            "refresh_token": self._refresh_token,
            "password": self._password,
            "authorization_code": self._authorization_code,
        }
        if grant_type not in handlers:
            raise EntraError(70003, grant_type=grant_type)
        return handlers[grant_type](form)

    def _application(self, form, secret_required):
        client_id = form.get("client_id", "")
        app = self.tenant.application_by_client_id(client_id)
        if app is None:
            raise EntraError(700016, client_id=client_id, tenant_name=self.tenant.name)
        if form.get("client_assertion") is not None:
            return self._certificate_client(app, form)
        presented = form.get("client_secret")
        if presented is None:
            if secret_required or not app["public_client"]:
                raise EntraError(7000218)
            return app
        for secret in app["secrets"]:
            if secrets.compare_digest(secret["value"].encode(), presented.encode()):
                if secret["end"] <= _now():
                    raise EntraError(7000222, client_id=app["client_id"])
                return app
        raise EntraError(7000215, client_id=app["client_id"])

    def _certificate_client(self, app, form):
        """A certificate credential: msal's client assertion JWT, signed with a key whose certificate is registered."""
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise EntraError(7000218)
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError:
            raise EntraError(700027, reason="The client assertion is not a JWT.", thumbprint="", client_id=app["client_id"])
        wanted_sha256 = (header.get("x5t#S256") or "").rstrip("=")
        wanted_sha1 = (header.get("x5t") or "").rstrip("=")
        used = _b64_to_hex(wanted_sha256 or wanted_sha1)
        for cert in app["certificates"]:
            sha1, sha256 = certificate_thumbprints(cert["pem"])
            if (wanted_sha256 and _hex_to_b64(sha256) == wanted_sha256) or \
                    (not wanted_sha256 and wanted_sha1 and _hex_to_b64(sha1) == wanted_sha1):
                break
        else:
            raise EntraError(700027, reason="The key was not found.", thumbprint=used, client_id=app["client_id"])
        if cert["end"] <= _now():
            raise EntraError(700027, reason="The key used is expired.", thumbprint=used, client_id=app["client_id"])
        public_key = x509.load_pem_x509_certificate(cert["pem"].encode()).public_key()
        endpoints = ["%s/%s/oauth2/v2.0/token" % (self.issuer_base, t)
                     for t in (self.tenant.tenant_id, self.tenant.domain, self.tenant.initial_domain)]
        try:
            claims = jwt.decode(assertion, public_key, algorithms=["RS256", "PS256"], audience=endpoints,
                                options={"require": ["exp", "aud", "iss", "sub"]}, leeway=0)
        except jwt.ExpiredSignatureError:
            raise EntraError(700024, now=_now().strftime("%m/%d/%Y %H:%M:%S"))
        except jwt.InvalidTokenError as exc:
            raise EntraError(700027, reason="Client assertion failed validation: %s." % exc, thumbprint=used,
                             client_id=app["client_id"])
        if claims.get("iss") != app["client_id"] or claims.get("sub") != app["client_id"]:
            raise EntraError(700027, reason="The assertion's iss and sub must be the client id.", thumbprint=used,
                             client_id=app["client_id"])
        return app

    def _client_credentials(self, form):
        app = self._application(form, secret_required=True)
        scopes = form.get("scope", "").split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise EntraError(1002012, scope=form.get("scope", ""))
        audience = scopes[0][: -len("/.default")]
        resource = resource_of_audience(audience)
        if resource is None:
            raise EntraError(70011, scope=scopes[0])
        roles = [name for name in RESOURCES[resource]["application"]
                 if self.tenant.consented(app, "application", name)]
        claims = self._base_claims(app, audience)
        claims.update({"oid": app["service_principal_id"], "sub": app["service_principal_id"], "idtyp": "app"})
        if roles:
            claims["roles"] = roles
        return self._reply(claims, scope=scopes[0])

    def _password(self, form):
        app = self._application(form, secret_required=False)
        username = form.get("username", "").lower()
        user = self.tenant.user(username)
        if user is None:
            raise EntraError(50034, tenant_id=self.tenant.tenant_id)
        if not user["password"] or not secrets.compare_digest(
                user["password"].encode(), form.get("password", "").encode()):
            raise EntraError(50126)
        self._check_user(user, app, for_resource=form.get("scope", ""))
        if user["mfa_required"]:
            raise EntraError(50076, resource=_first_resource(form.get("scope", "")))
        return self._delegated(app, user, form.get("scope", "").split())

    def _refresh_token(self, form):
        app = self._application(form, secret_required=False)
        with self._lock:
            record = self._refresh_tokens.get(form.get("refresh_token", ""))
        if record is None or self.tenant.applications[record["application"]]["client_id"] != app["client_id"]:
            raise EntraError(9002313)
        user = self.tenant.user(record["user"])
        if user is None:
            raise EntraError(50034, tenant_id=self.tenant.tenant_id)
        now = _now()
        if now - record["last_used"] > datetime.timedelta(days=REFRESH_TOKEN_MAX_INACTIVE_DAYS):
            raise EntraError(700082, issued=_date(record["issued"]))
        if user["tokens_valid_from"] and user["tokens_valid_from"] > record["issued"]:
            raise EntraError(50173, issued=record["issued"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                             valid_from=user["tokens_valid_from"].strftime("%Y-%m-%dT%H:%M:%SZ"))
        self._check_user(user, app, for_resource=form.get("scope", ""))
        scopes = form.get("scope", "").split() or record["scopes"]
        with self._lock:
            record["last_used"] = now
        return self._delegated(app, user, scopes, rotated_from=record)

    def _authorization_code(self, form):
        app = self._application(form, secret_required=False)
        with self._lock:
            code = self._codes.pop(form.get("code", ""), None)
        if code is None or code["expires"] < time.time() or code["client_id"] != app["client_id"]:
            raise EntraError(70008)
        if form.get("redirect_uri") != code["redirect_uri"]:
            raise EntraError(50011, redirect_uri=form.get("redirect_uri", ""), client_id=app["client_id"])
        user = self.tenant.user(code["user"])
        self._check_user(user, app, for_resource=form.get("scope", ""))
        return self._delegated(app, user, form.get("scope", "").split() or code["scopes"])

    # -- the authorize endpoint (no UI: the lab signs in the login_hint or the SSO user) -----
    def authorize(self, tenant_segment, query):
        """Return the redirect URL with a code; raise EntraError for what Entra shows as an error page."""
        if not self.tenant.matches_tenant(tenant_segment):
            raise EntraError(90002, tenant=tenant_segment)
        client_id = query.get("client_id", "")
        app = self.tenant.application_by_client_id(client_id)
        if app is None:
            raise EntraError(700016, client_id=client_id, tenant_name=self.tenant.name)
        redirect_uri = query.get("redirect_uri", "")
        registered = [uri for uris in app["redirect_uris"].values() for uri in uris]
        if redirect_uri not in registered:
            raise EntraError(50011, redirect_uri=redirect_uri, client_id=client_id)
        # Seamless SSO: without a login hint, Entra signs in whoever the workstation's Kerberos
        # ticket names, which is the classic wrong-owner token of the TAC checklist.
        username = (query.get("login_hint") or self.tenant.sso_user or "").lower()
        user = self.tenant.user(username)
        if user is None:
            raise EntraError(50034, tenant_id=self.tenant.tenant_id)
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = {"client_id": app["client_id"], "user": user["upn"], "redirect_uri": redirect_uri,
                                 "scopes": query.get("scope", "").split(), "expires": time.time() + AUTH_CODE_LIFETIME}
        separator = "&" if "?" in redirect_uri else "?"
        location = "%s%scode=%s" % (redirect_uri, separator, code)
        if query.get("state"):
            location += "&state=%s" % query["state"]
        return location

    # -- shared pieces ---------------------------------------------------------------------
    def _check_user(self, user, app, for_resource):
        if not user["account_enabled"]:
            raise EntraError(50057)
        for rule in self.tenant.conditional_access:
            users = [u.lower() for u in rule.get("users", ["all"])]
            apps = rule.get("applications", ["all"])
            if ("all" in users or user["upn"] in users) and ("all" in apps or app["key"] in apps) \
                    and _in_locations(rule.get("locations")) and rule.get("grant", "block") == "block":
                raise EntraError(53003)

    def _delegated(self, app, user, requested, rotated_from=None):
        audience, permissions, oidc = self._resolve_delegated(app, requested, user)
        claims = self._base_claims(app, audience)
        if user.get("token_version") == 1:
            claims.update(self._v1_user_claims(app, user))
            claims.pop("azp", None)  # v1.0 names the client in appid only
        else:
            claims.update({
                "oid": user["object_id"], "sub": user["object_id"], "upn": user["upn"], "unique_name": user["upn"],
                "preferred_username": user["upn"], "name": user["display_name"], "idtyp": "user",
            })
        claims["scp"] = " ".join(permissions)
        prefix = "" if audience == GRAPH_AUDIENCE else audience + "/"
        granted = ["%s%s" % (prefix, name) for name in permissions] + sorted(oidc)
        reply = self._reply(claims, scope=" ".join(granted))
        if "openid" in oidc:
            reply["id_token"] = self._id_token(app, user)
        if "offline_access" in oidc:
            reply["refresh_token"] = self._new_refresh_token(app, user, requested, rotated_from)
        return reply

    def _v1_user_claims(self, app, user):
        """A v1.0 access token's user claims, after Microsoft's published v1.0 sample: unique_name, no
        preferred_username; a guest (another home tenant, here a personal account) has no upn either, and carries
        idp and email. https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens
        https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference (upn, unique_name)"""
        mail = self._mail(user)
        # The issuer stays the lab's (Entra's v1.0 tokens say https://sts.windows.net/{tid}/): the lab's mail
        # servers trust one issuer.
        claims = {"oid": user["object_id"], "sub": user["object_id"], "name": user["display_name"], "ver": "1.0"}
        if user.get("guest"):
            claims.update({"unique_name": "live.com#%s" % mail, "email": mail,
                           "idp": "https://sts.windows.net/%s/" % MSA_TENANT_ID})
        else:
            claims.update({"upn": user["upn"], "unique_name": user["upn"]})
        return claims

    def _mail(self, user):
        """The user's mail address (users.<upn>.mail), else the UPN."""
        if user.get("mail"):
            return user["mail"]
        for upn, raw in (self.tenant.raw.get("users") or {}).items():
            if upn.lower() == user["upn"] and isinstance(raw, dict) and raw.get("mail"):
                return str(raw["mail"]).lower()
        return user["upn"]

    def _resolve_delegated(self, app, requested, user=None):
        audiences = set()
        permissions = []
        oidc = set()
        for scope in requested:
            audience, name = split_scope(scope)
            if name in OIDC_SCOPES:
                oidc.add(name)
                continue
            if audience is None:
                raise EntraError(70011, scope=scope)
            audiences.add(audience)
            if name == ".default":
                permissions.extend(self._default_delegated(app, audience, user))
                continue
            if name not in _delegated_names(audience):
                raise EntraError(70011, scope=scope)
            permissions.append(name)
        if len(audiences) > 1:
            raise EntraError(28000, scope=" ".join(requested))
        audience = audiences.pop() if audiences else GRAPH_AUDIENCE
        # Every permission asked for needs consent: the admin's for all users (AllPrincipals) or this user's own
        # (Principal); a subset of what is consented works, one more gives AADSTS65001.
        # https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS65001)
        # https://learn.microsoft.com/en-us/graph/api/resources/oauth2permissiongrant (consentType)
        for name in permissions + sorted(oidc - {"openid", "profile", "email"}):
            if not self.tenant.consented(app, "delegated", name, user):
                raise EntraError(65001, client_id=app["client_id"], app_name=app["display_name"])
        if not permissions:
            permissions = ["User.Read"] if self.tenant.consented(app, "delegated", "User.Read", user) else []
        return audience, list(dict.fromkeys(permissions)), oidc

    def _default_delegated(self, app, audience, user=None):
        return [name for name in _delegated_names(audience) if self.tenant.consented(app, "delegated", name, user)]

    def _base_claims(self, app, audience):
        now = int(time.time())
        low, high = self.tenant.access_token_lifetime
        lifetime = random.randint(low, high)  # Entra varies access-token lifetime in 60-90 min
        return {
            "aud": audience, "iss": self.issuer, "iat": now - BACKDATE_SECONDS, "nbf": now - BACKDATE_SECONDS,
            "exp": now + lifetime,
            "tid": self.tenant.tenant_id, "appid": app["client_id"], "azp": app["client_id"],
            "app_displayname": app["display_name"], "uti": uuid.uuid4().hex[:22], "ver": "2.0",
        }

    def _reply(self, claims, scope):
        lifetime = claims["exp"] - claims["iat"] - BACKDATE_SECONDS  # expires_in: the real lifetime, not exp - iat
        return {"token_type": "Bearer", "scope": scope, "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": self.key.sign(claims)}

    def _id_token(self, app, user):
        now = int(time.time())
        return self.key.sign({
            "aud": app["client_id"], "iss": self.issuer, "iat": now - BACKDATE_SECONDS, "nbf": now - BACKDATE_SECONDS,
            "exp": now + 3600,
            "tid": self.tenant.tenant_id, "oid": user["object_id"], "sub": user["object_id"],
            "name": user["display_name"], "ver": "2.0",
            # A guest signs in with its home address (preferred_username: "the primary username that represents
            # the user", https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference).
            "preferred_username": self._mail(user) if user.get("guest") else user["upn"],
        })

    def _new_refresh_token(self, app, user, requested, rotated_from):
        value = "0.lab." + secrets.token_urlsafe(48)
        now = _now()
        with self._lock:
            self._refresh_tokens[value] = {
                "value": value, "user": user["upn"], "application": app["key"], "scopes": list(requested),
                # A rotated token keeps the grant's original issue time, as Entra's does.
                "issued": rotated_from["issued"] if rotated_from else now, "last_used": now,
            }
        return value

    def mint(self, claims_override, audience="https://outlook.office.com", app_key=None, user=None):
        """Sign an arbitrary token for tests (expired, wrong audience, other issuer...)."""
        app = self.tenant.applications[app_key] if app_key else next(iter(self.tenant.applications.values()))
        claims = self._base_claims(app, audience)
        if user:
            record = self.tenant.user(user)
            claims.update({"oid": record["object_id"], "sub": record["object_id"], "upn": record["upn"],
                           "preferred_username": record["upn"], "scp": " ".join(MAIL_PERMISSIONS)})
        claims.update(claims_override)
        return self.key.sign({k: v for k, v in claims.items() if v is not None})


CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def certificate_thumbprints(pem):
    """(SHA-1, SHA-256) thumbprints of a PEM certificate, upper-case hex, as the portal shows them."""
    der = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem).public_bytes(
        serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def _hex_to_b64(value):
    return base64.urlsafe_b64encode(bytes.fromhex(value)).decode().rstrip("=")


def _b64_to_hex(value):
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex().upper()
    except ValueError:
        return value


def _delegated_names(audience):
    if audience == GRAPH_AUDIENCE:
        return list(RESOURCES[resource_of_audience(audience)]["delegated"])
    if resource_of_audience(audience) == EXCHANGE_APP_ID:
        return list(MAIL_PERMISSIONS)
    return []


def _first_resource(scope):
    for item in scope.split():
        audience, _name = split_scope(item)
        if audience:
            return audience
    return GRAPH_AUDIENCE
