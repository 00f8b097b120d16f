"""The panels' background machinery: coalesced trait updates, jobs that report instead of
printing, and stopping a running job (the exec box's "stop")."""

from __future__ import annotations

import threading
import time

import pytest

from spheron_jupyter.notebook.widgets._background import Background, UiUpdates, interrupt_thread


class Target:
    value = None


def test_updates_from_many_threads_are_coalesced_and_the_last_value_wins():
    ui = UiUpdates()
    target = Target()
    started = time.monotonic()

    def hammer(offset: int) -> None:
        for i in range(2000):
            ui.set(target, value=offset + i)

    threads = [threading.Thread(target=hammer, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    time.sleep(0.25)  # the last change goes out on the coalescer's timer
    assert ui.applied <= 10 * elapsed + 3, f"{ui.applied} batches in {elapsed:.2f} s"
    assert target.value % 10_000 == 1999  # the final value of some thread, not an old one


def test_a_batch_goes_out_together():
    ui = UiUpdates()
    a, b = Target(), Target()
    with ui.batch():
        ui.set(a, value=1)
        time.sleep(0.15)  # longer than the coalescing window: still nothing sent
        assert a.value is None
        ui.set(b, value=2)
    time.sleep(0.2)
    assert (a.value, b.value) == (1, 2)


def test_job_errors_are_reported_as_one_line_not_printed(capsys):
    errors = []
    jobs = Background(on_error=errors.append)

    def fails():
        raise ValueError("the API said no\nsecond line")

    jobs.run("failing", fails)
    jobs.run("done", lambda: 42, on_done=lambda value: errors.append(f"got {value}"))
    jobs.run("interrupted", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert jobs.wait_idle(10)
    assert sorted(errors) == ["got 42", "the API said no second line"]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_every_keeps_going_after_a_failing_tick_and_stops_on_request():
    errors, ticks = [], []
    jobs = Background(on_error=errors.append)

    def tick():
        ticks.append(1)
        if len(ticks) == 2:
            raise RuntimeError("one bad refresh")

    thread = jobs.every("tick", lambda: 0.05, tick)
    deadline = time.monotonic() + 10
    while len(ticks) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    jobs.stop()
    thread.join(5)
    assert not thread.is_alive() and len(ticks) >= 5
    assert errors == ["unexpected RuntimeError: one bad refresh (SPHERON_JUPYTER_DEBUG=1 shows where)"]


def test_interrupt_ends_a_waiting_job_quietly():
    errors = []
    jobs = Background(on_error=errors.append)
    never = threading.Event()
    thread = jobs.run("waiting", lambda: [never.wait(0.1) for _ in range(600)])
    time.sleep(0.2)
    assert interrupt_thread(thread, KeyboardInterrupt)
    assert jobs.wait_idle(5) and errors == []
    assert not interrupt_thread(thread, KeyboardInterrupt)  # already over


@pytest.fixture
def box(emulator):
    from spheron_jupyter.session.core import Session

    session = Session("local", url=emulator.url, api_key=emulator.api_key)
    return session, session.launch(session.plan_launch(gpu="rtx-4090", name="exec-box"))


def test_exec_box_stop_ends_a_long_command(box):
    from spheron_jupyter.notebook.widgets.execbox import ExecBox

    session, view = box
    panel = ExecBox(session, view.id)
    try:
        panel.command.value = "echo started; sleep 60; echo never"
        panel.run_button.click()
        deadline = time.monotonic() + 30
        while "started" not in panel.text and time.monotonic() < deadline:
            time.sleep(0.05)
        panel.ui.flush()
        assert "started" in panel.text and panel.run_button.disabled
        began = time.monotonic()
        panel.stop_button.click()
        assert panel.wait_idle(20) and time.monotonic() - began < 15
        assert panel.last_message == ("stopped", "warn") and "never" not in panel.text
        assert not panel.run_button.disabled and panel.stop_button.disabled
    finally:
        panel.close()
