# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

# What win_port_probe and win_url_reach observe with (connect, TLS, a line exchange, runspaces), nothing that judges.
# A failure is an exception carrying an error class of _errors.py; every wait is bounded by a deadline of Get-WinProbeClock.
# "# RETURN: <path>" marks a literal building what the Python twin's RETURN documents at <path> (tests/unit/windows).

function Get-WinProbeErrorText {
    # BEGIN ERROR CLASSES: class = meaning, fix; generated from plugins/module_utils/_errors.py by tools/gen-win-docs
    @{
        'dns' = 'the name does not resolve', 'check the host name and the DNS servers this host uses (and the proxy, if DNS only works through it)'
        'refused' = 'the connection was refused (a RST: nothing listens, or a firewall rejects)',
            'check the port and any firewall between this host and the target'
        'timeout' = 'no answer in time (packets dropped by a firewall, or a server too slow)',
            'open the port outbound on this host''s firewalls, or raise the timeout if the server is slow'
        'reset' = 'the connection was reset or closed by the peer mid-conversation',
            'a firewall, proxy or IPS may be cutting the connection; test from another host to compare'
        'unreachable' = 'no route to the address (network or host unreachable)', 'check this host''s routes and its default gateway'
        'tls_handshake' = 'the TLS handshake failed (protocol or cipher mismatch, or a non-TLS answer)',
            'check that the port speaks TLS and that TLS 1.2 or newer is allowed on this host'
        'cert_untrusted' = 'the certificate chain does not verify against the trust store',
            'a TLS-inspecting proxy or a missing intermediate: add the right CA to the trust store, or exempt Microsoft 365 from TLS inspection'
        'cert_hostname' = 'the certificate does not name the host that was asked for',
            'connect by the name the certificate carries (e.g. outlook.office365.com), or fix DNS/SNI'
        'cert_expired' = 'the certificate has expired or is not yet valid',
            'check this host''s clock first; else the server (or an intercepting proxy) presents a stale certificate'
        'starttls_unsupported' = 'the server did not offer or accept STARTTLS/STLS',
            'the port is wrong for STARTTLS, or something between rewrites the session (SMTP fix-up, proxy)'
        'protocol' = 'the server answered something other than the protocol expected',
            'check that the port is the service named (e.g. 587 for SMTP submission) and nothing intercepts it'
        'proxy' = 'the proxy refused or failed the CONNECT tunnel',
            'check the proxy address and that it allows CONNECT to this host and port (and its credentials)'
        'proxy_dns' = 'the proxy''s own name does not resolve',
            'check the proxy host name (the proxy option, or HTTPS_PROXY / https_proxy in the environment) and the DNS servers this host uses'
        'proxy_unreachable' = 'the proxy refused or did not answer the TCP connection (nothing listens on its port, it is down, or a firewall is in between)',
            'check the proxy address and port (the proxy option, or HTTPS_PROXY / https_proxy), that the proxy runs, and that this host may connect to it'
        'deadline' = 'the probe did not finish before the call''s overall deadline', 'raise the overall deadline or probe fewer targets per call'
    }
    # END ERROR CLASSES
}

function Format-WinProbeMessage {
    <# Where (host:port or URL), the cause, the detail and the fix in one line, as _errors.describe. #>
    param([string]$Class, [string]$Where, [AllowNull()][string]$Detail)
    $text = (Get-WinProbeErrorText)[$Class]
    '{0}: {1}{2}. Fix: {3}.' -f $Where, $text[0], $(if ($Detail) { ' ({0})' -f $Detail }), $text[1]
}

function Get-WinProbeClock { [Diagnostics.Stopwatch]::GetTimestamp() / [double][Diagnostics.Stopwatch]::Frequency }

function Get-WinProbeElapsed { param([double]$Since); [Math]::Round(((Get-WinProbeClock) - $Since) * 1000, 1) }

function New-WinProbeError {
    param([string]$Class, [string]$Detail)
    $exception = [InvalidOperationException]::new($Detail)
    $exception.Data['WinProbeClass'] = $Class
    throw $exception
}

