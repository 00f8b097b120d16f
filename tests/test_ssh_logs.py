"""Log reading against a real sshd: tail, follow, rotation, truncation, encodings, bounds."""

from __future__ import annotations

import os
import threading
import time

import pytest

from spheron_jupyter.ssh.connection import Connection
from spheron_jupyter.ssh.logs import (
    LineAssembler,
    LogBuffer,
    LogCursor,
    LogReader,
    LogReadError,
    LogSource,
    read_log,
    stream,
)


@pytest.fixture
def conn(sshd):
    with Connection.open(sshd.target("inst-logs", pin=True)) as connection:
        yield connection


class Follower:
    """Runs a following LogReader in a thread and collects what it delivers."""

    def __init__(self, connect, path, **kwargs):
        self.lines: list[str] = []
        self.notices: list[str] = []
        self.stop = threading.Event()
        self.reader = LogReader(connect, LogSource.parse("file", str(path)), follow=True,
                                on_notice=self.notices.append, **kwargs)
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.reader.read(self.lines.extend, self.stop)
        except BaseException as exc:  # reported by the test
            self.error = exc

    # Generous: the deadline only matters when the test fails; a loaded CI machine can take
    # seconds to start the remote reader's session.
    def wait_for(self, predicate, seconds=60.0):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if predicate(self.lines):
                return True
            assert self.error is None, self.error
            time.sleep(0.02)
        return False

    def close(self):
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def _append(path, data: bytes):
    with open(path, "ab") as handle:
        handle.write(data)


def test_tail_and_whole_file(conn, tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "no newline at end")
    source = LogSource.parse("file", str(log))
    assert read_log(conn, source, tail=3) == ["line 98", "line 99", "no newline at end"]
    whole = read_log(conn, source)
    assert len(whole) == 101 and whole[0] == "line 0"
    assert read_log(conn, source, tail=0) == []


def test_missing_file_is_a_clear_error(conn, tmp_path):
    with pytest.raises(LogReadError) as caught:
        read_log(conn, LogSource.parse("file", str(tmp_path / "nope.log")))
    assert "no such file" in str(caught.value)


def test_follow_streams_new_lines_quickly(conn, tmp_path):
    log = tmp_path / "train.log"
    log.write_text("old\n")
    follower = Follower(conn, log, tail=10)
    try:
        assert follower.wait_for(lambda lines: lines == ["old"])
        written = time.monotonic()
        _append(log, b"epoch 1\n")
        assert follower.wait_for(lambda lines: lines[-1:] == ["epoch 1"])
        # The reader polls every 0.1 s; 6 s leaves room for a loaded CI machine (a line held
        # until the follow stops would never arrive here at all).
        assert time.monotonic() - written < 6.0
    finally:
        follower.close()
    cursor = follower.reader.current_cursor()
    assert cursor.offset == log.stat().st_size and cursor.inode == log.stat().st_ino


def test_follow_waits_for_a_file_that_does_not_exist_yet(conn, tmp_path):
    log = tmp_path / "later.log"
    follower = Follower(conn, log)
    try:
        end = time.monotonic() + 60
        while not any("waiting" in n for n in follower.notices) and time.monotonic() < end:
            time.sleep(0.02)
        assert any("waiting" in n for n in follower.notices)
        log.write_text("finally\n")
        assert follower.wait_for(lambda lines: lines == ["finally"])
    finally:
        follower.close()


