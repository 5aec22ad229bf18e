#!powershell

# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ..module_utils._WinProbe

# The PowerShell twin of port_probe.py for Windows hosts: the same options, the same result
# (plugins/module_utils/_probe.py is the reference; the dialogues below follow it line by line).
# meta/runtime.yml routes ece_o365.preflight.port_probe here on hosts whose shell is PowerShell.
# Contract (tests/unit/windows/test_contract.py): $spec equals port_probe's argument spec; the
# literals marked "# RETURN: <path>" and the variables holding them ($Result, $Summary) build
# exactly the keys of port_probe's RETURN.

$spec = @{
    options = @{
        targets = @{
            type = 'list'
            elements = 'dict'
            required = $true
            options = @{
                host = @{ type = 'str'; required = $true }
                port = @{ type = 'int'; required = $true }
                mode = @{ type = 'str'; default = 'auto'; choices = 'auto', 'tcp', 'tls', 'starttls' }
                protocol = @{ type = 'str'; default = 'auto'; choices = 'auto', 'none', 'https', 'smtp', 'imap', 'pop3' }
                server_name = @{ type = 'str' }
                name = @{ type = 'str' }
                timeout = @{ type = 'float' }
                proxy = @{ type = 'bool' }
            }
        }
        timeout = @{ type = 'float'; default = 5 }
        deadline = @{ type = 'float'; default = 60 }
        concurrency = @{ type = 'int'; default = 32 }
        ca_path = @{ type = 'path' }
        proxy = @{ type = 'str'; no_log = $true }
        no_proxy = @{ type = 'str' }
        ehlo_name = @{ type = 'str'; default = 'preflight.invalid' }
        fail_on_error = @{ type = 'bool'; default = $false }
    }
    supports_check_mode = $true
}

# --- which protocol and mode a port means (_probe.PORT_DEFAULTS) -----------------------------

function Resolve-PortProbeTarget {
    <# Fill in mode, protocol and timeout where the target leaves them to auto (_probe.resolve_target). #>
    param([System.Collections.IDictionary]$Target, [double]$DefaultTimeout)
    $portDefaults = @{
        443 = @('tls', 'https'); 587 = @('starttls', 'smtp'); 25 = @('starttls', 'smtp'); 465 = @('tls', 'smtp')
        993 = @('tls', 'imap'); 143 = @('starttls', 'imap'); 995 = @('tls', 'pop3'); 110 = @('starttls', 'pop3')
    }
    $mail = @('smtp', 'imap', 'pop3')
    $mode = if ($Target.mode) { [string]$Target.mode } else { 'auto' }
    $protocol = if ($Target.protocol) { [string]$Target.protocol } else { 'auto' }
    $port = [int]$Target.port
    $defaults = if ($portDefaults.ContainsKey($port)) { $portDefaults[$port] } else { @('tcp', 'none') }
    if ($protocol -eq 'auto') {
        $protocol = if ($mode -eq 'auto' -or $mode -eq $defaults[0] -or $mail -contains $defaults[1]) { $defaults[1] } else { 'none' }
    }
    if ($mode -eq 'auto') {
        if ($protocol -eq $defaults[1]) {
            $mode = $defaults[0]
        }
        else {
            $mode = if ($protocol -eq 'https') { 'tls' } else { 'tcp' }
        }
    }
    $timeout = if ($Target.timeout) { [double]$Target.timeout } else { $DefaultTimeout }
    @{
        host = [string]$Target.host; port = $port; mode = $mode; protocol = $protocol
        server_name = $Target.server_name; name = $Target.name; timeout = $timeout; proxy = $Target.proxy
    }
}

