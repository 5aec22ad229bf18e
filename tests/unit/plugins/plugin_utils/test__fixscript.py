# -*- coding: utf-8 -*-
# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fix script (_fixscript): judged findings of realistic observations, one thing broken per case, in; the
commands that answer them, in dependency order with their findings as comments, out; nothing for what passes or is
waived, nothing twice, values quoted for PowerShell, no secret, and a script the PowerShell grammar parses."""

import json
import re

import pytest

from ansible_collections.ece_o365.preflight.plugins.plugin_utils import _checks, _fixscript
from ansible_collections.ece_o365.preflight.plugins.plugin_utils._checks import _facts
from ansible_collections.ece_o365.preflight.tests.unit.plugins.action.test_preflight_report import (
    _healthy_records, _vars, run)
from ansible_collections.ece_o365.preflight.tests.unit.windows import ps_contract

from ._checks.observations import SALES, SUPPORT, SVC, TODAY, healthy, judge, not_passing

APP_ID = '11111111-2222-3333-4444-555555555555'
PLANTED = ('rt-PLANTED-refresh-0123456789', 'eyJPLANTED.access.token', 'cs~PLANTED-client-secret')


def _settings(document, address):
    return [m for m in document['tenant']['mailbox_settings']['mailboxes'] if m['address'] == address][0]


def _login(document, address, protocol):
    return [r for r in document['tenant']['mailbox_protocols']['results']
            if r['address'] == address and r['protocol'] == protocol][0]


def _document():
    """healthy(), with a GUID client id (as Graph returns it) and secrets planted where a run holds them."""
    document = healthy()
    document['tenant']['tenant_info']['application']['app_id'] = APP_ID
    for token in document['tenant']['mailbox_protocols']['tokens']:
        token.update(refresh_token=PLANTED[0], access_token=PLANTED[1])
    document['tenant']['tenant_info']['application']['secrets'][0]['secret_text'] = PLANTED[2]
    return document


def _imap_off(document, address=SUPPORT):
    _settings(document, address)['imap_enabled'] = False
    _login(document, address, 'imap').update(ok=False, error_class='auth_failed', message='IMAP refused')


def _script(document, **kwargs):
    findings = judge(document, **kwargs)
    text = _fixscript.build(findings, _checks.by_id(), '2026-11-28T12:00:00Z', 'inventory.yml')
    assert_parses(text)
    for secret in PLANTED:
        assert secret not in text, 'a planted secret reached the fix script'
    return findings, text


def assert_parses(text):
    if not ps_contract.HAS_TREE_SITTER:
        pytest.skip('tree-sitter-powershell is not installed (%s)' % ps_contract.TREE_SITTER_ERROR)
    assert ps_contract.syntax_errors(text) == [], text


def commands(text):
    """The lines that run (not comments, not the script's own frame before the first section)."""
    body = text.split('# ' + '=' * 100, 1)[1] if '# ' + '=' * 100 in text else ''
    return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith('#')]


def runs(text):
    """Every line that runs after the script's frame (the sign-ins, the set-up, the commands)."""
    body = text.split('run it with -Reviewed\' }', 1)[1]
    return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith('#')]


MANUAL = '# Manual steps: fixes that are not commands'


def answered(text, command):
    """The '# answers ...' comment lines right above COMMAND's first line."""
    lines = text.splitlines()
    at = lines.index(command)
    out = []
    while at > 0 and lines[at - 1].startswith('# answers '):
        at -= 1
        out.insert(0, lines[at])
    return out


def test_a_healthy_run_gives_a_script_that_changes_nothing():
    findings, text = _script(_document())
    assert not_passing(findings) == {}
    assert commands(text) == []
    assert 'Nothing to run' in text and MANUAL not in text and runs(text) == []
    assert text.startswith('# preflight-fixes.ps1') and 'NEVER runs it' in text
    assert "if (-not $Reviewed) { throw" in text


def test_imap_disabled_gives_one_command_answering_both_findings():
    document = _document()
    _imap_off(document)
    findings, text = _script(document)
    assert not_passing(findings) == {('MBX-PROTOCOLS', SUPPORT): 'fail', ('MBX-LOGIN-IMAP', SUPPORT): 'fail'}
    command = "Set-CASMailbox -Identity 'support@contoso.com' -ImapEnabled $true"
    assert commands(text) == [command], text
    assert text.count(command) == 1
    comments = answered(text, command)
    assert [c.split(':')[0] for c in comments] == [
        '# answers MBX-PROTOCOLS for support@contoso.com', '# answers MBX-LOGIN-IMAP for support@contoso.com']
    assert 'IMAP is disabled on support@contoso.com' in comments[0]
    assert runs(text) == ['Connect-ExchangeOnline', command] and MANUAL not in text


