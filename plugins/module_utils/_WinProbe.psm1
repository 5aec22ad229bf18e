# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: THIS IS A PRIVATE MODULE UTIL OF ece_o365.preflight. It is not part of the
# collection's public API and MAY CHANGE OR BE REMOVED AT ANY TIME, even in a
# patch release. Do not use it from outside this collection.

# The Windows side of the network probes (win_port_probe, win_url_reach): the PowerShell
# counterpart of _errors.py, _proxy.py, _tls.py and the socket parts of _probe.py.
#
# Contract with the Python twins (tests/unit/windows/ checks it without running PowerShell):
# - ERROR_CLASSES below holds the same meanings and fixes as plugins/module_utils/_errors.py.
# - A hashtable literal preceded by a "# RETURN: <path>" comment builds the dictionary
#   documented at <path> of the twin's RETURN (results[] is an element of the results list);
#   a variable assigned such a literal stands for that path in the whole file, so
#   "$Name.key = ..." adds a documented key. Keep those variable names for that purpose only.
#
# Time: every wait is bounded by a deadline in seconds of Get-WinProbeClock (monotonic).
# Errors: New-WinProbeError throws an exception carrying an error class; Get-WinProbeErrorInfo
# turns any error record into (class, detail).
# No Set-StrictMode: the functions also run as copies in the runspaces of Invoke-WinProbeParallel,
# which do not inherit this module's settings, and they must behave the same in both places.

function Get-WinProbeErrorClasses {
    <# The error classes the probes report: class = meaning, fix (as _errors.ERROR_CLASSES). #>
    @{
        'dns' = @(
            'the name does not resolve',
            'check the host name and the DNS servers this host uses (and the proxy, if DNS only works through it)')
        'refused' = @(
            'the connection was refused (a RST: nothing listens, or a firewall rejects)',
            'check the port and any firewall between this host and the target')
        'timeout' = @(
            'no answer in time (packets dropped by a firewall, or a server too slow)',
            'open the port outbound on this host''s firewalls, or raise the timeout if the server is slow')
        'reset' = @(
            'the connection was reset or closed by the peer mid-conversation',
            'a firewall, proxy or IPS may be cutting the connection; test from another host to compare')
        'unreachable' = @(
            'no route to the address (network or host unreachable)',
            'check this host''s routes and its default gateway')
        'tls_handshake' = @(
            'the TLS handshake failed (protocol or cipher mismatch, or a non-TLS answer)',
            'check that the port speaks TLS and that TLS 1.2 or newer is allowed on this host')
        'cert_untrusted' = @(
            'the certificate chain does not verify against the trust store',
            'a TLS-inspecting proxy or a missing intermediate: add the right CA to the trust store, or exempt Microsoft 365 from TLS inspection')
        'cert_hostname' = @(
            'the certificate does not name the host that was asked for',
            'connect by the name the certificate carries (e.g. outlook.office365.com), or fix DNS/SNI')
        'cert_expired' = @(
            'the certificate has expired or is not yet valid',
            'check this host''s clock first; else the server (or an intercepting proxy) presents a stale certificate')
        'starttls_unsupported' = @(
            'the server did not offer or accept STARTTLS/STLS',
            'the port is wrong for STARTTLS, or something between rewrites the session (SMTP fix-up, proxy)')
        'protocol' = @(
            'the server answered something other than the protocol expected',
            'check that the port is the service named (e.g. 587 for SMTP submission) and nothing intercepts it')
        'proxy' = @(
            'the proxy refused or failed the CONNECT tunnel',
            'check the proxy address and that it allows CONNECT to this host and port (and its credentials)')
        'http_status' = @(
            'the HTTP status was not one of those expected',
            'read the status and body: a proxy block page, a wrong URL, or the service refusing')
        'assertion' = @(
            'a JMESPath assertion on the JSON body did not hold',
            'read the body: the endpoint answered, but not with what the preflight expects')
        'deadline' = @(
            'the probe did not finish before the call''s overall deadline',
            'raise the overall deadline or probe fewer targets per call')
    }
}

function Format-WinProbeMessage {
    <# One line naming where (host:port or URL), the cause, the detail and the fix (_errors.describe). #>
    param([string]$Class, [string]$Where, [string]$Detail)
    $entry = (Get-WinProbeErrorClasses)[$Class]
    $text = '{0}: {1}' -f $Where, $entry[0]
    if ($Detail) {
        $text += ' ({0})' -f $Detail
    }
    '{0}. Fix: {1}.' -f $text, $entry[1]
}

function Get-WinProbeClock {
    <# Seconds on a monotonic clock. #>
    [System.Diagnostics.Stopwatch]::GetTimestamp() / [double][System.Diagnostics.Stopwatch]::Frequency
}

function Get-WinProbeMilliseconds {
    <# Whole milliseconds since Started (port_probe's timings). #>
    param([double]$Started)
    [int][Math]::Round(((Get-WinProbeClock) - $Started) * 1000)
}

function Get-WinProbeRemaining {
    <# Milliseconds left before Deadline; throws the error class timeout when none are. #>
    param([double]$Deadline, [string]$Detail = 'no complete reply before the timeout')
    $left = [int][Math]::Floor(($Deadline - (Get-WinProbeClock)) * 1000)
    if ($left -le 0) {
        New-WinProbeError -Class 'timeout' -Detail $Detail
    }
    $left
}

function New-WinProbeError {
    <# Throw an exception that carries an error class and a detail. #>
    param([string]$Class, [string]$Detail)
    $exception = [System.InvalidOperationException]::new($(if ($Detail) { $Detail } else { $Class }))
    $exception.Data['WinProbeClass'] = $Class
    $exception.Data['WinProbeDetail'] = $Detail
    throw $exception
}