function Test-PortProbeTarget {
    <# A message naming the bad item, or $null (_probe.validate_target). #>
    param([int]$Index, [hashtable]$Target)
    $where = 'targets[{0}] ({1}:{2})' -f $Index, $Target.host, $Target.port
    if (-not $Target.host) {
        return 'targets[{0}]: host is required' -f $Index
    }
    if ($Target.port -lt 1 -or $Target.port -gt 65535) {
        return '{0}: port must be 1-65535' -f $where
    }
    if ($null -ne $Target.timeout -and -not ($Target.timeout -gt 0)) {
        return '{0}: timeout must be more than 0' -f $where
    }
    $mail = @('smtp', 'imap', 'pop3')
    if ($Target.mode -eq 'starttls' -and $mail -notcontains $Target.protocol) {
        return '{0}: mode starttls needs protocol smtp, imap or pop3 (got {1})' -f $where, $Target.protocol
    }
    if ($mail -contains $Target.protocol -and $Target.mode -eq 'tcp') {
        return $null
    }
    if ($Target.protocol -eq 'https' -and $Target.mode -ne 'tls') {
        return '{0}: protocol https needs mode tls' -f $where
    }
    $null
}

function New-PortProbeResult {
    <# An empty result for Target, in the schema of port_probe's RETURN (_probe.new_result). #>
    param([hashtable]$Target)
    $label = if ($Target.name) { [string]$Target.name } else { '{0}:{1}' -f $Target.host, $Target.port }
    # RETURN: results[]
    $Result = [ordered]@{
        name = $label
        host = $Target.host
        port = $Target.port
        mode = $Target.mode
        protocol = $Target.protocol
        ok = $false
        error = $null
        message = $null
        addresses = @()
        address = $null
        proxy = $null
        banner = $null
        capabilities = @()
        auth_mechanisms = @()
        starttls_offered = $null
        tls = [ordered]@{
            version = $null
            cipher = $null
            bits = $null
            server_name = $null
            verified = $null
            verify_error = $null
            hostname_match = $null
            trust_store = $null
            certificate = $null
        }
        timings = [ordered]@{}
        elapsed_ms = $null
    }
    $Result
}

# --- protocol dialogues (_probe.smtp_reply ... say_goodbye) ----------------------------------

function Read-PortProbeSmtpReply {
    <# One SMTP reply: @(code, texts). #>
    param([hashtable]$Reader)
    $texts = [System.Collections.Generic.List[string]]::new()
    for ($count = 0; $count -lt 200; $count++) {
        $line = Read-WinProbeLine -Reader $Reader
        if ($line.Length -lt 3 -or $line.Substring(0, 3) -notmatch '^\d{3}$' -or ($line.Length -gt 3 -and ' -'.IndexOf($line[3]) -lt 0)) {
            New-WinProbeError -Class 'protocol' -Detail ("not an SMTP reply: '{0}'" -f (ConvertTo-WinProbePrintable $line 60))
        }
        $texts.Add($(if ($line.Length -gt 4) { $line.Substring(4) } else { '' }))
        if ($line.Length -eq 3 -or $line[3] -eq ' ') {
            return , @([int]$line.Substring(0, 3), $texts.ToArray())
        }
    }
    New-WinProbeError -Class 'protocol' -Detail 'an SMTP reply of more than 200 lines'
}

function Get-PortProbeEhlo {
    <# @(extensions, auth mechanisms) from EHLO reply texts (the first is the greeting). #>
    param([string[]]$Texts)
    $extensions = [System.Collections.Generic.List[string]]::new()
    $mechanisms = [System.Collections.Generic.List[string]]::new()
    foreach ($text in ($Texts | Select-Object -Skip 1)) {
        $words = @($text.Split([char[]]@(' ', "`t"), [StringSplitOptions]::RemoveEmptyEntries))
        if ($words.Count -eq 0) {
            continue
        }
        $keyword = $words[0].ToUpperInvariant()
        $extensions.Add($text.Trim())
        if ($keyword -eq 'AUTH' -or $keyword.StartsWith('AUTH=')) {
            $rest = if ($keyword -eq 'AUTH') { @($words | Select-Object -Skip 1) } else { @($keyword.Substring(5)) + @($words | Select-Object -Skip 1) }
            foreach ($mechanism in $rest) {
                if (-not $mechanisms.Contains($mechanism.ToUpperInvariant())) {
                    $mechanisms.Add($mechanism.ToUpperInvariant())
                }
            }
        }
    }
    , @($extensions.ToArray(), $mechanisms.ToArray())
}