function Get-WinProbeLeft {
    <# Milliseconds left before Deadline, else the error class timeout naming what was being done. #>
    param([double]$Deadline, [string]$Doing)
    $left = [int][Math]::Floor(($Deadline - (Get-WinProbeClock)) * 1000)
    if ($left -le 0) { New-WinProbeError -Class 'timeout' -Detail ('no answer in time while {0}' -f $Doing) }
    $left
}

function Get-WinProbeErrorInfo {
    <# @(class, detail) of an error: ours, else by the first exception of the chain whose type tells. #>
    param([object]$ErrorRecord)
    $chain = [Collections.Generic.List[object]]::new()
    $item = if ($ErrorRecord -is [Management.Automation.ErrorRecord]) { $ErrorRecord.Exception } else { $ErrorRecord }
    for (; $null -ne $item -and $chain.Count -lt 20; $item = $item.InnerException) { $chain.Add($item) }
    $sockets = @{ HostNotFound = 'dns'; NoData = 'dns'; TryAgain = 'dns'; ConnectionRefused = 'refused'; TimedOut = 'timeout'
        NetworkUnreachable = 'unreachable'; HostUnreachable = 'unreachable'; NetworkDown = 'unreachable'; AddressNotAvailable = 'unreachable' }
    $ours = @($chain | Where-Object { $_.Data.Contains('WinProbeClass') })
    if ($ours.Count) { return @($ours[0].Data['WinProbeClass'], $ours[0].Message) }
    foreach ($exception in $chain) {
        $class = if ($exception -is [Net.Sockets.SocketException]) { @($sockets[[string]$exception.SocketErrorCode], 'reset' | Where-Object { $_ })[0] }
        elseif ($exception -is [Security.Authentication.AuthenticationException]) { 'tls_handshake' }
        elseif ($exception -is [TimeoutException]) { 'timeout' }
        if ($class) { return @($class, $exception.Message) }
    }
    $io = @($chain | Where-Object { $_ -is [IO.IOException] -or $_ -is [ObjectDisposedException] })
    if ($io.Count) { return @('reset', $io[0].Message) }
    @('protocol', ('{0}: {1}' -f $chain[$chain.Count - 1].GetType().Name, $chain[$chain.Count - 1].Message))
}

function ConvertTo-WinProbeRedacted { param([AllowNull()][object]$Url); if ($Url) { ([string]$Url) -replace '(?<=://[^/?#@:]*:)[^/?#]*(?=@)', '********' } }

function Select-WinProbeProxy {
    <# The proxy for TargetHost as _proxy.select: Explicit ('' for none), else the environment (names ignore case on Windows). #>
    param([string]$TargetHost, [AllowNull()][object]$Explicit, [AllowNull()][object]$NoProxy, [string]$Scheme = 'https')
    $proxy, $bypass = $Explicit, $NoProxy
    if ($null -eq $proxy) {
        $proxy = @("$($Scheme)_proxy", 'all_proxy' | ForEach-Object { [Environment]::GetEnvironmentVariable($_) } | Where-Object { $_ })[0]
        if ($null -eq $bypass) { $bypass = [Environment]::GetEnvironmentVariable('no_proxy') }
    }
    $name = $TargetHost.Trim('[', ']').TrimEnd('.').ToLowerInvariant()
    $address = $null
    $isAddress = [Net.IPAddress]::TryParse($name, [ref]$address)
    foreach ($entry in @((@($bypass) -join ',').ToLowerInvariant() -split '[,\s]+' | Where-Object { $_ -and $proxy })) {
        if ($entry.Split(':').Count -eq 2) { $entry = $entry.Split(':')[0] }
        $network, $bits = $entry.Split('/')
        $base = $null
        if ($isAddress -and [Net.IPAddress]::TryParse($network, [ref]$base) -and $base.AddressFamily -eq $address.AddressFamily) {
            $mine, $theirs = $address, $base | ForEach-Object { -join ($_.GetAddressBytes() | ForEach-Object { [Convert]::ToString($_, 2).PadLeft(8, '0') }) }
            $prefix = [Math]::Min($mine.Length, $(if ($bits) { [int]$bits } else { $mine.Length }))
            if ($mine.Substring(0, $prefix) -eq $theirs.Substring(0, $prefix)) { return $null }
        }
        $suffix = $entry.TrimStart('*').TrimStart('.')
        if ($entry -eq '*' -or (-not $isAddress -and $suffix -and ($name -eq $suffix -or $name.EndsWith('.' + $suffix)))) { return $null }
    }
    if ($proxy) { [string]$proxy } else { $null }
}

