"""Our own dead-peer detection for a paramiko transport.

paramiko's `set_keepalive` only sends; it never waits for an answer, so a frozen peer (a
SIGSTOPped sshd, a VM paused by its provider, a NAT that silently dropped the flow) goes
unnoticed until TCP gives up, minutes later. This watchdog sends `keepalive@openssh.com`
global requests with want_reply=True every `interval` seconds (OpenSSH answers with
REQUEST_FAILURE, which is an answer all the same) and watches for *any* inbound packet. If
nothing arrives for `misses` intervals the peer is declared dead: the transport is closed and
the callback runs. Defaults (1 s x 3) match OpenSSH's ServerAliveInterval=1/CountMax=3 and
notice a frozen peer in about 3-4 s.

Two threads, on purpose: sending can block (a full socket buffer, a rekey waiting for a peer
that will never answer), and a blocked sender must not stop the checker from noticing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paramiko
from paramiko.common import cMSG_GLOBAL_REQUEST
from paramiko.message import Message

log = logging.getLogger(__name__)


def send_user_message(transport: paramiko.Transport | None, message: Message) -> None:
    """Queue a raw SSH message (a keepalive, a `signal` request) on the transport.

    paramiko has no public call for this: Transport._send_user_message is the one its own
    requests use (it waits out a rekey); types-paramiko declares only the public surface."""
    if transport is None:
        raise EOFError("the channel has no transport any more")
    transport._send_user_message(message)  # type: ignore[attr-defined]


KEEPALIVE_REQUEST = "keepalive@openssh.com"


class Watchdog:
    """Watches one transport. `start()` once; `stop()` is idempotent."""

    def __init__(
        self,
        transport: paramiko.Transport,
        *,
        interval: float = 1.0,
        misses: int = 3,
        on_dead: Callable[[str], None] | None = None,
        name: str = "ssh",
    ) -> None:
        if interval <= 0 or misses < 1:
            raise ValueError("interval must be > 0 and misses >= 1")
        self.transport = transport
        self.interval = interval
        self.misses = misses
        self.on_dead = on_dead
        self.name = name
        self.dead_reason: str | None = None
        self._last_inbound = time.monotonic()
        self._stop = threading.Event()
        self._fired = threading.Lock()
        self._has_fired = False
        self._threads: list[threading.Thread] = []

    # Every inbound packet, whatever it is, proves the peer is alive. Wrapping the packetizer's
    # read_message on this one instance is cheaper than a second probe channel and also counts
    # bulk channel data, so a busy tunnel whose reply is queued behind data is not declared dead.
    def _hook_inbound(self) -> None:
        packetizer = self.transport.packetizer
        original = packetizer.read_message

        def read_message_and_note_liveness() -> tuple[int, Message]:
            result = original()
            self._last_inbound = time.monotonic()
            return result

        # An instance attribute shadows the method for this one packetizer only.
        setattr(packetizer, "read_message", read_message_and_note_liveness)  # noqa: B010

    @property
    def silence(self) -> float:
        """Seconds since the last packet from the peer."""
        return time.monotonic() - self._last_inbound

    def start(self) -> Watchdog:
        self._hook_inbound()
        self._last_inbound = time.monotonic()
        for target, role in ((self._probe_loop, "probe"), (self._check_loop, "check")):
            thread = threading.Thread(
                target=target, name=f"spheron-watchdog-{role}-{self.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()

    def _probe_loop(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.transport.is_active():
                return
            try:
                message = Message()
                message.add_byte(cMSG_GLOBAL_REQUEST)
                message.add_string(KEEPALIVE_REQUEST)
                message.add_boolean(True)
                # Not transport.global_request(): it has no timeout and shares one completion
                # event with port-forward requests, which a concurrent probe would steal.
                send_user_message(self.transport, message)
            except Exception:  # the checker decides; a failed send is not a verdict by itself
                if not self.transport.is_active():
                    return

    def _check_loop(self) -> None:
        limit = self.interval * self.misses
        # Check several times per interval so the verdict lands soon after the limit passes.
        step = min(self.interval / 4, 0.25)
        while not self._stop.wait(step):
            if not self.transport.is_active():
                self._declare_dead("the connection closed")
                return
            if self.silence > limit:
                self._declare_dead(
                    f"no answer from the server for {self.silence:.1f} s "
                    f"({self.misses} keepalives unanswered)"
                )
                return

    def _declare_dead(self, reason: str) -> None:
        with self._fired:
            if self._has_fired or self._stop.is_set():
                return
            self._has_fired = True
        self.dead_reason = reason
        self._stop.set()
        log.info("SSH peer %s declared dead: %s.", self.name, reason)
        try:
            self.transport.close()
        except Exception:
            pass
        if self.on_dead is not None:
            try:
                self.on_dead(reason)
            except Exception:
                log.exception("watchdog callback failed")
