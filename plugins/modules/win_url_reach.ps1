#!powershell

# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

#AnsibleRequires -CSharpUtil Ansible.Basic
#AnsibleRequires -PowerShell ..module_utils._WinProbe

# The PowerShell twin of url_reach.py for Windows hosts: the same options, the same result
# (plugins/module_utils/_http.py is the reference). HTTP/1.1 is spoken directly over the
# sockets of _WinProbe.psm1, so that every phase is timed and the certificate of the very
# connection the request used is reported, as the Python twin does.
# meta/runtime.yml routes ece_o365.preflight.url_reach here on hosts whose shell is PowerShell.
# Contract (tests/unit/windows/test_contract.py): $spec equals url_reach's argument spec; the
# literals marked "# RETURN: <path>" and the variables holding them build exactly the keys of
# url_reach's RETURN.

$spec = @{
    options = @{
        urls = @{
            type = 'list'
            elements = 'dict'
            required = $true
            options = @{
                url = @{ type = 'str'; required = $true }
                name = @{ type = 'str' }
                method = @{ type = 'str'; choices = 'GET', 'HEAD', 'OPTIONS' }
                status_code = @{ type = 'list'; elements = 'int' }
                headers = @{ type = 'dict' }
                timeout = @{ type = 'float' }
                follow_redirects = @{ type = 'bool' }
                assertions = @{ type = 'list'; elements = 'raw' }
                expected_issuers = @{ type = 'list'; elements = 'str' }
                expected_ca_certs = @{ type = 'list'; elements = 'str' }
            }
        }
        method = @{ type = 'str'; choices = 'GET', 'HEAD', 'OPTIONS'; default = 'GET' }
        status_code = @{ type = 'list'; elements = 'int'; default = @(200) }
        headers = @{ type = 'dict'; default = @{} }
        timeout = @{ type = 'float'; default = 10.0 }
        deadline = @{ type = 'float'; default = 60.0 }
        max_workers = @{ type = 'int'; default = 16 }
        follow_redirects = @{ type = 'bool'; default = $true }
        max_redirects = @{ type = 'int'; default = 10 }
        validate_certs = @{ type = 'bool'; default = $true }
        ca_path = @{ type = 'path' }
        proxy = @{ type = 'str' }
        no_proxy = @{ type = 'list'; elements = 'str' }
        expected_issuers = @{ type = 'list'; elements = 'str'; default = @() }
        expected_ca_certs = @{ type = 'list'; elements = 'str'; default = @() }
        max_body_bytes = @{ type = 'int'; default = 1048576 }
        fail_on_error = @{ type = 'bool'; default = $false }
    }
    supports_check_mode = $true
}

# --- arguments (_http.normalise) -------------------------------------------------------------

function New-UrlReachArgumentError {
    param([string]$Message)
    $exception = [System.ArgumentException]::new($Message)
    $exception.Data['UrlReachArgument'] = $true
    throw $exception
}

function Test-UrlReachSecretHeader {
    param([string]$Name)
    $lower = $Name.ToLowerInvariant()
    (@('authorization', 'proxy-authorization', 'cookie', 'set-cookie') -contains $lower) -or
    ($lower -match 'auth|token|secret|password|passwd|api-?key|session|cookie')
}

function ConvertTo-UrlReachNumber {
    param([object]$Value, [string]$Where, [double]$Minimum, [double]$Maximum)
    if ($Value -is [bool] -or $null -eq $Value) {
        New-UrlReachArgumentError ('{0}: must be a number, not {1}' -f $Where, $Value)
    }
    $number = 0.0
    if (-not [double]::TryParse([string]$Value, [Globalization.NumberStyles]::Float, [Globalization.CultureInfo]::InvariantCulture, [ref]$number)) {
        New-UrlReachArgumentError ('{0}: must be a number, not {1}' -f $Where, $Value)
    }
    if ([double]::IsNaN($number) -or $number -lt $Minimum -or $number -gt $Maximum) {
        New-UrlReachArgumentError ('{0}: must be between {1} and {2}, not {3}' -f $Where, $Minimum, $Maximum, $Value)
    }
    $number
}

function ConvertTo-UrlReachHeaders {
    param([AllowNull()][object]$Value, [string]$Where)
    $headers = [ordered]@{}
    if ($null -eq $Value) {
        return $headers
    }
    if ($Value -isnot [System.Collections.IDictionary]) {
        New-UrlReachArgumentError ('{0}: must be a dictionary of header names and values' -f $Where)
    }
    foreach ($name in $Value.Keys) {
        if ([string]$name -notmatch "^[!#$%&'*+.^_``|~0-9A-Za-z-]+$") {
            New-UrlReachArgumentError ("{0}: '{1}' is not a valid HTTP header name" -f $Where, $name)
        }
        $content = $Value[$name]
        if ($null -eq $content) {
            $content = ''
        }
        if ($content -is [bool] -or $content -is [System.Collections.IDictionary] -or $content -is [System.Collections.IList]) {
            New-UrlReachArgumentError ('{0}.{1}: the value must be a string' -f $Where, $name)
        }
        $content = [string]$content
        if ($content.IndexOfAny([char[]]@("`r", "`n", [char]0)) -ge 0) {
            New-UrlReachArgumentError ('{0}.{1}: the value must not contain line breaks or NUL' -f $Where, $name)
        }
        $headers[[string]$name] = $content
    }
    $headers
}

function Merge-UrlReachHeaders {
    param([System.Collections.IDictionary]$Base, [System.Collections.IDictionary]$Override)
    $merged = [ordered]@{}
    foreach ($name in $Base.Keys) {
        $merged[$name] = $Base[$name]
    }
    foreach ($name in $Override.Keys) {
        foreach ($existing in @($merged.Keys | Where-Object { $_ -eq $name })) {
            $merged.Remove($existing)
        }
        $merged[$name] = $Override[$name]
    }
    $merged
}

function ConvertTo-UrlReachStatusCodes {
    param([object]$Value, [string]$Where)
    if ($Value -isnot [System.Collections.IList] -or $Value.Count -eq 0) {
        New-UrlReachArgumentError ('{0}: must be a non-empty list of HTTP status codes' -f $Where)
    }
    $codes = for ($i = 0; $i -lt $Value.Count; $i++) {
        [int](ConvertTo-UrlReachNumber -Value $Value[$i] -Where ('{0}[{1}]' -f $Where, $i) -Minimum 100 -Maximum 599)
    }
    , @($codes)
}

function ConvertTo-UrlReachMethod {
    param([object]$Value, [string]$Where)
    $method = ([string]$Value).ToUpperInvariant()
    if (@('GET', 'HEAD', 'OPTIONS') -notcontains $method) {
        New-UrlReachArgumentError ("{0}: '{1}' is not allowed: url_reach only reads, with GET, HEAD, OPTIONS" -f $Where, $Value)
    }
    $method
}

function Split-UrlReachUrl {
    <# @{ url; scheme; host; port; target (path and query); userinfo } of an http(s) URL, or an argument error. #>
    param([object]$Value, [string]$Where)
    if ($Value -isnot [string] -or -not $Value.Trim()) {
        New-UrlReachArgumentError ('{0}: must be an http:// or https:// URL' -f $Where)
    }
    $url = $Value.Trim()
    if ($url.IndexOfAny([char[]]@("`r", "`n", [char]0, ' ', "`t")) -ge 0) {
        New-UrlReachArgumentError ("{0}: '{1}' contains white space or control characters" -f $Where, (ConvertTo-WinProbeRedacted $url))
    }
    if ($url -notmatch '^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:(?<userinfo>[^@/?#]*)@)?(?<host>\[[^\]]*\]|[^:/?#]*)(?::(?<port>[^/?#]*))?(?<rest>[/?#].*)?$') {
        New-UrlReachArgumentError ("{0}: '{1}' is not an http:// or https:// URL with a host" -f $Where, (ConvertTo-WinProbeRedacted $url))
    }
    $scheme = $Matches['scheme'].ToLowerInvariant()
    $hostName = $Matches['host'].Trim('[', ']').ToLowerInvariant()
    if (@('http', 'https') -notcontains $scheme -or -not $hostName) {
        New-UrlReachArgumentError ("{0}: '{1}' is not an http:// or https:// URL with a host" -f $Where, (ConvertTo-WinProbeRedacted $url))
    }
    $port = if ($scheme -eq 'https') { 443 } else { 80 }
    if ($Matches.ContainsKey('port') -and $Matches['port']) {
        $parsed = 0
        if (-not [int]::TryParse($Matches['port'], [ref]$parsed) -or $parsed -lt 0 -or $parsed -gt 65535) {
            New-UrlReachArgumentError ("{0}: '{1}' is not a valid URL (Port out of range 0-65535)" -f $Where, (ConvertTo-WinProbeRedacted $url))
        }
        $port = $parsed
    }
    $rest = if ($Matches.ContainsKey('rest')) { $Matches['rest'] } else { '' }
    $target = ($rest -split '#', 2)[0]
    if (-not $target -or -not $target.StartsWith('/')) {
        $target = '/' + $target
    }
    $userinfo = if ($Matches.ContainsKey('userinfo')) { $Matches['userinfo'] } else { $null }
    @{ url = $url; scheme = $scheme; host = $hostName; port = $port; target = $target; userinfo = $userinfo; host_header = $Matches['host'] + $(if ($Matches.ContainsKey('port') -and $Matches['port']) { ':' + $Matches['port'] } else { '' }) }
}

