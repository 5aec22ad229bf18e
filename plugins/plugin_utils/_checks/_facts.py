# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE PLUGIN UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

"""The facts the checks judge against, each held once: the TAC checklist, version minimums, limits, fixes.

A fix that a probe's classification already holds (an Exchange reply's, an AADSTS code's, an error class's)
is cited from there (_mail.MAIL_CLASSES, _aadsts, _errors.ERROR_CLASSES), not restated here.
"""

from ansible_collections.ece_o365.preflight.plugins.module_utils import _mail

# The TAC checklist (Cisco ECE 12.6), by item number, as DESIGN and README name it. A check may name
# one item or none; new items may be added (the report does not cap the number).
CHECKLIST = {
    1: 'Minimum ECE version and Engineering Special',
    2: 'ECE External URL: set, https, same FQDN as the admin login and the redirect URI',
    3: 'Entra app registration: redirect URI, delegated permissions, consent, client secret',
    4: 'Token lifetime: access 60-90 min, refresh token 90 days unused',
    5: 'Token generated for the right user (not the SSO workstation user)',
    6: 'Mailbox protocols: SMTP AUTH, and IMAP or POP',
    7: 'Exchange Online licence provisioned',
    8: 'Mailbox rights: own account, or shared account with FullAccess',
    9: 'Network: 443, 587, 993, 995 from the services and application servers',
    10: 'Connectivity test: SMTP, IMAP, POP from each ECE server',
}

# Minimum Engineering Special per ECE release (TAC checklist item 1, bug CSCvr86493).
MINIMUM_ES = {
    '11.6(1)': ('ES12', 'ES12_ET1'),
    '12.0(1)': ('ES6',),
    '12.5(1)': ('ES3',),
    '12.6(1)': ('ES1',),
}
ACCESS_TOKEN_LIFETIME = (3600, 5400)  # Entra's documented default: 60-90 minutes
# Entra back-dates an access token's iat and nbf by about 5 minutes (Microsoft's sample token: exp - iat = 3900 s
# for a 60-minute token): https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens
IAT_BACKDATE = 300
# Seconds between Entra issuing a token and the client reading expires_in (Entra itself answers 3599 for an hour).
TOKEN_LIFETIME_SLACK = 60
# Seconds. Entra ID allows 5 minutes of clock skew when it validates a token's nbf/exp, and so does
# Kerberos: beyond CLOCK_SKEW_FAIL tokens are refused, so that is a failure whatever the check's severity.
CLOCK_SKEW_WARN, CLOCK_SKEW_FAIL = 60, 300
SECRET_EXPIRY_WARN_DAYS = 30
# ENTRA-TOKEN-IDLE: Entra expires a refresh token unused for 90 days (MaxInactiveTime, AADSTS700082:
# https://learn.microsoft.com/en-us/entra/identity-platform/configurable-token-lifetimes); warn 5 days before.
TOKEN_IDLE_WARN_DAYS, TOKEN_IDLE_FAIL_DAYS = 85, 90

# The network paths ECE needs, by purpose (docs/contract.md): the check id (stable, named after the
# default port), who needs it in the per_role model (in the default checklist model every ECE server needs
# all four: Cisco TAC's checklist, item 9), the default port, and what for. The judge selects targets by
# purpose only; the token endpoint's targets are login.microsoftonline.com and login.microsoft.com.
NETWORK_PATHS = (
    # (check id, purpose, roles that need it (per_role), default port, what for, mail protocol it serves)
    ('NET-PORT-443', 'token_endpoint', ('services', 'application'), 443,
     'HTTPS to login.microsoftonline.com and login.microsoft.com: tokens', None),
    # SMTP applies whatever the mailboxes use: the application servers send ECE's alarm mail through it.
    ('NET-PORT-587', 'smtp_submission', ('services', 'application'), 587,
     'SMTP submission with STARTTLS: the dispatcher and alarm mail', None),
    ('NET-PORT-993', 'imap', ('services',), 993, 'IMAP over TLS: the retriever', 'imap'),
    ('NET-PORT-995', 'pop3', ('services',), 995, 'POP3 over TLS: the retriever', 'pop3'),
)

# Delegated Microsoft Graph permissions ECE's app needs, per mail protocol.
PERMISSION_OF_PROTOCOL = {'imap': 'IMAP.AccessAsUser.All', 'pop3': 'POP.AccessAsUser.All', 'smtp': 'SMTP.Send'}
DELEGATED_MAIL = ('IMAP.AccessAsUser.All', 'POP.AccessAsUser.All', 'SMTP.Send', 'offline_access')

# The issuers Microsoft's TLS certificates are signed by (fnmatch patterns on the issuer's CN); another
# issuer on a Microsoft endpoint means TLS inspection. ece_o365_expected_issuers replaces the list. The older
# "Microsoft Azure TLS Issuing CA 0x" has no word between Azure and TLS, which '* TLS' (two spaces) misses.
DEFAULT_EXPECTED_ISSUERS = ('Microsoft Azure TLS Issuing CA *', 'Microsoft Azure * TLS Issuing CA *',
                            'Microsoft Azure ECC TLS Issuing CA *',
                            'Microsoft RSA TLS CA 0?', 'Microsoft ECC TLS Issuing * CA *', 'DigiCert*')

