# Copyright: Contributors to the ece_o365.preflight collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The windows_selftest playbook's temporary listener on a Windows host (run by ansible.builtin.script; the
# POSIX counterpart is selftest_listener.py). Needs nothing beyond Windows PowerShell 5.1 (or PowerShell 7).
#
#   -Action start -Seconds N            prints {"port", "closed_port", "pid", "seconds"} as JSON and leaves a
#                                       TcpListener on 127.0.0.1:port, in its own process, that ends by itself
#                                       after N seconds
#   -Action stop -ProcessId P -Port Q -Seconds N
#                                       stops that process, only if it is still the one started with these
#                                       values (its command line is rebuilt and compared), prints {"stopped"}
#
# The listener answers a connection that sends an HTTP request with "204 No Content" and closes any other; it
# serves loopback only and writes nothing. It runs in a process created through WMI (Win32_Process.Create),
# because a process started from a WinRM or PSRP shell is ended with that shell, before the probes run.
# closed_port is a port that was free a moment ago and on which nothing listens.
# tests/unit/windows/test_selftest.py parses this file and the listener's own script block.
[CmdletBinding()]
param(
    [ValidateSet('start', 'stop')][string]$Action = 'start',
    [ValidateRange(1, 3600)][int]$Seconds = 300,
    [int]$ProcessId = 0,
    [int]$Port = 0
)
$ErrorActionPreference = 'Stop'

$listenerBlock = {
    param([int]$Port, [int]$Seconds)
    $listener = New-Object -TypeName System.Net.Sockets.TcpListener -ArgumentList ([System.Net.IPAddress]::Loopback), $Port
    $listener.Start()
    $stopAt = [DateTime]::UtcNow.AddSeconds($Seconds)
    $reply = [System.Text.Encoding]::ASCII.GetBytes("HTTP/1.1 204 No Content`r`nContent-Length: 0`r`nConnection: close`r`n`r`n")
    try {
        while ([DateTime]::UtcNow -lt $stopAt) {
            if (-not $listener.Pending()) {
                Start-Sleep -Milliseconds 100
                continue
            }
            $client = $listener.AcceptTcpClient()
            try {
                $client.ReceiveTimeout = 2000
                $stream = $client.GetStream()
                $buffer = New-Object -TypeName byte[] -ArgumentList 4096
                $seen = ''
                while ($seen.IndexOf("`r`n`r`n") -lt 0 -and $seen.Length -lt 65536) {
                    $read = $stream.Read($buffer, 0, $buffer.Length)
                    if ($read -le 0) { break }
                    $seen += [System.Text.Encoding]::ASCII.GetString($buffer, 0, $read)
                }
                if ($seen.IndexOf("`r`n`r`n") -ge 0) { $stream.Write($reply, 0, $reply.Length) }
            }
            catch {
                # A client that closed, reset or sent nothing in time: there is nothing to answer.
                $null = $_
            }
            finally {
                $client.Close()
            }
        }
    }
    finally {
        $listener.Stop()
    }
}

function Get-SelftestCommandLine {
    <# The exact command line of the listener process for this port and lifetime. #>
    param([int]$ListenPort, [int]$Lifetime)
    $command = '& {' + $listenerBlock.ToString() + '} -Port ' + $ListenPort + ' -Seconds ' + $Lifetime
    $encoded = [Convert]::ToBase64String([System.Text.Encoding]::Unicode.GetBytes($command))
    $exe = if ($PSVersionTable.PSEdition -eq 'Core') { Join-Path -Path $PSHOME -ChildPath 'pwsh.exe' }
    else { Join-Path -Path $PSHOME -ChildPath 'powershell.exe' }
    '"{0}" -NoProfile -NonInteractive -EncodedCommand {1}' -f $exe, $encoded
}

function Get-SelftestFreePort {
    <# A loopback port that is free now (the system's choice for port 0). #>
    $probe = New-Object -TypeName System.Net.Sockets.TcpListener -ArgumentList ([System.Net.IPAddress]::Loopback), 0
    $probe.Start()
    try { $probe.LocalEndpoint.Port } finally { $probe.Stop() }
}

if ($Action -eq 'stop') {
    $process = Get-CimInstance -ClassName Win32_Process -Filter ('ProcessId = {0}' -f $ProcessId)
    $result = [ordered]@{ stopped = $false; pid = $ProcessId; port = $Port; reason = $null }
    if (-not $process) {
        $result.reason = 'process {0} had already ended' -f $ProcessId
    }
    elseif ($process.CommandLine -ne (Get-SelftestCommandLine -ListenPort $Port -Lifetime $Seconds)) {
        $result.reason = 'process {0} is not the listener' -f $ProcessId
    }
    else {
        Stop-Process -Id $ProcessId -Force
        $result.stopped = $true
    }
    $result | ConvertTo-Json -Compress
    exit 0
}

$listenPort = Get-SelftestFreePort
$closedPort = Get-SelftestFreePort
while ($closedPort -eq $listenPort) { $closedPort = Get-SelftestFreePort }
# Hidden (SW_HIDE): the WMI provider host that creates it has no console to share.
$startup = New-CimInstance -ClassName Win32_ProcessStartup -ClientOnly -Property @{ ShowWindow = [uint16]0 }
$created = Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{
    CommandLine = Get-SelftestCommandLine -ListenPort $listenPort -Lifetime $Seconds; ProcessStartupInformation = $startup
}
if ($created.ReturnValue -ne 0) {
    throw ('Win32_Process.Create could not start the listener (return value {0})' -f $created.ReturnValue)
}
# Ready when the process it created owns the listening socket.
$deadline = [DateTime]::UtcNow.AddSeconds(20)
$listening = $false
while (-not $listening -and [DateTime]::UtcNow -lt $deadline) {
    $owners = @(Get-NetTCPConnection -LocalPort $listenPort -State Listen -ErrorAction SilentlyContinue |
            ForEach-Object { $_.OwningProcess })
    $listening = $owners -contains $created.ProcessId
    if (-not $listening) { Start-Sleep -Milliseconds 200 }
}
if (-not $listening) {
    Stop-Process -Id $created.ProcessId -Force -ErrorAction SilentlyContinue
    throw ('the listener (process {0}) did not listen on 127.0.0.1:{1} within 20 seconds' -f $created.ProcessId, $listenPort)
}
[ordered]@{ port = $listenPort; closed_port = $closedPort; pid = $created.ProcessId; seconds = $Seconds } | ConvertTo-Json -Compress