function Get-WinProbeErrorInfo {
    <# (class, detail) of an error record or exception: ours first, then socket, I/O and TLS errors. #>
    param([object]$ErrorRecord)
    $exception = if ($ErrorRecord -is [System.Management.Automation.ErrorRecord]) { $ErrorRecord.Exception } else { $ErrorRecord }
    $chain = [System.Collections.Generic.List[object]]::new()
    $current = $exception
    while ($null -ne $current -and $chain.Count -lt 20) {
        $chain.Add($current)
        if ($current -is [System.AggregateException] -and $current.InnerExceptions.Count -gt 0) {
            $current = $current.InnerExceptions[0]
        }
        else {
            $current = $current.InnerException
        }
    }
    foreach ($item in $chain) {
        if ($item.Data.Contains('WinProbeClass')) {
            return @($item.Data['WinProbeClass'], $item.Data['WinProbeDetail'])
        }
    }
    foreach ($item in $chain) {
        if ($item -is [System.Net.Sockets.SocketException]) {
            $code = [string]$item.SocketErrorCode
            $class = switch ($code) {
                'HostNotFound' { 'dns' }
                'NoData' { 'dns' }
                'TryAgain' { 'dns' }
                'NoRecovery' { 'dns' }
                'ConnectionRefused' { 'refused' }
                'TimedOut' { 'timeout' }
                'NetworkUnreachable' { 'unreachable' }
                'HostUnreachable' { 'unreachable' }
                'AddressNotAvailable' { 'unreachable' }
                'NetworkDown' { 'unreachable' }
                default { 'reset' }
            }
            return @($class, $item.Message)
        }
    }
    foreach ($item in $chain) {
        if ($item -is [System.Security.Authentication.AuthenticationException]) {
            return @('tls_handshake', $item.Message)
        }
        if ($item -is [System.TimeoutException]) {
            return @('timeout', $item.Message)
        }
    }
    foreach ($item in $chain) {
        if ($item -is [System.IO.IOException] -or $item -is [System.ObjectDisposedException]) {
            return @('reset', $item.Message)
        }
    }
    $last = $chain[$chain.Count - 1]
    @('protocol', ('{0}: {1}' -f $last.GetType().Name, $last.Message))
}

# --- proxies (_proxy.py, plus the WinHTTP system proxy) -------------------------------------

function ConvertTo-WinProbeRedacted {
    <# The URL with user name and password replaced, for output (_proxy.redact); $null for none. #>
    param([AllowNull()][object]$Url)
    if (-not $Url) {
        return $null  # a [string] parameter would turn $null into '', where the Python twins return None
    }
    ([string]$Url) -replace '(?<=://)[^/@]*@', '********@'
}

function Get-WinProbeEnvironmentProxy {
    <# The proxy URL the environment names for Scheme (HTTPS_PROXY, ALL_PROXY...), or $null. #>
    param([string]$Scheme = 'https')
    foreach ($name in @(('{0}_proxy' -f $Scheme), 'all_proxy')) {
        foreach ($variable in @($name.ToUpperInvariant(), $name)) {
            $value = [Environment]::GetEnvironmentVariable($variable)
            if ($value) {
                return $value
            }
        }
    }
    $null
}

function Get-WinProbeWinHttpProxy {
    <#
    The machine's WinHTTP proxy (netsh winhttp show proxy) as @{ url; bypass }, or $null for direct.
    WinHttpSettings is a little-endian blob: size, counter, flags (2 = a proxy is set), then the
    proxy string and the bypass list, each as a 32-bit length and that many ASCII bytes.
    #>
    param([string]$Scheme = 'https')
    $blob = $null
    try {
        $key = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
        $blob = [byte[]](Get-ItemProperty -LiteralPath $key -Name 'WinHttpSettings' -ErrorAction Stop).WinHttpSettings
    }
    catch {
        return $null
    }
    if ($null -eq $blob -or $blob.Length -lt 16) {
        return $null
    }
    $flags = [BitConverter]::ToUInt32($blob, 8)
    $length = [int][BitConverter]::ToUInt32($blob, 12)
    if (($flags -band 2) -eq 0 -or $length -le 0 -or 16 + $length -gt $blob.Length) {
        return $null
    }
    $servers = [Text.Encoding]::ASCII.GetString($blob, 16, $length)
    $bypass = ''
    $offset = 16 + $length
    if ($offset + 4 -le $blob.Length) {
        $bypassLength = [int][BitConverter]::ToUInt32($blob, $offset)
        if ($bypassLength -gt 0 -and $offset + 4 + $bypassLength -le $blob.Length) {
            $bypass = [Text.Encoding]::ASCII.GetString($blob, $offset + 4, $bypassLength)
        }
    }
    # "proxy:8080", or per scheme "http=proxy:80;https=proxy:443".
    $chosen = $null
    $plain = $null
    foreach ($entry in ($servers -split '[;\s]+' | Where-Object { $_ })) {
        if ($entry -match '^(?<scheme>[a-z]+)=(?<server>.+)$') {
            if ($Matches['scheme'] -eq $Scheme) {
                $chosen = $Matches['server']
            }
        }
        elseif (-not $plain) {
            $plain = $entry
        }
    }
    if (-not $chosen) {
        $chosen = $plain
    }
    if (-not $chosen) {
        return $null
    }
    if ($chosen -notmatch '://') {
        $chosen = 'http://' + $chosen
    }
    @{ url = $chosen; bypass = (($bypass -split '[;\s]+' | Where-Object { $_ }) -join ',') }
}

function Test-WinProbeBypass {
    <# True when TargetHost matches the no-proxy list (names by suffix, IPs, CIDRs, wildcards, <local>, '*'). #>
    param([string]$TargetHost, [string]$NoProxy)
    if (-not $NoProxy) {
        return $false
    }
    $name = $TargetHost.Trim('[', ']').TrimEnd('.').ToLowerInvariant()
    $address = $null
    $isAddress = [System.Net.IPAddress]::TryParse($name, [ref]$address)
    foreach ($raw in $NoProxy.Split(',')) {
        $entry = $raw.Trim().ToLowerInvariant()
        if (-not $entry) {
            continue
        }
        if ($entry -eq '*') {
            return $true
        }
        if ($entry -eq '<local>') {
            if (-not $isAddress -and -not $name.Contains('.')) {
                return $true
            }
            continue
        }
        if ($entry.Split(':').Length -eq 2) {
            $entry = $entry.Split(':')[0]  # host:port form
        }
        if ($isAddress) {
            if (Test-WinProbeInNetwork -Address $address -Network $entry) {
                return $true
            }
            if ($entry.Contains('*') -and $name -like $entry) {
                return $true
            }
            continue
        }
        if ($entry.TrimStart('*').Contains('*')) {
            if ($name -like $entry) {
                return $true
            }
            continue
        }
        $entry = $entry.TrimStart('*').TrimStart('.')
        if ($name -eq $entry -or $name.EndsWith('.' + $entry)) {
            return $true
        }
    }
    $false
}

