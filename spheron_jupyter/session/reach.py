"""Reaching a running instance: ssh details, Jupyter/TensorBoard/any port through tunnels, logs,
events and exec.

Tunnels belong to the per-user tunnel agent (ssh/tunnel.py), not to this kernel: they survive a
kernel restart, and the ledger remembers what each one is for. ``jupyter`` asks the instance for
its running server first (the services layer reuses one instead of starting a second) and then
reuses the agent's tunnel to that remote port when there is one.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..ledger import EventRecord, TunnelRecord
from . import sshbridge
from .errors import InstanceEndedError, SessionError
from .inventory import Inventory
from .parts import Parts
from .views import InstanceView

if TYPE_CHECKING:
    from ..ssh.services import ServiceInfo
    from ..ssh.tunnel import TunnelInfo


@dataclass
class SshInfo:
    command: str
    config: str
    fingerprint: str | None


@dataclass
class TunnelView:
    id: str
    instance_id: str
    kind: str  # jupyter, tensorboard, forward
    local_port: int
    remote_port: int
    state: str
    instance_name: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}/"

    def row(self) -> dict[str, str]:
        return {"tunnel": self.id, "instance": self.instance_name or self.instance_id,
                "kind": self.kind, "local": f"127.0.0.1:{self.local_port}",
                "remote port": str(self.remote_port), "state": self.state}


class Reach:
    def __init__(self, parts: Parts, inventory: Inventory):
        self.parts = parts
        self.inventory = inventory

    # -- ssh ------------------------------------------------------------------------------------
    def ssh_info(self, ref: str) -> SshInfo:
        """The ssh command and an ssh_config block that check the host key against our pins."""
        view = self.inventory.resolve(ref)
        user = None
        if sshbridge.host_fingerprint(view.id) is None:
            # Never connected (e.g. launched with --no-wait): pin on first use now, shown below.
            _, user = sshbridge.wait_ssh_ready(view, pinned=False, poll=self.parts.poll_interval,
                                               timeout=30.0)
        target = sshbridge.target_for(view, user)
        from ..ssh.hostkeys import KnownHosts

        # The pin options are ssh/hostkeys.py's (the tunnel agent's masters use the same).
        pins = KnownHosts().openssh_options(view.id)[1::2] + ["IdentitiesOnly=yes"]
        options = [tuple(option.split("=", 1)) for option in pins]
        command = " ".join(
            ["ssh", "-i", shlex.quote(str(target.key_path)), "-p", str(target.port)]
            + [f"-o {k}={shlex.quote(v)}" for k, v in options]
            + [f"{target.user}@{target.host}"]
        )
        alias = f"spheron-{view.name or view.id}"
        lines = [f"Host {alias}", f"    HostName {target.host}", f"    Port {target.port}",
                 f"    User {target.user}", f"    IdentityFile {target.key_path}"]
        lines += [f"    {k} {v}" for k, v in options]
        return SshInfo(command, "\n".join(lines), sshbridge.host_fingerprint(view.id))

    # -- tunnels --------------------------------------------------------------------------------
    def jupyter(self, ref: str, *, local_port: int | None = None,
                progress: Callable[[str, str], None] | None = None) -> ServiceInfo:
        """Jupyter on the instance, tunnelled: ``url`` (no token) and ``url_with_token()``."""
        return self._service("jupyter", ref, local_port=local_port, progress=progress)

    def tensorboard(self, ref: str, *, logdir: str | None = None, local_port: int | None = None,
                    progress: Callable[[str, str], None] | None = None) -> ServiceInfo:
        return self._service("tensorboard", ref, local_port=local_port, logdir=logdir,
                             progress=progress)

    def _service(self, kind: str, ref: str, *, local_port: int | None,
                 logdir: str | None = None,
                 progress: Callable[[str, str], None] | None = None) -> ServiceInfo:
        view = self.inventory.resolve(ref)
        target = sshbridge.target_for(view)
        from ..ssh import services

        def say(line: str) -> None:
            if progress is not None:
                progress(kind, line)

        # Jupyter/TensorBoard on the instance's 127.0.0.1 plus its tunnel; reused when running.
        info = (services.start_jupyter(target, local_port=local_port, progress=say)
                if kind == "jupyter" else
                services.start_tensorboard(target, logdir=logdir, local_port=local_port,
                                           progress=say))
        if info.token:
            from ..config.redaction import register_secret

            register_secret(info.token)  # masked in logs and exec output from now on
        if not info.reused:
            self.parts.event(view.id, f"{kind}-started",
                             f"remote 127.0.0.1:{info.remote_port}, pid {info.pid}")
        self._label_tunnel(view, kind, info.tunnel_id, info.local_port, info.remote_port)
        return info

    def forward(self, ref: str, remote_port: int, *, local_port: int | None = None) -> TunnelView:
        """The agent's live tunnel to that remote port when one exists, else a new one."""
        view = self.inventory.resolve(ref)
        from ..ssh.services import forward

        info = forward(sshbridge.target_for(view), int(remote_port), local_port=local_port,
                       name=f"forward:{view.name or view.id}")
        self._label_tunnel(view, "forward", info.id, info.local_port, info.remote_port)
        return self._tunnel_view(info, "forward", view.name)

    def _label_tunnel(self, view: InstanceView, kind: str, tunnel_id: str, local_port: int,
                      remote_port: int) -> None:
        """A tunnel the ledger does not know yet gets its row (a label for the sidebar and the
        proxy, which show it only while the agent serves it) and an event."""
        if tunnel_id in {t.id for t in self.parts.ledger.tunnels(self.parts.api_url)}:
            return
        self.parts.ledger.record_tunnel(TunnelRecord(
            id=tunnel_id, api_url=self.parts.api_url, instance_id=view.id, kind=kind,
            local_port=local_port, remote_port=remote_port, notebook=self.parts.notebook))
        self.parts.event(view.id, "tunnel-opened",
                         f"{kind}: 127.0.0.1:{local_port} -> remote {remote_port}")

    def _tunnel_view(self, info: TunnelInfo, kind: str, name: str | None) -> TunnelView:
        return TunnelView(info.id, info.instance_id, kind, info.local_port, info.remote_port,
                          info.state, name)

    def tunnels(self) -> list[TunnelView]:
        """The agent's tunnels (the truth), labelled from the ledger; stale ledger rows closed."""
        recorded = {t.id: t for t in self.parts.ledger.tunnels()}
        live = sshbridge.tunnel_client().list()
        live_ids = {info.id for info in live}
        for tid in recorded.keys() - live_ids:
            self.parts.ledger.close_tunnel(tid)
        names = {r.id: r.name for r in self.parts.ledger.instances()}
        out = []
        for info in live:
            rec = recorded.get(info.id)
            kind = rec.kind if rec else (info.name or "forward").split(":")[0]
            out.append(self._tunnel_view(info, kind, names.get(info.instance_id)))
        return out

    def close(self, tunnel: str) -> TunnelView:
        """Close a tunnel by id or unique prefix; its local port is free afterwards."""
        views = self.tunnels()
        matches = [t for t in views if t.id == tunnel] or [t for t in views if t.id.startswith(tunnel)]
        if not matches:
            raise SessionError(f"no open tunnel {tunnel!r}: %spheron tunnels lists them")
        if len(matches) > 1:
            raise SessionError(f"{tunnel!r} matches tunnels {', '.join(t.id for t in matches)}")
        sshbridge.tunnel_client().close(matches[0].id)
        self.parts.ledger.close_tunnel(matches[0].id)
        self.parts.event(matches[0].instance_id, "tunnel-closed",
                         f"127.0.0.1:{matches[0].local_port}")
        matches[0].state = "closed"
        return matches[0]

    # -- logs, events, exec ---------------------------------------------------------------------
    def logs(self, ref: str, *, source: str = "startup", name: str | None = None,
             follow: bool = False, tail: int | None = None) -> Iterator[str]:
        """Lines of the startup log, a service's log or a file; ``follow`` keeps going.

        A follow whose connection drops asks the API once about the instance: when it ended
        (reclaimed, failed, terminated elsewhere) the follow ends with one line saying why,
        instead of reconnecting forever.
        """
        p = self.parts
        view = self.inventory.resolve(ref)
        target = sshbridge.target_for(view)
        key = f"{source}:{name or ''}"
        cursor = p.ledger.cursor(p.api_url, view.id, key) if follow and tail is None else None
        from ..ssh.logs import stream

        lines = stream(target, source=source, name=name, follow=follow, tail=tail, cursor=cursor,
                       on_cursor=lambda c: p.ledger.save_cursor(p.api_url, view.id, key, c))
        return self._until_ended(view, lines) if follow else lines

    def _until_ended(self, view: InstanceView, lines: Iterator[str]) -> Iterator[str]:
        try:
            for line in lines:
                if line.startswith("[connection lost"):
                    ended = self._ended(view)
                    if ended is not None:
                        yield f"[{ended}: the follow ends]"
                        return
                yield line
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()  # stops the remote reader and its reconnects

    def _ended(self, view: InstanceView) -> str | None:
        """Why the instance no longer runs (one GET), or None while it still bills."""
        try:
            now = self.inventory.refresh(view)
        except Exception:  # the API is down too: the connection may come back
            return None
        if now.active:
            return None
        return f"instance {view.name or view.id} is {now.status}"

    def exec(self, ref: str, command: str, on_output: Callable[[str, str], None]) -> int:
        """Run a shell command on the instance; output streams to ``on_output(stream, text)``.

        When the connection breaks because the instance ended (a spot reclaim), the error says
        so in one line."""
        from ..ssh.errors import SshError

        p = self.parts
        view = self.inventory.resolve(ref)
        target = sshbridge.target_for(view)
        p.event(view.id, "exec", command.splitlines()[0][:120] if command.strip() else "")
        try:
            from ..ssh.connection import Connection
            from ..ssh.remote import run

            # A KeyboardInterrupt (the stop button) stops the remote process group, then
            # propagates; output comes as text (str) pieces.
            with Connection.open(target, timeout=15.0) as conn:
                return run(conn, command,
                           on_output=lambda stream, data: on_output(stream, str(data)))
        except SshError:
            ended = self._ended(view)
            if ended is not None:
                raise InstanceEndedError(f"{ended}: the command ended with it") from None
            raise

    def events(self, ref: str, *, follow: bool = False,
               should_stop: Callable[[], bool] = lambda: False) -> Iterator[EventRecord]:
        """Our own actions and the status changes seen by polling, oldest first."""
        view = self.inventory.resolve(ref)
        seen = 0
        while True:
            for event in self.parts.ledger.events(self.parts.api_url, view.id, after_seq=seen):
                seen = event.seq
                yield event
            if not follow or should_stop():
                return
            time.sleep(self.parts.poll_interval)
            view = self.inventory.refresh(view)  # reconciling records status transitions as events

    def event_rows(self, events: list[EventRecord]) -> list[dict[str, str]]:
        return [{"time": time.strftime("%H:%M:%S", time.localtime(e.ts)), "event": e.kind,
                 "detail": e.detail} for e in events]