function ConvertTo-UrlReachIssuers {
    <# Patterns from expected_issuers: @{ kind = cn|dn; value; text } (_http.parse_issuer_pattern). #>
    param([AllowNull()][object]$Value, [string]$Where)
    $oids = @{
        'cn' = '2.5.4.3'; 'commonname' = '2.5.4.3'; 'o' = '2.5.4.10'; 'organizationname' = '2.5.4.10'
        'ou' = '2.5.4.11'; 'organizationalunitname' = '2.5.4.11'; 'c' = '2.5.4.6'; 'countryname' = '2.5.4.6'
        'l' = '2.5.4.7'; 'localityname' = '2.5.4.7'; 'st' = '2.5.4.8'; 's' = '2.5.4.8'; 'stateorprovincename' = '2.5.4.8'
        'street' = '2.5.4.9'; 'streetaddress' = '2.5.4.9'; 'serialnumber' = '2.5.4.5'
        'dc' = '0.9.2342.19200300.100.1.25'; 'domaincomponent' = '0.9.2342.19200300.100.1.25'
        'uid' = '0.9.2342.19200300.100.1.1'; 'userid' = '0.9.2342.19200300.100.1.1'
        'emailaddress' = '1.2.840.113549.1.9.1'; 'e' = '1.2.840.113549.1.9.1'
    }
    $patterns = [System.Collections.Generic.List[object]]::new()
    if ($null -eq $Value) {
        return , $patterns.ToArray()
    }
    for ($i = 0; $i -lt $Value.Count; $i++) {
        $text = [string]$Value[$i]
        $itemWhere = '{0}[{1}]' -f $Where, $i
        if (-not $text.Trim()) {
            New-UrlReachArgumentError ('{0}: must be a non-empty issuer name (a CN, or a DN like "O=DigiCert Inc")' -f $itemWhere)
        }
        $text = $text.Trim()
        $parts = @([regex]::Split($text, '(?<!\\)[,;](?=[^=]*=)') | ForEach-Object { $_.Trim() } | Where-Object { $_ })
        if ($parts.Count -eq 1 -and -not $parts[0].Contains('=')) {
            $patterns.Add(@{ kind = 'cn'; value = $text; text = $text })
            continue
        }
        $attributes = foreach ($part in $parts) {
            $key, $content = $part.Split('=', 2)
            $key = $key.Trim().ToLowerInvariant()
            if ($null -eq $content -or -not $key -or -not $content.Trim()) {
                New-UrlReachArgumentError ("{0}: '{1}' is neither a name nor a distinguished name of KEY=VALUE parts" -f $itemWhere, $text)
            }
            if ($key -match '^\d+(\.\d+)+$') {
                $oid = $key
            }
            elseif ($oids.ContainsKey($key)) {
                $oid = $oids[$key]
            }
            else {
                New-UrlReachArgumentError ("{0}: unknown attribute '{1}' in '{2}' (use CN, O, OU, C, L, ST, DC or a dotted OID)" -f $itemWhere, $key, $text)
            }
            , @($oid, $content.Trim().Replace('\,', ','))
        }
        $patterns.Add(@{ kind = 'dn'; value = @($attributes); text = $text })
    }
    , $patterns.ToArray()
}

function ConvertTo-UrlReachCaCerts {
    <# Expected CA certificates: @{ kind = fingerprint|pem; value; label } (_http._ca_certs). #>
    param([AllowNull()][object]$Value, [string]$Where)
    $expected = [System.Collections.Generic.List[object]]::new()
    if ($null -eq $Value) {
        return , $expected.ToArray()
    }
    for ($i = 0; $i -lt $Value.Count; $i++) {
        $item = ([string]$Value[$i]).Trim()
        $itemWhere = '{0}[{1}]' -f $Where, $i
        if (-not $item) {
            New-UrlReachArgumentError ('{0}: must be a SHA-256 fingerprint or a PEM certificate' -f $itemWhere)
        }
        if ($item -match '^(?:[0-9A-Fa-f]{2}[: ]?){31}[0-9A-Fa-f]{2}$') {
            $expected.Add(@{ kind = 'fingerprint'; value = ($item -replace '[: ]', '').ToUpperInvariant(); label = $item })
            continue
        }
        $blocks = [regex]::Matches($item, '-----BEGIN CERTIFICATE-----(?<body>[A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----')
        if ($blocks.Count -eq 0) {
            New-UrlReachArgumentError ("{0}: neither a SHA-256 fingerprint (64 hex digits) nor a PEM certificate: '{1}'" -f $itemWhere, $item.Substring(0, [Math]::Min(60, $item.Length)))
        }
        foreach ($block in $blocks) {
            try {
                $der = [Convert]::FromBase64String(($block.Groups['body'].Value -replace '\s', ''))
                $null = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($der)
            }
            catch {
                New-UrlReachArgumentError ('{0}: the PEM certificate does not parse ({1})' -f $itemWhere, $_.Exception.Message)
            }
            $expected.Add(@{ kind = 'pem'; value = $der; label = ('CA {0}' -f (Get-WinProbeFingerprint -Der $der)) })
        }
    }
    , $expected.ToArray()
}

# --- a JMESPath subset for assertions ----------------------------------------------------------
# Identifiers and "quoted" identifiers, a.b sub-expressions, [n] indexes, [*] and [?filter]
# projections, 'raw strings', `JSON literals`, == != < <= > >=, && || !, parentheses, @, and the
# functions contains, starts_with, ends_with, length, to_string, type, not_null. Any other syntax
# fails the task before a request is sent, naming the item, as a bad expression does in url_reach.

