#!powershell

# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ..module_utils._WinProbe

# The PowerShell twin of url_reach.py (meta/runtime.yml routes Windows hosts here): HTTP/1.1 over _WinProbe.psm1's connections,
# timed per phase; it records the response and echoes expect, the judge decides. $spec and "# RETURN:" literals equal url_reach's.

$spec = @{
    options = @{
        urls = @{ type = 'list'; elements = 'dict'; required = $true; options = @{
                url = @{ type = 'str'; required = $true }; name = @{ type = 'str' }; method = @{ type = 'str'; choices = 'GET', 'HEAD', 'OPTIONS' }
                purpose = @{ type = 'str'; default = 'extra'
                    choices = 'token_endpoint', 'smtp_submission', 'imap', 'pop3', 'oidc_discovery', 'ece_external_url', 'extra'
                }
                expect = @{ type = 'dict'; options = @{ status = @{ type = 'list'; elements = 'int' }; assertions = @{ type = 'list'; elements = 'str' } } }
                headers = @{ type = 'dict' }; timeout = @{ type = 'float' }; follow_redirects = @{ type = 'bool' }; form = @{ type = 'dict'; no_log = $false }
            }
        }
        method = @{ type = 'str'; choices = 'GET', 'HEAD', 'OPTIONS'; default = 'GET' }; headers = @{ type = 'dict'; default = @{} }
        timeout = @{ type = 'float'; default = 10.0 }; deadline = @{ type = 'float'; default = 60.0 }; max_workers = @{ type = 'int'; default = 16 }
        follow_redirects = @{ type = 'bool'; default = $true }; max_redirects = @{ type = 'int'; default = 10 }
        validate_certs = @{ type = 'bool'; default = $true }; ca_path = @{ type = 'path' }; proxy = @{ type = 'str'; no_log = $false }
        no_proxy = @{ type = 'list'; elements = 'str' }; max_body_bytes = @{ type = 'int'; default = 1048576 }
        fail_on_error = @{ type = 'bool'; default = $false }; seal_key = @{ type = 'str'; no_log = $true }
    }
    supports_check_mode = $true
}

function New-UrlReachResult {
    param([hashtable]$Target)
    # RETURN: results[]
    $Result = [ordered]@{
        name = $Target.name; url = ConvertTo-WinProbeRedacted $Target.url; purpose = $Target.purpose; expect = $Target.expect; ok = $false
        error_class = $null; message = $null; status = $null; reason = $null; method = $Target.method; final_url = $null; redirects = @()
        proxy = $null; headers = [ordered]@{}; tls = $null; server_date = $null; server_time = $null; clock_skew_seconds = $null
        timings = [ordered]@{ total_ms = $null; tcp_ms = $null; proxy_tunnel_ms = $null; tls_ms = $null; first_byte_ms = $null }
        body_bytes = $null; body_truncated = $false; body_excerpt = $null; json = $null
    }
    $Result
}

function Read-UrlReachBody {
    <# The body (chunked, Content-Length or up to the close), at most Limit bytes: @(bytes, truncated). #>
    param([hashtable]$Reader, [Collections.IDictionary]$Headers, [int]$Limit)
    $body, $Reader.doing, $cut = [IO.MemoryStream]::new(), 'reading the body', 'the server closed the connection mid-body'
    $length = if ($Headers['content-length']) { [long]"$($Headers['content-length'])".Split(',')[0] } else { -1 }
    $chunked = "$($Headers['transfer-encoding'])" -match 'chunked'
    while ($body.Length + $Reader.buffer.Count -le $Limit -and ($chunked -or $length -lt 0 -or $Reader.buffer.Count -lt $length)) {
        if ($chunked) {
            $size = [Convert]::ToInt32((Read-WinProbeLine -Reader $Reader).Split(';')[0].Trim(), 16)
            if ($size -eq 0) { break }
            while ($Reader.buffer.Count -lt $size + 2) { if (-not (Read-WinProbeChunk -Reader $Reader)) { New-WinProbeError -Class 'reset' -Detail $cut } }
            $body.Write($Reader.buffer.GetRange(0, $size).ToArray(), 0, $size)
            $Reader.buffer.RemoveRange(0, $size + 2)
        }
        elseif ((Read-WinProbeChunk -Reader $Reader) -eq 0) {
            if ($length -ge 0) { New-WinProbeError -Class 'reset' -Detail $cut }
            break
        }
    }
    if (-not $chunked) { $body.Write($Reader.buffer.ToArray(), 0, $Reader.buffer.Count) }
    $truncated = $body.Length -gt $Limit -or ($length -gt $Limit)
    $body.SetLength([Math]::Min($body.Length, $Limit))
    @(, $body.ToArray()) + @($truncated)
}

