"""The ssh/ layer against the emulator's instances (pure-Python SSH sandboxes).

The same code that reaches a real Ubuntu instance: a host key made here, installed by
cloud-init and pinned before the first connection; our user key inline in the create; exec
with streaming and interrupt; the startup log from the path the instance's environment names.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from spheron_jupyter.ssh.connection import open_transport
from spheron_jupyter.ssh.errors import HostKeyChangedError, HostKeyUnknownError
from spheron_jupyter.ssh.hostkeys import (
    KnownHosts,
    fingerprint,
    make_host_key,
)
from spheron_jupyter.ssh.logs import LogReader, LogSource, read_log
from spheron_jupyter.ssh.remote import INTERRUPTED_EXIT, run
from tests.support.emulator_ssh import connect_when_ready


def test_exec_streams_and_returns_the_exit_code(instance):
    with connect_when_ready(instance) as conn:
        out, err = [], []
        code = run(conn, "echo hi; echo oops >&2; exit 4", on_stdout=out.append, on_stderr=err.append)
        assert (code, "".join(out), "".join(err)) == (4, "hi\n", "oops\n")
        # Streamed: the first line arrives while the command still runs.
        seen = []
        started = time.monotonic()
        code = run(conn, "echo first; sleep 1.5; echo late >&2; exit 3",
                   on_output=lambda stream, text: seen.append((stream, text, time.monotonic())))
        ended = time.monotonic()
        assert code == 3
        assert [(stream, text) for stream, text, _ in seen] == [("stdout", "first\n"),
                                                                ("stderr", "late\n")]
        # The proof is the second bound (the line came over 1 s before the end); the first
        # includes opening the channel, so it leaves a loaded CI machine room.
        assert seen[0][2] - started < 3.6 and ended - seen[0][2] > 1.0, \
            "the first line was held back until the command ended"


def test_host_keys_pinned_by_cloud_init_unknown_and_changed(instance, tmp_path):
    connect_when_ready(instance).close()
    # Pinned through cloud-init before the instance existed: accepted with no prompt.
    prompts = []
    open_transport(instance, on_host_key_pinned=lambda *a: prompts.append(a)).close()
    assert prompts == []
    pinned = KnownHosts().lookup(instance.instance_id)
    # The same endpoint under an id we never pinned: refused without TOFU consent, not pinned.
    stranger = dataclasses.replace(instance, instance_id=instance.instance_id + "-other")
    with pytest.raises(HostKeyUnknownError, match="Unknown host key") as unknown:
        open_transport(stranger)
    assert fingerprint(pinned) in str(unknown.value)
    assert KnownHosts().lookup(stranger.instance_id) is None
    # A store that pinned another key for this instance: refused with a clear message.
    other_store = tmp_path / "known_hosts"
    _, other_public = make_host_key()
    KnownHosts(other_store).pin(instance.instance_id, other_public)
    changed = dataclasses.replace(instance, known_hosts_path=other_store)
    with pytest.raises(HostKeyChangedError) as caught:
        open_transport(changed, tofu_consent=True)
    message = str(caught.value)
    assert instance.instance_id in message and "changed" in message and "\n" not in message
    assert fingerprint(pinned) in message and fingerprint(other_public) in message
    assert KnownHosts(other_store).lookup(instance.instance_id) == other_public


def test_exec_interrupt(instance):
    with connect_when_ready(instance) as conn:
        stop = threading.Event()
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        assert run(conn, "sleep 60", interrupt=stop) in (INTERRUPTED_EXIT, 130, 143, 137)
        assert time.monotonic() - started < 18  # far from the 60 s the sleep would take
        assert run(conn, "true") == 0


def test_startup_log_and_follow(instance):
    with connect_when_ready(instance) as conn:
        deadline = time.monotonic() + 20
        while "provisioning done" not in read_log(conn, LogSource.parse("startup")):
            assert time.monotonic() < deadline, "startup log never showed the runcmd output"
            time.sleep(0.2)
        run(conn, "echo first > work.log")
        lines, stop = [], threading.Event()
        reader = LogReader(conn, LogSource.parse("file", "work.log"), follow=True)
        thread = threading.Thread(target=reader.read, args=(lines.extend, stop), daemon=True)
        thread.start()
        run(conn, "sleep 0.3; echo second >> work.log")
        deadline = time.monotonic() + 30
        while lines != ["first", "second"] and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join(10)
        assert lines == ["first", "second"]