function Connect-WinProbe {
    <# TCP to TargetHost:Port, directly or through ProxyUrl (HTTP CONNECT): @{ client; stream; address; addresses; timings }.
    A proxy that does not resolve is proxy_dns, one that does not answer proxy_unreachable, one that refuses the tunnel proxy. #>
    param([string]$TargetHost, [int]$Port, [AllowNull()][string]$ProxyUrl, [double]$Deadline)
    $shown = ConvertTo-WinProbeRedacted $ProxyUrl
    $url = if ($ProxyUrl -and $ProxyUrl -notmatch '://') { 'http://' + $ProxyUrl.Trim() } else { "$ProxyUrl".Trim() }
    $pattern = '^(?<scheme>https?)://(?:(?<user>[^@/:]*)(?::(?<password>[^/]*))?@)?(?<host>\[[^\]]+\]|[^:/?#\[@]+)(?::(?<port>\d+))?(?:[/?#]|$)'
    if ($url -and $url -notmatch $pattern) { New-WinProbeError -Class 'proxy' -Detail ('{0}: not an http:// or https:// proxy URL' -f $shown) }
    $proxy = if ($url) { $Matches }
    $name, $to = $TargetHost, $Port
    if ($proxy) { $name, $to = $proxy.host.Trim('[', ']'), $(if ($proxy.port) { [int]$proxy.port } else { @{ http = 80; https = 443 }[$proxy.scheme] }) }
    $connection = @{ addresses = @(); timings = @{ dns_ms = $null; connect_ms = $null; proxy_ms = $null } }
    try {
        $started = Get-WinProbeClock
        $addresses = $null
        if (-not [Net.IPAddress]::TryParse($name, [ref]$addresses)) {
            $task = [Net.Dns]::GetHostAddressesAsync($name)
            try { $done = $task.Wait((Get-WinProbeLeft -Deadline $Deadline -Doing 'resolving the name')) }
            catch { New-WinProbeError -Class 'dns' -Detail (Get-WinProbeErrorInfo $_)[1] }
            if (-not $done) { New-WinProbeError -Class 'dns' -Detail 'no answer from the resolver before the timeout' }
            $addresses = $task.Result
        }
        $connection.timings.dns_ms = Get-WinProbeElapsed -Since $started
        $started = Get-WinProbeClock
        $last = @('dns', 'the name has no address')
        foreach ($address in @($addresses)) {
            $client = [Net.Sockets.TcpClient]::new($address.AddressFamily)
            try {
                if ($client.ConnectAsync($address, $to).Wait((Get-WinProbeLeft -Deadline $Deadline -Doing 'connecting'))) {
                    $connection.client, $connection.address = $client, $address.ToString()
                    break
                }
                $last = @('timeout', ('{0} did not answer before the timeout' -f $address))
            }
            catch { $last = Get-WinProbeErrorInfo $_ }
            $client.Close()
        }
        $connection.timings.connect_ms = Get-WinProbeElapsed -Since $started
        if (-not $connection.client) { New-WinProbeError -Class $last[0] -Detail $last[1] }
        $connection.stream = $connection.client.GetStream()
        if ($proxy.scheme -eq 'https') {
            $tls = Invoke-WinProbeTls -Stream $connection.stream -ServerName $name -CaPath $null -Deadline $Deadline
            if ($tls.problem) { New-WinProbeError -Class 'proxy' -Detail ('the proxy''s certificate: {0}' -f $tls.problem[1]) }
            $connection.stream = $tls.stream
        }
    }
    catch {
        if (-not $proxy) { throw }
        $info = Get-WinProbeErrorInfo $_
        $class = @{ dns = 'proxy_dns'; refused = 'proxy_unreachable'; timeout = 'proxy_unreachable'; unreachable = 'proxy_unreachable' }[$info[0]]
        if (-not $class) { $class = 'proxy' }
        New-WinProbeError -Class $class -Detail ('proxy {0}: {1}' -f $shown, $info[1])
    }
    if (-not $proxy) { $connection.addresses = @(@($addresses) | ForEach-Object { $_.ToString() }) }
    else {
        $started = Get-WinProbeClock
        $target = if ($TargetHost.Contains(':')) { '[{0}]:{1}' -f $TargetHost, $Port } else { '{0}:{1}' -f $TargetHost, $Port }
        $request = "CONNECT $target HTTP/1.1`r`nHost: $target"
        if ($proxy.Contains('user')) {
            $credentials = '{0}:{1}' -f [Uri]::UnescapeDataString($proxy.user), [Uri]::UnescapeDataString("$($proxy.password)")
            $request += "`r`nProxy-Authorization: Basic " + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($credentials))
        }
        $reader = New-WinProbeReader -Stream $connection.stream -Deadline $Deadline -Doing 'waiting for the proxy'
        $lines = Invoke-WinProbeExchange -Reader $reader -Text ($request + "`r`n") -Until '^$'
        $connection.timings.proxy_ms = Get-WinProbeElapsed -Since $started
        if ($lines[0] -notmatch '^HTTP/\d\.\d 2\d\d') {
            $connection.client.Close()
            New-WinProbeError -Class 'proxy' -Detail ('the proxy answered "{0}" to CONNECT {1}' -f (ConvertTo-WinProbePrintable $lines[0] 80), $target)
        }
    }
    $connection
}