function Read-PortProbeImapResponse {
    <# An IMAP response up to the tagged completion: @(untagged lines, tagged line). #>
    param([hashtable]$Reader, [string]$Tag)
    $untagged = [System.Collections.Generic.List[string]]::new()
    for ($count = 0; $count -lt 200; $count++) {
        $line = Read-WinProbeLine -Reader $Reader
        if ($line.StartsWith($Tag + ' ')) {
            return , @($untagged.ToArray(), $line)
        }
        $untagged.Add($line)
    }
    New-WinProbeError -Class 'protocol' -Detail 'an IMAP response of more than 200 lines'
}

function Get-PortProbeImapCapabilities {
    <# @(capabilities, AUTH= mechanisms) from '* CAPABILITY ...' or a [CAPABILITY ...] code. #>
    param([string]$Text)
    $upper = $Text.ToUpperInvariant()
    if ($upper.Contains('[CAPABILITY ')) {
        $start = $upper.IndexOf('[CAPABILITY ') + '[CAPABILITY '.Length
        $words = @($Text.Substring($start).Split(']')[0].Split([char[]]@(' ', "`t"), [StringSplitOptions]::RemoveEmptyEntries))
    }
    elseif ($upper.StartsWith('* CAPABILITY')) {
        $words = @($Text.Split([char[]]@(' ', "`t"), [StringSplitOptions]::RemoveEmptyEntries) | Select-Object -Skip 2)
    }
    else {
        return , @(@(), @())
    }
    $mechanisms = @($words | Where-Object { $_.ToUpperInvariant().StartsWith('AUTH=') } | ForEach-Object { $_.Substring(5).ToUpperInvariant() })
    , @($words, $mechanisms)
}

function Read-PortProbePop3Lines {
    <# A POP3 multi-line body after its +OK line. #>
    param([hashtable]$Reader)
    $lines = [System.Collections.Generic.List[string]]::new()
    for ($count = 0; $count -lt 200; $count++) {
        $line = Read-WinProbeLine -Reader $Reader
        if ($line -eq '.') {
            return , $lines.ToArray()
        }
        $lines.Add($(if ($line.StartsWith('..')) { $line.Substring(1) } else { $line }))
    }
    New-WinProbeError -Class 'protocol' -Detail 'a POP3 response of more than 200 lines'
}

function Get-PortProbePop3Capabilities {
    <# @(CAPA lines, SASL mechanisms). #>
    param([string[]]$Lines)
    $mechanisms = @()
    foreach ($line in $Lines) {
        $words = @($line.Split([char[]]@(' ', "`t"), [StringSplitOptions]::RemoveEmptyEntries))
        if ($words.Count -gt 0 -and $words[0].ToUpperInvariant() -eq 'SASL') {
            $mechanisms = @($words | Select-Object -Skip 1 | ForEach-Object { $_.ToUpperInvariant() })
        }
    }
    , @(@($Lines | ForEach-Object { $_.Trim() }), $mechanisms)
}

function Add-PortProbeBannerTime {
    param([System.Collections.IDictionary]$Result, [double]$Started)
    $previous = if ($Result.timings.Contains('banner_ms')) { [int]$Result.timings['banner_ms'] } else { 0 }
    $Result.timings.banner_ms = $previous + (Get-WinProbeMilliseconds -Started $Started)
}

