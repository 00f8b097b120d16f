"""Where to connect: the one value every ssh/ entry point takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SshTarget:
    """An instance's SSH endpoint plus the credentials and pin store used to reach it.

    `instance_id` is the key for host-key pinning: IPs are reused across instances, ids are not.
    `key_path` is the private key file (never its contents, so reprs stay free of secrets).
    `known_hosts_path` None means our default pinned store under the config paths.
    """

    host: str
    port: int
    user: str
    instance_id: str
    key_path: Path
    known_hosts_path: Path | None = None

    @property
    def address(self) -> str:
        """host:port, with brackets for IPv6 literals, for messages."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"