function New-WinProbeReader {
    param([IO.Stream]$Stream, [double]$Deadline, [string]$Doing = 'waiting for the reply')
    @{ stream = $Stream; buffer = [Collections.Generic.List[byte]]::new(); deadline = $Deadline; doing = $Doing }
}

function Read-WinProbeChunk {
    <# Append what the stream has to the reader's buffer: the number of bytes, 0 at the end of the stream. #>
    param([hashtable]$Reader)
    $chunk = [byte[]]::new(16384)
    $Reader.stream.ReadTimeout = Get-WinProbeLeft -Deadline $Reader.deadline -Doing $Reader.doing
    try { $count = $Reader.stream.Read($chunk, 0, $chunk.Length) }
    catch {
        $info = Get-WinProbeErrorInfo $_
        if ($info[0] -eq 'timeout' -or (Get-WinProbeClock) -ge $Reader.deadline) { $info = 'timeout', ('no answer in time while {0}' -f $Reader.doing) }
        New-WinProbeError -Class $info[0] -Detail $info[1]
    }
    $Reader.buffer.AddRange([ArraySegment[byte]]::new($chunk, 0, $count))
    $count
}

function Read-WinProbeLine {
    <# One line without its CR LF, as UTF-8: the error class reset at the end of the stream, protocol past 8192 bytes. #>
    param([hashtable]$Reader)
    while (($index = $Reader.buffer.IndexOf([byte]10)) -lt 0) {
        if ($Reader.buffer.Count -gt 8192) { New-WinProbeError -Class 'protocol' -Detail 'a line longer than 8192 bytes' }
        if ((Read-WinProbeChunk -Reader $Reader) -eq 0) { New-WinProbeError -Class 'reset' -Detail 'the server closed the connection' }
    }
    $line = [Text.Encoding]::UTF8.GetString($Reader.buffer.GetRange(0, $index).ToArray()).TrimEnd("`r")
    $Reader.buffer.RemoveRange(0, $index + 1)
    $line
}

function Invoke-WinProbeExchange {
    <# Send Text and CR LF (unless $null), then read lines up to the first that matches Until (200 at most): the lines. #>
    param([hashtable]$Reader, [AllowNull()][string]$Text, [string]$Until)
    if ($null -ne $Text) {
        $bytes = [Text.Encoding]::UTF8.GetBytes($Text + "`r`n")
        $Reader.stream.WriteTimeout = Get-WinProbeLeft -Deadline $Reader.deadline -Doing $Reader.doing
        try { $Reader.stream.Write($bytes, 0, $bytes.Length) }
        catch { New-WinProbeError -Class 'reset' -Detail ('the server closed the connection ({0})' -f (Get-WinProbeErrorInfo $_)[1]) }
    }
    $lines = [Collections.Generic.List[string]]::new()
    while ($lines.Count -lt 200) {
        $lines.Add((Read-WinProbeLine -Reader $Reader))
        if ($lines[$lines.Count - 1] -match $Until) { return , $lines.ToArray() }
    }
    New-WinProbeError -Class 'protocol' -Detail 'a reply of more than 200 lines'
}

