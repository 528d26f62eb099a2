"""A whole Windows scan in one WinRM command: the collectors' scripts sent together, answered as one JSON document.

Over WinRM every script costs a Command, one or more Receives and a Signal (each an HTTPS request, NTLM
message encryption on top): a scan of ~17 collectors made ~60 requests. Here the scan's scripts are learnt
first by a dry pass of the collectors (`WinRMTransport.planning`, no I/O), then sent as the stdin of one
small PowerShell wrapper, which runs each of them exactly as a single run would run it (its own
`powershell.exe -EncodedCommand` with the same prelude, or `cmd.exe /c` for a console tool), at most
`PARALLEL` at a time, each with its own timeout (a job past it is killed with its process tree), and
answers one JSON array of `{i, c (exit code), t (timed out), s (failed to start), o, e (base64 stdout,
stderr)}`. The collectors then read their answers from the transport's cache; what the dry pass could not
foresee runs on demand as before.

Why child processes and not runspaces in one process: the collection scripts `exit` with status codes
(`EXIT_MISSING`, `EXIT_CONSTRAINED`, ...), set `$ErrorActionPreference`, and must not see one another's
variables; one `powershell.exe` per script keeps their semantics identical to a single run, so a batch
can never change a verdict, only the number of round trips. Stdin is how Ansible's WinRM connection sends
its exec wrapper (`$input` in the bootstrap); it avoids cmd.exe's 8,191-character command line.

The payload is gzip + base64 (one line); inside, one job per line: `kind TAB timeout-ms TAB base64`, where
kind `ps` carries the `-EncodedCommand` text and `cmd` the UTF-8 command line. No JSON is parsed on the
target (Windows PowerShell 5.1's ConvertFrom-Json is slow and size-limited), and the answer is built from
base64 strings and integers only, so nothing in it needs escaping.

What has not run: the wrapper has never run on a real Windows host here (there is none); the tests'
WS-Management responder implements the same wire protocol and runs each job through its scenario.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass

#: Scripts run at the same time on the target (each is a powershell.exe: keep a hospital server responsive).
PARALLEL = 3
#: Printed by the wrapper before anything else, so an answer that is not the wrapper's is recognised.
MARKER = "TENKEN-BATCH-V1"

WRAPPER = (
    "$in=($input | Out-String).Trim()\n"
    "$b=[Convert]::FromBase64String($in)\n"
    "$ms=New-Object System.IO.MemoryStream(,$b)\n"
    "$gz=New-Object System.IO.Compression.GZipStream($ms,[System.IO.Compression.CompressionMode]::Decompress)\n"
    "$text=(New-Object System.IO.StreamReader($gz,[System.Text.Encoding]::UTF8)).ReadToEnd()\n"
    "$jobs=@(foreach ($ln in $text.Split([char]10)) { if ($ln) { $f=$ln.Split([char]9); "
    "[pscustomobject]@{K=$f[0];T=[int]$f[1];A=$f[2]} } })\n"
    "function Start-Tenken($j) {\n"
    "  $psi=New-Object System.Diagnostics.ProcessStartInfo\n"
    "  if ($j.K -eq 'ps') { $psi.FileName=(Join-Path $PSHOME 'powershell.exe'); "
    "$psi.Arguments='-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand '+$j.A }\n"
    "  else { $psi.FileName=$env:ComSpec; "
    "$psi.Arguments='/c '+[System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($j.A)) }\n"
    # Not CreateNoWindow: the child shares the WinRS console and so its code page (65001), as a single run does.
    "  $psi.UseShellExecute=$false; $psi.RedirectStandardOutput=$true; $psi.RedirectStandardError=$true; "
    "$psi.RedirectStandardInput=$true\n"
    "  $p=[System.Diagnostics.Process]::Start($psi); $p.StandardInput.Close()\n"
    "  $o=New-Object System.IO.MemoryStream; $e=New-Object System.IO.MemoryStream\n"
    "  [pscustomobject]@{P=$p;O=$o;E=$e;TO=$p.StandardOutput.BaseStream.CopyToAsync($o);"
    "TE=$p.StandardError.BaseStream.CopyToAsync($e);W=[System.Diagnostics.Stopwatch]::StartNew()}\n"
    "}\n"
    "function Out-Tenken($i,$c,$t,$s,$o,$e) { '{\"i\":'+$i+',\"c\":'+$c+',\"t\":'+$t+',\"s\":'+$s+"
    "',\"o\":\"'+[Convert]::ToBase64String($o)+'\",\"e\":\"'+[Convert]::ToBase64String($e)+'\"}' }\n"
    "$running=@{}; $next=0; $res=New-Object System.Collections.Generic.List[string]\n"
    f"while ($next -lt $jobs.Count -or $running.Count -gt 0) {{\n"
    f"  while ($running.Count -lt {PARALLEL} -and $next -lt $jobs.Count) {{\n"
    "    try { $running[$next]=Start-Tenken $jobs[$next] }\n"
    "    catch { $res.Add((Out-Tenken $next -1 0 1 ([byte[]]@()) ([System.Text.Encoding]::UTF8.GetBytes($_.Exception.Message)))) }\n"
    "    $next++\n"
    "  }\n"
    "  foreach ($k in @($running.Keys)) {\n"
    "    $r=$running[$k]\n"
    "    if ($r.P.HasExited) { $r.P.WaitForExit(); [void]$r.TO.Wait(10000); [void]$r.TE.Wait(10000)\n"
    "      $res.Add((Out-Tenken $k $r.P.ExitCode 0 0 $r.O.ToArray() $r.E.ToArray())); $running.Remove($k) }\n"
    "    elseif ($r.W.ElapsedMilliseconds -gt $jobs[$k].T) {\n"
    "      & taskkill.exe /T /F /PID $r.P.Id | Out-Null\n"
    "      $res.Add((Out-Tenken $k -1 1 0 $r.O.ToArray() $r.E.ToArray())); $running.Remove($k) }\n"
    "  }\n"
    "  if ($running.Count -gt 0) { Start-Sleep -Milliseconds 40 }\n"
    "}\n"
    f"[Console]::Out.Write('{MARKER}' + [char]10 + '[' + ($res -join ',') + ']')\n"
)


@dataclass(frozen=True)
class Job:
    """One script (`ps`: the -EncodedCommand text) or console command line (`cmd`) with its timeout."""

    kind: str
    arg: str
    timeout: float


@dataclass(frozen=True)
class JobResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    start_failed: bool


class BatchAnswerError(ValueError):
    """The answer is not a well-formed reply to the jobs sent (damaged, cut, or not the wrapper's)."""


def encode_jobs(jobs: list[Job]) -> bytes:
    """The wrapper's stdin: one base64 line of the gzip'd job list."""
    lines = []
    for j in jobs:
        arg = j.arg if j.kind == "ps" else base64.b64encode(j.arg.encode("utf-8")).decode("ascii")
        lines.append(f"{j.kind}\t{max(1, int(j.timeout * 1000))}\t{arg}")
    packed = gzip.compress("\n".join(lines).encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed) + b"\r\n"


def parse_answer(out: bytes, n_jobs: int) -> dict[int, JobResult]:
    """Each job's result, by index. Raises BatchAnswerError for anything but the wrapper's full answer.

    Every job sent must be answered exactly once: a missing, repeated or out-of-range index means the
    answer cannot be attributed safely, so none of it is used (the collectors then run on demand).
    """
    text = out.decode("utf-8", "replace").lstrip("\ufeff")
    head, sep, body = text.partition("\n")
    if not sep or head.strip() != MARKER:
        raise BatchAnswerError("the answer does not start with the batch marker")
    try:
        rows = json.loads(body)
    except ValueError as exc:
        raise BatchAnswerError(f"the answer is not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise BatchAnswerError("the answer is not a JSON array")
    got: dict[int, JobResult] = {}
    for row in rows:
        try:
            i, c, t, s = row["i"], row["c"], row["t"], row["s"]
            if not all(type(v) is int for v in (i, c, t, s)) or t not in (0, 1) or s not in (0, 1):
                raise TypeError
            o = base64.b64decode(row["o"], validate=True)
            e = base64.b64decode(row["e"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise BatchAnswerError(f"a malformed result in the answer: {str(row)[:80]}") from None
        if not 0 <= i < n_jobs or i in got:
            raise BatchAnswerError(f"result index {i} is out of range or repeated")
        got[i] = JobResult(exit_code=c, stdout=o, stderr=e, timed_out=bool(t), start_failed=bool(s))
    if len(got) != n_jobs:
        raise BatchAnswerError(f"{n_jobs - len(got)} of {n_jobs} jobs unanswered")
    return got


def batch_deadline(jobs: list[Job]) -> float:
    """How long the client waits for the whole answer: the wrapper's worst case (it enforces each job's
    timeout itself) plus start-up and transfer margin."""
    if not jobs:
        return 30.0
    waves = -(-len(jobs) // PARALLEL)
    return min(sum(j.timeout for j in jobs), waves * max(j.timeout for j in jobs)) + 30.0 + 2.0 * waves