def test_rotation_drains_the_old_file_then_follows_the_new(conn, tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("a1\n")
    follower = Follower(conn, log)
    try:
        assert follower.wait_for(lambda lines: lines == ["a1"])
        # Pause the reader's view: rename, a late write to the old file, then the new file.
        os.rename(log, tmp_path / "svc.log.1")
        _append(tmp_path / "svc.log.1", b"a2\n")
        log.write_text("b1\n")
        assert follower.wait_for(lambda lines: lines[-1:] == ["b1"])
        assert follower.lines == ["a1", "a2", "b1"]
        assert any("rotated" in n for n in follower.notices)
    finally:
        follower.close()


def test_truncation_restarts_from_the_beginning(conn, tmp_path):
    log = tmp_path / "trunc.log"
    log.write_text("one\ntwo\n")
    follower = Follower(conn, log)
    try:
        assert follower.wait_for(lambda lines: lines == ["one", "two"])
        with open(log, "w"):
            pass
        time.sleep(0.5)
        _append(log, b"three\n")
        assert follower.wait_for(lambda lines: lines[-1:] == ["three"])
        assert follower.lines == ["one", "two", "three"]
        assert any("truncated" in n for n in follower.notices)
    finally:
        follower.close()


def test_non_utf8_and_split_multibyte(conn, tmp_path):
    log = tmp_path / "bytes.log"
    log.write_bytes(b"bad \xff\xfe byte\ncaf\xc3")
    follower = Follower(conn, log)
    try:
        assert follower.wait_for(lambda lines: lines == ["bad \ufffd\ufffd byte"])
        end = time.monotonic() + 60  # until the reader has seen half of the "é"
        while follower.reader._offset < log.stat().st_size and time.monotonic() < end:
            time.sleep(0.02)
        assert follower.reader._assembler.pending_bytes == 4
        _append(log, b"\xa9 ok\n")
        assert follower.wait_for(lambda lines: lines[-1:] == ["café ok"])
    finally:
        follower.close()


def test_ten_megabyte_line_is_bounded(conn, tmp_path):
    log = tmp_path / "huge.log"
    size = 10 * 1024 * 1024
    log.write_bytes(b"start\n" + "é".encode() * (size // 2) + b"\nafter\n")
    lines = read_log(conn, LogSource.parse("file", str(log)))
    assert lines[0] == "start" and lines[2] == "after" and len(lines) == 3
    kept, marker = lines[1].split(" … ", 1)
    assert set(kept) == {"é"} and len(kept.encode()) <= 64 * 1024
    assert f"[{size - len(kept.encode())} more bytes" in marker


def test_million_line_burst_is_fast_and_complete(conn, tmp_path):
    log = tmp_path / "burst.log"
    log.write_text("")
    count = [0]
    last = [None]

    def take(lines):
        count[0] += len(lines)
        last[0] = lines[-1]

    stop = threading.Event()
    reader = LogReader(conn, LogSource.parse("file", str(log)), follow=True)
    thread = threading.Thread(target=reader.read, args=(take, stop), daemon=True)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    with open(log, "w") as handle:
        handle.writelines(f"step {i} loss {i * 0.001:.3f}\n" for i in range(1, 1_000_001))
    deadline = time.monotonic() + 60
    while count[0] < 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(10)
    assert count[0] == 1_000_000 and last[0] == "step 1000000 loss 1000.000"
    assert elapsed < 30, f"{elapsed:.1f} s for 1M lines"


def test_slow_consumer_gets_newest_lines_and_a_drop_count(sshd, tmp_path):
    log = tmp_path / "burst2.log"
    log.write_text("".join(f"{i}\n" for i in range(200_000)))
    seen = 0
    dropped = 0
    for line in stream(sshd.target("inst-logs", pin=True), source="file", name=str(log),
                       max_lines=1000):
        if line.startswith("[") and "dropped" in line:
            dropped += int(line[1:].split()[0])
        else:
            seen += 1
            last = line
        time.sleep(0.00001)
    assert seen + dropped == 200_000 and dropped > 0
    assert last == "199999"


def test_cursor_resumes_without_repeats_or_gaps(conn, tmp_path):
    log = tmp_path / "resume.log"
    log.write_text("a\nb\npartial")
    follower = Follower(conn, log)
    assert follower.wait_for(lambda lines: lines == ["a", "b"])
    time.sleep(0.3)
    follower.close()
    cursor = LogCursor.loads(follower.reader.current_cursor().dumps())
    assert cursor.offset == 4  # at the start of the unfinished line
    _append(log, b" done\nc\n")
    lines = read_log_from(conn, log, cursor)
    assert lines == ["partial done", "c"]


def read_log_from(conn, log, cursor):
    lines = []
    LogReader(conn, LogSource.parse("file", str(log)), cursor=cursor).read(lines.extend)
    return lines


def test_follow_survives_a_server_restart(sshd, tmp_path):
    log = tmp_path / "restart.log"
    log.write_text("before\n")
    follower = Follower(sshd.target("inst-rs", pin=True), log)
    try:
        assert follower.wait_for(lambda lines: lines == ["before"])
        sshd.restart()
        _append(log, b"during\n")
        assert follower.wait_for(lambda lines: lines[-1:] == ["during"], seconds=90)
        _append(log, b"after\n")
        assert follower.wait_for(lambda lines: lines[-1:] == ["after"])
        assert follower.lines == ["before", "during", "after"]
        assert any("reconnecting" in n for n in follower.notices)
    finally:
        follower.close()


def test_startup_log_path_comes_from_the_instance(sshd_factory, tmp_path):
    startup = tmp_path / "cloud-init-output.log"
    startup.write_text("Cloud-init v. 23.1 running\nbooted\n")
    server = sshd_factory(f"SetEnv SPHERON_STARTUP_LOG={startup}")
    with Connection.open(server.target("inst-boot", pin=True)) as connection:
        assert read_log(connection, LogSource.parse("startup"), tail=1) == ["booted"]


def test_stream_api_with_cursor_strings(sshd, tmp_path):
    log = tmp_path / "s.log"
    log.write_text("x\ny\n")
    cursors = []
    lines = list(stream(sshd.target("inst-s", pin=True), source="file", name=str(log),
                        tail=1, on_cursor=cursors.append))
    assert lines == ["y"]
    assert LogCursor.loads(cursors[-1]).offset == 4


def test_line_assembler_bounds_and_carriage_returns():
    assembler = LineAssembler(max_line_bytes=8)
    assert assembler.feed(b"10%\r100%\r\nok\n") == ["100%", "ok"]
    # A progress bar that never ends its line keeps only its latest state.
    for step in range(1000):
        assert assembler.feed(f"\r{step}%".encode()) == []
    assert assembler.pending_bytes <= 8
    assert assembler.feed(b"\r\n") == ["999%"]
    assert assembler.feed("ééééé".encode()) == []
    assert assembler.pending_bytes == 10
    line = assembler.feed(b"\n")[0]
    assert line.startswith("éééé …") and "[2 more bytes" in line
    assert assembler.feed(b"\xe2\x82") == [] and assembler.feed(b"\xac\n") == ["€"]


def test_log_buffer_drops_oldest_and_counts():
    buffer = LogBuffer(max_lines=3)
    buffer.put(["1", "2"])
    buffer.put(["3", "4", "5"])
    lines, dropped, done = buffer.get(timeout=0)
    assert lines == ["3", "4", "5"] and dropped == 2 and not done
    buffer.close()
    assert buffer.get(timeout=0) == ([], 0, True)


def test_follow_retries_a_failed_exec_on_a_live_connection(conn, tmp_path, monkeypatch):
    import spheron_jupyter.ssh.logs as logs_module
    from spheron_jupyter.ssh.errors import SshError

    real_run = logs_module.run
    failures = []

    def flaky_run(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise SshError("Remote command failed: Channel closed.")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(logs_module, "run", flaky_run)
    log = tmp_path / "retry.log"
    log.write_text("one\n")
    follower = Follower(conn, log)
    try:
        assert follower.wait_for(lambda lines: lines == ["one"])
        assert failures and any("reconnecting" in n for n in follower.notices)
    finally:
        follower.close()
