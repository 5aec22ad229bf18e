#!powershell

# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ..module_utils._WinProbe

# The PowerShell twin of port_probe.py (meta/runtime.yml routes Windows hosts here): it observes and names a failure by its
# error class; the judge decides. $spec and the "# RETURN:" literals equal port_probe's (tests/unit/windows/test_contract.py).

$spec = @{
    options = @{
        targets = @{ type = 'list'; elements = 'dict'; required = $true; options = @{
                host = @{ type = 'str'; required = $true }; port = @{ type = 'int'; required = $true }
                mode = @{ type = 'str'; default = 'auto'; choices = 'auto', 'tcp', 'tls', 'starttls' }
                protocol = @{ type = 'str'; default = 'auto'; choices = 'auto', 'none', 'https', 'smtp', 'imap', 'pop3' }
                server_name = @{ type = 'str' }; name = @{ type = 'str' }; timeout = @{ type = 'float' }; proxy = @{ type = 'bool' }
                purpose = @{ type = 'str'; default = 'extra'
                    choices = 'token_endpoint', 'smtp_submission', 'imap', 'pop3', 'oidc_discovery', 'ece_external_url', 'extra'
                }
            }
        }
        timeout = @{ type = 'float'; default = 5 }; deadline = @{ type = 'float'; default = 60 }; concurrency = @{ type = 'int'; default = 32 }
        ca_path = @{ type = 'path' }; proxy = @{ type = 'str'; no_log = $false }; no_proxy = @{ type = 'list'; elements = 'str' }
        ehlo_name = @{ type = 'str'; default = 'preflight.invalid' }; fail_on_error = @{ type = 'bool'; default = $false }
    }
    supports_check_mode = $true
}

function New-PortProbeResult {
    param([hashtable]$Target, [AllowNull()][string]$Proxy)
    # RETURN: results[]
    $Result = [ordered]@{
        name = $Target.name; host = $Target.host; port = $Target.port; purpose = $Target.purpose; mode = $Target.mode; protocol = $Target.protocol
        ok = $false; error_class = $null; message = $null; addresses = @(); address = $null; proxy = ConvertTo-WinProbeRedacted $Proxy
        banner = $null; capabilities = @(); auth_mechanisms = @(); starttls_offered = $null
        tls = [ordered]@{ version = $null; cipher = $null; bits = $null; server_name = $null; verified = $null; verify_error = $null
            hostname_match = $null; trust_store = $null; certificate = $null
        }
        timings = [ordered]@{}; elapsed_ms = $null
    }
    $Result
}

function Read-PortProbeCapability {
    <# The greeting (with Greet), then the capability list: banner, capabilities, auth_mechanisms and banner_ms into Result. #>
    param([hashtable]$Reader, [Collections.IDictionary]$Result, [string]$Protocol, [string]$EhloName, [switch]$Greet)
    $started = Get-WinProbeClock
    $smtpEnd = '^\d{3}(?: |$)'
    if ($Greet) {
        $greeting = Invoke-WinProbeExchange -Reader $Reader -Text $null -Until $(if ($Protocol -eq 'smtp') { $smtpEnd } else { '' })
        $Result.banner = ConvertTo-WinProbePrintable ($greeting[0] -replace '^(\d{3})-', '$1 ')
        if ($greeting[-1] -notmatch @{ smtp = '^220'; imap = '^\* (OK|PREAUTH)'; pop3 = '^\+OK' }[$Protocol]) {
            New-WinProbeError -Class 'protocol' -Detail ("not a {0} greeting: '{1}'" -f $Protocol.ToUpper(), (ConvertTo-WinProbePrintable $greeting[-1] 60))
        }
    }
    $ask = @{ smtp = "EHLO $EhloName", $smtpEnd, '^250'; imap = 'p1 CAPABILITY', '^p1 ', '^p1 OK'; pop3 = 'CAPA', '^(\.|-ERR)', '^\.' }[$Protocol]
    $reply = Invoke-WinProbeExchange -Reader $Reader -Text $ask[0] -Until $ask[1]
    if ($reply[-1] -notmatch $ask[2]) {
        New-WinProbeError -Class 'protocol' -Detail ("{0} answered '{1}'" -f $ask[0], (ConvertTo-WinProbePrintable $reply[-1] 80))
    }
    $Result.capabilities = @(switch ($Protocol) {
            'smtp' { $reply | Select-Object -Skip 1 | ForEach-Object { "$_ ".Substring(4).Trim() } }
            'imap' { $reply | Where-Object { $_ -match '^\* CAPABILITY ' } | ForEach-Object { -split $_ | Select-Object -Skip 2 } }
            'pop3' { $reply | Select-Object -Skip 1 -First ($reply.Count - 2) | ForEach-Object { $_.Trim() } }
        })
    $mechanisms = -split (($Result.capabilities -match '^(AUTH[ =]|SASL )' -replace '^(AUTH[ =]|SASL )') -join ' ')
    $Result.auth_mechanisms = @($mechanisms | ForEach-Object { $_.ToUpperInvariant() } | Select-Object -Unique)
    $Result.timings.banner_ms = [int]$Result.timings['banner_ms'] + [int](Get-WinProbeElapsed -Since $started)
}