function ConvertFrom-UrlReachJson {
    <#
    JSON text as dictionaries and lists: PowerShell 7 parses with ConvertFrom-Json -AsHashtable
    (Ansible.Basic's FromJson gives Newtonsoft objects there); Windows PowerShell with FromJson
    (JavaScriptSerializer: Dictionary and object arrays).
    #>
    param([string]$Json)
    if ($PSVersionTable.PSVersion.Major -ge 7) {
        return , (ConvertFrom-Json -InputObject $Json -AsHashtable -NoEnumerate)
    }
    , [Ansible.Basic.AnsibleModule]::FromJson($Json)
}

function Get-UrlReachTokens {
    param([string]$Text)
    $tokens = [System.Collections.Generic.List[object]]::new()
    $i = 0
    while ($i -lt $Text.Length) {
        $c = $Text[$i]
        if ([char]::IsWhiteSpace($c)) {
            $i++
            continue
        }
        $two = if ($i + 1 -lt $Text.Length) { $Text.Substring($i, 2) } else { '' }
        if (@('==', '!=', '<=', '>=', '&&', '||') -contains $two) {
            $tokens.Add(@{ type = 'op'; value = $two })
            $i += 2
            continue
        }
        if ($two -eq '[?') {
            $tokens.Add(@{ type = 'filter'; value = '[?' })
            $i += 2
            continue
        }
        if ('.[]()<>!,@*'.IndexOf($c) -ge 0) {
            $tokens.Add(@{ type = 'op'; value = [string]$c })
            $i++
            continue
        }
        if ($c -eq "'" -or $c -eq '"' -or $c -eq '`') {
            $end = $i + 1
            $builder = [Text.StringBuilder]::new()
            while ($end -lt $Text.Length -and $Text[$end] -ne $c) {
                if ($Text[$end] -eq '\' -and $end + 1 -lt $Text.Length) {
                    $end++
                }
                $null = $builder.Append($Text[$end])
                $end++
            }
            if ($end -ge $Text.Length) {
                throw ('unterminated {0} at column {1}' -f $c, $i)
            }
            $kind = 'json'
            if ($c -eq "'") {
                $kind = 'raw'
            }
            elseif ($c -eq '"') {
                $kind = 'name'
            }
            $tokens.Add(@{ type = $kind; value = $builder.ToString() })
            $i = $end + 1
            continue
        }
        if ($c -match '[A-Za-z_]') {
            $end = $i
            while ($end -lt $Text.Length -and $Text[$end] -match '[A-Za-z0-9_]') {
                $end++
            }
            $tokens.Add(@{ type = 'name'; value = $Text.Substring($i, $end - $i) })
            $i = $end
            continue
        }
        if ($c -match '[-0-9]') {
            $end = $i + 1
            while ($end -lt $Text.Length -and $Text[$end] -match '[0-9]') {
                $end++
            }
            $tokens.Add(@{ type = 'number'; value = [int]$Text.Substring($i, $end - $i) })
            $i = $end
            continue
        }
        throw ("unexpected '{0}' at column {1} (the Windows twin supports a JMESPath subset)" -f $c, $i)
    }
    $tokens.Add(@{ type = 'end'; value = $null })
    , $tokens.ToArray()
}

function ConvertFrom-UrlReachQuery {
    <# A JMESPath (subset) expression as a tree of hashtables; throws with the reason when unsupported. #>
    param([string]$Text)
    $parser = @{ tokens = (Get-UrlReachTokens -Text $Text); position = 0 }
    $tree = Read-UrlReachOr -Parser $parser
    if ($parser.tokens[$parser.position].type -ne 'end') {
        throw ("unexpected '{0}' (the Windows twin supports a JMESPath subset)" -f $parser.tokens[$parser.position].value)
    }
    $tree
}

function Get-UrlReachToken {
    param([hashtable]$Parser)
    $Parser.tokens[$Parser.position]
}

function Test-UrlReachToken {
    param([hashtable]$Parser, [string]$Value)
    $token = $Parser.tokens[$Parser.position]
    ($token.type -eq 'op' -or $token.type -eq 'filter') -and $token.value -eq $Value
}

function Skip-UrlReachToken {
    param([hashtable]$Parser, [string]$Value)
    if (-not (Test-UrlReachToken -Parser $Parser -Value $Value)) {
        throw ("expected '{0}'" -f $Value)
    }
    $Parser.position++
}

function Read-UrlReachOr {
    param([hashtable]$Parser)
    $left = Read-UrlReachAnd -Parser $Parser
    while (Test-UrlReachToken -Parser $Parser -Value '||') {
        $Parser.position++
        $left = @{ kind = 'or'; left = $left; right = (Read-UrlReachAnd -Parser $Parser) }
    }
    $left
}

function Read-UrlReachAnd {
    param([hashtable]$Parser)
    $left = Read-UrlReachNot -Parser $Parser
    while (Test-UrlReachToken -Parser $Parser -Value '&&') {
        $Parser.position++
        $left = @{ kind = 'and'; left = $left; right = (Read-UrlReachNot -Parser $Parser) }
    }
    $left
}

function Read-UrlReachNot {
    param([hashtable]$Parser)
    if (Test-UrlReachToken -Parser $Parser -Value '!') {
        $Parser.position++
        return @{ kind = 'not'; child = (Read-UrlReachNot -Parser $Parser) }
    }
    $left = Read-UrlReachPath -Parser $Parser
    $token = Get-UrlReachToken -Parser $Parser
    if ($token.type -eq 'op' -and @('==', '!=', '<', '<=', '>', '>=') -contains $token.value) {
        $Parser.position++
        return @{ kind = 'compare'; op = $token.value; left = $left; right = (Read-UrlReachPath -Parser $Parser) }
    }
    $left
}

function Read-UrlReachPath {
    <# A primary followed by .name, [n], [*] and [?filter] steps. #>
    param([hashtable]$Parser)
    $node = Read-UrlReachPrimary -Parser $Parser
    while ($true) {
        if (Test-UrlReachToken -Parser $Parser -Value '.') {
            $Parser.position++
            $token = Get-UrlReachToken -Parser $Parser
            if ($token.type -ne 'name') {
                throw 'expected a name after "."'
            }
            $Parser.position++
            $node = @{ kind = 'field'; base = $node; name = $token.value }
        }
        elseif (Test-UrlReachToken -Parser $Parser -Value '[') {
            $Parser.position++
            $token = Get-UrlReachToken -Parser $Parser
            if ($token.type -eq 'number') {
                $Parser.position++
                Skip-UrlReachToken -Parser $Parser -Value ']'
                $node = @{ kind = 'index'; base = $node; index = $token.value }
            }
            elseif (Test-UrlReachToken -Parser $Parser -Value '*') {
                $Parser.position++
                Skip-UrlReachToken -Parser $Parser -Value ']'
                $node = @{ kind = 'project'; base = $node; condition = $null; rest = (Read-UrlReachProjection -Parser $Parser) }
            }
            else {
                throw 'only [n], [*] and [?...] are supported'
            }
        }
        elseif (Test-UrlReachToken -Parser $Parser -Value '[?') {
            $Parser.position++
            $condition = Read-UrlReachOr -Parser $Parser
            Skip-UrlReachToken -Parser $Parser -Value ']'
            $node = @{ kind = 'project'; base = $node; condition = $condition; rest = (Read-UrlReachProjection -Parser $Parser) }
        }
        else {
            return $node
        }
    }
}

function Read-UrlReachProjection {
    <# The steps applied to each element of a projection (on @, the current element). #>
    param([hashtable]$Parser)
    if ((Test-UrlReachToken -Parser $Parser -Value '.') -or (Test-UrlReachToken -Parser $Parser -Value '[') -or (Test-UrlReachToken -Parser $Parser -Value '[?')) {
        $Parser.tokens = @($Parser.tokens[0..($Parser.position - 1)]) + @(@{ type = 'op'; value = '@' }) + @($Parser.tokens[$Parser.position..($Parser.tokens.Count - 1)])
        return Read-UrlReachPath -Parser $Parser
    }
    @{ kind = 'current' }
}

function Read-UrlReachPrimary {
    param([hashtable]$Parser)
    $token = Get-UrlReachToken -Parser $Parser
    $Parser.position++
    switch ($token.type) {
        'raw' { return @{ kind = 'literal'; value = $token.value } }
        'json' { return @{ kind = 'literal'; value = (ConvertFrom-UrlReachJson -Json $token.value) } }
        'name' {
            if (Test-UrlReachToken -Parser $Parser -Value '(') {
                $functions = @('contains', 'starts_with', 'ends_with', 'length', 'to_string', 'type', 'not_null')
                if ($functions -notcontains $token.value) {
                    throw ('the function {0}() is not supported by the Windows twin' -f $token.value)
                }
                $Parser.position++
                $arguments = [System.Collections.Generic.List[object]]::new()
                while (-not (Test-UrlReachToken -Parser $Parser -Value ')')) {
                    $arguments.Add((Read-UrlReachOr -Parser $Parser))
                    if (Test-UrlReachToken -Parser $Parser -Value ',') {
                        $Parser.position++
                    }
                    elseif (-not (Test-UrlReachToken -Parser $Parser -Value ')')) {
                        throw 'expected "," or ")" in a function call'
                    }
                }
                $Parser.position++
                return @{ kind = 'function'; name = $token.value; arguments = $arguments.ToArray() }
            }
            return @{ kind = 'field'; base = @{ kind = 'current' }; name = $token.value }
        }
        'op' {
            if ($token.value -eq '@') {
                return @{ kind = 'current' }
            }
            if ($token.value -eq '(') {
                $inner = Read-UrlReachOr -Parser $Parser
                Skip-UrlReachToken -Parser $Parser -Value ')'
                return $inner
            }
        }
    }
    throw ("unexpected '{0}' (the Windows twin supports a JMESPath subset)" -f $token.value)
}

function Test-UrlReachTruthy {
    <# JMESPath's truth: false, null, '', [] and {} are false. #>
    param([AllowNull()][object]$Value)
    if ($null -eq $Value -or ($Value -is [bool] -and -not $Value)) {
        return $false
    }
    if ($Value -is [string]) {
        return $Value.Length -gt 0
    }
    if ($Value -is [System.Collections.IDictionary] -or $Value -is [System.Collections.IList]) {
        return $Value.Count -gt 0
    }
    $true
}

function Test-UrlReachJsonEqual {
    <# Equality as JSON means it: true is not 1, 1 equals 1.0, lists and objects compare deeply. #>
    param([AllowNull()][object]$Left, [AllowNull()][object]$Right)
    if ($null -eq $Left -or $null -eq $Right) {
        return ($null -eq $Left -and $null -eq $Right)
    }
    if ($Left -is [bool] -or $Right -is [bool]) {
        return ($Left -is [bool] -and $Right -is [bool] -and $Left -eq $Right)
    }
    $numeric = { param($v) $v -is [int] -or $v -is [long] -or $v -is [double] -or $v -is [decimal] -or $v -is [single] }
    if ((& $numeric $Left) -and (& $numeric $Right)) {
        return ([double]$Left -eq [double]$Right)
    }
    if ($Left -is [System.Collections.IDictionary] -and $Right -is [System.Collections.IDictionary]) {
        if ($Left.Count -ne $Right.Count) {
            return $false
        }
        foreach ($key in $Left.Keys) {
            if (-not $Right.Contains($key) -or -not (Test-UrlReachJsonEqual $Left[$key] $Right[$key])) {
                return $false
            }
        }
        return $true
    }
    if ($Left -is [System.Collections.IList] -and $Right -is [System.Collections.IList]) {
        if ($Left.Count -ne $Right.Count) {
            return $false
        }
        for ($i = 0; $i -lt $Left.Count; $i++) {
            if (-not (Test-UrlReachJsonEqual $Left[$i] $Right[$i])) {
                return $false
            }
        }
        return $true
    }
    ($Left -is [string] -and $Right -is [string] -and [string]::Equals($Left, $Right, [StringComparison]::Ordinal))
}

function Invoke-UrlReachQuery {
    <# Evaluate a tree of ConvertFrom-UrlReachQuery against Data. #>
    param([hashtable]$Node, [AllowNull()][object]$Data)
    switch ($Node.kind) {
        'current' { return , $Data }
        'literal' { return , $Node.value }
        'field' {
            $base = Invoke-UrlReachQuery -Node $Node.base -Data $Data
            if ($base -is [System.Collections.IDictionary] -and $base.Contains($Node.name)) {
                return , $base[$Node.name]
            }
            return $null
        }
        'index' {
            $base = Invoke-UrlReachQuery -Node $Node.base -Data $Data
            if ($base -is [System.Collections.IList]) {
                $index = if ($Node.index -lt 0) { $base.Count + $Node.index } else { $Node.index }
                if ($index -ge 0 -and $index -lt $base.Count) {
                    return , $base[$index]
                }
            }
            return $null
        }
        'project' {
            $base = Invoke-UrlReachQuery -Node $Node.base -Data $Data
            if ($base -isnot [System.Collections.IList]) {
                return $null
            }
            $out = [System.Collections.Generic.List[object]]::new()
            foreach ($element in $base) {
                if ($null -ne $Node.condition -and -not (Test-UrlReachTruthy (Invoke-UrlReachQuery -Node $Node.condition -Data $element))) {
                    continue
                }
                $value = Invoke-UrlReachQuery -Node $Node.rest -Data $element
                if ($null -ne $value) {
                    $out.Add($value)
                }
            }
            return , $out
        }
        'not' { return (-not (Test-UrlReachTruthy (Invoke-UrlReachQuery -Node $Node.child -Data $Data))) }
        'and' {
            $left = Invoke-UrlReachQuery -Node $Node.left -Data $Data
            if (-not (Test-UrlReachTruthy $left)) {
                return , $left
            }
            return , (Invoke-UrlReachQuery -Node $Node.right -Data $Data)
        }
        'or' {
            $left = Invoke-UrlReachQuery -Node $Node.left -Data $Data
            if (Test-UrlReachTruthy $left) {
                return , $left
            }
            return , (Invoke-UrlReachQuery -Node $Node.right -Data $Data)
        }
        'compare' {
            $left = Invoke-UrlReachQuery -Node $Node.left -Data $Data
            $right = Invoke-UrlReachQuery -Node $Node.right -Data $Data
            if ($Node.op -eq '==') {
                return (Test-UrlReachJsonEqual $left $right)
            }
            if ($Node.op -eq '!=') {
                return (-not (Test-UrlReachJsonEqual $left $right))
            }
            $isNumber = { param($v) ($v -is [int] -or $v -is [long] -or $v -is [double] -or $v -is [decimal]) -and $v -isnot [bool] }
            if (-not ((& $isNumber $left) -and (& $isNumber $right))) {
                return $null
            }
            switch ($Node.op) {
                '<' { return ([double]$left -lt [double]$right) }
                '<=' { return ([double]$left -le [double]$right) }
                '>' { return ([double]$left -gt [double]$right) }
                default { return ([double]$left -ge [double]$right) }
            }
        }
        'function' {
            $values = @($Node.arguments | ForEach-Object { , (Invoke-UrlReachQuery -Node $_ -Data $Data) })
            switch ($Node.name) {
                'contains' {
                    if ($values[0] -is [string]) {
                        return $values[0].Contains([string]$values[1])
                    }
                    if ($values[0] -is [System.Collections.IList]) {
                        foreach ($element in $values[0]) {
                            if (Test-UrlReachJsonEqual $element $values[1]) {
                                return $true
                            }
                        }
                        return $false
                    }
                    throw 'contains() needs a string or an array'
                }
                'starts_with' { return ([string]$values[0]).StartsWith([string]$values[1], [StringComparison]::Ordinal) }
                'ends_with' { return ([string]$values[0]).EndsWith([string]$values[1], [StringComparison]::Ordinal) }
                'length' {
                    if ($values[0] -is [string]) {
                        return $values[0].Length
                    }
                    if ($values[0] -is [System.Collections.ICollection]) {
                        return $values[0].Count
                    }
                    throw 'length() needs a string, an array or an object'
                }
                'to_string' {
                    if ($values[0] -is [string]) {
                        return $values[0]
                    }
                    return [Ansible.Basic.AnsibleModule]::ToJson($values[0])
                }
                'type' {
                    $value = $values[0]
                    if ($null -eq $value) { return 'null' }
                    if ($value -is [bool]) { return 'boolean' }
                    if ($value -is [string]) { return 'string' }
                    if ($value -is [System.Collections.IDictionary]) { return 'object' }
                    if ($value -is [System.Collections.IList]) { return 'array' }
                    return 'number'
                }
                default {
                    foreach ($value in $values) {
                        if ($null -ne $value) {
                            return , $value
                        }
                    }
                    return $null
                }
            }
        }
    }
    $null
}

function ConvertTo-UrlReachAssertions {
    <# Compiled assertions from strings or @{ query; equals } (_http._assertions). #>
    param([AllowNull()][object]$Value, [string]$Where)
    $compiled = [System.Collections.Generic.List[object]]::new()
    if ($null -eq $Value) {
        return , $compiled.ToArray()
    }
    for ($i = 0; $i -lt $Value.Count; $i++) {
        $item = $Value[$i]
        $itemWhere = '{0}[{1}]' -f $Where, $i
        if ($item -is [string]) {
            $query = $item
            $hasEquals = $false
            $equals = $null
        }
        elseif ($item -is [System.Collections.IDictionary]) {
            $unknown = @($item.Keys | Where-Object { @('query', 'equals') -notcontains $_ } | Sort-Object)
            if ($unknown.Count) {
                New-UrlReachArgumentError ('{0}: unknown key(s) {1} (known: query, equals)' -f $itemWhere, ($unknown -join ', '))
            }
            $query = $item['query']
            $hasEquals = $item.Contains('equals')
            $equals = $item['equals']
        }
        else {
            New-UrlReachArgumentError ('{0}: must be a JMESPath expression or a dictionary with query (and equals)' -f $itemWhere)
        }
        if ($query -isnot [string] -or -not $query.Trim()) {
            New-UrlReachArgumentError ('{0}: the query must be a non-empty JMESPath expression' -f $itemWhere)
        }
        try {
            $tree = ConvertFrom-UrlReachQuery -Text $query
        }
        catch {
            New-UrlReachArgumentError ("{0}: '{1}' is not a valid JMESPath expression ({2})" -f $itemWhere, $query, $_.Exception.Message)
        }
        $compiled.Add(@{ query = $query; tree = $tree; has_equals = $hasEquals; equals = $equals })
    }
    , $compiled.ToArray()
}

function Invoke-UrlReachAssertions {
    <# @(per-assertion results, all passed or $null) for Assertions against a JSON Body (_http.evaluate_assertions). #>
    param([object[]]$Assertions, [AllowNull()][byte[]]$Body, [bool]$Truncated)
    if ($Assertions.Count -eq 0) {
        return , @(@(), $null)
    }
    $data = $null
    $problem = $null
    if ($Truncated) {
        $problem = 'the body is larger than max_body_bytes, so it was not parsed'
    }
    elseif ($null -eq $Body -or -not ([Text.Encoding]::UTF8.GetString($Body)).Trim()) {
        $problem = 'the response has no body'
    }
    else {
        try {
            $data = ConvertFrom-UrlReachJson -Json ([Text.Encoding]::UTF8.GetString($Body).TrimStart([char]0xFEFF))
        }
        catch {
            $text = $_.Exception.Message
            $problem = 'the body is not JSON ({0})' -f $text.Substring(0, [Math]::Min(120, $text.Length))
        }
    }
    $results = [System.Collections.Generic.List[object]]::new()
    foreach ($assertion in $Assertions) {
        # RETURN: results[].assertions[]
        $Check = [ordered]@{ query = $assertion.query; passed = $false; value = $null; truncated = $false; error = $problem }
        if ($assertion.has_equals) {
            $Check.equals = $assertion.equals
        }
        if ($null -eq $problem) {
            try {
                $value = Invoke-UrlReachQuery -Node $assertion.tree -Data $data
                $json = [Ansible.Basic.AnsibleModule]::ToJson($value)
                if ($json.Length -gt 2048) {
                    $Check.value = $json.Substring(0, 2048) + '...'
                    $Check.truncated = $true
                }
                else {
                    $Check.value = $value
                }
                $Check.passed = if ($assertion.has_equals) { Test-UrlReachJsonEqual $value $assertion.equals } else { Test-UrlReachTruthy $value }
            }
            catch {
                $Check.error = 'the query failed: {0}' -f $_.Exception.Message
            }
        }
        $results.Add($Check)
    }
    $passed = @($results | Where-Object { -not $_.passed }).Count -eq 0
    , @($results.ToArray(), $passed)
}

# --- one URL ---------------------------------------------------------------------------------

function Test-UrlReachIssuer {
    <# (intercepted, what matched) for the chain (DER list, leaf first) (_http.interception). #>
    param([object[]]$Chain, [object[]]$Issuers, [object[]]$CaCerts)
    if ($Chain.Count -eq 0 -or ($Issuers.Count -eq 0 -and $CaCerts.Count -eq 0)) {
        return , @($null, $null)
    }
    $leaf = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$Chain[0])
    $issuer = Get-WinProbeNameAttributes -Der $leaf.IssuerName.RawData
    foreach ($pattern in $Issuers) {
        if ($pattern.kind -eq 'cn') {
            if (@($issuer | Where-Object { $_[0] -eq '2.5.4.3' -and $_[1] -like $pattern.value }).Count -gt 0) {
                return , @($false, ('issuer {0}' -f $pattern.text))
            }
            continue
        }
        $all = $true
        foreach ($want in $pattern.value) {
            if (@($issuer | Where-Object { $_[0] -eq $want[0] -and $_[1] -like $want[1] }).Count -eq 0) {
                $all = $false
            }
        }
        if ($all) {
            return , @($false, ('issuer {0}' -f $pattern.text))
        }
    }
    $fingerprints = @($Chain | ForEach-Object { (Get-WinProbeFingerprint -Der ([byte[]]$_)).Replace(':', '') })
    foreach ($expected in $CaCerts) {
        if ($expected.kind -eq 'fingerprint') {
            if ($fingerprints -contains $expected.value) {
                return , @($false, ('fingerprint {0}' -f $expected.label))
            }
            continue
        }
        $caFingerprint = (Get-WinProbeFingerprint -Der $expected.value).Replace(':', '')
        if ($fingerprints -contains $caFingerprint) {
            return , @($false, $expected.label)
        }
        # Signed by the expected CA: a chain built with only that CA as extra store reaches it.
        $ca = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$expected.value)
        $chainEngine = [System.Security.Cryptography.X509Certificates.X509Chain]::new()
        $chainEngine.ChainPolicy.RevocationMode = [System.Security.Cryptography.X509Certificates.X509RevocationMode]::NoCheck
        $chainEngine.ChainPolicy.VerificationFlags = [System.Security.Cryptography.X509Certificates.X509VerificationFlags]::AllCertificateFlags
        $null = $chainEngine.ChainPolicy.ExtraStore.Add($ca)
        foreach ($der in ($Chain | Select-Object -Skip 1)) {
            $null = $chainEngine.ChainPolicy.ExtraStore.Add([System.Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$der))
        }
        $null = $chainEngine.Build($leaf)
        foreach ($element in $chainEngine.ChainElements) {
            if ($element.Certificate.Thumbprint -eq $ca.Thumbprint) {
                return , @($false, $expected.label)
            }
        }
    }
    , @($true, $null)
}

