<#
.SYNOPSIS
  Installs the tenken agent on a Windows host and registers its daily scheduled task.

.DESCRIPTION
  1. Creates a Python virtual environment in $InstallDir and installs tenken into it (from a wheel file
     or a package index reachable from the hospital network).
  2. Creates $DataDir (configuration, keys, spool) readable only by SYSTEM and Administrators: the agent's
     private keys live there, and on Windows their protection is this ACL (tenken checks POSIX modes only).
  3. Runs `tenken agent init` once (never overwrites an existing identity) and prints the agent id and the
     CSR path. Enrol the CSR on the hub:
        tenken-hub agent enroll tls.csr --pub agent.pub --data /var/lib/tenken-hub --out tls.crt
     then copy tls.crt into $DataDir\id and the hub's ca.pem to $DataDir\hub-ca.pem.
  4. Writes $DataDir\agent.yaml from the arguments when it does not exist yet.
  5. Registers the scheduled task from tenken-agent-task.xml (daily 02:30 + random delay, as SYSTEM).

.EXAMPLE
  .\install-agent.ps1 -Wheel .\tenken-0.1.0-py3-none-any.whl -HubUrl https://tenken-hub.hospital.local:8443
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$HubUrl,
    [string]$Wheel = "",
    [string]$Python = "py",
    [string]$InstallDir = "C:\Program Files\tenken",
    [string]$DataDir = "C:\ProgramData\tenken",
    [string]$TaskXml = (Join-Path $PSScriptRoot "tenken-agent-task.xml")
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

function Assert-Admin {
    $id = [Security.Principal.WindowsIdentity]::GetCurrent()
    if (-not (New-Object Security.Principal.WindowsPrincipal $id).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw "Run this script from an elevated PowerShell (Administrator)."
    }
}

function Set-PrivateAcl([string]$Path) {
    # Only SYSTEM and Administrators; no inherited entries (Users, Authenticated Users) survive.
    & icacls.exe $Path /inheritance:r /grant:r "*S-1-5-18:(OI)(CI)F" "*S-1-5-32-544:(OI)(CI)F" | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls failed on $Path" }
}

Assert-Admin

# 1. Program files and virtual environment
$venv = Join-Path $InstallDir "venv"
$tenken = Join-Path $venv "Scripts\tenken.exe"
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
if (-not (Test-Path $venv)) {
    $pyArgs = if ((Split-Path -Leaf $Python) -in @("py", "py.exe")) { @("-3", "-m", "venv", $venv) } else { @("-m", "venv", $venv) }
    & $Python @pyArgs
    if ($LASTEXITCODE -ne 0) { throw "could not create the virtual environment with $Python" }
}
$pip = Join-Path $venv "Scripts\python.exe"
$pkg = if ($Wheel) { (Resolve-Path $Wheel).Path } else { "tenken" }
& $pip -m pip install --disable-pip-version-check --upgrade $pkg
if ($LASTEXITCODE -ne 0) { throw "pip install $pkg failed" }

# 2. Data directory, private to SYSTEM and Administrators
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
Set-PrivateAcl $DataDir
$idDir = Join-Path $DataDir "id"
$spool = Join-Path $DataDir "spool"
New-Item -ItemType Directory -Force -Path $spool | Out-Null

# 3. Identity (once)
if (-not (Test-Path (Join-Path $idDir "agent.key"))) {
    & $tenken agent init --dir $idDir
    if ($LASTEXITCODE -ne 0) { throw "tenken agent init failed" }
    Set-PrivateAcl $idDir
} else {
    Write-Host "identity exists in $idDir (not touched)"
}

# 4. Configuration (once)
$config = Join-Path $DataDir "agent.yaml"
if (-not (Test-Path $config)) {
    $yaml = @"
# tenken agent configuration (written by install-agent.ps1). Paths are relative to this file.
signing_key: id/agent.key
hub:
  url: $HubUrl
  ca_file: hub-ca.pem
  client_cert: id/tls.crt
  client_key: id/tls.key
  timeout: 30s
spool:
  dir: spool
  max_reports: 1000
  max_bytes: 512MiB
retry:
  base: 5s
  cap: 1h
jobs:
  - name: this-host
    kind: local
    schedule:
      daily_at: "02:30"
      jitter: 30m
"@
    [IO.File]::WriteAllText($config, $yaml, (New-Object Text.UTF8Encoding $false))
}

# 5. Scheduled task (re-registered on every install so path changes apply)
$xml = Get-Content -Raw -Encoding UTF8 $TaskXml
$xml = $xml.Replace("C:\Program Files\tenken", $InstallDir).Replace("C:\ProgramData\tenken", $DataDir)
Register-ScheduledTask -TaskName "tenken-agent" -TaskPath "\tenken\" -Xml $xml -Force | Out-Null
Write-Host "registered scheduled task \tenken\tenken-agent"

if (-not (Test-Path (Join-Path $idDir "tls.crt"))) {
    Write-Host ""
    Write-Host "NEXT: enrol this agent on the hub with $idDir\tls.csr and $idDir\agent.pub,"
    Write-Host "      put the certificate at $idDir\tls.crt and the hub CA at $DataDir\hub-ca.pem,"
    Write-Host "      then test with: & '$tenken' agent once --config '$config'"
}