function Invoke-UrlReachTarget {
    <# Request one URL (in a runspace of the pool), following redirects: a result, never an exception. #>
    param([hashtable]$Item)
    $ErrorActionPreference = 'Stop'
    $target, $started = $Item.target, (Get-WinProbeClock)
    $deadline = $started + $target.timeout
    $Result = New-UrlReachResult -Target $target
    $url, $method, $headers = $target.url, $target.method, $target.headers
    try {
        for ($hop = 0; ; $hop++) {
            $uri = [Uri]$url
            $proxy = Select-WinProbeProxy -TargetHost $uri.DnsSafeHost -Explicit $Item.proxy -NoProxy $Item.no_proxy -Scheme $uri.Scheme
            $Result.proxy = ConvertTo-WinProbeRedacted $proxy
            $Result.tls, $Result.status, $Result.final_url, $Result.timings.tls_ms = $null, $null, $null, $null
            $connection = Connect-WinProbe -TargetHost $uri.DnsSafeHost -Port $uri.Port -ProxyUrl $proxy -Deadline $deadline
            $times = $connection.timings
            $Result.timings.tcp_ms, $Result.timings.proxy_tunnel_ms = ($times.dns_ms + $times.connect_ms), $times.proxy_ms
            $stream = $connection.stream
            if ($uri.Scheme -eq 'https') {
                $begun = Get-WinProbeClock
                $tls = Invoke-WinProbeTls -Stream $stream -ServerName $uri.DnsSafeHost -CaPath $Item.ca_path -Deadline $deadline
                $Result.timings.tls_ms = Get-WinProbeElapsed -Since $begun
                $stream = $tls.stream
                $facts = if ($tls.der) { Get-WinProbeCertificate -Der $tls.der -Hostname $uri.DnsSafeHost } else { $null, $null }
                $chain = foreach ($der in $tls.chain) {
                    $x509 = [Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$der)
                    # RETURN: results[].tls.chain[]
                    $Link = [ordered]@{ subject = (Get-WinProbeName $x509.SubjectName)[0]; issuer = (Get-WinProbeName $x509.IssuerName)[0]
                        sha256_fingerprint = Get-WinProbeFingerprint -Der $der
                    }
                    $Link
                }
                # RETURN: results[].tls
                $Tls = [ordered]@{ version = $tls.version; cipher = $tls.cipher; source = 'connection'; hostname_matches = $facts[1]
                    verified = $(if ($target.verify) { -not $tls.problem -and $facts[1] }); certificate = $facts[0]; chain = @($chain); error = $null
                }
                $Result.tls = $Tls
                if ($target.verify -and -not $Tls.verified) {
                    # The handshake completed only to look at the certificate: the request is not sent.
                    $Tls.source = 'observation'
                    $problem = if ($tls.problem) { $tls.problem } else { 'cert_hostname', ("the certificate is not valid for '{0}'" -f $uri.DnsSafeHost) }
                    New-WinProbeError -Class $problem[0] -Detail $problem[1]
                }
            }
            $reader = New-WinProbeReader -Stream $stream -Deadline $deadline -Doing 'waiting for the response'
            $request = "$method $($uri.PathAndQuery) HTTP/1.1`r`nHost: $($uri.Authority)`r`nUser-Agent: ece_o365.preflight-win_url_reach`r`nAccept: */*"
            if ($uri.UserInfo) {
                $request += "`r`nAuthorization: Basic " + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes([Uri]::UnescapeDataString($uri.UserInfo)))
            }
            foreach ($name in @($headers.Keys)) { $request += "`r`n{0}: {1}" -f $name, $headers[$name] }
            # A token request (url_reach.py's form): the fields URL-encoded, after the blank line.
            $form = @(foreach ($name in @($target.form.Keys)) { [Uri]::EscapeDataString($name) + '=' + [Uri]::EscapeDataString([string]$target.form[$name]) }) -join '&'
            if ($target.form) { $request += "`r`nContent-Type: application/x-www-form-urlencoded`r`nContent-Length: $([Text.Encoding]::UTF8.GetByteCount($form))" }
            $sentAt, $sent = [DateTime]::UtcNow, (Get-WinProbeClock)
            $lines = Invoke-WinProbeExchange -Reader $reader -Text ($request + "`r`nConnection: close`r`n" + $(if ($target.form) { "`r`n" + $form })) -Until '^$'
            while ($lines[0] -match '^HTTP/\S+ 1(?!01)\d\d') { $lines = Invoke-WinProbeExchange -Reader $reader -Text $null -Until '^$' }
            $received = Get-WinProbeClock
            if ($lines[0] -notmatch '^HTTP/\d(?:\.\d)? (\d{3})(?: (.*))?$') {
                New-WinProbeError -Class 'protocol' -Detail ("not an HTTP answer: '{0}'" -f (ConvertTo-WinProbePrintable $lines[0] 80))
            }
            $Result.status, $Result.reason, $Result.final_url = [int]$Matches[1], "$($Matches[2])", (ConvertTo-WinProbeRedacted $url)
            $Result.headers = [ordered]@{}
            foreach ($line in ($lines | Select-Object -Skip 1 | Where-Object { $_ -match '^([^:]+):\s*(.*?)\s*$' })) {
                $null = $line -match '^([^:]+):\s*(.*?)\s*$'
                $key, $value = $Matches[1].Trim().ToLowerInvariant(), $(if ($Matches[1] -match $Item.secret) { '********' } else { $Matches[2] })
                $Result.headers[$key] = if ($Result.headers.Contains($key)) { '{0}, {1}' -f $Result.headers[$key], $value } else { $value }
            }
            $Result.timings.first_byte_ms = [Math]::Round(($received - $sent) * 1000, 1)
            $Result.server_date, $location = $Result.headers['date'], $Result.headers['location']
            $redirect = $target.follow_redirects -and $location -and $Result.status -in 301, 302, 303, 307, 308
            if ($hop -ge $Item.max_redirects -or -not $redirect) { break }
            $connection.client.Close()
            $next = [Uri]::new($uri, $location)
            # RETURN: results[].redirects[]
            $Hop = [ordered]@{ status = $Result.status; url = ConvertTo-WinProbeRedacted $next.AbsoluteUri }
            $Result.redirects += $Hop
            if ($next.Host -ne $uri.Host) {
                # As requests does: credentials stay with their host.
                $headers = [ordered]@{}
                foreach ($name in @($target.headers.Keys -notmatch $Item.secret)) { $headers[$name] = $target.headers[$name] }
            }
            if ($Result.status -eq 303 -and $method -ne 'HEAD') { $method = 'GET' }
            $url = $next.AbsoluteUri
        }
        $parsed, $styles = [DateTime]::MinValue, [Globalization.DateTimeStyles]'AdjustToUniversal, AssumeUniversal'
        if ($Result.server_date -and [DateTime]::TryParseExact($Result.server_date, 'r', [cultureinfo]::InvariantCulture, $styles, [ref]$parsed)) {
            $Result.server_time = $parsed.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [cultureinfo]::InvariantCulture)
            # This host's clock at the middle of the request, minus the middle of the server's whole second.
            $Result.clock_skew_seconds = [Math]::Round(($sentAt.AddSeconds(($received - $sent) / 2) - $parsed).TotalSeconds - 0.5, 1)
        }
        if ($method -ne 'HEAD' -and $Result.status -notin 204, 304) {
            $body, $Result.body_truncated = Read-UrlReachBody -Reader $reader -Headers $Result.headers -Limit $Item.max_body_bytes
            $text = [Text.Encoding]::UTF8.GetString($body).TrimStart([char]0xFEFF)
            $Result.body_bytes, $Result.body_excerpt = $body.Length, $(if ($text) { $text.Substring(0, [Math]::Min(300, $text.Length)) })
            $type = "$($Result.headers['content-type'])".Split(';')[0].Trim().ToLowerInvariant()
            if ($text.Trim() -and -not $Result.body_truncated -and ($type -match 'json' -or $type -in '', 'text/plain', 'application/octet-stream')) {
                try { $Result.json = ConvertFrom-Json -InputObject $text }
                catch { $Result.json = $null }
                if ($null -ne $Result.json -and $text.TrimStart().StartsWith('[')) { $Result.json = @($Result.json) }
            }
            # A token endpoint's answer (url_reach.py's form): no excerpt, no refresh or ID token, the access token only sealed (_seal.py).
            if ($target.form) {
                $Result.body_excerpt, $token = $null, $(if ($Result.json) { $Result.json.access_token })
                foreach ($key in 'refresh_token', 'id_token', 'access_token') { if ($Result.json) { $Result.json.PSObject.Properties.Remove($key) } }
                if ($token -and $Item.seal_key) {
                    $nonce, $plain = [byte[]]::new(16), [Text.Encoding]::UTF8.GetBytes([string]$token)
                    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($nonce)
                    $hmac = [Security.Cryptography.HMACSHA256]::new([Text.Encoding]::UTF8.GetBytes($Item.seal_key))
                    $sealed = for ($i = 0; $i -lt $plain.Length; $i++) {
                        if ($i % 32 -eq 0) { $n = [BitConverter]::GetBytes([uint32][Math]::Floor($i / 32)); [Array]::Reverse($n); $block = $hmac.ComputeHash([byte[]]($nonce + $n)) }
                        $plain[$i] -bxor $block[$i % 32]
                    }
                    $Result.json | Add-Member -NotePropertyName access_token_sealed -NotePropertyValue ([Convert]::ToBase64String([byte[]]($nonce + [byte[]]$sealed)))
                }
            }
        }
        $Result.ok = $true
    }
    catch {
        $Result.error_class, $detail = Get-WinProbeErrorInfo $_
        $Result.message = Format-WinProbeMessage -Class $Result.error_class -Where (ConvertTo-WinProbeRedacted $target.url) -Detail $detail
    }
    if ($connection.client) { $connection.client.Close() }
    $Result.timings.total_ms = Get-WinProbeElapsed -Since $started
    $Result
}