def test_waived_findings_give_nothing():
    document = _document()
    _imap_off(document)
    waivers = [{'id': check, 'subject': SUPPORT, 'reason': 'moving to POP', 'expires': '2027-01-01'}
               for check in ('MBX-PROTOCOLS', 'MBX-LOGIN-IMAP')]
    findings, text = _script(document, waivers=waivers)
    assert set(f['status'] for f in findings if f['id'] == 'MBX-PROTOCOLS' and f['subject'] == SUPPORT) == {'fail'}
    assert runs(text) == [] and MANUAL not in text
    # An expired waiver waives nothing: the command is back.
    expired = [dict(w, expires=(TODAY.replace(year=2025)).isoformat()) for w in waivers]
    assert "Set-CASMailbox -Identity 'support@contoso.com' -ImapEnabled $true" in runs(
        _script(document, waivers=expired)[1])


def test_every_command_in_dependency_order_with_its_findings():
    """One tenant with a disabled delegate, SMTP AUTH off for it, no FullAccess and no Send As on the shared mailbox,
    an http redirect URI, an expired secret and SMTP.Send not consented: accounts, mailbox settings, mailbox rights,
    app registration, consent - in that order."""
    document = _document()
    tenant = document['tenant']
    [u for u in tenant['tenant_info']['users'] if u['address'] == SVC][0]['enabled'] = False
    _settings(document, SVC)['smtp_client_authentication_disabled'] = True
    sales = _settings(document, SALES)
    sales['full_access'] = sales['full_access'][:1]
    sales['send_as'] = sales['send_as'][:1]
    app = tenant['tenant_info']['application']
    app['redirect_uris']['web'] = ['http://ece.contoso.com/cb']
    app['secrets'][0]['end'] = '2026-06-01T00:00:00Z'
    grant = app['service_principal']['delegated_grants'][0]
    grant['scopes'] = [s for s in grant['scopes'] if s != 'SMTP.Send']
    findings, text = _script(document)
    failing = not_passing(findings)
    for key in (('USER-ACCOUNT', SALES), ('MBX-SMTP-AUTH', SALES), ('MBX-FULLACCESS', SALES), ('MBX-SENDAS', SALES),
                ('APP-REDIRECT-URI', 'tenant'), ('APP-SECRET-EXPIRY', 'tenant'), ('APP-CONSENT', 'tenant')):
        assert failing.get(key) == 'fail', (key, failing)
    expected = [
        "Update-MgUser -UserId 'svc@contoso.com' -BodyParameter @{ accountEnabled = $true }",
        "Set-CASMailbox -Identity 'svc@contoso.com' -SmtpClientAuthenticationDisabled $false",
        "Add-MailboxPermission -Identity 'sales@contoso.com' -User 'svc@contoso.com' -AccessRights FullAccess "
        "-AutoMapping $false",
        "Add-RecipientPermission -Identity 'sales@contoso.com' -Trustee 'svc@contoso.com' -AccessRights SendAs "
        "-Confirm:$false",
        "Update-MgApplication -ApplicationId $EceApp.Id -BodyParameter @{ web = @{ redirectUris = "
        "@(@($EceApp.Web.RedirectUris) + @('https://ece.contoso.com/cb') | Select-Object -Unique) } }",
        "$NewSecret = Add-MgApplicationPassword -ApplicationId $EceApp.Id -PasswordCredential @{ displayName = 'ECE'; "
        "endDateTime = (Get-Date).AddMonths(12) }",
        "$Grant = Get-MgOauth2PermissionGrant -Filter \"clientId eq '$($EceSp.Id)'\" | Where-Object { $_.ConsentType "
        "-eq 'AllPrincipals' -and $_.ResourceId -eq $GraphSp.Id } | Select-Object -First 1",
    ]
    lines = text.splitlines()
    positions = [lines.index(command) for command in expected]
    assert positions == sorted(positions), text
    assert answered(text, expected[0])[0].startswith('# answers USER-ACCOUNT for sales@contoso.com: svc@contoso.com '
                                                     'is disabled')
    assert answered(text, expected[2])[0].startswith('# answers MBX-FULLACCESS for sales@contoso.com')
    assert answered(text, expected[6])[0].startswith('# answers APP-CONSENT for tenant')
    assert "@('SMTP.Send')" in text and "$EceAppId = '%s'" % APP_ID in text
    # The sections' sign-ins: Exchange Online once, Microsoft Graph once with every scope the sections need.
    assert runs(text).count('Connect-ExchangeOnline') == 1
    assert len([line for line in runs(text) if line.startswith('Connect-MgGraph')]) == 1
    scopes = re.search(r"^Connect-MgGraph -Scopes (.*)$", text, re.M).group(1)
    for scope in ('User.ReadWrite.All', 'Application.ReadWrite.All', 'DelegatedPermissionGrant.ReadWrite.All'):
        assert "'%s'" % scope in scopes
    assert 'LicenseAssignment' in scopes  # the accounts section's scopes travel with it
    headings = [line for line in lines if line.startswith('# ') and (
        '(Exchange Online PowerShell' in line or '(Microsoft Graph PowerShell' in line)]
    assert [h.split(' (')[0] for h in headings] == [
        '# Accounts and licences', '# Mailbox settings', '# Mailbox rights', "# ECE's app registration", '# Consent']


