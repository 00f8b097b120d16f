"""Start an unprivileged OpenSSH sshd on 127.0.0.1 for the benchmarks (no root, no system files)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BenchSshd:
    root: Path
    port: int
    user: str
    client_key: Path
    host_public_line: str  # "<type> <base64>"
    process: subprocess.Popen

    host = "127.0.0.1"

    def known_hosts_for(self, alias: str) -> Path:
        """An OpenSSH known_hosts file pinning the host key under `alias` (HostKeyAlias)."""
        path = self.root / f"known_hosts_{alias}"
        path.write_text(f"{alias} {self.host_public_line}\n")
        return path

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def start_sshd(extra_config: str = "") -> BenchSshd:
    if os.geteuid() == 0:
        # sshd started by root insists on its privilege-separation dir (the package creates it
        # at boot via tmpfiles.d, which containers skip).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-sshd-"))
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)],
                       check=True)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    port = free_port()
    (root / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {root / 'host_key'}\n"
        f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nAllowTcpForwarding yes\n"
        "LogLevel ERROR\n" + extra_config
    )
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    host_line = " ".join((root / "host_key.pub").read_text().split()[:2])
    return BenchSshd(root, port, getpass.getuser(), root / "client_key", host_line, process)