function Invoke-PortProbeGreeting {
    <# Read the banner and ask for capabilities (_probe.greet). #>
    param([hashtable]$Reader, [string]$Protocol, [System.Collections.IDictionary]$Result, [string]$EhloName)
    $started = Get-WinProbeClock
    if ($Protocol -eq 'smtp') {
        $reply = Read-PortProbeSmtpReply -Reader $Reader
        $first = if ($reply[1].Count -gt 0) { $reply[1][0] } else { '' }
        $Result.banner = ConvertTo-WinProbePrintable ('{0} {1}' -f $reply[0], $first)
        if ($reply[0] -ne 220) {
            New-WinProbeError -Class 'protocol' -Detail ('SMTP greeting {0}, not 220' -f $reply[0])
        }
        Send-WinProbeLine -Reader $Reader -Text ('EHLO {0}' -f $EhloName)
        $reply = Read-PortProbeSmtpReply -Reader $Reader
        if ($reply[0] -ne 250) {
            New-WinProbeError -Class 'protocol' -Detail ('EHLO answered {0} {1}' -f $reply[0], (ConvertTo-WinProbePrintable ($reply[1] -join ' ') 80))
        }
        $parsed = Get-PortProbeEhlo -Texts $reply[1]
        $Result.capabilities = @($parsed[0])
        $Result.auth_mechanisms = @($parsed[1])
    }
    elseif ($Protocol -eq 'imap') {
        $banner = Read-WinProbeLine -Reader $Reader
        $Result.banner = ConvertTo-WinProbePrintable $banner
        $upper = $banner.ToUpperInvariant()
        if (-not ($upper.StartsWith('* OK') -or $upper.StartsWith('* PREAUTH'))) {
            New-WinProbeError -Class 'protocol' -Detail ("not an IMAP greeting: '{0}'" -f (ConvertTo-WinProbePrintable $banner 60))
        }
        Send-WinProbeLine -Reader $Reader -Text 'p1 CAPABILITY'
        $response = Read-PortProbeImapResponse -Reader $Reader -Tag 'p1'
        if (-not $response[1].ToUpperInvariant().StartsWith('P1 OK')) {
            New-WinProbeError -Class 'protocol' -Detail ("CAPABILITY answered '{0}'" -f (ConvertTo-WinProbePrintable $response[1] 80))
        }
        foreach ($line in $response[0]) {
            $parsed = Get-PortProbeImapCapabilities -Text $line
            if (@($parsed[0]).Count -gt 0) {
                $Result.capabilities = @($parsed[0])
                $Result.auth_mechanisms = @($parsed[1])
            }
        }
    }
    elseif ($Protocol -eq 'pop3') {
        $banner = Read-WinProbeLine -Reader $Reader
        $Result.banner = ConvertTo-WinProbePrintable $banner
        if (-not $banner.StartsWith('+OK')) {
            New-WinProbeError -Class 'protocol' -Detail ("not a POP3 greeting: '{0}'" -f (ConvertTo-WinProbePrintable $banner 60))
        }
        Send-WinProbeLine -Reader $Reader -Text 'CAPA'
        $status = Read-WinProbeLine -Reader $Reader
        if (-not $status.StartsWith('+OK')) {
            New-WinProbeError -Class 'protocol' -Detail ("CAPA answered '{0}'" -f (ConvertTo-WinProbePrintable $status 80))
        }
        $parsed = Get-PortProbePop3Capabilities -Lines (Read-PortProbePop3Lines -Reader $Reader)
        $Result.capabilities = @($parsed[0])
        $Result.auth_mechanisms = @($parsed[1])
    }
    Add-PortProbeBannerTime -Result $Result -Started $started
}

function Invoke-PortProbeGreetingAfterStartTls {
    <# After STARTTLS the server does not greet again: ask for capabilities only. #>
    param([hashtable]$Reader, [string]$Protocol, [System.Collections.IDictionary]$Result, [string]$EhloName)
    $started = Get-WinProbeClock
    if ($Protocol -eq 'smtp') {
        Send-WinProbeLine -Reader $Reader -Text ('EHLO {0}' -f $EhloName)
        $reply = Read-PortProbeSmtpReply -Reader $Reader
        if ($reply[0] -ne 250) {
            New-WinProbeError -Class 'protocol' -Detail ('EHLO after STARTTLS answered {0}' -f $reply[0])
        }
        $parsed = Get-PortProbeEhlo -Texts $reply[1]
        $Result.capabilities = @($parsed[0])
        $Result.auth_mechanisms = @($parsed[1])
    }
    elseif ($Protocol -eq 'imap') {
        Send-WinProbeLine -Reader $Reader -Text 'p1 CAPABILITY'
        $response = Read-PortProbeImapResponse -Reader $Reader -Tag 'p1'
        foreach ($line in $response[0]) {
            $parsed = Get-PortProbeImapCapabilities -Text $line
            if (@($parsed[0]).Count -gt 0) {
                $Result.capabilities = @($parsed[0])
                $Result.auth_mechanisms = @($parsed[1])
            }
        }
    }
    elseif ($Protocol -eq 'pop3') {
        Send-WinProbeLine -Reader $Reader -Text 'CAPA'
        if ((Read-WinProbeLine -Reader $Reader).StartsWith('+OK')) {
            $parsed = Get-PortProbePop3Capabilities -Lines (Read-PortProbePop3Lines -Reader $Reader)
            $Result.capabilities = @($parsed[0])
            $Result.auth_mechanisms = @($parsed[1])
        }
    }
    Add-PortProbeBannerTime -Result $Result -Started $started
}