function Hide-UrlReachSecret {
    <# Value with every secret (a secret-looking request header's value, a URL's password) replaced by ********. #>
    param([object]$Value, [string[]]$Secret)
    $json = ConvertTo-Json -InputObject $Value -Depth 30 -Compress
    foreach ($item in $Secret) { $json = $json.Replace((ConvertTo-Json -InputObject $item).Trim('"'), '********') }
    , (ConvertFrom-Json -InputObject ($json -replace '(?<=://[^/?#@:"]*:)[^/?#"]*(?=@)', '********'))
}

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$params, $started = $module.Params, (Get-WinProbeClock)
$secret = '^(proxy-)?authorization$|auth|token|secret|password|passwd|api-?key|session|cookie'
$caPath = @($params.ca_path, $env:REQUESTS_CA_BUNDLE, $env:CURL_CA_BUNDLE | Where-Object { $_ })[0]
$sources = @($params.headers) + @($params.urls | ForEach-Object { $_.headers; $_.form }) | Where-Object { $_ }
$secrets = @(@($sources | ForEach-Object { $source = $_; @($source.Keys) -match $secret | ForEach-Object { [string]$source[$_] } }) + $params.seal_key) -match '^.{4,}$'
$items = @(foreach ($entry in $params.urls) {
        $headers, $expect, $given = [ordered]@{}, $null, $entry.expect
        foreach ($source in @($params.headers, $entry.headers | Where-Object { $_ })) {
            foreach ($name in @($source.Keys)) { $headers[$name] = [string]$source[$name] }
        }
        if ($given) { $expect = [ordered]@{}; $given.Keys | Where-Object { $null -ne $given[$_] } | ForEach-Object { $expect[$_] = @($given[$_]) } }
        $target = @{ url = $entry.url; purpose = $entry.purpose; expect = $expect; headers = $headers; verify = $params.validate_certs
            name = $(if ($entry.name) { $entry.name } else { ConvertTo-WinProbeRedacted $entry.url })
            method = $(if ($entry.form) { 'POST' } elseif ($entry.method) { $entry.method } else { $params.method }); form = $entry.form
            timeout = $(if ($entry.timeout) { $entry.timeout } else { $params.timeout })
            follow_redirects = $(if ($entry.form) { $false } elseif ($null -ne $entry.follow_redirects) { $entry.follow_redirects } else { $params.follow_redirects })
        }
        @{ target = $target; proxy = $params.proxy; no_proxy = $params.no_proxy; ca_path = $(if ($params.validate_certs) { $caPath }); secret = $secret
            max_redirects = $params.max_redirects; max_body_bytes = $params.max_body_bytes; seal_key = $params.seal_key
        }
    })