function Test-WinProbeInNetwork {
    <# True when Address is Network (an address, or address/prefix). #>
    param([System.Net.IPAddress]$Address, [string]$Network)
    $parts = $Network.Split('/')
    $base = $null
    if (-not [System.Net.IPAddress]::TryParse($parts[0], [ref]$base)) {
        return $false
    }
    if ($base.AddressFamily -ne $Address.AddressFamily) {
        return $false
    }
    $a = $Address.GetAddressBytes()
    $b = $base.GetAddressBytes()
    $prefix = $a.Length * 8
    if ($parts.Count -gt 1) {
        $parsed = 0
        if (-not [int]::TryParse($parts[1], [ref]$parsed)) {
            return $false
        }
        $prefix = [Math]::Min($parsed, $prefix)
    }
    for ($bit = 0; $bit -lt $prefix; $bit++) {
        $mask = 0x80 -shr ($bit % 8)
        if (($a[[Math]::Floor($bit / 8)] -band $mask) -ne ($b[[Math]::Floor($bit / 8)] -band $mask)) {
            return $false
        }
    }
    $true
}

function Select-WinProbeProxy {
    <#
    The proxy URL for TargetHost: Explicit (a URL, or '' for none), else the environment as on POSIX
    hosts (HTTPS_PROXY, ALL_PROXY, NO_PROXY), else the WinHTTP system proxy and its bypass list.
    #>
    param([string]$TargetHost, [AllowNull()][object]$Explicit, [AllowNull()][object]$NoProxy, [string]$Scheme = 'https')
    if ($null -ne $Explicit) {
        $proxy = if ([string]$Explicit) { [string]$Explicit } else { $null }
        $bypass = if ($null -ne $NoProxy) { [string]$NoProxy } else { '' }
    }
    else {
        $proxy = Get-WinProbeEnvironmentProxy -Scheme $Scheme
        $bypass = $NoProxy
        if ($proxy) {
            if ($null -eq $bypass) {
                $bypass = [Environment]::GetEnvironmentVariable('NO_PROXY')
                if (-not $bypass) {
                    $bypass = [Environment]::GetEnvironmentVariable('no_proxy')
                }
            }
        }
        else {
            $system = Get-WinProbeWinHttpProxy -Scheme $Scheme
            if ($system) {
                $proxy = $system.url
                if ($null -eq $bypass) {
                    $bypass = $system.bypass
                }
            }
        }
    }
    if ($proxy -and (Test-WinProbeBypass -TargetHost $TargetHost -NoProxy ([string]$bypass))) {
        return $null
    }
    $proxy
}

function Split-WinProbeProxyUrl {
    <# @{ host; port; auth } of an http:// proxy URL (port 8080 when not given), as _proxy.parse. #>
    param([string]$Url)
    if ($Url -notmatch '://') {
        $Url = 'http://' + $Url
    }
    if ($Url -notmatch '^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:(?<user>[^@/:]*)(?::(?<password>[^@/]*))?@)?(?<host>\[[^\]]+\]|[^:/?#]+)(?::(?<port>\d+))?') {
        New-WinProbeError -Class 'proxy' -Detail ('{0} is not a proxy URL' -f (ConvertTo-WinProbeRedacted $Url))
    }
    if ($Matches['scheme'].ToLowerInvariant() -ne 'http') {
        New-WinProbeError -Class 'proxy' -Detail ('only http:// proxies (HTTP CONNECT) are supported, not {0}://' -f $Matches['scheme'])
    }
    $auth = $null
    if ($Matches.ContainsKey('user')) {
        $password = if ($Matches.ContainsKey('password')) { [Uri]::UnescapeDataString($Matches['password']) } else { '' }
        $credentials = '{0}:{1}' -f [Uri]::UnescapeDataString($Matches['user']), $password
        $auth = 'Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($credentials))
    }
    $port = if ($Matches.ContainsKey('port')) { [int]$Matches['port'] } else { 8080 }
    @{ host = $Matches['host'].Trim('[', ']'); port = $port; auth = $auth }
}

# --- sockets --------------------------------------------------------------------------------

function Resolve-WinProbeName {
    <# Every address of Name (IPv4 and IPv6, de-duplicated, in the resolver's order), within Deadline. #>
    param([string]$Name, [double]$Deadline)
    $literal = $null
    if ([System.Net.IPAddress]::TryParse($Name.Trim('[', ']'), [ref]$literal)) {
        return , @($literal)
    }
    $left = [int][Math]::Max(0, [Math]::Floor(($Deadline - (Get-WinProbeClock)) * 1000))
    $task = [System.Net.Dns]::GetHostAddressesAsync($Name)
    $finished = $false
    try {
        $finished = $task.Wait($left)
    }
    catch {
        $info = Get-WinProbeErrorInfo $_
        New-WinProbeError -Class 'dns' -Detail $info[1]
    }
    if (-not $finished) {
        New-WinProbeError -Class 'dns' -Detail 'no answer from the resolver before the timeout'
    }
    $seen = @{}
    $addresses = [System.Collections.Generic.List[object]]::new()
    foreach ($address in $task.Result) {
        $text = $address.ToString()
        if (-not $seen.ContainsKey($text)) {
            $seen[$text] = $true
            $addresses.Add($address)
        }
    }
    if ($addresses.Count -eq 0) {
        New-WinProbeError -Class 'dns' -Detail 'the name has no address'
    }
    , $addresses.ToArray()
}