function Get-UrlReachTlsFacts {
    <# The tls part of a result, and intercepted (_http._tls_facts). #>
    param([hashtable]$Attempt)
    $target = $Attempt.target
    if ($null -eq $Attempt.peer) {
        return , @($null, $null)
    }
    $peer = $Attempt.peer
    $verified = if (-not $target.verify) { $null } else { $peer.source -eq 'connection' }
    try {
        $certificate = Get-WinProbeCertificateFacts -Der $peer.der
        $chain = foreach ($der in $peer.chain) {
            $entry = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$der)
            # RETURN: results[].tls.chain[]
            $Link = [ordered]@{
                subject = Format-WinProbeName -Der $entry.SubjectName.RawData
                issuer = Format-WinProbeName -Der $entry.IssuerName.RawData
                sha256_fingerprint = Get-WinProbeFingerprint -Der ([byte[]]$der)
            }
            $Link
        }
        $hostnameOk = Test-WinProbeHostname -Der $peer.der -Hostname $peer.host
        $interception = Test-UrlReachIssuer -Chain $peer.chain -Issuers $target.expected_issuers -CaCerts $target.expected_ca_certs
    }
    catch {
        # RETURN: results[].tls
        $Tls = [ordered]@{
            version = $peer.version; cipher = $peer.cipher; source = $peer.source; verified = $verified
            hostname_matches = $null; certificate = $null; chain = @(); issuer_matched = $null
            error = ('the certificate does not parse: {0}' -f $_.Exception.Message)
        }
        return , @($Tls, $null)
    }
    $Tls = [ordered]@{
        version = $peer.version
        cipher = $peer.cipher
        source = $peer.source
        verified = $verified
        hostname_matches = $hostnameOk
        certificate = $certificate
        chain = @($chain)
        issuer_matched = $interception[1]
        error = $null
    }
    , @($Tls, $interception[0])
}