$runs = Invoke-WinProbeParallel -Items $items -Worker 'Invoke-UrlReachTarget' -Concurrency $params.max_workers -DeadlineSeconds $params.deadline
$results = @(for ($index = 0; $index -lt $items.Count; $index++) {
        if ($null -ne $runs[$index].output) { $runs[$index].output; continue }
        $Result = New-UrlReachResult -Target $items[$index].target
        $Result.error_class, $detail = 'deadline', ('the deadline of {0} s passed' -f $params.deadline)
        if ($runs[$index].done) { $Result.error_class, $detail = 'protocol', ('the request stopped: {0}' -f $runs[$index].error) }
        $Result.message = Format-WinProbeMessage -Class $Result.error_class -Where $Result.url -Detail $detail
        $Result
    })
$failed = @($results | Where-Object { $_.error_class })
$byClass = [ordered]@{}
foreach ($Result in $failed) { $byClass[$Result.error_class] = 1 + [int]$byClass[$Result.error_class] }
# RETURN: summary
$Summary = [ordered]@{ total = $results.Count; ok = $results.Count - $failed.Count; errors = $failed.Count; by_class = $byClass
    elapsed_ms = Get-WinProbeElapsed -Since $started; deadline_reached = @($runs | Where-Object { -not $_.done }).Count -gt 0
}
$module.Result.invocation = @{ module_args = Hide-UrlReachSecret -Value $params -Secret $secrets }
$module.Result.results = @(Hide-UrlReachSecret -Value $results -Secret $secrets)
$module.Result.summary = $Summary
if ($params.fail_on_error -and $failed.Count) {
    $messages = @($module.Result.results | Where-Object { $_.error_class } | ForEach-Object { $_.message })
    $module.FailJson(('{0} of {1} URLs failed: {2}' -f $failed.Count, $results.Count, ($messages -join ' | ')))
}
$module.ExitJson()