def test_a_deny_entry_is_removed_before_the_grant():
    document = _document()
    sales = _settings(document, SALES)
    sales['full_access'].append({'user': SVC, 'access_rights': ['FullAccess'], 'deny': True, 'is_inherited': False})
    _findings, text = _script(document)
    remove = "Remove-MailboxPermission -Identity 'sales@contoso.com' -User 'svc@contoso.com' -AccessRights FullAccess " \
        "-Deny -Confirm:$false"
    add = "Add-MailboxPermission -Identity 'sales@contoso.com' -User 'svc@contoso.com' -AccessRights FullAccess " \
        "-AutoMapping $false"
    assert text.index(remove) < text.index(add)


def test_the_same_command_is_written_once_for_every_finding_it_answers():
    """SMTP AUTH off for the tenant: support@ and sales@ (through svc@) each get their own command, and each refused
    SMTP login is answered by its mailbox's command, not repeated."""
    document = _document()
    document['tenant']['mailbox_settings']['transport_config']['smtp_client_authentication_disabled'] = True
    for address in (SUPPORT, SALES):
        _login(document, address, 'smtp').update(ok=False, error_class='smtp_auth_disabled', message='535 5.7.139')
    findings, text = _script(document)
    assert not_passing(findings) == dict(((check, address), 'fail') for check in ('MBX-SMTP-AUTH', 'MBX-LOGIN-SMTP')
                                         for address in (SUPPORT, SALES))
    for who, subject in ((SUPPORT, SUPPORT), (SVC, SALES)):
        command = "Set-CASMailbox -Identity '%s' -SmtpClientAuthenticationDisabled $false" % who
        assert text.count(command) == 1
        assert [c.split(':')[0] for c in answered(text, command)] == [
            '# answers MBX-SMTP-AUTH for %s' % subject, '# answers MBX-LOGIN-SMTP for %s' % subject]
    assert len([c for c in commands(text) if c.startswith('Set-CASMailbox')]) == 2
    # The same findings twice (two reports merged) still give each command once.
    twice = _fixscript.build(findings + findings, _checks.by_id())
    assert twice.count("Set-CASMailbox -Identity 'svc@contoso.com'") == 1


def test_a_value_with_a_quote_is_escaped():
    odd = "o'brien\u2019s@contoso.com"
    document = json.loads(json.dumps(_document()).replace(SUPPORT, odd))
    _imap_off(document, odd)
    _findings, text = _script(document)
    assert "Set-CASMailbox -Identity 'o''brien\u2019\u2019s@contoso.com' -ImapEnabled $true" in text
    assert _fixscript.ps_quote("a'b") == "'a''b'"
    assert _fixscript.ps_quote('x\r\nRemove-Mailbox y') == "'x Remove-Mailbox y'"


def test_a_detail_cannot_break_out_of_its_comment():
    document = _document()
    _imap_off(document)
    _login(document, SUPPORT, 'imap').update(error_class='network', message='refused\nRemove-Mailbox -Identity x\r#')
    _settings(document, SUPPORT)['imap_enabled'] = True  # the refusal is unexplained: its text becomes the detail
    findings, text = _script(document)
    assert not_passing(findings) == {('MBX-LOGIN-IMAP', SUPPORT): 'fail'}
    assert not [line for line in text.splitlines() if line.startswith('Remove-Mailbox')]
    assert MANUAL in text and runs(text) == []