function ConvertFrom-UrlReachHttpDate {
    <# Seconds since the epoch of an HTTP Date header (RFC 1123, RFC 850 or asctime), or $null. #>
    param([AllowNull()][string]$Value)
    if (-not $Value -or -not $Value.Trim()) {
        return $null
    }
    $formats = [string[]]@('r', 'ddd, dd MMM yyyy HH:mm:ss GMT', 'ddd, d MMM yyyy HH:mm:ss GMT', 'dddd, dd-MMM-yy HH:mm:ss GMT', 'ddd MMM d HH:mm:ss yyyy', 'ddd MMM dd HH:mm:ss yyyy')
    $parsed = [DateTime]::MinValue
    $styles = [Globalization.DateTimeStyles]::AdjustToUniversal -bor [Globalization.DateTimeStyles]::AssumeUniversal -bor [Globalization.DateTimeStyles]::AllowWhiteSpaces
    if (-not [DateTime]::TryParseExact($Value.Trim(), $formats, [Globalization.CultureInfo]::InvariantCulture, $styles, [ref]$parsed)) {
        return $null
    }
    ($parsed - [DateTime]::new(1970, 1, 1, 0, 0, 0, [DateTimeKind]::Utc)).TotalSeconds
}

function Read-UrlReachBody {
    <# The response body (chunked, Content-Length or up to the close), at most Limit bytes: @(bytes, truncated). #>
    param([hashtable]$Reader, [System.Collections.IDictionary]$Headers, [int]$Limit)
    $body = [System.Collections.Generic.List[byte]]::new()
    $truncated = $false
    $encoding = if ($Headers.Contains('transfer-encoding')) { ([string]$Headers['transfer-encoding']).ToLowerInvariant() } else { '' }
    if ($encoding.Contains('chunked')) {
        while ($true) {
            $sizeLine = (Read-WinProbeLine -Reader $Reader).Split(';')[0].Trim()
            $size = [Convert]::ToInt32($sizeLine, 16)
            if ($size -eq 0) {
                break
            }
            while ($Reader.buffer.Count -lt $size + 2) {
                $null = Read-WinProbeChunk -Reader $Reader
            }
            $body.AddRange($Reader.buffer.GetRange(0, $size))
            $Reader.buffer.RemoveRange(0, $size + 2)
            if ($body.Count -gt $Limit) {
                $truncated = $true
                break
            }
        }
    }
    else {
        $length = -1
        if ($Headers.Contains('content-length')) {
            $length = [long]([string]$Headers['content-length']).Split(',')[0].Trim()
        }
        $want = if ($length -ge 0) { [Math]::Min($length, [long]$Limit + 1) } else { [long]$Limit + 1 }
        try {
            while ($Reader.buffer.Count -lt $want) {
                $null = Read-WinProbeChunk -Reader $Reader
            }
        }
        catch {
            $info = Get-WinProbeErrorInfo $_
            if ($length -ge 0 -or $info[0] -ne 'reset') {
                throw
            }
        }
        $take = [Math]::Min([long]$Reader.buffer.Count, $want)
        $body.AddRange($Reader.buffer.GetRange(0, [int]$take))
        if ($length -gt $Limit -or ($length -lt 0 -and $body.Count -gt $Limit)) {
            $truncated = $true
        }
    }
    $bytes = $body.ToArray()
    $contentEncoding = if ($Headers.Contains('content-encoding')) { ([string]$Headers['content-encoding']).ToLowerInvariant() } else { '' }
    if (-not $truncated -and ($contentEncoding -eq 'gzip' -or $contentEncoding -eq 'deflate')) {
        $source = [IO.MemoryStream]::new($bytes)
        $decoder = if ($contentEncoding -eq 'gzip') { [IO.Compression.GZipStream]::new($source, [IO.Compression.CompressionMode]::Decompress) } else { [IO.Compression.DeflateStream]::new($source, [IO.Compression.CompressionMode]::Decompress) }
        $plain = [IO.MemoryStream]::new()
        $decoder.CopyTo($plain)
        $bytes = $plain.ToArray()
    }
    if ($bytes.Length -gt $Limit) {
        $bytes = [byte[]]$bytes[0..($Limit - 1)]
        $truncated = $true
    }
    if ($Limit -eq 0) {
        $bytes = [byte[]]@()
    }
    , @($bytes, $truncated)
}