function Invoke-PortProbeTarget {
    <# Observe one target (in a runspace of the pool): a result, never an exception. #>
    param([hashtable]$Item)
    $ErrorActionPreference = 'Stop'
    $target, $mail, $problem = $Item.target, ($Item.target.protocol -in 'smtp', 'imap', 'pop3'), $null
    $deadline = ($started = Get-WinProbeClock) + $target.timeout
    $Result = New-PortProbeResult -Target $target -Proxy $Item.proxy
    try {
        $connection = Connect-WinProbe -TargetHost $target.host -Port $target.port -ProxyUrl $Item.proxy -Deadline $deadline
        $Result.addresses, $Result.address = $connection.addresses, $connection.address
        foreach ($ms in 'dns_ms', 'connect_ms', 'proxy_ms') { if ($null -ne $connection.timings[$ms]) { $Result.timings[$ms] = [int]$connection.timings[$ms] } }
        $reader = New-WinProbeReader -Stream $connection.stream -Deadline $deadline
        $dialogue = @{ Result = $Result; Protocol = $target.protocol; EhloName = $Item.ehlo }
        if ($mail -and $target.mode -ne 'tls') { Read-PortProbeCapability -Reader $reader @dialogue -Greet }
        if ($target.mode -eq 'starttls') {
            $verb = if ($target.protocol -eq 'pop3') { 'STLS' } else { 'STARTTLS' }
            $Result.starttls_offered = @($Result.capabilities | ForEach-Object { (-split $_)[0] }) -contains $verb
            if (-not $Result.starttls_offered) { New-WinProbeError -Class 'starttls_unsupported' -Detail ('the capabilities do not list {0}' -f $verb) }
            $begun = Get-WinProbeClock
            $go = @{ smtp = 'STARTTLS', '^\d{3}(?: |$)', '^220'; imap = 'p1 STARTTLS', '^p1 ', '^p1 OK'; pop3 = 'STLS', '', '^\+OK' }[$target.protocol]
            $reply = Invoke-WinProbeExchange -Reader $reader -Text $go[0] -Until $go[1]
            if ($reply[-1] -notmatch $go[2]) {
                New-WinProbeError -Class 'starttls_unsupported' -Detail ("{0} answered '{1}'" -f $verb, (ConvertTo-WinProbePrintable $reply[-1] 80))
            }
            # Bytes after the go-ahead would be injected plain text (the CVE-2011-0411 class).
            if ($reader.buffer.Count) { New-WinProbeError -Class 'protocol' -Detail 'the server sent data after its STARTTLS go-ahead' }
            $Result.timings.starttls_ms = [int](Get-WinProbeElapsed -Since $begun)
            $Result.capabilities_before_tls = @($Result.capabilities)
        }
        if ($target.mode -ne 'tcp') {
            $begun = Get-WinProbeClock
            $Result.tls.server_name = if ($target.server_name) { $target.server_name } else { $target.host }
            $Result.tls.trust_store = if ($Item.ca_path) { $Item.ca_path } else { 'system' }
            $tls = Invoke-WinProbeTls -Stream $connection.stream -ServerName $Result.tls.server_name -CaPath $Item.ca_path -Deadline $deadline
            $Result.timings.tls_ms = [int](Get-WinProbeElapsed -Since $begun)
            $Result.tls.version, $Result.tls.cipher, $Result.tls.bits, $problem = $tls.version, $tls.cipher, $tls.bits, $tls.problem
            $Result.tls.verified, $Result.tls.verify_error = ($null -eq $problem), $(if ($problem) { $problem[1] })
            if ($tls.der) {
                $Result.tls.certificate, $Result.tls.hostname_match = Get-WinProbeCertificate -Der $tls.der -Hostname $Result.tls.server_name
            }
            if ($tls.der -and -not $problem -and -not $Result.tls.hostname_match) {
                $problem = 'cert_hostname', ('the certificate names {0}, not {1}' -f (@($Result.tls.certificate.sans) -join ', '), $Result.tls.server_name)
            }
            # A certificate that does not verify is reported after the session, so the facts seen over it are kept.
            $reader = New-WinProbeReader -Stream $tls.stream -Deadline $deadline
            if ($mail) { Read-PortProbeCapability -Reader $reader @dialogue -Greet:($target.mode -eq 'tls') }
        }
        if ($mail) {
            try { $null = Invoke-WinProbeExchange -Reader $reader -Text @{ smtp = 'QUIT'; imap = 'p1 LOGOUT'; pop3 = 'QUIT' }[$target.protocol] -Until '' }
            catch { $null = $_ }
        }
        if ($problem) { New-WinProbeError -Class $problem[0] -Detail $problem[1] }
        $Result.ok = $true
    }
    catch {
        $Result.error_class, $detail = $(if ($problem) { $problem } else { Get-WinProbeErrorInfo $_ })
        $Result.message = Format-WinProbeMessage -Class $Result.error_class -Where ('{0}:{1}' -f $target.host, $target.port) -Detail $detail
    }
    if ($connection.client) { $connection.client.Close() }
    $Result.elapsed_ms = [int](Get-WinProbeElapsed -Since $started)
    $Result
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$params = $module.Params
# The mode and protocol a port means when the target leaves them to auto (_probe.PORT_DEFAULTS).
$ports = @{ 443 = 'tls', 'https'; 587 = 'starttls', 'smtp'; 25 = 'starttls', 'smtp'; 465 = 'tls', 'smtp'; 993 = 'tls', 'imap'; 143 = 'starttls', 'imap'
    995 = 'tls', 'pop3'; 110 = 'starttls', 'pop3' }
$mail = 'smtp', 'imap', 'pop3'
$items = @(foreach ($raw in $params.targets) {
        $mode, $protocol = $raw.mode, $raw.protocol
        $default = if ($ports.Contains($raw.port)) { $ports[$raw.port] } else { 'tcp', 'none' }
        if ($protocol -eq 'auto') { $protocol = if ($mode -in 'auto', $default[0] -or $default[1] -in $mail) { $default[1] } else { 'none' } }
        if ($mode -eq 'auto') { $mode = if ($protocol -eq $default[1]) { $default[0] } elseif ($protocol -eq 'https') { 'tls' } else { 'tcp' } }
        if ($mode -eq 'starttls' -and $protocol -notin $mail) { $module.FailJson(('{0}:{1}: starttls needs smtp, imap or pop3' -f $raw.host, $raw.port)) }
        $viaProxy = $raw.proxy -or ($null -eq $raw.proxy -and $protocol -eq 'https')
        $proxy = if ($viaProxy) { Select-WinProbeProxy -TargetHost $raw.host -Explicit $params.proxy -NoProxy $params.no_proxy }
        $target = @{ host = $raw.host; port = $raw.port; purpose = $raw.purpose; mode = $mode; protocol = $protocol; server_name = $raw.server_name
            name = $(if ($raw.name) { $raw.name } else { '{0}:{1}' -f $raw.host, $raw.port })
            timeout = $(if ($raw.timeout) { $raw.timeout } else { $params.timeout })
        }
        @{ target = $target; proxy = $proxy; ca_path = $params.ca_path; ehlo = $params.ehlo_name }
    })
$runs = Invoke-WinProbeParallel -Items $items -Worker 'Invoke-PortProbeTarget' -Concurrency $params.concurrency -DeadlineSeconds $params.deadline
$results = @(for ($index = 0; $index -lt $items.Count; $index++) {
        if ($null -ne $runs[$index].output) { $runs[$index].output; continue }
        $Result = New-PortProbeResult -Target $items[$index].target -Proxy $items[$index].proxy
        $Result.error_class, $detail = 'deadline', ('the deadline of {0} s passed' -f $params.deadline)
        if ($runs[$index].done) { $Result.error_class, $detail = 'protocol', ('the probe stopped: {0}' -f $runs[$index].error) }
        $Result.message = Format-WinProbeMessage -Class $Result.error_class -Where ('{0}:{1}' -f $Result.host, $Result.port) -Detail $detail
        $Result
    })
$failed = @($results | Where-Object { $_.error_class })
$errors = [ordered]@{}
foreach ($Result in $failed) { $errors[$Result.error_class] = 1 + [int]$errors[$Result.error_class] }
# RETURN: summary
$Summary = [ordered]@{ total = $results.Count; ok = $results.Count - $failed.Count; failed = $failed.Count; errors = $errors }
$module.Result.results = $results
$module.Result.summary = $Summary
if ($failed.Count -and $params.fail_on_error) {
    $module.FailJson(('{0} of {1} targets failed: {2}' -f $failed.Count, $results.Count, (@($failed | ForEach-Object { $_.message }) -join '; ')))
}
$module.ExitJson()
