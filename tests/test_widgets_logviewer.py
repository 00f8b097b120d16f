"""The log viewer: highlighting, bounds, filter, rate of updates, and follow/stop/download on a
real instance of the emulator."""

from __future__ import annotations

import threading
import time

import pytest

from spheron_jupyter.notebook.widgets.logviewer import VIEW_LINES, LogViewer, classify
from spheron_jupyter.session.core import Session
from tests.test_widgets_panels import wait_for

TRAINING_LOG = [
    "epoch 1 loss 0.9",
    "Traceback (most recent call last):",
    '  File "train.py", line 12, in <module>',
    "    model(batch)",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "epoch 2 loss 0.8",
    "node3:1234:1240 [0] NCCL WARN Net : Connection closed by remote peer",
    "Traceback (most recent call last):",
    '  File "dist.py", line 3, in <module>',
    "ValueError: bad rank",
    "all done",
]


def test_classify_tracebacks_oom_and_nccl():
    kinds, inside = [], False
    for line in TRAINING_LOG:
        kind, inside = classify(line, inside)
        kinds.append(kind)
    assert kinds == ["plain", "traceback", "traceback", "traceback", "oom", "plain", "nccl",
                     "traceback", "traceback", "traceback", "plain"]
    assert classify("RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1191", False)[0] == "nccl"
    assert classify("[reconnecting to the instance]", False)[0] == "notice"


@pytest.fixture
def offline_viewer():
    viewer = LogViewer(session=None, ref="box", start=False)
    yield viewer
    viewer.close()


def test_highlighting_filter_and_counts(offline_viewer):
    viewer = offline_viewer
    for line in TRAINING_LOG:
        viewer.add(line)
    viewer.render()
    viewer.ui.flush()
    out = viewer.output.value
    assert "<span class='log-traceback'" in out and "<span class='log-oom'" in out
    assert "<span class='log-nccl'" in out and "epoch 1 loss 0.9" in out
    assert viewer.counts == {"traceback": 2, "oom": 1, "nccl": 1}
    assert "2 tracebacks | 1 CUDA out-of-memory | 1 NCCL errors" in viewer.counter.value
    viewer.filter.value = "EPOCH"  # case-insensitive
    viewer.render()
    viewer.ui.flush()
    assert "2 of 11 lines shown" in viewer.counter.value
    assert "epoch 2" in viewer.output.value and "Traceback" not in viewer.output.value
    viewer.add("<script>alert(1)</script>")  # a log line is text, never markup
    viewer.filter.value = ""
    viewer.render()
    viewer.ui.flush()
    assert "<script>" not in viewer.output.value and "&lt;script&gt;" in viewer.output.value


def test_bounded_view_counts_dropped_lines_and_coalesces_updates(offline_viewer):
    viewer = offline_viewer
    started = time.monotonic()
    applied_before = viewer.ui.applied
    for i in range(VIEW_LINES + 4000):
        viewer.add(f"line {i}")
    viewer.add("[250 lines dropped: the reader was ahead of the display]")
    elapsed = time.monotonic() - started
    time.sleep(0.25)  # the last change is flushed by the coalescer's timer, not held back
    assert len(viewer.lines) == VIEW_LINES
    assert viewer.dropped == 4001 + 250
    assert f"{VIEW_LINES} lines | {4001 + 250} dropped" in viewer.counter.value
    assert f"line {VIEW_LINES + 3999}" in viewer.output.value
    batches = viewer.ui.applied - applied_before
    assert batches <= 10 * elapsed + 3, f"{batches} updates in {elapsed:.2f} s"


@pytest.fixture
def booted(emulator):
    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    offer = next(o for o in session.offers(gpu="rtx-4090") if o.supports_cloud_init)
    script = "\n".join(f"echo {line!r}" for line in TRAINING_LOG[:5])
    view = session.launch(session.plan_launch(offer.offer_id, name="logs-box", startup=script))
    return session, view


def test_follow_stop_tail_and_full_download(booted):
    session, view = booted
    viewer = LogViewer(session, view.id, tail=3)
    try:
        wait_for(lambda: len(viewer.lines) >= 3, what="the tail")
        full = [line.rstrip("\n") for line in session.logs(view.id)]
        assert len(full) > 3 and [t for t, _ in viewer.lines] == full[-3:]  # tail 3: 3 lines
        log_path = []
        session.exec(view.id, "echo $SPHERON_STARTUP_LOG",
                     lambda stream, text: log_path.append(text.strip()))
        session.exec(view.id, f"for i in 1 2 3; do echo follow-$i >> {log_path[0]}; done; "
                     f"echo 'NCCL WARN peer lost' >> {log_path[0]}", lambda *a: None)
        wait_for(lambda: viewer.counts["nccl"] == 1, what="followed lines")
        assert [t for t, _ in viewer.lines][-4:] == ["follow-1", "follow-2", "follow-3",
                                                     "NCCL WARN peer lost"]
        wait_for(lambda: "log-nccl" in viewer.output.value, what="the view to follow")
        reader = viewer._reader
        viewer.follow.value = False  # stops the follow; re-reads the tail without following
        wait_for(lambda: not reader.is_alive(), timeout=15, what="the follow to stop")
        assert viewer.wait_idle(30)
        assert viewer.last_message[1] != "error", viewer.last_message
        viewer.download.click()
        assert viewer.wait_idle(30)
        saved = viewer.download_path.read_text().splitlines()
        assert saved[-1] == "NCCL WARN peer lost" and "epoch 1 loss 0.9" in saved
        assert "Traceback (most recent call last):" in saved and len(saved) > 3
        assert "download=" in viewer.link.value and "base64," in viewer.link.value
    finally:
        viewer.close()
    assert not any(t.name == "spheron-panel-logs" and t.is_alive() for t in threading.enumerate())