function Invoke-UrlReachHop {
    <# One request and its response headers over a new connection; fills Attempt. Returns the reader. #>
    param([hashtable]$Attempt, [hashtable]$Parts, [string]$Method, [System.Collections.IDictionary]$Headers, [double]$Deadline)
    $target = $Attempt.target
    $Attempt.peer = $null
    foreach ($key in @('tcp_ms', 'proxy_tunnel_ms', 'tls_ms')) {
        $Attempt.timing[$key] = $null
    }
    $Attempt.state.phase = 'connect'
    $proxy = $Attempt.proxy
    $started = Get-WinProbeClock
    if ($proxy) {
        $proxyParts = Split-WinProbeProxyUrl -Url $proxy
        $addresses = Resolve-WinProbeName -Name $proxyParts.host -Deadline $Deadline
        $connection = Connect-WinProbeTcp -Addresses $addresses -Port $proxyParts.port -Deadline $Deadline
    }
    else {
        $addresses = Resolve-WinProbeName -Name $Parts.host -Deadline $Deadline
        $connection = Connect-WinProbeTcp -Addresses $addresses -Port $Parts.port -Deadline $Deadline
    }
    $Attempt.timing.tcp_ms = [Math]::Round(((Get-WinProbeClock) - $started) * 1000, 1)
    $Attempt.client = $connection.client
    $stream = $connection.client.GetStream()
    if ($Parts.scheme -eq 'https') {
        if ($proxy) {
            $Attempt.state.phase = 'proxy'
            $tunnel = Get-WinProbeClock
            try {
                Invoke-WinProbeConnectTunnel -Stream $stream -TargetHost $Parts.host -Port $Parts.port -Auth $proxyParts.auth -Deadline $Deadline
            }
            finally {
                $Attempt.timing.proxy_tunnel_ms = [Math]::Round(((Get-WinProbeClock) - $tunnel) * 1000, 1)
            }
        }
        $Attempt.state.phase = 'tls'
        $handshake = Get-WinProbeClock
        $tls = Invoke-WinProbeTlsHandshake -Stream $stream -ServerName $Parts.host -CaPath $Attempt.ca_path -Deadline $Deadline
        $Attempt.timing.tls_ms = [Math]::Round(((Get-WinProbeClock) - $handshake) * 1000, 1)
        $stream = $tls.stream
        $Attempt.peer = @{ der = $tls.der; chain = @($tls.chain); version = $tls.version; cipher = $tls.cipher; source = 'connection'; host = $Parts.host }
        if ($target.verify) {
            $problem = $null
            if (-not $tls.verified) {
                $problem = @($tls.verify_class, $tls.verify_error)
            }
            elseif ($null -ne $tls.der -and -not (Test-WinProbeHostname -Der $tls.der -Hostname $Parts.host)) {
                $problem = @('cert_hostname', ("Hostname mismatch, certificate is not valid for '{0}'." -f $Parts.host))
            }
            if ($problem) {
                # The handshake was completed only to look: as url_reach's second look, the request is not sent.
                $Attempt.peer.source = 'observation'
                New-WinProbeError -Class $problem[0] -Detail ('{0}{1}' -f $problem[1], $(if ($proxy) { ' via proxy {0}' -f (ConvertTo-WinProbeRedacted $proxy) } else { '' }))
            }
        }
    }
    $Attempt.state.phase = 'response'
    $lines = [System.Collections.Generic.List[string]]::new()
    $requestTarget = if ($proxy -and $Parts.scheme -eq 'http') { ($Parts.url -split '#', 2)[0] -replace '://[^/@]*@', '://' } else { $Parts.target }
    $lines.Add(('{0} {1} HTTP/1.1' -f $Method, $requestTarget))
    $sent = [ordered]@{ 'Host' = $Parts.host_header; 'User-Agent' = 'ece_o365.preflight-win_url_reach'; 'Accept' = '*/*'; 'Accept-Encoding' = 'gzip, deflate'; 'Connection' = 'close' }
    if ($Parts.userinfo) {
        $user, $password = $Parts.userinfo.Split(':', 2)
        $credentials = '{0}:{1}' -f [Uri]::UnescapeDataString($user), $(if ($null -ne $password) { [Uri]::UnescapeDataString($password) } else { '' })
        $sent['Authorization'] = 'Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($credentials))
    }
    if ($proxy -and $Parts.scheme -eq 'http' -and $proxyParts.auth) {
        $sent['Proxy-Authorization'] = $proxyParts.auth
    }
    $sent = Merge-UrlReachHeaders -Base $sent -Override $Headers
    foreach ($name in $sent.Keys) {
        $lines.Add(('{0}: {1}' -f $name, $sent[$name]))
    }
    $request = [Text.Encoding]::UTF8.GetBytes((($lines -join "`r`n") + "`r`n`r`n"))
    $sentWall = [DateTime]::UtcNow
    $sentClock = Get-WinProbeClock
    $stream.WriteTimeout = Get-WinProbeRemaining -Deadline $Deadline
    $stream.Write($request, 0, $request.Length)
    $stream.Flush()
    $reader = New-WinProbeReader -Stream $stream -Deadline $Deadline
    do {
        $status = Read-WinProbeLine -Reader $reader
        if ($status -notmatch '^HTTP/\d(?:\.\d)? (\d{3})(?: (.*))?$') {
            New-WinProbeError -Class 'protocol' -Detail ("not an HTTP answer: '{0}'" -f (ConvertTo-WinProbePrintable $status 80))
        }
        $code = [int]$Matches[1]
        $reason = if ($Matches.ContainsKey(2)) { $Matches[2] } else { '' }
        $headersIn = [ordered]@{}
        for ($count = 0; $count -lt 200; $count++) {
            $line = Read-WinProbeLine -Reader $reader
            if ($line -eq '') {
                break
            }
            $name, $value = $line.Split(':', 2)
            $key = $name.Trim().ToLowerInvariant()
            $value = if ($null -ne $value) { $value.Trim() } else { '' }
            $headersIn[$key] = if ($headersIn.Contains($key)) { '{0}, {1}' -f $headersIn[$key], $value } else { $value }
        }
    } while ($code -ge 100 -and $code -lt 200 -and $code -ne 101)
    $received = Get-WinProbeClock
    $Attempt.status = $code
    $Attempt.reason = $reason
    $Attempt.headers = $headersIn
    $Attempt.first_byte_ms = [Math]::Round([Math]::Max(0.0, ($received - $sentClock) * 1000), 1)
    $Attempt.local_time = ($sentWall - [DateTime]::new(1970, 1, 1, 0, 0, 0, [DateTimeKind]::Utc)).TotalSeconds + ($received - $sentClock) / 2.0
    $Attempt.date = if ($headersIn.Contains('date')) { $headersIn['date'] } else { $null }
    $Attempt.stream = $stream
    $reader
}

function Close-UrlReachConnection {
    param([hashtable]$Attempt)
    try {
        if ($Attempt.stream) {
            $Attempt.stream.Dispose()
        }
        if ($Attempt.client) {
            $Attempt.client.Close()
        }
    }
    catch {
        $null = $_
    }
    $Attempt.stream = $null
    $Attempt.client = $null
}

function New-UrlReachResult {
    <# One result in the schema of url_reach's RETURN (_http._result). #>
    param([hashtable]$Attempt, [AllowNull()][string]$ErrorClass, [AllowNull()][string]$Detail, [object[]]$Assertions)
    $target = $Attempt.target
    $facts = Get-UrlReachTlsFacts -Attempt $Attempt
    $elapsed = if ($Attempt.state.started) { (Get-WinProbeClock) - [double]$Attempt.state.started } else { 0.0 }
    $excerpt = $null
    if (@('http_status', 'assertion', 'proxy') -contains $ErrorClass -and $null -ne $Attempt.body -and $Attempt.body.Length -gt 0) {
        $text = [Text.Encoding]::UTF8.GetString($Attempt.body, 0, [Math]::Min($Attempt.body.Length, 1200))
        $excerpt = $text.Substring(0, [Math]::Min(300, $text.Length))
    }
    $shown = [ordered]@{}
    if ($null -ne $Attempt.headers) {
        foreach ($name in $Attempt.headers.Keys) {
            $shown[$name] = if (Test-UrlReachSecretHeader -Name $name) { '********' } else { $Attempt.headers[$name] }
        }
    }
    $names = [string[]]@($target.headers.Keys)
    [Array]::Sort($names, [StringComparer]::Ordinal)
    $serverTime = ConvertFrom-UrlReachHttpDate -Value $Attempt.date
    $skew = $null
    if ($null -ne $serverTime -and $null -ne $Attempt.local_time) {
        $skew = [Math]::Round($Attempt.local_time - ($serverTime + 0.5), 1)
    }
    $redactedUrl = ConvertTo-WinProbeRedacted $target.url
    # RETURN: results[]
    $Result = [ordered]@{
        name = $target.name
        url = $redactedUrl
        method = $target.method
        ok = (-not $ErrorClass)
        error_class = $(if ($ErrorClass) { $ErrorClass } else { $null })
        error = $(if ($ErrorClass) { Format-WinProbeMessage -Class $ErrorClass -Where $redactedUrl -Detail $Detail } else { $null })
        status = $Attempt.status
        reason = $Attempt.reason
        expected_status = @($target.status_code)
        final_url = $(if ($null -ne $Attempt.status) { ConvertTo-WinProbeRedacted $Attempt.final_url } else { $null })
        redirects = @($Attempt.hops)
        proxy = ConvertTo-WinProbeRedacted $Attempt.proxy
        request_headers = @($names)
        headers = $shown
        timings = [ordered]@{
            total_ms = [Math]::Round($elapsed * 1000, 1)
            tcp_ms = $Attempt.timing.tcp_ms
            proxy_tunnel_ms = $Attempt.timing.proxy_tunnel_ms
            tls_ms = $Attempt.timing.tls_ms
            first_byte_ms = $Attempt.first_byte_ms
        }
        tls = $facts[0]
        intercepted = $facts[1]
        server_date = $Attempt.date
        server_time = $(if ($null -ne $serverTime) { Format-WinProbeUtc -Time ([DateTime]::new(1970, 1, 1, 0, 0, 0, [DateTimeKind]::Utc).AddSeconds($serverTime)) } else { $null })
        clock_skew_seconds = $skew
        body_bytes = $Attempt.body_bytes
        body_truncated = [bool]$Attempt.truncated
        body_excerpt = $excerpt
        assertions = @($Assertions)
        assertions_passed = $(if (@($Assertions).Count -gt 0) { @($Assertions | Where-Object { -not $_.passed }).Count -eq 0 } else { $null })
    }
    $Result
}