# Fixes used by more than one check, held once.
FIX = {
    'smtp_auth': _mail.MAIL_CLASSES['smtp_auth_disabled'][1],
    'enable_protocol': 'Set-CASMailbox -Identity <mailbox> -%sEnabled $true',
    'full_access': 'Add-MailboxPermission -Identity %s -User %s -AccessRights FullAccess -AutoMapping $false',
    # https://learn.microsoft.com/en-us/powershell/module/exchange/add-recipientpermission
    'send_as': 'Add-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs',
    # provisioningStatus: https://learn.microsoft.com/en-us/graph/api/resources/serviceplaninfo
    # serviceplaninfo's provisioningStatus: PendingProvisioning = "Microsoft has added a new service to the product
    # SKU and it isn't activated in the tenant"; PendingActivation = provisioned, an admin must activate it;
    # PendingInput = waiting for the service (https://learn.microsoft.com/en-us/graph/api/resources/serviceplaninfo).
    'licence_pending': 'check the user in the Microsoft 365 admin center (Users > Active users > the user > Licenses '
                       'and apps): the Exchange Online plan must be switched on and show as provisioned; a plan '
                       'pending activation needs an administrator to activate the service, one that stays pending '
                       'needs Microsoft support - not another licence',
    # GET /users/{id}/licenseDetails: "Application: Not supported"
    # (https://learn.microsoft.com/en-us/graph/api/user-list-licensedetails); the user's assignedPlans are readable
    # with User.Read.All (https://learn.microsoft.com/en-us/graph/api/resources/user)
    'licence_read': 'let the preflight tell whether the mailbox exists: give its app Exchange.ManageAsApp with an '
                    'Exchange role that reads mailboxes (Get-CASMailbox), or User.Read.All so tenant_info reads the '
                    'user\'s assignedPlans (licenseDetails is not supported with application permissions)',
    'generate_token': 'generate the token again in ECE (Partition > Apps > Email > the mailbox > Generate token) '
                      'in a private browser window, signed in as the mailbox account',
    'tenant_read': 'give the preflight\'s own app registration Application.Read.All and User.Read.All (Graph) and '
                   'Exchange.ManageAsApp with an Exchange administrator role, with admin consent',
}

# The fixes that are commands, held once per check (the fix script, _fixscript and docs/fix-script.md): each check's
# PowerShell lines by variant, with <placeholders> the fix script fills from the finding's subject and evidence (every
# value quoted for PowerShell there). The section is where the fix goes in the script: FIX_SECTIONS in their order, so
# that what a fix depends on comes first (the account and its licence, then the mailbox's settings, then the
# rights on it, then the app registration, then consent). Microsoft's pages for each cmdlet: docs/microsoft-sources.md.
FIX_SECTIONS = (
    # (section, tool, title, Microsoft Graph scopes it needs (none: Exchange Online PowerShell))
    ('accounts', 'graph', 'Accounts and licences', ('User.ReadWrite.All', 'LicenseAssignment.ReadWrite.All')),
    ('mailbox_settings', 'exchange', 'Mailbox settings', ()),
    ('mailbox_rights', 'exchange', 'Mailbox rights', ()),
    ('app_registration', 'graph', 'ECE\'s app registration', ('Application.ReadWrite.All',)),
    ('consent', 'graph', 'Consent', ('Application.Read.All', 'DelegatedPermissionGrant.ReadWrite.All')),
)
MICROSOFT_GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000'
COMMANDS = {
    # Update-MgUser's AccountEnabled is a switch in some SDK versions: the request body says it either way.
    'USER-ACCOUNT': ('accounts', {
        'enable': 'Update-MgUser -UserId <user> -BodyParameter @{ accountEnabled = $true }'}),
    'MBX-LICENCE': ('accounts', {
        'assign': 'Set-MgUserLicense -UserId <user> -AddLicenses @(@{ SkuId = $ExchangeSkuId }) -RemoveLicenses @()'}),
    'MBX-PROTOCOLS': ('mailbox_settings', {
        'imap': 'Set-CASMailbox -Identity <mailbox> -ImapEnabled $true',
        'pop3': 'Set-CASMailbox -Identity <mailbox> -PopEnabled $true'}),
    'MBX-SMTP-AUTH': ('mailbox_settings', {
        'enable': 'Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false'}),
    'MBX-FULLACCESS': ('mailbox_rights', {
        'undeny': 'Remove-MailboxPermission -Identity <mailbox> -User <account> -AccessRights FullAccess -Deny '
                  '-Confirm:$false',
        'grant': 'Add-MailboxPermission -Identity <mailbox> -User <account> -AccessRights FullAccess -AutoMapping $false'}),
    'MBX-SENDAS': ('mailbox_rights', {
        'undeny': 'Remove-RecipientPermission -Identity <sender> -Trustee <account> -AccessRights SendAs -Deny '
                  '-Confirm:$false',
        'grant': 'Add-RecipientPermission -Identity <sender> -Trustee <account> -AccessRights SendAs -Confirm:$false'}),
    'APP-REDIRECT-URI': ('app_registration', {
        'add_web': 'Update-MgApplication -ApplicationId $EceApp.Id -BodyParameter @{ web = @{ redirectUris = '
                   '@(@($EceApp.Web.RedirectUris) + @(<uris>) | Select-Object -Unique) } }'}),
    'APP-SECRET-EXPIRY': ('app_registration', {
        'new_secret': '$NewSecret = Add-MgApplicationPassword -ApplicationId $EceApp.Id -PasswordCredential '
                      '@{ displayName = \'ECE\'; endDateTime = (Get-Date).AddMonths(12) }\n'
                      'Write-Host \'The new client secret, shown once: put it into ECE, then delete the old one\'\n'
                      '$NewSecret.SecretText'}),
    # Admin consent (consentType AllPrincipals) for the scopes no consent covers, added to the grant when there is one.
    'APP-CONSENT': ('consent', {
        'grant': '$Grant = Get-MgOauth2PermissionGrant -Filter "clientId eq \'$($EceSp.Id)\'" | Where-Object { '
                 '$_.ConsentType -eq \'AllPrincipals\' -and $_.ResourceId -eq $GraphSp.Id } | Select-Object -First 1\n'
                 'if ($Grant) {\n'
                 '    $Scope = (@($Grant.Scope -split \' \') + @(<scopes>) | Where-Object { $_ } | Select-Object -Unique) '
                 '-join \' \'\n'
                 '    $Update = @{ OAuth2PermissionGrantId = $Grant.Id; BodyParameter = @{ scope = $Scope } }\n'
                 '    Update-MgOauth2PermissionGrant @Update\n'
                 '} else {\n'
                 '    New-MgOauth2PermissionGrant -BodyParameter @{ clientId = $EceSp.Id; consentType = \'AllPrincipals\'; '
                 'resourceId = $GraphSp.Id; scope = (@(<scopes>) -join \' \') }\n'
                 '}'}),
}