function Connect-WinProbeTcp {
    <# A connected TcpClient to the first of Addresses that answers within Deadline: @{ client; address }. #>
    param([object[]]$Addresses, [int]$Port, [double]$Deadline)
    $lastError = $null
    foreach ($address in $Addresses) {
        $left = [int][Math]::Floor(($Deadline - (Get-WinProbeClock)) * 1000)
        if ($left -le 0) {
            break
        }
        $client = [System.Net.Sockets.TcpClient]::new($address.AddressFamily)
        $client.NoDelay = $true
        try {
            $task = $client.ConnectAsync($address, $Port)
            if ($task.Wait($left)) {
                return @{ client = $client; address = $address.ToString() }
            }
            $client.Close()
            $lastError = @('timeout', 'no answer to the connection attempt before the timeout')
        }
        catch {
            $client.Close()
            $lastError = Get-WinProbeErrorInfo $_
        }
    }
    if ($null -eq $lastError) {
        New-WinProbeError -Class 'timeout' -Detail 'no address answered before the timeout'
    }
    New-WinProbeError -Class $lastError[0] -Detail $lastError[1]
}

function New-WinProbeReader {
    <# A line reader over Stream, bounded by Deadline and by MaxLine bytes per line. #>
    param([System.IO.Stream]$Stream, [double]$Deadline, [int]$MaxLine = 8192)
    @{ stream = $Stream; buffer = [System.Collections.Generic.List[byte]]::new(); deadline = $Deadline; max_line = $MaxLine }
}

function Read-WinProbeChunk {
    <# Append what the stream has (at most 4096 bytes) to the reader's buffer; throws reset at EOF. #>
    param([hashtable]$Reader)
    $left = Get-WinProbeRemaining -Deadline $Reader.deadline
    $Reader.stream.ReadTimeout = $left
    $chunk = [byte[]]::new(4096)
    $count = 0
    try {
        $count = $Reader.stream.Read($chunk, 0, $chunk.Length)
    }
    catch {
        $info = Get-WinProbeErrorInfo $_
        if ($info[0] -eq 'timeout' -or ((Get-WinProbeClock) -ge $Reader.deadline)) {
            New-WinProbeError -Class 'timeout' -Detail 'no complete reply before the timeout'
        }
        New-WinProbeError -Class $info[0] -Detail $info[1]
    }
    if ($count -le 0) {
        New-WinProbeError -Class 'reset' -Detail 'the server closed the connection'
    }
    $Reader.buffer.AddRange([byte[]]$chunk[0..($count - 1)])
    $count
}

function Read-WinProbeLine {
    <# One line without its CR LF, UTF-8 with replacement characters; protocol error past MaxLine bytes. #>
    param([hashtable]$Reader)
    while ($true) {
        $index = $Reader.buffer.IndexOf([byte]10)
        if ($index -ge 0) {
            break
        }
        if ($Reader.buffer.Count -gt $Reader.max_line) {
            New-WinProbeError -Class 'protocol' -Detail ('a line longer than {0} bytes' -f $Reader.max_line)
        }
        $null = Read-WinProbeChunk -Reader $Reader
    }
    if ($index -gt $Reader.max_line) {
        New-WinProbeError -Class 'protocol' -Detail ('a line longer than {0} bytes' -f $Reader.max_line)
    }
    $bytes = $Reader.buffer.GetRange(0, $index).ToArray()
    $Reader.buffer.RemoveRange(0, $index + 1)
    [Text.Encoding]::UTF8.GetString($bytes).TrimEnd([char]13)
}

function Send-WinProbeLine {
    <# Write Text and CR LF, within the reader's deadline. #>
    param([hashtable]$Reader, [string]$Text)
    $left = Get-WinProbeRemaining -Deadline $Reader.deadline
    $bytes = [Text.Encoding]::ASCII.GetBytes($Text + "`r`n")
    try {
        $Reader.stream.WriteTimeout = $left
        $Reader.stream.Write($bytes, 0, $bytes.Length)
        $Reader.stream.Flush()
    }
    catch {
        $info = Get-WinProbeErrorInfo $_
        New-WinProbeError -Class 'reset' -Detail ('the server closed the connection ({0})' -f $info[1])
    }
}

function Invoke-WinProbeConnectTunnel {
    <# Ask the proxy (Stream already connected to it) for a tunnel to TargetHost:Port; proxy error unless 2xx. #>
    param([System.IO.Stream]$Stream, [string]$TargetHost, [int]$Port, [AllowNull()][string]$Auth, [double]$Deadline)
    $target = if ($TargetHost.Contains(':')) { '[{0}]:{1}' -f $TargetHost, $Port } else { '{0}:{1}' -f $TargetHost, $Port }
    $request = "CONNECT $target HTTP/1.1`r`nHost: $target`r`n"
    if ($Auth) {
        $request += "Proxy-Authorization: $Auth`r`n"
    }
    $reader = New-WinProbeReader -Stream $Stream -Deadline $Deadline
    $bytes = [Text.Encoding]::ASCII.GetBytes($request + "`r`n")
    $Stream.WriteTimeout = Get-WinProbeRemaining -Deadline $Deadline
    $Stream.Write($bytes, 0, $bytes.Length)
    $status = Read-WinProbeLine -Reader $reader
    if ($status -notmatch '^HTTP/\d\.\d (\d{3})') {
        New-WinProbeError -Class 'proxy' -Detail ("the proxy answered '{0}' to CONNECT" -f $status.Substring(0, [Math]::Min(80, $status.Length)))
    }
    $code = $Matches[1]
    while ((Read-WinProbeLine -Reader $reader) -ne '') {
        # headers up to the blank line
    }
    if (-not $code.StartsWith('2')) {
        New-WinProbeError -Class 'proxy' -Detail ('the proxy answered "{0}" to CONNECT {1}' -f $status.Trim(), $target)
    }
}

# --- TLS and certificates (_tls.py) ---------------------------------------------------------