function Invoke-UrlReachTarget {
    <# The worker's side of one URL (runs in a runspace of the pool): request, redirects, body, judge. #>
    param([hashtable]$Item)
    $target = $Item.target
    $Item.state.started = Get-WinProbeClock
    $deadline = [Math]::Min([double]$Item.state.started + [double]$target.timeout, [double]$Item.call_deadline)
    $attempt = @{
        target = $target; state = $Item.state; ca_path = $Item.ca_path; proxy = $null; peer = $null
        timing = @{ tcp_ms = $null; proxy_tunnel_ms = $null; tls_ms = $null }; hops = [System.Collections.Generic.List[object]]::new()
        final_url = $null; status = $null; reason = $null; headers = $null; date = $null; local_time = $null
        first_byte_ms = $null; body = $null; body_bytes = $null; truncated = $false; stream = $null; client = $null
    }
    $assertions = @()
    try {
        $url = $target.url
        $method = $target.method
        $headers = $target.headers
        $reader = $null
        for ($hop = 0; $hop -le $Item.max_redirects; $hop++) {
            $null = Get-WinProbeRemaining -Deadline $deadline -Detail ('no time left for {0}' -f (ConvertTo-WinProbeRedacted $url))
            $parts = Split-UrlReachUrl -Value $url -Where 'url'
            $attempt.proxy = Select-WinProbeProxy -TargetHost $parts.host -Explicit $Item.proxy -NoProxy $Item.no_proxy -Scheme $parts.scheme
            $attempt.final_url = $url
            $reader = Invoke-UrlReachHop -Attempt $attempt -Parts $parts -Method $method -Headers $headers -Deadline $deadline
            $location = if ($attempt.headers.Contains('location')) { [string]$attempt.headers['location'] } else { '' }
            if (-not $target.follow_redirects -or @(301, 302, 303, 307, 308) -notcontains $attempt.status -or -not $location.Trim()) {
                break
            }
            Close-UrlReachConnection -Attempt $attempt
            $following = [Uri]::new([Uri]$url, $location.Trim()).AbsoluteUri
            # RETURN: results[].redirects[]
            $Redirect = [ordered]@{ status = $attempt.status; url = ConvertTo-WinProbeRedacted $following }
            $attempt.hops.Add($Redirect)
            if ($hop -eq $Item.max_redirects) {
                return New-UrlReachResult -Attempt $attempt -ErrorClass 'http_status' -Detail ('more than {0} redirects (max_redirects)' -f $Item.max_redirects) -Assertions @()
            }
            $newHost = ([Uri]$following).Host.Trim('[', ']').ToLowerInvariant()
            if ($newHost -ne $parts.host) {
                $kept = [ordered]@{}
                foreach ($name in $headers.Keys) {
                    if (-not (Test-UrlReachSecretHeader -Name $name)) {
                        $kept[$name] = $headers[$name]
                    }
                }
                $headers = $kept
            }
            if ($attempt.status -eq 303 -and $method -ne 'HEAD') {
                $method = 'GET'
            }
            $url = $following
        }
        $attempt.state.phase = 'body'
        $noBody = $method -eq 'HEAD' -or $attempt.status -eq 204 -or $attempt.status -eq 304
        if (-not $noBody) {
            $read = Read-UrlReachBody -Reader $reader -Headers $attempt.headers -Limit $Item.max_body_bytes
            $attempt.body = [byte[]]$read[0]
            $attempt.truncated = [bool]$read[1]
            $attempt.body_bytes = $attempt.body.Length
        }
        Close-UrlReachConnection -Attempt $attempt
        $attempt.state.phase = 'done'
        if ($attempt.status -eq 407 -and $attempt.proxy) {
            return New-UrlReachResult -Attempt $attempt -ErrorClass 'proxy' -Detail ('the proxy {0} answered 407 {1}: it wants credentials' -f (ConvertTo-WinProbeRedacted $attempt.proxy), $attempt.reason) -Assertions @()
        }
        if ($target.status_code -notcontains $attempt.status) {
            $codes = if ($target.status_code.Count -eq 1) { [string]$target.status_code[0] } else { 'one of {0}' -f ($target.status_code -join ', ') }
            $checked = Invoke-UrlReachAssertions -Assertions $target.assertions -Body $attempt.body -Truncated $attempt.truncated
            return New-UrlReachResult -Attempt $attempt -ErrorClass 'http_status' -Detail ('status {0} {1}, expected {2}' -f $attempt.status, $attempt.reason, $codes) -Assertions $checked[0]
        }
        $checked = Invoke-UrlReachAssertions -Assertions $target.assertions -Body $attempt.body -Truncated $attempt.truncated
        $assertions = @($checked[0])
        if ($checked[1] -eq $false) {
            $failed = @($assertions | Where-Object { -not $_.passed })
            $first = $failed[0]
            $why = if ($first.error) { $first.error } else { 'gave {0}' -f ([Ansible.Basic.AnsibleModule]::ToJson($first.value)) }
            $detail = '{0} of {1} failed; first: {2} {3}' -f $failed.Count, $assertions.Count, $first.query, $why.Substring(0, [Math]::Min(105, $why.Length))
            return New-UrlReachResult -Attempt $attempt -ErrorClass 'assertion' -Detail $detail -Assertions $assertions
        }
        return New-UrlReachResult -Attempt $attempt -ErrorClass $null -Detail $null -Assertions $assertions
    }
    catch {
        $info = Get-WinProbeErrorInfo $_
        $via = if ($attempt.proxy) { ' via proxy {0}' -f (ConvertTo-WinProbeRedacted $attempt.proxy) } else { '' }
        $class = $info[0]
        $detail = $info[1]
        if ($class -eq 'timeout') {
            $detail = 'no answer in {0} s while {1}{2}' -f $target.timeout, $attempt.state.phase, $via
        }
        elseif ($attempt.proxy -and $attempt.state.phase -eq 'proxy' -and $class -ne 'proxy') {
            $detail = 'proxy {0}: {1}' -f (ConvertTo-WinProbeRedacted $attempt.proxy), $detail
            $class = 'proxy'
        }
        Close-UrlReachConnection -Attempt $attempt
        return New-UrlReachResult -Attempt $attempt -ErrorClass $class -Detail $detail -Assertions @()
    }
}

function Get-UrlReachSecrets {
    <# Strings that must never appear in output: secret header values, proxy and URL passwords (_http.secret_values). #>
    param([System.Collections.IDictionary]$Params)
    $secrets = [System.Collections.Generic.HashSet[string]]::new()
    $add = {
        param($value)
        if ($value -is [string] -and $value.Length -ge 4) {
            $null = $secrets.Add($value)
            $scheme, $credentials = $value.Split(' ', 2)
            if ($credentials -and $credentials.Length -ge 4 -and $scheme -match '^[A-Za-z-]+$') {
                $null = $secrets.Add($credentials)
            }
        }
    }
    $addUrl = {
        param($url)
        if ($url -is [string] -and $url -match '://[^/@:]*:([^/@]*)@' -and $Matches[1]) {
            & $add $Matches[1]
            & $add ([Uri]::UnescapeDataString($Matches[1]))
        }
    }
    $addHeaders = {
        param($headers)
        if ($headers -is [System.Collections.IDictionary]) {
            foreach ($name in $headers.Keys) {
                if ((Test-UrlReachSecretHeader -Name ([string]$name)) -and $null -ne $headers[$name]) {
                    & $add ([string]$headers[$name])
                }
            }
        }
    }
    & $addHeaders $Params.headers
    & $addUrl $Params.proxy
    foreach ($variable in @('HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY')) {
        & $addUrl ([Environment]::GetEnvironmentVariable($variable))
    }
    foreach ($item in $Params.urls) {
        if ($item -is [System.Collections.IDictionary]) {
            & $addHeaders $item['headers']
            & $addUrl $item['url']
        }
    }
    , @($secrets | Sort-Object -Property Length -Descending)
}

function Hide-UrlReachSecrets {
    <# Value (any JSON-like structure) with every secret string replaced by ******** (_http.scrub). #>
    param([AllowNull()][object]$Value, [string[]]$Secrets)
    if ($Secrets.Count -eq 0 -or $null -eq $Value) {
        return , $Value
    }
    if ($Value -is [string]) {
        foreach ($secret in $Secrets) {
            $Value = $Value.Replace($secret, '********')
        }
        return $Value
    }
    if ($Value -is [System.Collections.IDictionary]) {
        $copy = [ordered]@{}
        foreach ($key in $Value.Keys) {
            $copy[(Hide-UrlReachSecrets -Value ([string]$key) -Secrets $Secrets)] = Hide-UrlReachSecrets -Value $Value[$key] -Secrets $Secrets
        }
        return $copy
    }
    if ($Value -is [System.Collections.IList]) {
        $list = [System.Collections.Generic.List[object]]::new()
        foreach ($element in $Value) {
            $list.Add((Hide-UrlReachSecrets -Value $element -Secrets $Secrets))
        }
        return , $list.ToArray()
    }
    , $Value
}

# --- the module -------------------------------------------------------------------------------

$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
$params = $module.Params
$secrets = Get-UrlReachSecrets -Params $params
# Secret header values and proxy passwords never leave the module, the invocation included.
$module.Result.invocation = @{ module_args = (Hide-UrlReachSecrets -Value $params -Secrets $secrets) }
$warnings = [System.Collections.Generic.List[string]]::new()