def test_fixes_that_are_not_commands_are_listed_once_as_manual_steps():
    """Port 993 dropped on every ECE host: one manual step (the same fix) answering the three findings; a token that
    belongs to the wrong user is re-generated in ECE, never by a command."""
    document = _document()
    for host in document['hosts'].values():
        for result in host['port_probe']['results']:
            if result['port'] == 993:
                result.update(ok=False, error_class='timeout', message='no answer in time (dropped). Fix: open it')
    token = document['tenant']['mailbox_protocols']['tokens'][0]
    token.update(token_owner='jdoe@contoso.com', oid='id-jdoe@contoso.com')
    findings, text = _script(document)
    failing = not_passing(findings)
    assert set(k for k, v in failing.items() if v == 'fail') >= {('NET-PORT-993', h) for h in ('svc1', 'app1', 'app2')}
    assert failing.get(('TOKEN-OWNER', SUPPORT)) == 'fail'
    assert runs(text) == [] and MANUAL in text
    manual = text.split(MANUAL, 1)[1]
    assert len(re.findall(r'^# answers NET-PORT-993 for ', manual, re.M)) == 3
    fix = _checks.by_id()['NET-PORT-993'].remediation
    assert manual.count(_fixscript.comment('fix: %s' % fix)) <= 1
    assert '# answers TOKEN-OWNER for support@contoso.com' in manual and 'private browser window' in manual


def test_a_finding_that_was_not_judged_gets_no_command():
    document = _document()
    _settings(document, SUPPORT)['imap_enabled'] = None
    findings, text = _script(document)
    assert not_passing(findings).get(('MBX-PROTOCOLS', SUPPORT)) == 'error'
    assert runs(text) == []
    assert '# answers MBX-PROTOCOLS for support@contoso.com: not read' in text and 'not judged' in text


def test_a_missing_licence_is_assigned_with_the_sku_the_reviewer_gives():
    document = _document()
    [u for u in document['tenant']['tenant_info']['users'] if u['address'] == SUPPORT][0]['licences'] = []
    _settings(document, SUPPORT)['exists'] = False
    findings, text = _script(document)
    assert not_passing(findings)[('MBX-LICENCE', SUPPORT)] == 'fail'
    command = "Set-MgUserLicense -UserId 'support@contoso.com' -AddLicenses @(@{ SkuId = $ExchangeSkuId }) " \
        "-RemoveLicenses @()"
    assert command in text and 'if (-not $ExchangeSkuId) { throw' in text
    assert text.index('if (-not $ExchangeSkuId)') < text.index(command)


def test_the_command_table_agrees_with_the_fix_texts():
    """The reports' fix texts and the script's commands name the same cmdlets and parameters (held once each)."""
    mailbox_commands = _facts.COMMANDS
    assert mailbox_commands['MBX-PROTOCOLS'][1]['imap'] == _facts.FIX['enable_protocol'] % 'Imap'
    assert mailbox_commands['MBX-PROTOCOLS'][1]['pop3'] == _facts.FIX['enable_protocol'] % 'Pop'
    assert mailbox_commands['MBX-SMTP-AUTH'][1]['enable'] in _facts.FIX['smtp_auth']
    assert mailbox_commands['MBX-FULLACCESS'][1]['grant'] == _facts.FIX['full_access'] % ('<mailbox>', '<account>')
    assert mailbox_commands['MBX-SENDAS'][1]['grant'].startswith(_facts.FIX['send_as'] % ('<sender>', '<account>'))
    sections = [s[0] for s in _facts.FIX_SECTIONS]
    for check_id, (section, variants) in _facts.COMMANDS.items():
        assert check_id in _checks.by_id() and section in sections and variants
        for template in variants.values():
            assert_parses(re.sub(r'<\w+>', "'x'", template))


def test_the_action_writes_the_script_beside_the_reports(tmp_path):
    hostvars = _healthy_records()
    settings = hostvars['localhost']['ece_o365_tenant_observations']['mailbox_settings']
    [m for m in settings['mailboxes'] if m['address'] == SUPPORT][0]['imap_enabled'] = False
    result = run({'gate': False, 'today': '2026-11-28', 'report_dir': str(tmp_path)},
                 _vars(['ece-svc01', 'ece-app01', 'ece-app02', 'localhost'], hostvars=hostvars))
    path = result['reports']['fixes']
    assert path == str(tmp_path / 'preflight-fixes.ps1')
    raw = (tmp_path / 'preflight-fixes.ps1').read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf') and b'\r\n' in raw  # as Windows PowerShell 5.1 reads it
    text = raw.decode('utf-8-sig')
    assert "Set-CASMailbox -Identity 'support@contoso.com' -ImapEnabled $true" in text
    assert 'rt-planted' not in text
    assert_parses(text.replace('\r\n', '\n'))
    # Without a report_dir nothing is written, and no path is returned.
    result = run({'gate': False, 'today': '2026-11-28'},
                 _vars(['ece-svc01', 'ece-app01', 'ece-app02', 'localhost'], hostvars=hostvars))
    assert 'fixes' not in result['reports']
