"""Cloud-init for emulated instances: the subset the Spheron API passes through.

``writeFiles`` land under the instance root (never the host's /etc), ``packages`` are only
recorded (no apt here), and ``runcmd`` runs for real with bash, its output appended to the
instance's startup log in the shape of a real ``/var/log/cloud-init-output.log``, so code that
waits for "Cloud-init ... finished" works the same against both.

Like the real thing, boot happens in two stages: ``init`` writes files before sshd starts (this
is what lets a client pin a host key it installed itself), ``final`` runs the commands while
the instance already accepts connections.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import os
import shlex
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from spheron_jupyter.emulator.sandbox import InstanceSandbox

VERSION = "24.1.3-0spheron-emulator"


class StartupLog:
    """Appends cloud-init style lines to the instance's startup log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")

    def stage(self, name: str) -> None:
        now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
        self.write(f"Cloud-init v. {VERSION} running '{name}' at {now}. Up {self._up()} seconds.")

    def finished(self) -> None:
        now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
        self.write(f"Cloud-init v. {VERSION} finished at {now}. Datasource DataSourceSpheronEmulator."
                   f"  Up {self._up()} seconds")

    def note(self, module: str, level: str, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        self.write(f"{stamp} - {module}[{level}]: {text}")

    def _up(self) -> str:
        return f"{time.monotonic() - self.started + 4.0:.2f}"  # a VM has been up a few s by now


def _field(spec: dict[str, Any], *names: str, default: Any = None) -> Any:
    """Accept both the API's camelCase and cloud-config's snake_case spellings."""
    for name in names:
        if name in spec and spec[name] is not None:
            return spec[name]
    return default


def decode_content(content: Any, encoding: str | None) -> bytes:
    """Decode a writeFiles entry the way cloud-init does (b64, gzip, gz+b64 and spellings)."""
    encoding = (encoding or "text/plain").strip().lower()
    if isinstance(content, bytes):
        raw = content
    else:
        raw = str(content if content is not None else "").encode("utf-8")
    if encoding in ("b64", "base64"):
        return base64.b64decode(raw)
    if encoding in ("gz+b64", "gzip+b64", "gz+base64", "gzip+base64"):
        return gzip.decompress(base64.b64decode(raw))
    if encoding in ("gz", "gzip"):
        # JSON cannot carry raw gzip bytes; tolerate base64 text or latin-1 smuggled bytes.
        if isinstance(content, str) and not content.startswith("\x1f\x8b"):
            try:
                return gzip.decompress(base64.b64decode(raw, validate=True))
            except (binascii.Error, OSError):
                pass
        return gzip.decompress(content.encode("latin-1") if isinstance(content, str) else raw)
    return raw


def _permissions(value: Any) -> int:
    if value is None or value == "":
        return 0o644
    if isinstance(value, int):
        return value
    return int(str(value), 8)


def write_files(sandbox: InstanceSandbox, entries: list[dict[str, Any]], log: StartupLog,
                *, deferred: bool) -> list[Path]:
    """Apply the writeFiles entries of one stage; a bad entry is logged, the others still land."""
    written = []
    for entry in entries or []:
        if bool(_field(entry, "defer", default=False)) != deferred:
            continue
        path = str(_field(entry, "path", default=""))
        try:
            target = sandbox.host_path(path)
            data = decode_content(_field(entry, "content", default=""), _field(entry, "encoding"))
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = "ab" if _field(entry, "append", default=False) else "wb"
            with open(target, mode) as handle:
                handle.write(data)
            os.chmod(target, _permissions(_field(entry, "permissions")))
            written.append(target)
        except (ValueError, OSError, binascii.Error) as error:
            log.note("cc_write_files.py", "WARNING", f"Failed to write {path!r}: {error}")
    return written


def runcmd_script(commands: list[Any]) -> str:
    """cloud-init's runcmd rule: a string is a shell line as is, a list is argv to quote."""
    lines = ["#!/bin/bash"]
    for command in commands or []:
        if isinstance(command, (list, tuple)):
            lines.append(shlex.join(str(part) for part in command))
        else:
            lines.append(str(command))
    return "\n".join(lines) + "\n"


def init_stage(sandbox: InstanceSandbox, spec: dict[str, Any] | None, log: StartupLog) -> None:
    """Everything before sshd starts: the log header and the non-deferred files."""
    spec = spec or {}
    log.stage("init-local")
    log.stage("init")
    write_files(sandbox, _field(spec, "writeFiles", "write_files", default=[]), log, deferred=False)


def final_stage(sandbox: InstanceSandbox, spec: dict[str, Any] | None, log: StartupLog) -> bool:
    """Packages and runcmd, with sshd already up; returns whether every module succeeded."""
    spec = spec or {}
    log.stage("modules:config")
    write_files(sandbox, _field(spec, "writeFiles", "write_files", default=[]), log, deferred=True)
    packages = _field(spec, "packages", default=[]) or []
    if packages:
        names = [" ".join(map(str, p)) if isinstance(p, (list, tuple)) else str(p) for p in packages]
        log.write("emulator: would install packages: " + ", ".join(names)
                  + " (an emulated instance installs no packages)")
    log.stage("modules:final")
    succeeded = True
    commands = _field(spec, "runcmd", default=[]) or []
    if commands:
        succeeded = _run_commands(sandbox, commands, log)
    _mark_finished(sandbox, succeeded)
    log.finished()
    return succeeded


def _run_commands(sandbox: InstanceSandbox, commands: list[Any], log: StartupLog) -> bool:
    script = sandbox.cloud_dir / "scripts" / "runcmd"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(runcmd_script(commands))
    script.chmod(0o700)
    with open(sandbox.startup_log, "ab") as output:
        process = sandbox.spawn(["bash", str(script)], env=sandbox.boot_environment(),
                                cwd=sandbox.root, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=subprocess.STDOUT)
    status = process.wait()
    if status == 0:
        return True
    log.note("cc_scripts_user.py", "WARNING",
             "Failed to run module scripts-user (scripts in /var/lib/cloud/instance/scripts)")
    log.note("util.py", "WARNING", f"Running module scripts_user failed: runcmd exited with {status}")
    return False


def _mark_finished(sandbox: InstanceSandbox, succeeded: bool) -> None:
    (sandbox.cloud_dir / "result").write_text("done\n" if succeeded else "error\n")
    (sandbox.cloud_dir / "boot-finished").write_text(f"{time.time():.2f}\n")


def already_booted(sandbox: InstanceSandbox) -> bool:
    """cloud-init runs once per instance; an emulator restart must not run runcmd again."""
    return (sandbox.cloud_dir / "boot-finished").exists()