try {
    $validateCerts = [bool]$params.validate_certs
    $options = @{
        follow_redirects = [bool]$params.follow_redirects
        max_redirects = [int](ConvertTo-UrlReachNumber -Value $params.max_redirects -Where 'max_redirects' -Minimum 0 -Maximum 50)
        deadline = ConvertTo-UrlReachNumber -Value $params.deadline -Where 'deadline' -Minimum 0.1 -Maximum 3600
        timeout = ConvertTo-UrlReachNumber -Value $params.timeout -Where 'timeout' -Minimum 0.05 -Maximum 3600
        max_workers = [int](ConvertTo-UrlReachNumber -Value $params.max_workers -Where 'max_workers' -Minimum 1 -Maximum 64)
        max_body_bytes = [int](ConvertTo-UrlReachNumber -Value $params.max_body_bytes -Where 'max_body_bytes' -Minimum 0 -Maximum 67108864)
        status_code = ConvertTo-UrlReachStatusCodes -Value $params.status_code -Where 'status_code'
        headers = ConvertTo-UrlReachHeaders -Value $params.headers -Where 'headers'
        expected_issuers = ConvertTo-UrlReachIssuers -Value $params.expected_issuers -Where 'expected_issuers'
        expected_ca_certs = ConvertTo-UrlReachCaCerts -Value $params.expected_ca_certs -Where 'expected_ca_certs'
        method = ConvertTo-UrlReachMethod -Value $params.method -Where 'method'
    }
    $proxy = $params.proxy
    if ($null -ne $proxy) {
        $proxy = $proxy.Trim()
        if ($proxy) {
            if ($proxy -notmatch '://') {
                $proxy = 'http://' + $proxy
            }
            if ($proxy -notmatch '^https?://') {
                New-UrlReachArgumentError ("proxy: '{0}' is not an http:// proxy URL with a host (the Windows twin speaks HTTP CONNECT only)" -f (ConvertTo-WinProbeRedacted $proxy))
            }
        }
    }
    $noProxy = $null
    if ($null -ne $params.no_proxy) {
        $noProxy = (@($params.no_proxy) | ForEach-Object { ([string]$_).Trim() }) -join ','
    }
    $caPath = $null
    if ($validateCerts) {
        if ($params.ca_path) {
            if (-not (Test-Path -LiteralPath $params.ca_path)) {
                New-UrlReachArgumentError ("ca_path: '{0}' does not exist on this host" -f $params.ca_path)
            }
            $caPath = $params.ca_path
        }
        else {
            foreach ($variable in @('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')) {
                $value = [Environment]::GetEnvironmentVariable($variable)
                if ($value) {
                    if (Test-Path -LiteralPath $value) {
                        $caPath = $value
                    }
                    else {
                        $warnings.Add(('{0} names {1}, which does not exist on this host: using the Windows certificate store instead' -f $variable, $value))
                    }
                    break
                }
            }
        }
    }
    $urls = @($params.urls)
    if ($urls.Count -eq 0) {
        New-UrlReachArgumentError 'urls: must be a non-empty list of URLs to request'
    }
    $items = [System.Collections.Generic.List[hashtable]]::new()
    $callDeadline = (Get-WinProbeClock) + $options.deadline
    for ($index = 0; $index -lt $urls.Count; $index++) {
        $entry = $urls[$index]
        $where = 'urls[{0}]' -f $index
        $parts = Split-UrlReachUrl -Value $entry.url -Where ($where + '.url')
        $target = @{
            url = $parts.url
            host = $parts.host
            port = $parts.port
            name = $(if ($entry.name) { [string]$entry.name } else { ConvertTo-WinProbeRedacted $parts.url })
            method = $(if ($null -ne $entry.method) { ConvertTo-UrlReachMethod -Value $entry.method -Where ($where + '.method') } else { $options.method })
            status_code = $(if ($null -ne $entry.status_code) { ConvertTo-UrlReachStatusCodes -Value $entry.status_code -Where ($where + '.status_code') } else { $options.status_code })
            headers = Merge-UrlReachHeaders -Base $options.headers -Override (ConvertTo-UrlReachHeaders -Value $entry.headers -Where ($where + '.headers'))
            timeout = $(if ($null -ne $entry.timeout) { ConvertTo-UrlReachNumber -Value $entry.timeout -Where ($where + '.timeout') -Minimum 0.05 -Maximum 3600 } else { $options.timeout })
            follow_redirects = $(if ($null -ne $entry.follow_redirects) { [bool]$entry.follow_redirects } else { $options.follow_redirects })
            expected_issuers = $(if ($null -ne $entry.expected_issuers) { ConvertTo-UrlReachIssuers -Value $entry.expected_issuers -Where ($where + '.expected_issuers') } else { $options.expected_issuers })
            expected_ca_certs = $(if ($null -ne $entry.expected_ca_certs) { ConvertTo-UrlReachCaCerts -Value $entry.expected_ca_certs -Where ($where + '.expected_ca_certs') } else { $options.expected_ca_certs })
            assertions = ConvertTo-UrlReachAssertions -Value $entry.assertions -Where ($where + '.assertions')
            verify = $validateCerts
        }
        if ($target.assertions.Count -gt 0 -and $target.method -eq 'HEAD') {
            New-UrlReachArgumentError ('{0}.assertions: a HEAD request has no body to assert on; use GET' -f $where)
        }
        $items.Add(@{
                target = $target
                proxy = $proxy
                no_proxy = $noProxy
                ca_path = $caPath
                max_redirects = $options.max_redirects
                max_body_bytes = $options.max_body_bytes
                call_deadline = $callDeadline
                state = [hashtable]::Synchronized(@{ started = $null; timeout = $target.timeout; phase = 'queued' })
            })
    }
}
catch {
    if ($_.Exception.Data.Contains('UrlReachArgument')) {
        $module.FailJson(('url_reach: bad arguments: {0}' -f $_.Exception.Message))
    }
    throw
}

$phases = @{
    queued = 'not started: every worker was busy'; connect = 'resolving the name or connecting'
    proxy = 'waiting for the proxy to open the tunnel'; tls = 'in the TLS handshake'; response = 'waiting for the response'
    body = 'reading the body'; certificate = 'fetching the refused certificate'; done = 'finishing'
}
$functions = @((Get-Command -Name '*-UrlReach*' -CommandType Function).Name) + @((Get-Command -Module (Get-Command -Name 'Get-WinProbeClock').ModuleName -CommandType Function).Name)
$started = Get-WinProbeClock
$runs = Invoke-WinProbeParallel -Items $items.ToArray() -Worker 'Invoke-UrlReachTarget' -Functions $functions `
    -Concurrency ([Math]::Min($options.max_workers, $items.Count)) -DeadlineSeconds $options.deadline -BackstopSeconds 0.25

$results = [System.Collections.Generic.List[object]]::new()
$deadlineReached = $false
for ($index = 0; $index -lt $items.Count; $index++) {
    $run = $runs[$index]
    $item = $items[$index]
    if ($run.done -and $null -ne $run.output) {
        $results.Add((Hide-UrlReachSecrets -Value $run.output -Secrets $secrets))
        continue
    }
    $attempt = @{
        target = $item.target; state = $item.state; proxy = $null; peer = $null
        timing = @{ tcp_ms = $null; proxy_tunnel_ms = $null; tls_ms = $null }; hops = @(); final_url = $null
        status = $null; reason = $null; headers = $null; date = $null; local_time = $null; first_byte_ms = $null
        body = $null; body_bytes = $null; truncated = $false
    }
    $phase = if ($phases.ContainsKey([string]$item.state.phase)) { $phases[[string]$item.state.phase] } else { [string]$item.state.phase }
    if ($run.timed_out) {
        $Result = New-UrlReachResult -Attempt $attempt -ErrorClass 'timeout' -Detail ('no answer in {0} s while {1}' -f $item.target.timeout, $phase) -Assertions @()
    }
    elseif ($run.done) {
        $Result = New-UrlReachResult -Attempt $attempt -ErrorClass 'protocol' -Detail ('the request stopped: {0}' -f $run.error) -Assertions @()
    }
    else {
        $deadlineReached = $true
        $Result = New-UrlReachResult -Attempt $attempt -ErrorClass 'deadline' -Detail ('still {0} after the deadline of {1} s' -f $phase, $options.deadline) -Assertions @()
    }
    $results.Add((Hide-UrlReachSecrets -Value $Result -Secrets $secrets))
}

$byClass = [ordered]@{}
foreach ($Result in $results) {
    if ($Result.error_class) {
        $byClass[$Result.error_class] = $(if ($byClass.Contains($Result.error_class)) { $byClass[$Result.error_class] } else { 0 }) + 1
    }
}
# RETURN: summary
$Summary = [ordered]@{
    total = $results.Count
    ok = @($results | Where-Object { $_.ok }).Count
    errors = @($results | Where-Object { -not $_.ok }).Count
    by_class = $byClass
    intercepted = @($results | Where-Object { $_.intercepted -eq $true }).Count
    elapsed_ms = [Math]::Round(((Get-WinProbeClock) - $started) * 1000, 1)
    deadline_reached = $deadlineReached
}
foreach ($warning in $warnings) {
    $module.Warn($warning)
}
$module.Result.results = $results.ToArray()
$module.Result.summary = $Summary
if ($params.fail_on_error -and $Summary.errors) {
    $failed = @($results | Where-Object { $_.error_class } | ForEach-Object { $_.error })
    $module.FailJson(('{0} of {1} URLs failed: {2}' -f $failed.Count, $Summary.total, ($failed -join ' | ')))
}
$module.ExitJson()