function ConvertTo-WinProbePrintable { param([string]$Text, [int]$Max = 200); ($Text -replace '[\p{C}\u2028\u2029]', '?') -replace "^(.{0,$Max}).*", '$1' }

function Invoke-WinProbeTls {
    <# A TLS 1.2+ handshake accepting any certificate, to report it; the chain Windows built is verified against the store
    (no revocation check) or CaPath: @{ stream; version; cipher; bits; der; chain (DER, leaf first); problem = @(class, why) }. #>
    param([IO.Stream]$Stream, [string]$ServerName, [AllowNull()][string]$CaPath, [double]$Deadline)
    $seen = @{ chain = @(); status = @(); errors = 0 }
    $callback = [Net.Security.RemoteCertificateValidationCallback] {
        param($source, $certificate, $chain, $errors)
        if ($chain) {
            $seen.chain = @($chain.ChainElements | ForEach-Object { , $_.Certificate.RawData })
            $seen.status = @($chain.ChainStatus | Where-Object { [string]$_.Status -ne 'NoError' })
        }
        $seen.errors = [int]$errors
        $true
    }.GetNewClosure()
    $Stream.ReadTimeout = Get-WinProbeLeft -Deadline $Deadline -Doing 'in the TLS handshake'
    $Stream.WriteTimeout = $Stream.ReadTimeout
    $ssl = [Net.Security.SslStream]::new($Stream, $false, $callback)
    # PowerShell 7 lets Windows choose (TLS 1.3 where it has it); Windows PowerShell asks for TLS 1.2.
    $protocols = if ($PSVersionTable.PSVersion.Major -ge 7) { 'None' } else { 'Tls12' }
    try { $ssl.AuthenticateAsClient($ServerName, $null, [Security.Authentication.SslProtocols]$protocols, $false) }
    catch {
        $info = Get-WinProbeErrorInfo $_
        if ($info[0] -eq 'timeout' -or (Get-WinProbeClock) -ge $Deadline) { $info = 'timeout', 'no TLS handshake before the timeout' }
        New-WinProbeError -Class $(if ($info[0] -eq 'timeout') { 'timeout' } else { 'tls_handshake' }) -Detail $info[1]
    }
    $version = @{ Tls12 = 'TLSv1.2'; Tls13 = 'TLSv1.3' }[[string]$ssl.SslProtocol]
    if (-not $version) { New-WinProbeError -Class 'tls_handshake' -Detail ('the server negotiated {0}, below TLS 1.2' -f $ssl.SslProtocol) }
    # Windows PowerShell (.NET Framework) cannot name the suite: key exchange, cipher and hash then.
    $cipher = '{0}-{1}-{2}' -f $ssl.KeyExchangeAlgorithm, $ssl.CipherAlgorithm, $ssl.HashAlgorithm
    if ($ssl.PSObject.Properties['NegotiatedCipherSuite']) { $cipher = [string]$ssl.NegotiatedCipherSuite }
    $tls = @{ stream = $ssl; version = $version; cipher = $cipher; bits = [int]$ssl.CipherStrength; der = $null; chain = $seen.chain; problem = $null }
    if ($null -eq $ssl.RemoteCertificate) {
        $tls.problem = 'cert_untrusted', 'the server presented no certificate'
        return $tls
    }
    $tls.der = $ssl.RemoteCertificate.GetRawCertData()
    $status = @($seen.status | Where-Object { $seen.errors -band 4 })
    if (($seen.errors -band 4) -and -not $status.Count) { $status = @(@{ Status = 'PartialChain'; StatusInformation = 'the chain does not verify' }) }
    if ($CaPath) {
        $x509 = 'Security.Cryptography.X509Certificates.X509Certificate2'
        $bundle = [regex]::Matches([IO.File]::ReadAllText($CaPath), '(?s)-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----')
        $anchors = @($bundle | ForEach-Object { New-Object $x509 -ArgumentList (, [Convert]::FromBase64String($_.Groups[1].Value)) })
        $built = [Security.Cryptography.X509Certificates.X509Chain]::new()
        $built.ChainPolicy.RevocationMode = 'NoCheck'
        $built.ChainPolicy.VerificationFlags = 'AllowUnknownCertificateAuthority'
        $extra = $anchors + @($tls.chain | ForEach-Object { New-Object $x509 -ArgumentList (, [byte[]]$_) })
        $extra | ForEach-Object { $null = $built.ChainPolicy.ExtraStore.Add($_) }
        $null = $built.Build((New-Object $x509 -ArgumentList (, $tls.der)))
        $status = @($built.ChainStatus | Where-Object { [string]$_.Status -notin 'NoError', 'UntrustedRoot' })
        if (-not @($built.ChainElements | Where-Object { $_.Certificate.Thumbprint -in @($anchors | ForEach-Object { $_.Thumbprint }) }).Count) {
            $status = @(@{ Status = 'PartialChain'; StatusInformation = 'unable to get local issuer certificate: none of the chain is in ' + $CaPath })
        }
    }
    if (@($status).Count) {
        $class = if (@($status | Where-Object { [string]$_.Status -eq 'NotTimeValid' }).Count) { 'cert_expired' } else { 'cert_untrusted' }
        $tls.problem = $class, (@($status | ForEach-Object { "$($_.StatusInformation)".Trim() }) -join '; ')
    }
    $tls
}