# Where the Microsoft behaviour each check relies on is documented (docs/checks.md lists them per check).
_LEARN = 'https://learn.microsoft.com/en-us/'
SOURCES = {
    'APP-REDIRECT-URI': (_LEARN + 'entra/identity-platform/reply-url',
                         _LEARN + 'entra/identity-platform/how-to-add-redirect-uri'),
    'APP-PERMISSIONS': (_LEARN + 'exchange/client-developer/legacy-protocols/'
                                 'how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth',),
    'APP-CONSENT': (_LEARN + 'graph/api/resources/oauth2permissiongrant',
                    _LEARN + 'entra/identity-platform/reference-error-codes'),
    'APP-SECRET-EXPIRY': (_LEARN + 'graph/api/resources/passwordcredential',),
    'TOKEN-OWNER': (_LEARN + 'entra/identity-platform/access-token-claims-reference',),
    'TOKEN-LIFETIME': (_LEARN + 'entra/identity-platform/access-tokens',),
    'USER-ACCOUNT': (_LEARN + 'graph/api/user-get', _LEARN + 'microsoft-365/admin/email/about-shared-mailboxes',
                     _LEARN + 'microsoft-365/lighthouse/m365-lighthouse-block-signin-shared-mailboxes'),
    'MBX-LICENCE': (_LEARN + 'entra/identity/users/licensing-service-plan-reference',
                    _LEARN + 'graph/api/resources/serviceplaninfo', _LEARN + 'graph/api/user-list-licensedetails'),
    'MBX-FULLACCESS': (_LEARN + 'powershell/module/exchange/add-mailboxpermission',),
    'ENTRA-SIGNIN-OWNER': (_LEARN + 'graph/api/resources/signin?view=graph-rest-beta',
                           _LEARN + 'entra/identity/monitoring-health/concept-noninteractive-sign-ins'),
    'ENTRA-SIGNIN-ERRORS': (_LEARN + 'graph/api/resources/signin?view=graph-rest-beta',
                            _LEARN + 'entra/identity-platform/reference-error-codes'),
    'ENTRA-TOKEN-IDLE': (_LEARN + 'graph/api/resources/signinactivity',
                         _LEARN + 'entra/identity-platform/configurable-token-lifetimes',
                         _LEARN + 'entra/identity/monitoring-health/reference-reports-data-retention'),
    'ENTRA-SIGNIN-SOURCE': (_LEARN + 'entra/identity/monitoring-health/concept-noninteractive-sign-ins',),
    'MBX-SENDAS': (_LEARN + 'powershell/module/exchange/add-recipientpermission',
                   _LEARN + 'powershell/module/exchange/get-recipientpermission'),
}
