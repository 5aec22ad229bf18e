# Copyright: (c) 2026, ece_o365.preflight contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra ID (AADSTS) error replies, in the body shape Microsoft's token endpoint documents.

Texts follow Microsoft's published messages ("Microsoft Entra authentication and authorization
error codes"); the lab only fills the placeholders. Each entry: OAuth2 error, HTTP status, text.
"""

import datetime
import json
import uuid

AADSTS = {
    50011: ("invalid_request", 400,
            "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
            "configured for the application '{client_id}'. Make sure the redirect URI sent in the request "
            "matches one added to your application in the Azure portal. Navigate to "
            "https://aka.ms/redirectUriMismatchError to learn more about how to fix this."),
    50034: ("invalid_grant", 400,
            "The user account {{EUII Hidden}} does not exist in the {tenant_id} directory. To sign into this "
            "application, the account must be added to the directory."),
    # Microsoft's own failure: HTTP 500, error server_error, the text public reports quote (e.g.
    # https://github.com/microsoft/Partner-Center-PowerShell/issues/420); TokenIssuanceError in
    # https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
    50000: ("server_error", 500, "There was an error issuing a token or an issue with our sign-in service."),
    50057: ("invalid_grant", 400, "The user account is disabled."),
    50076: ("invalid_grant", 400,
            "Due to a configuration change made by your administrator, or because you moved to a new "
            "location, you must use multi-factor authentication to access '{resource}'."),
    50126: ("invalid_grant", 400, "Error validating credentials due to invalid username or password."),
    50173: ("invalid_grant", 400,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
            "might have changed or reset their password. The grant was issued on '{issued}' and the "
            "TokensValidFrom date (before which tokens are not valid) for this user is '{valid_from}'."),
    28000: ("invalid_scope", 400,
            "Provided value for the input parameter scope is not valid because it contains more than one "
            "resource. Scope {scope} is not valid."),
    53003: ("invalid_grant", 400,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token "
            "issuance."),
    65001: ("invalid_grant", 400,
            "The user or administrator has not consented to use the application with ID '{client_id}' named "
            "'{app_name}'. Send an interactive authorization request for this user and resource."),
    70003: ("unsupported_grant_type", 400, "The app requested an unsupported grant type '{grant_type}'."),
    70008: ("invalid_grant", 400,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new "
            "interactive authorization request for this user and resource."),
    70011: ("invalid_scope", 400,
            "The provided request must include a 'scope' input parameter. The provided value for the input "
            "parameter 'scope' is not valid. The scope {scope} is not valid."),
    90002: ("invalid_request", 400,
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing "
            "into the correct cloud. Check with your subscription administrator, this may happen if there "
            "are no active subscriptions for the tenant."),
    700016: ("unauthorized_client", 400,
             "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This "
             "can happen if the application has not been installed by the administrator of the tenant or "
             "consented to by any user in the tenant. You may have sent your authentication request to the "
             "wrong tenant."),
    700082: ("invalid_grant", 400,
             "The refresh token has expired due to inactivity. The token was issued on {issued} and was "
             "inactive for 90.00:00:00."),
    700024: ("invalid_client", 401,
             "Client assertion is not within its valid time range. Current time: {now}."),
    700027: ("invalid_client", 401,
             "The certificate with identifier used to sign the client assertion is not registered on application. "
             "[Reason - {reason}, Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, "
             "Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"),
    1002012: ("invalid_scope", 400,
              "The provided value for scope {scope} is not valid. Client credential flows must have a scope "
              "value with /.default suffixed to the resource identifier (application ID URI)."),
    7000215: ("invalid_client", 401,
              "Invalid client secret provided. Ensure the secret being sent in the request is the client "
              "secret value, not the client secret ID, for a secret added to app '{client_id}'."),
    7000218: ("invalid_client", 401,
              "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
    7000222: ("invalid_client", 401,
              "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to "
              "create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate "
              "credentials for added security: https://aka.ms/certCreds."),
    9002313: ("invalid_request", 400, "Invalid request. Request is malformed or invalid."),
}
# Codes Entra marks as needing user interaction (msal surfaces them as such).
INTERACTION_REQUIRED = {50076, 53003, 65001, 70008, 700082, 50173}


class EntraError(Exception):
    """Raised inside the issuer; rendered as Entra's error body."""

    def __init__(self, code, **fields):
        super().__init__(code)
        self.code = code
        self.fields = fields

    def render(self):
        """Return (HTTP status, JSON body bytes)."""
        error, status, text = AADSTS[self.code]
        description = text.format(**_Defaults(self.fields))
        now = datetime.datetime.now(datetime.timezone.utc)
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        body = {
            "error": error,
            "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
                self.code, description, trace_id, correlation_id, now.strftime("%Y-%m-%d %H:%M:%SZ")),
            "error_codes": [self.code],
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": "https://login.microsoftonline.com/error?code=%d" % self.code,
        }
        if self.code in INTERACTION_REQUIRED and error == "invalid_grant":
            body["suberror"] = "basic_action" if self.code == 53003 else "consent_required" if self.code == 65001 else ""
            if not body["suberror"]:
                del body["suberror"]
        return status, json.dumps(body).encode()


class _Defaults(dict):
    def __missing__(self, key):
        return "{%s}" % key