function Read-WinProbeDer {
    <# The DER element at Offset of Bytes: @{ tag; start (of the content); length; end }. #>
    param([byte[]]$Bytes, [int]$Offset)
    $tag = $Bytes[$Offset]
    $first = $Bytes[$Offset + 1]
    $start = $Offset + 2
    $length = [int]$first
    if ($first -band 0x80) {
        $count = $first -band 0x7F
        $length = 0
        for ($i = 0; $i -lt $count; $i++) {
            $length = ($length * 256) + $Bytes[$start + $i]
        }
        $start += $count
    }
    @{ tag = [int]$tag; start = $start; length = $length; end = $start + $length }
}

function ConvertFrom-WinProbeOid {
    <# Dotted text of the DER-encoded OID content in Bytes[Start..Start+Length). #>
    param([byte[]]$Bytes, [int]$Start, [int]$Length)
    $parts = [System.Collections.Generic.List[string]]::new()
    $value = [long]0
    $firstDone = $false
    for ($i = $Start; $i -lt $Start + $Length; $i++) {
        $value = ($value * 128) + ($Bytes[$i] -band 0x7F)
        if (($Bytes[$i] -band 0x80) -eq 0) {
            if (-not $firstDone) {
                $head = [Math]::Min(2, [Math]::Floor($value / 40))
                $parts.Add([string]$head)
                $parts.Add([string]($value - (40 * $head)))
                $firstDone = $true
            }
            else {
                $parts.Add([string]$value)
            }
            $value = 0
        }
    }
    $parts -join '.'
}

function ConvertFrom-WinProbeDerString {
    <# Text of a DER string (UTF8String, PrintableString, IA5String, T61String, BMPString, UniversalString). #>
    param([byte[]]$Bytes, [hashtable]$Element)
    switch ($Element.tag) {
        0x1E { return [Text.Encoding]::BigEndianUnicode.GetString($Bytes, $Element.start, $Element.length) }
        0x1C { return [Text.Encoding]::GetEncoding('utf-32BE').GetString($Bytes, $Element.start, $Element.length) }
        0x14 { return [Text.Encoding]::GetEncoding('iso-8859-1').GetString($Bytes, $Element.start, $Element.length) }
        default { return [Text.Encoding]::UTF8.GetString($Bytes, $Element.start, $Element.length) }
    }
}

function Get-WinProbeNameAttributes {
    <# (dotted OID, value) pairs of a DER Name, in encoding order (as cryptography lists them). #>
    param([byte[]]$Der)
    $attributes = [System.Collections.Generic.List[object]]::new()
    if ($null -eq $Der -or $Der.Length -lt 2) {
        return , $attributes.ToArray()
    }
    $name = Read-WinProbeDer -Bytes $Der -Offset 0
    $offset = $name.start
    while ($offset -lt $name.end) {
        $set = Read-WinProbeDer -Bytes $Der -Offset $offset
        $inner = $set.start
        while ($inner -lt $set.end) {
            $sequence = Read-WinProbeDer -Bytes $Der -Offset $inner
            $oid = Read-WinProbeDer -Bytes $Der -Offset $sequence.start
            $value = Read-WinProbeDer -Bytes $Der -Offset $oid.end
            $attributes.Add(@((ConvertFrom-WinProbeOid -Bytes $Der -Start $oid.start -Length $oid.length),
                    (ConvertFrom-WinProbeDerString -Bytes $Der -Element $value)))
            $inner = $sequence.end
        }
        $offset = $set.end
    }
    , $attributes.ToArray()
}

function Format-WinProbeName {
    <# A DER Name as cryptography's attribute names joined by commas: commonName=...,organizationName=... #>
    param([byte[]]$Der)
    $labels = @{
        '2.5.4.3' = 'commonName'; '2.5.4.4' = 'surname'; '2.5.4.5' = 'serialNumber'; '2.5.4.6' = 'countryName'
        '2.5.4.7' = 'localityName'; '2.5.4.8' = 'stateOrProvinceName'; '2.5.4.9' = 'streetAddress'
        '2.5.4.10' = 'organizationName'; '2.5.4.11' = 'organizationalUnitName'; '2.5.4.12' = 'title'
        '2.5.4.15' = 'businessCategory'; '2.5.4.17' = 'postalCode'; '2.5.4.42' = 'givenName'
        '2.5.4.97' = 'organizationIdentifier'; '0.9.2342.19200300.100.1.1' = 'userID'
        '0.9.2342.19200300.100.1.25' = 'domainComponent'; '1.2.840.113549.1.9.1' = 'emailAddress'
        '1.3.6.1.4.1.311.60.2.1.3' = 'jurisdictionCountryName'
    }
    $parts = foreach ($pair in (Get-WinProbeNameAttributes -Der $Der)) {
        $label = if ($labels.ContainsKey($pair[0])) { $labels[$pair[0]] } else { $pair[0] }
        '{0}={1}' -f $label, $pair[1]
    }
    @($parts) -join ','
}

function Get-WinProbeCommonName {
    <# The first common name of a DER Name, or $null. #>
    param([byte[]]$Der)
    foreach ($pair in (Get-WinProbeNameAttributes -Der $Der)) {
        if ($pair[0] -eq '2.5.4.3') {
            return $pair[1]
        }
    }
    $null
}

function Get-WinProbeSubjectAltNames {
    <# @{ dns = names; ip = addresses } of a certificate's subject alternative name extension. #>
    param([System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate)
    $dns = [System.Collections.Generic.List[string]]::new()
    $ip = [System.Collections.Generic.List[string]]::new()
    foreach ($extension in $Certificate.Extensions) {
        if ($extension.Oid.Value -ne '2.5.29.17') {
            continue
        }
        $raw = $extension.RawData
        $sequence = Read-WinProbeDer -Bytes $raw -Offset 0
        $offset = $sequence.start
        while ($offset -lt $sequence.end) {
            $item = Read-WinProbeDer -Bytes $raw -Offset $offset
            if ($item.tag -eq 0x82) {
                $dns.Add([Text.Encoding]::ASCII.GetString($raw, $item.start, $item.length))
            }
            elseif ($item.tag -eq 0x87 -and ($item.length -eq 4 -or $item.length -eq 16)) {
                $ip.Add([System.Net.IPAddress]::new([byte[]]$raw[$item.start..($item.end - 1)]).ToString())
            }
            $offset = $item.end
        }
    }
    @{ dns = $dns.ToArray(); ip = $ip.ToArray() }
}

function Get-WinProbeFingerprint {
    <# SHA-256 fingerprint as colon-separated upper-case hex. #>
    param([byte[]]$Der)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try {
        $digest = $sha.ComputeHash($Der)
    }
    finally {
        $sha.Dispose()
    }
    ($digest | ForEach-Object { $_.ToString('X2') }) -join ':'
}

function Format-WinProbeUtc {
    <# A time as UTC ISO 8601 with whole seconds. #>
    param([DateTime]$Time)
    $Time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)
}