function Test-PortProbeStartTlsOffered {
    param([string]$Protocol, [string[]]$Capabilities)
    $words = @($Capabilities | Where-Object { $_.Trim() } | ForEach-Object { $_.Trim().Split(' ')[0].ToUpperInvariant() })
    if ($Protocol -eq 'pop3') {
        return ($words -contains 'STLS')
    }
    $words -contains 'STARTTLS'
}

function Request-PortProbeStartTls {
    <# Ask for TLS; starttls_unsupported when the server says no (_probe.request_starttls). #>
    param([hashtable]$Reader, [string]$Protocol)
    if ($Protocol -eq 'smtp') {
        Send-WinProbeLine -Reader $Reader -Text 'STARTTLS'
        $reply = Read-PortProbeSmtpReply -Reader $Reader
        if ($reply[0] -ne 220) {
            New-WinProbeError -Class 'starttls_unsupported' -Detail ('STARTTLS answered {0} {1}' -f $reply[0], (ConvertTo-WinProbePrintable ($reply[1] -join ' ') 80))
        }
    }
    elseif ($Protocol -eq 'imap') {
        Send-WinProbeLine -Reader $Reader -Text 'p1 STARTTLS'
        $response = Read-PortProbeImapResponse -Reader $Reader -Tag 'p1'
        if (-not $response[1].ToUpperInvariant().StartsWith('P1 OK')) {
            New-WinProbeError -Class 'starttls_unsupported' -Detail ("STARTTLS answered '{0}'" -f (ConvertTo-WinProbePrintable $response[1] 80))
        }
    }
    elseif ($Protocol -eq 'pop3') {
        Send-WinProbeLine -Reader $Reader -Text 'STLS'
        $status = Read-WinProbeLine -Reader $Reader
        if (-not $status.StartsWith('+OK')) {
            New-WinProbeError -Class 'starttls_unsupported' -Detail ("STLS answered '{0}'" -f (ConvertTo-WinProbePrintable $status 80))
        }
    }
    if ($Reader.buffer.Count -gt 0) {
        # Bytes after the go-ahead would be injected plain text (the CVE-2011-0411 class).
        New-WinProbeError -Class 'protocol' -Detail 'the server sent data after its STARTTLS go-ahead'
    }
}

function Send-PortProbeGoodbye {
    <# QUIT / LOGOUT, best effort: the observation is already complete. #>
    param([hashtable]$Reader, [string]$Protocol)
    try {
        if ($Protocol -eq 'imap') {
            Send-WinProbeLine -Reader $Reader -Text 'p1 LOGOUT'
        }
        elseif ($Protocol -eq 'smtp' -or $Protocol -eq 'pop3') {
            Send-WinProbeLine -Reader $Reader -Text 'QUIT'
        }
    }
    catch {
        $null = $_
    }
}

# --- one target -----------------------------------------------------------------------------