function Get-WinProbeName {
    <# @(a distinguished name as cryptography writes it: commonName=...,organizationName=..., in encoding order; its CN). #>
    param([Security.Cryptography.X509Certificates.X500DistinguishedName]$Name)
    $labels = @{ CN = 'commonName'; C = 'countryName'; O = 'organizationName'; OU = 'organizationalUnitName'; L = 'localityName'; T = 'title'
        S = 'stateOrProvinceName'; STREET = 'streetAddress'; E = 'emailAddress'; DC = 'domainComponent'; SERIALNUMBER = 'serialNumber' }
    $parts = [Collections.Generic.List[string]]::new()
    $cn = $null
    foreach ($line in @($Name.Decode('UseNewLines, DoNotUseQuotes') -split "`r?`n" | Where-Object { $_ })) {
        $label, $value = $line.Split('=', 2)
        if ($label -eq 'CN' -and $null -eq $cn) { $cn = $value }
        $parts.Add(('{0}={1}' -f $(if ($labels.Contains($label)) { $labels[$label] } else { $label -replace '^OID\.' }), $value))
    }
    @(($parts -join ','), $cn)
}

function Get-WinProbeCertificate {
    <# @(the facts of a DER certificate as _tls.certificate_facts, whether it names Hostname as _tls.hostname_matches). #>
    param([byte[]]$Der, [string]$Hostname)
    $x509 = [Security.Cryptography.X509Certificates.X509Certificate2]::new($Der)
    $sans = foreach ($extension in @($x509.Extensions | Where-Object { $_.Oid.Value -eq '2.5.29.17' })) {
        # A DER SEQUENCE of GeneralName, each tag, length, value: dNSName is tag 0x82, iPAddress 0x87.
        $raw = $extension.RawData
        $at = if ($raw[1] -ge 0x80) { 2 + $raw[1] - 0x80 } else { 2 }
        while ($at + 1 -lt $raw.Length) {
            $size, $start = [int]$raw[$at + 1], ($at + 2)
            $long = $size - 0x80
            if ($long -gt 0) { $start, $size = ($start + $long), $(if ($long -eq 1) { $raw[$at + 2] } else { $raw[$at + 2] * 256 + $raw[$at + 3] }) }
            if ($raw[$at] -eq 0x82) { 'DNS:' + [Text.Encoding]::ASCII.GetString($raw, $start, $size) }
            elseif ($raw[$at] -eq 0x87 -and $size -in 4, 16) { 'IP:' + [Net.IPAddress]::new([byte[]]$raw[$start..($start + $size - 1)]) }
            $at = $start + $size
        }
    }
    $name = $Hostname.TrimEnd('.').ToLowerInvariant()
    $label, $rest = $name.Split('.', 2)
    $matched = @($sans | Where-Object {
            $pattern = $_.Substring($_.IndexOf(':') + 1).TrimEnd('.').ToLowerInvariant()
            $pattern -eq $name -or ($_.StartsWith('DNS:*.') -and $label -and $rest -eq $pattern.Substring(2))
        }).Count -gt 0
    $subject, $issuer = (Get-WinProbeName -Name $x509.SubjectName), (Get-WinProbeName -Name $x509.IssuerName)
    $notBefore, $notAfter, $now = $x509.NotBefore.ToUniversalTime(), $x509.NotAfter.ToUniversalTime(), [DateTime]::UtcNow
    $iso = "yyyy-MM-dd'T'HH:mm:ss'Z'"
    # RETURN: results[].tls.certificate
    $Certificate = [ordered]@{
        subject = $subject[0]; subject_cn = $subject[1]; issuer = $issuer[0]; issuer_cn = $issuer[1]; sans = @($sans)
        serial = $(if ($x509.SerialNumber.TrimStart('0')) { $x509.SerialNumber.TrimStart('0').ToLowerInvariant() } else { '0' })
        not_before = $notBefore.ToString($iso, [cultureinfo]::InvariantCulture); not_after = $notAfter.ToString($iso, [cultureinfo]::InvariantCulture)
        days_left = [int][Math]::Floor(($notAfter - $now).TotalSeconds / 86400); expired = ($notAfter -lt $now -or $notBefore -gt $now)
        self_signed = ($subject[0] -eq $issuer[0]); sha256_fingerprint = Get-WinProbeFingerprint -Der $Der
    }
    @($Certificate, $matched)
}