function Get-WinProbeCertificateFacts {
    <# Subject, issuer, SANs, validity and fingerprint of a DER certificate (_tls.certificate_facts). #>
    param([byte[]]$Der, [AllowNull()][object]$Now)
    $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($Der)
    $utcNow = if ($Now) { ([DateTime]$Now).ToUniversalTime() } else { [DateTime]::UtcNow }
    $notBefore = $certificate.NotBefore.ToUniversalTime()
    $notAfter = $certificate.NotAfter.ToUniversalTime()
    $names = Get-WinProbeSubjectAltNames -Certificate $certificate
    $sans = @($names.dns | ForEach-Object { 'DNS:' + $_ }) + @($names.ip | ForEach-Object { 'IP:' + $_ })
    $serial = $certificate.SerialNumber.ToLowerInvariant().TrimStart('0')
    # RETURN: results[].tls.certificate
    $facts = [ordered]@{
        subject = Format-WinProbeName -Der $certificate.SubjectName.RawData
        subject_cn = Get-WinProbeCommonName -Der $certificate.SubjectName.RawData
        issuer = Format-WinProbeName -Der $certificate.IssuerName.RawData
        issuer_cn = Get-WinProbeCommonName -Der $certificate.IssuerName.RawData
        sans = @($sans)
        serial = $(if ($serial) { $serial } else { '0' })
        not_before = Format-WinProbeUtc -Time $notBefore
        not_after = Format-WinProbeUtc -Time $notAfter
        days_left = [int][Math]::Floor(($notAfter - $utcNow).TotalSeconds / 86400)
        expired = ($notAfter -lt $utcNow -or $notBefore -gt $utcNow)
        self_signed = ([Convert]::ToBase64String($certificate.SubjectName.RawData) -eq [Convert]::ToBase64String($certificate.IssuerName.RawData))
        sha256_fingerprint = Get-WinProbeFingerprint -Der $Der
    }
    $facts
}

function Test-WinProbeHostname {
    <# True when the certificate names Hostname (DNS SANs with one-label wildcards, or IP SANs). #>
    param([byte[]]$Der, [string]$Hostname)
    $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($Der)
    $names = Get-WinProbeSubjectAltNames -Certificate $certificate
    $name = $Hostname.TrimEnd('.').ToLowerInvariant()
    foreach ($ip in $names.ip) {
        if ($ip -eq $name) {
            return $true
        }
    }
    foreach ($pattern in $names.dns) {
        $pattern = $pattern.TrimEnd('.').ToLowerInvariant()
        if ($pattern -eq $name) {
            return $true
        }
        if ($pattern.StartsWith('*.') -and $name.Contains('.')) {
            $label, $rest = $name.Split('.', 2)
            if ($label -and $rest -eq $pattern.Substring(2)) {
                return $true
            }
        }
    }
    $false
}