function Invoke-PortProbeSession {
    <#
    One connection: TCP (through the proxy), the STARTTLS dialogue, the TLS handshake and the
    greeting inside TLS. A certificate that does not verify is reported after the session, so
    the facts gathered over the unverified connection are kept (the verdict wins over any later error).
    #>
    param([hashtable]$Target, [hashtable]$Settings, [double]$Deadline, [System.Collections.IDictionary]$Result, [AllowNull()][string]$ProxyUrl)
    $mail = @('smtp', 'imap', 'pop3')
    $protocol = $Target.protocol
    $mode = $Target.mode
    $ehlo = if ($Settings.ehlo_name) { [string]$Settings.ehlo_name } else { 'preflight.invalid' }
    if ($ProxyUrl) {
        $proxy = Split-WinProbeProxyUrl -Url $ProxyUrl
        $started = Get-WinProbeClock
        $addresses = Resolve-WinProbeName -Name $proxy.host -Deadline $Deadline
        $Result.timings.dns_ms = Get-WinProbeMilliseconds -Started $started
        $started = Get-WinProbeClock
        $connection = Connect-WinProbeTcp -Addresses $addresses -Port $proxy.port -Deadline $Deadline
        $Result.timings.connect_ms = Get-WinProbeMilliseconds -Started $started
        $Result.address = $connection.address
        $started = Get-WinProbeClock
        try {
            Invoke-WinProbeConnectTunnel -Stream $connection.client.GetStream() -TargetHost $Target.host -Port $Target.port -Auth $proxy.auth -Deadline $Deadline
        }
        catch {
            $connection.client.Close()
            $info = Get-WinProbeErrorInfo $_
            if ($info[0] -eq 'proxy') {
                New-WinProbeError -Class 'proxy' -Detail $info[1]
            }
            New-WinProbeError -Class $info[0] -Detail $info[1]
        }
        finally {
            $Result.timings.proxy_ms = Get-WinProbeMilliseconds -Started $started
        }
    }
    else {
        $started = Get-WinProbeClock
        try {
            $addresses = Resolve-WinProbeName -Name $Target.host -Deadline $Deadline
        }
        finally {
            $Result.timings.dns_ms = Get-WinProbeMilliseconds -Started $started
        }
        $Result.addresses = @($addresses | ForEach-Object { $_.ToString() })
        $started = Get-WinProbeClock
        try {
            $connection = Connect-WinProbeTcp -Addresses $addresses -Port $Target.port -Deadline $Deadline
        }
        finally {
            $Result.timings.connect_ms = Get-WinProbeMilliseconds -Started $started
        }
        $Result.address = $connection.address
    }
    $client = $connection.client
    $stream = $client.GetStream()
    $reader = New-WinProbeReader -Stream $stream -Deadline $Deadline
    $verdict = $null
    try {
        try {
            if ($mode -eq 'starttls') {
                Invoke-PortProbeGreeting -Reader $reader -Protocol $protocol -Result $Result -EhloName $ehlo
                $Result.starttls_offered = Test-PortProbeStartTlsOffered -Protocol $protocol -Capabilities $Result.capabilities
                if (-not $Result.starttls_offered) {
                    New-WinProbeError -Class 'starttls_unsupported' -Detail ('{0} capabilities do not list {1}' -f $protocol.ToUpperInvariant(), $(if ($protocol -eq 'pop3') { 'STLS' } else { 'STARTTLS' }))
                }
                $started = Get-WinProbeClock
                Request-PortProbeStartTls -Reader $reader -Protocol $protocol
                $Result.timings.starttls_ms = Get-WinProbeMilliseconds -Started $started
            }
            if ($mode -eq 'tls' -or $mode -eq 'starttls') {
                $serverName = if ($Target.server_name) { [string]$Target.server_name } else { $Target.host }
                $started = Get-WinProbeClock
                try {
                    $tls = Invoke-WinProbeTlsHandshake -Stream $stream -ServerName $serverName -CaPath $Settings.ca_path -Deadline $Deadline
                }
                finally {
                    $Result.timings.tls_ms = Get-WinProbeMilliseconds -Started $started
                }
                $stream = $tls.stream
                $Result.tls.version = $tls.version
                $Result.tls.cipher = $tls.cipher
                $Result.tls.bits = $tls.bits
                $Result.tls.server_name = $serverName
                $Result.tls.trust_store = $(if ($Settings.ca_path) { [string]$Settings.ca_path } else { 'system' })
                $Result.tls.verified = $tls.verified
                $Result.tls.verify_error = $tls.verify_error
                if ($null -ne $tls.der) {
                    $Result.tls.certificate = Get-WinProbeCertificateFacts -Der $tls.der
                    $Result.tls.hostname_match = Test-WinProbeHostname -Der $tls.der -Hostname $serverName
                }
                if (-not $tls.verified) {
                    $verdict = @($tls.verify_class, $tls.verify_error)
                }
                $reader = New-WinProbeReader -Stream $stream -Deadline $Deadline
                if ($mode -eq 'tls' -and $mail -contains $protocol) {
                    Invoke-PortProbeGreeting -Reader $reader -Protocol $protocol -Result $Result -EhloName $ehlo
                }
                elseif ($mode -eq 'starttls') {
                    $before = @($Result.capabilities)
                    Invoke-PortProbeGreetingAfterStartTls -Reader $reader -Protocol $protocol -Result $Result -EhloName $ehlo
                    $Result.capabilities_before_tls = $before
                }
            }
            elseif ($mail -contains $protocol) {
                Invoke-PortProbeGreeting -Reader $reader -Protocol $protocol -Result $Result -EhloName $ehlo
            }
            if ($mail -contains $protocol) {
                Send-PortProbeGoodbye -Reader $reader -Protocol $protocol
            }
        }
        catch {
            if ($null -eq $verdict) {
                throw
            }
        }
    }
    finally {
        try {
            $stream.Dispose()
            $client.Close()
        }
        catch {
            $null = $_
        }
    }
    if ($null -ne $verdict) {
        New-WinProbeError -Class $verdict[0] -Detail $verdict[1]
    }
    if ($Result.tls.hostname_match -eq $false) {
        $sans = @()
        if ($null -ne $Result.tls.certificate) {
            $sans = @($Result.tls.certificate.sans)
        }
        $named = if ($sans.Count) { $sans -join ', ' } else { 'no subject alternative name' }
        New-WinProbeError -Class 'cert_hostname' -Detail ('the certificate names {0}, not {1}' -f $named, $Result.tls.server_name)
    }
}