function Get-WinProbeFingerprint { param([byte[]]$Der); [BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($Der)).Replace('-', ':') }

function Invoke-WinProbeParallel {
    <# Worker per item in a pool of runspaces given every *-WinProbe*, *-PortProbe* and *-UrlReach* function, until all finish or
    DeadlineSeconds pass: per item @{ done; output; error }. A run going at the deadline stops in the background (done = $false). #>
    param([object[]]$Items, [string]$Worker, [int]$Concurrency, [double]$DeadlineSeconds)
    $deadline = (Get-WinProbeClock) + $DeadlineSeconds
    $state = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    $state.ImportPSModule([string[]]@('Microsoft.PowerShell.Utility'))
    foreach ($function in (Get-Command -Name '*-WinProbe*', '*-PortProbe*', '*-UrlReach*' -CommandType Function)) {
        $state.Commands.Add([Management.Automation.Runspaces.SessionStateFunctionEntry]::new($function.Name, $function.ScriptBlock.ToString()))
    }
    $pool = [RunspaceFactory]::CreateRunspacePool(1, [Math]::Max(1, $Concurrency), $state, $Host)
    $pool.Open()
    $runs = foreach ($item in $Items) {
        $shell = [PowerShell]::Create()
        $shell.RunspacePool = $pool
        @{ shell = $shell; handle = $shell.AddCommand($Worker).AddArgument($item).BeginInvoke() }
    }
    while (@($runs | Where-Object { -not $_.handle.IsCompleted }).Count -and (Get-WinProbeClock) -lt $deadline) { Start-Sleep -Milliseconds 20 }
    $outputs = foreach ($run in @($runs)) {
        $entry = @{ done = $run.handle.IsCompleted; output = $null; error = 'no result' }
        if (-not $entry.done) { $null = $run.shell.BeginStop($null, $null) }
        else { try { $entry.output = @($run.shell.EndInvoke($run.handle)) | Select-Object -Last 1 } catch { $entry.error = $_.Exception.Message } }
        if ($entry.done -and $null -eq $entry.output -and $run.shell.Streams.Error.Count) { $entry.error = [string]$run.shell.Streams.Error[0] }
        $entry
    }
    if (@($outputs | Where-Object { -not $_.done }).Count) { $null = $pool.BeginClose($null, $null) } else { $pool.Close() }
    , @($outputs)
}

Export-ModuleMember -Function '*-WinProbe*'