function Read-WinProbePemBundle {
    <# The certificates of a PEM file, as X509Certificate2 objects. #>
    param([string]$Path)
    $text = [IO.File]::ReadAllText($Path)
    $found = [regex]::Matches($text, '-----BEGIN CERTIFICATE-----(?<body>[A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----')
    $certificates = foreach ($match in $found) {
        $der = [Convert]::FromBase64String(($match.Groups['body'].Value -replace '\s', ''))
        [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($der)
    }
    , @($certificates)
}

function Test-WinProbeChain {
    <#
    Verify a leaf (DER) and the certificates the server sent against a PEM bundle instead of the
    Windows store: @{ ok; expired; error; chain }. A chain holding one of the bundle's certificates
    is trusted (an intermediate in the bundle is enough, as with Python's partial chains).
    #>
    param([byte[]]$Der, [object[]]$Extra, [string]$CaPath)
    $leaf = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($Der)
    $anchors = Read-WinProbePemBundle -Path $CaPath
    $chain = [System.Security.Cryptography.X509Certificates.X509Chain]::new()
    $chain.ChainPolicy.RevocationMode = [System.Security.Cryptography.X509Certificates.X509RevocationMode]::NoCheck
    $chain.ChainPolicy.VerificationFlags = [System.Security.Cryptography.X509Certificates.X509VerificationFlags]::AllowUnknownCertificateAuthority
    foreach ($certificate in @($anchors) + @($Extra)) {
        if ($null -ne $certificate) {
            $null = $chain.ChainPolicy.ExtraStore.Add($certificate)
        }
    }
    $null = $chain.Build($leaf)
    $thumbprints = @($anchors | ForEach-Object { $_.Thumbprint })
    $anchored = $false
    $elements = [System.Collections.Generic.List[byte[]]]::new()
    foreach ($element in $chain.ChainElements) {
        $elements.Add($element.Certificate.RawData)
        if ($thumbprints -contains $element.Certificate.Thumbprint) {
            $anchored = $true
        }
    }
    $problems = @($chain.ChainStatus | Where-Object {
            $_.Status -ne [System.Security.Cryptography.X509Certificates.X509ChainStatusFlags]::UntrustedRoot -and
            $_.Status -ne [System.Security.Cryptography.X509Certificates.X509ChainStatusFlags]::NoError
        })
    $expired = @($problems | Where-Object { $_.Status -eq [System.Security.Cryptography.X509Certificates.X509ChainStatusFlags]::NotTimeValid }).Count -gt 0
    $errorText = $null
    if (-not $anchored) {
        $errorText = 'unable to get local issuer certificate: no certificate of the chain is in {0}' -f $CaPath
    }
    elseif ($problems.Count -gt 0) {
        $errorText = (@($problems | ForEach-Object { $_.StatusInformation.Trim() }) -join '; ')
    }
    @{ ok = ($anchored -and $problems.Count -eq 0); expired = $expired; error = $errorText; chain = $elements.ToArray() }
}

function Invoke-WinProbeTlsHandshake {
    <#
    A TLS client handshake over Stream with SNI ServerName (none for an IP address), bounded by
    Deadline. Every certificate is accepted during the handshake so that it can be reported; the
    verdict is kept: against the Windows certificate store (CryptoAPI, as Windows software sees it),
    or against the PEM bundle CaPath. Returns @{ stream; version; cipher; bits; der; chain;
    verified; verify_error; verify_class }. TLS below 1.2 is refused, as on POSIX hosts.
    #>
    param([System.IO.Stream]$Stream, [string]$ServerName, [AllowNull()][string]$CaPath, [double]$Deadline)
    $state = @{ der = $null; chain = @(); errors = $null; status = @() }
    $callback = [System.Net.Security.RemoteCertificateValidationCallback] {
        param($sender, $certificate, $chain, $sslPolicyErrors)
        if ($null -ne $certificate) {
            $state.der = $certificate.GetRawCertData()
        }
        if ($null -ne $chain) {
            $state.chain = @($chain.ChainElements | ForEach-Object { , $_.Certificate.RawData })
            $state.status = @($chain.ChainStatus | ForEach-Object { @{ status = [string]$_.Status; text = $_.StatusInformation.Trim() } })
        }
        $state.errors = $sslPolicyErrors
        $true
    }.GetNewClosure()
    $left = Get-WinProbeRemaining -Deadline $Deadline -Detail 'no time left for the TLS handshake'
    $Stream.ReadTimeout = $left
    $Stream.WriteTimeout = $left
    $ssl = [System.Net.Security.SslStream]::new($Stream, $false, $callback)
    $literal = $null
    $sni = if ([System.Net.IPAddress]::TryParse($ServerName, [ref]$literal)) { $literal.ToString() } else { $ServerName }
    # PowerShell 7 (.NET): None lets Windows choose (TLS 1.3 where it has it); Windows PowerShell
    # (.NET Framework, where None needs 4.7 or newer) asks for TLS 1.2. Below 1.2 is refused below.
    $protocols = [System.Security.Authentication.SslProtocols]::Tls12
    if ($PSVersionTable.PSVersion.Major -ge 7) {
        $protocols = [System.Security.Authentication.SslProtocols]::None
    }
    try {
        $ssl.AuthenticateAsClient($sni, $null, $protocols, $false)
    }
    catch {
        $info = Get-WinProbeErrorInfo $_
        if ((Get-WinProbeClock) -ge $Deadline -or $info[0] -eq 'timeout') {
            New-WinProbeError -Class 'timeout' -Detail 'no TLS handshake before the timeout'
        }
        if ($info[0] -eq 'reset' -or $info[0] -eq 'protocol') {
            New-WinProbeError -Class 'tls_handshake' -Detail ('the server closed the connection during the TLS handshake ({0})' -f $info[1])
        }
        New-WinProbeError -Class $info[0] -Detail $info[1]
    }
    $versions = @{ 'Ssl2' = 'SSLv2'; 'Ssl3' = 'SSLv3'; 'Tls' = 'TLSv1'; 'Tls11' = 'TLSv1.1'; 'Tls12' = 'TLSv1.2'; 'Tls13' = 'TLSv1.3' }
    $protocol = [string]$ssl.SslProtocol
    $version = if ($versions.ContainsKey($protocol)) { $versions[$protocol] } else { $protocol }
    if (@('SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1') -contains $version) {
        $ssl.Dispose()
        New-WinProbeError -Class 'tls_handshake' -Detail ('the server negotiated {0}, below the minimum TLS 1.2' -f $version)
    }
    if ($ssl.PSObject.Properties['NegotiatedCipherSuite']) {
        $cipher = [string]$ssl.NegotiatedCipherSuite
    }
    else {
        # Windows PowerShell (.NET Framework) does not name the suite: key exchange, cipher and hash.
        $cipher = '{0}-{1}-{2}' -f $ssl.KeyExchangeAlgorithm, $ssl.CipherAlgorithm, $ssl.HashAlgorithm
    }
    $verified = $true
    $verifyError = $null
    $verifyClass = $null
    if ($null -eq $state.der) {
        $verified = $false
        $verifyError = 'the server presented no certificate'
        $verifyClass = 'cert_untrusted'
    }
    elseif ($CaPath) {
        $extra = @($state.chain | Select-Object -Skip 1 | ForEach-Object { [System.Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$_) })
        $check = Test-WinProbeChain -Der $state.der -Extra $extra -CaPath $CaPath
        if (-not $check.ok) {
            $verified = $false
            $verifyError = $check.error
            $verifyClass = if ($check.expired) { 'cert_expired' } else { 'cert_untrusted' }
        }
    }
    elseif (([int]$state.errors -band [int][System.Net.Security.SslPolicyErrors]::RemoteCertificateChainErrors) -ne 0) {
        $verified = $false
        $texts = @($state.status | Where-Object { $_.status -ne 'NoError' } | ForEach-Object { $_.text })
        $verifyError = if ($texts.Count) { $texts -join '; ' } else { 'the certificate chain does not verify' }
        $expired = @($state.status | Where-Object { $_.status -eq 'NotTimeValid' }).Count -gt 0
        $verifyClass = if ($expired) { 'cert_expired' } else { 'cert_untrusted' }
    }
    @{
        stream = $ssl
        version = $version
        cipher = $cipher
        bits = [int]$ssl.CipherStrength
        der = $state.der
        chain = @($state.chain)
        verified = $verified
        verify_error = $verifyError
        verify_class = $verifyClass
    }
}

# --- concurrency ----------------------------------------------------------------------------

function Invoke-WinProbeParallel {
    <#
    Run Worker once per item of Items in a pool of Concurrency runspaces, each with the functions
    named in Functions, until every run finished or DeadlineSeconds passed. Each item is a hashtable
    passed by reference, so a worker can note its progress in it (state.started, state.phase).
    Returns one entry per item: @{ done; output; error }; a run still going at the deadline is
    left to stop in the background (done = false). With BackstopSeconds, a run going on longer
    than its item's timeout plus BackstopSeconds is given up too (timed_out = true).
    #>
    param(
        [object[]]$Items,
        [string]$Worker,
        [string[]]$Functions,
        [int]$Concurrency,
        [double]$DeadlineSeconds,
        [double]$BackstopSeconds = -1
    )
    $started = Get-WinProbeClock
    $deadline = $started + $DeadlineSeconds
    $sessionState = [System.Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    # Select-Object, ConvertFrom-Json... without relying on autoloading inside the pool's runspaces.
    $sessionState.ImportPSModule([string[]]@('Microsoft.PowerShell.Utility'))
    foreach ($name in $Functions) {
        $definition = (Get-Command -Name $name -CommandType Function).ScriptBlock.ToString()
        $sessionState.Commands.Add([System.Management.Automation.Runspaces.SessionStateFunctionEntry]::new($name, $definition))
    }
    $pool = [RunspaceFactory]::CreateRunspacePool(1, [Math]::Max(1, $Concurrency), $sessionState, $Host)
    $pool.Open()
    $runs = for ($index = 0; $index -lt $Items.Count; $index++) {
        $shell = [PowerShell]::Create()
        $shell.RunspacePool = $pool
        $null = $shell.AddCommand($Worker).AddArgument($Items[$index])
        @{ shell = $shell; handle = $shell.BeginInvoke(); done = $false; output = $null; error = $null; timed_out = $false; item = $Items[$index] }
    }
    $runs = @($runs)
    while ($true) {
        $open = 0
        foreach ($run in $runs) {
            if ($run.done -or $run.timed_out) {
                continue
            }
            if ($run.handle.IsCompleted) {
                try {
                    $output = $run.shell.EndInvoke($run.handle)
                    $run.output = if ($output.Count -gt 0) { $output[$output.Count - 1] } else { $null }
                    if ($run.shell.Streams.Error.Count -gt 0 -and $null -eq $run.output) {
                        $run.error = [string]$run.shell.Streams.Error[0]
                    }
                }
                catch {
                    $run.error = [string]$_.Exception.Message
                }
                $run.done = $true
                $run.shell.Dispose()
                continue
            }
            if ($BackstopSeconds -ge 0 -and $run.item.state.started) {
                $limit = [double]$run.item.state.started + [double]$run.item.state.timeout + $BackstopSeconds
                if ((Get-WinProbeClock) -ge $limit) {
                    $run.timed_out = $true
                    $null = $run.shell.BeginStop($null, $null)
                    continue
                }
            }
            $open++
        }
        if ($open -eq 0 -or (Get-WinProbeClock) -ge $deadline) {
            break
        }
        Start-Sleep -Milliseconds 20
    }
    $unfinished = 0
    foreach ($run in $runs) {
        if (-not $run.done -and -not $run.timed_out) {
            $unfinished++
            $null = $run.shell.BeginStop($null, $null)
        }
    }
    if ($unfinished -eq 0) {
        $pool.Close()
        $pool.Dispose()
    }
    else {
        # Workers blocked in a socket call stop in the background; the module exits without them.
        $null = $pool.BeginClose($null, $null)
    }
    , @($runs | ForEach-Object { @{ done = $_.done; output = $_.output; error = $_.error; timed_out = $_.timed_out } })
}

function ConvertTo-WinProbePrintable {
    <# Text with non-printable characters replaced by '?', cut to Limit characters (_probe._printable). #>
    param([AllowNull()][string]$Text, [int]$Limit = 200)
    if ($null -eq $Text) {
        return ''
    }
    $builder = [Text.StringBuilder]::new()
    foreach ($char in $Text.ToCharArray()) {
        $category = [Globalization.CharUnicodeInfo]::GetUnicodeCategory($char)
        $hidden = @('Control', 'Format', 'Surrogate', 'PrivateUse', 'OtherNotAssigned', 'LineSeparator', 'ParagraphSeparator', 'SpaceSeparator') -contains [string]$category
        if ($hidden -and $char -ne ' ') {
            $null = $builder.Append('?')
        }
        else {
            $null = $builder.Append($char)
        }
    }
    $clean = $builder.ToString()
    $clean.Substring(0, [Math]::Min($Limit, $clean.Length))
}

Export-ModuleMember -Function @(
    'Get-WinProbeErrorClasses', 'Format-WinProbeMessage', 'Get-WinProbeClock', 'Get-WinProbeMilliseconds',
    'Get-WinProbeRemaining', 'New-WinProbeError', 'Get-WinProbeErrorInfo', 'ConvertTo-WinProbeRedacted',
    'Get-WinProbeEnvironmentProxy', 'Get-WinProbeWinHttpProxy', 'Test-WinProbeBypass', 'Test-WinProbeInNetwork',
    'Select-WinProbeProxy', 'Split-WinProbeProxyUrl', 'Resolve-WinProbeName', 'Connect-WinProbeTcp',
    'New-WinProbeReader', 'Read-WinProbeChunk', 'Read-WinProbeLine', 'Send-WinProbeLine',
    'Invoke-WinProbeConnectTunnel', 'Read-WinProbeDer', 'ConvertFrom-WinProbeOid', 'ConvertFrom-WinProbeDerString',
    'Get-WinProbeNameAttributes', 'Format-WinProbeName', 'Get-WinProbeCommonName', 'Get-WinProbeSubjectAltNames',
    'Get-WinProbeFingerprint', 'Format-WinProbeUtc', 'Get-WinProbeCertificateFacts', 'Test-WinProbeHostname',
    'Read-WinProbePemBundle', 'Test-WinProbeChain', 'Invoke-WinProbeTlsHandshake', 'Invoke-WinProbeParallel',
    'ConvertTo-WinProbePrintable'
)