function Invoke-PortProbeTarget {
    <# Observe one target (runs in a runspace of the pool); always returns a result, never throws. #>
    param([hashtable]$Item)
    $Target = $Item.target
    $Item.state.started = Get-WinProbeClock
    $started = $Item.state.started
    $Result = New-PortProbeResult -Target $Target
    $deadline = $started + [double]$Target.timeout
    $where = '{0}:{1}' -f $Target.host, $Target.port
    $Result.proxy = ConvertTo-WinProbeRedacted $Item.proxy_url
    try {
        Invoke-PortProbeSession -Target $Target -Settings $Item.settings -Deadline $deadline -Result $Result -ProxyUrl $Item.proxy_url
        $Result.ok = $true
        $parts = [System.Collections.Generic.List[string]]::new()
        $parts.Add($(if ($Result.address) { 'connected to {0}' -f $Result.address } else { 'connected' }))
        if ($Result.proxy) {
            $parts.Add(('through proxy {0}' -f $Result.proxy))
        }
        if ($Result.tls.version) {
            $parts.Add(('{0} {1}' -f $Result.tls.version, $Result.tls.cipher))
        }
        if (@($Result.auth_mechanisms).Count -gt 0) {
            $parts.Add(('AUTH {0}' -f (@($Result.auth_mechanisms) -join ' ')))
        }
        $Result.message = '{0}: {1}' -f $where, ($parts -join ', ')
    }
    catch {
        $info = Get-WinProbeErrorInfo $_
        $Result.error = $info[0]
        $Result.message = Format-WinProbeMessage -Class $info[0] -Where $where -Detail $info[1]
    }
    $Result.elapsed_ms = Get-WinProbeMilliseconds -Started $started
    $Result
}

# --- the module -----------------------------------------------------------------------------

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$params = $module.Params

foreach ($name in @('timeout', 'deadline')) {
    if (-not ($params[$name] -gt 0)) {
        $module.FailJson(('{0} must be more than 0 seconds, got {1}' -f $name, $params[$name]))
    }
}
if ($params.concurrency -lt 1) {
    $module.FailJson(('concurrency must be at least 1, got {0}' -f $params.concurrency))
}
if ($params.ca_path -and -not (Test-Path -LiteralPath $params.ca_path -PathType Leaf)) {
    $module.FailJson(('ca_path {0} is not a readable file' -f $params.ca_path))
}

$settings = @{ ca_path = $params.ca_path; ehlo_name = $params.ehlo_name }
$items = [System.Collections.Generic.List[hashtable]]::new()
$index = 0
foreach ($raw in $params.targets) {
    $target = Resolve-PortProbeTarget -Target $raw -DefaultTimeout ([double]$params.timeout)
    $problem = Test-PortProbeTarget -Index $index -Target $target
    if ($problem) {
        $module.FailJson($problem)
    }
    $useProxy = $target.proxy
    if ($null -eq $useProxy) {
        $useProxy = ($target.protocol -eq 'https')
    }
    $proxyUrl = $null
    if ($useProxy) {
        $proxyUrl = Select-WinProbeProxy -TargetHost $target.host -Explicit $params.proxy -NoProxy $params.no_proxy
    }
    $items.Add(@{
            target = $target
            settings = $settings
            proxy_url = $proxyUrl
            state = [hashtable]::Synchronized(@{ started = $null; timeout = $target.timeout; phase = 'queued' })
        })
    $index++
}

$functions = @(
    'Invoke-PortProbeTarget', 'Invoke-PortProbeSession', 'New-PortProbeResult', 'Read-PortProbeSmtpReply',
    'Get-PortProbeEhlo', 'Read-PortProbeImapResponse', 'Get-PortProbeImapCapabilities', 'Read-PortProbePop3Lines',
    'Get-PortProbePop3Capabilities', 'Add-PortProbeBannerTime', 'Invoke-PortProbeGreeting',
    'Invoke-PortProbeGreetingAfterStartTls', 'Test-PortProbeStartTlsOffered', 'Request-PortProbeStartTls',
    'Send-PortProbeGoodbye'
) + @((Get-Command -Module (Get-Command -Name 'Get-WinProbeClock').ModuleName -CommandType Function).Name)

$runs = Invoke-WinProbeParallel -Items $items.ToArray() -Worker 'Invoke-PortProbeTarget' -Functions $functions `
    -Concurrency $params.concurrency -DeadlineSeconds ([double]$params.deadline)

$results = [System.Collections.Generic.List[object]]::new()
for ($index = 0; $index -lt $items.Count; $index++) {
    $run = $runs[$index]
    $target = $items[$index].target
    $where = '{0}:{1}' -f $target.host, $target.port
    if ($run.done -and $null -ne $run.output) {
        $results.Add($run.output)
        continue
    }
    $Result = New-PortProbeResult -Target $target
    if ($run.done) {
        $Result.error = 'protocol'
        $Result.message = Format-WinProbeMessage -Class 'protocol' -Where $where -Detail ('the probe stopped: {0}' -f $run.error)
    }
    else {
        $Result.error = 'deadline'
        $Result.message = Format-WinProbeMessage -Class 'deadline' -Where $where -Detail ("the call's deadline of {0}s passed" -f $params.deadline)
    }
    $results.Add($Result)
}

$errors = [ordered]@{}
foreach ($Result in $results) {
    if ($Result.error) {
        $errors[$Result.error] = $(if ($errors.Contains($Result.error)) { $errors[$Result.error] } else { 0 }) + 1
    }
}
$failed = 0
foreach ($count in $errors.Values) {
    $failed += $count
}
# RETURN: summary
$Summary = [ordered]@{
    total = $results.Count
    ok = $results.Count - $failed
    failed = $failed
    errors = $errors
}
$module.Result.results = $results.ToArray()
$module.Result.summary = $Summary
if ($failed -and $params.fail_on_error) {
    $messages = @($results | Where-Object { $_.error } | ForEach-Object { $_.message })
    $module.FailJson(('{0} of {1} targets failed: {2}' -f $failed, $results.Count, ($messages -join '; ')))
}
$module.ExitJson()
