"""GPU telemetry end to end on the emulator: its instances' nvidia-smi (emulator/gpu_shim.py),
read over SSH (ssh/gpu.py) by the session's telemetry (ssh/gpu_telemetry.py), shown by
``%spheron gpu`` and the dashboard, with the idle-while-billing warning.

The load is driven the two ways the shim documents: a real CPU-bound process on the instance
(started with exec over SSH), and the test hook file ``run/emulator-gpu-load`` written on the
instance (also over SSH). The idle limit is a short setting (3 s), so the warning fires here.
"""

from __future__ import annotations

import time

import pytest

from spheron_jupyter.session.sshbridge import target_for
from spheron_jupyter.ssh import gpu_telemetry as telemetry
from spheron_jupyter.ssh.gpu_telemetry import GpuTelemetry, sparkline
from tests.test_widgets_panels import wait_for

HOOK = '"$SPHERON_INSTANCE_ROOT/run/emulator-gpu-load"'


def _exec(session, ref, command) -> str:
    out: list[str] = []
    code = session.exec(ref, command, lambda stream, text: out.append(text))
    assert code == 0, "".join(out)
    return "".join(out)


@pytest.fixture
def session(emulator_session):
    return emulator_session


@pytest.fixture
def box(session):
    plan = session.plan_launch(gpu="rtx-4090", name="gpu-box")
    session.launch(plan)
    return session.resolve("gpu-box")


def test_nvidia_smi_answers_the_query_on_the_instance(session, box):
    query = ("nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total,temperature.gpu "
             "--format=csv,noheader,nounits")
    _exec(session, "gpu-box", f"echo 70 > {HOOK}")
    first = _exec(session, "gpu-box", query).strip().splitlines()
    assert len(first) == box.gpu_count
    util, used, total, temp = (float(x) for x in first[0].split(","))
    assert 60 <= util <= 80 and 0 < used < total and total == 24 * 1024 - 488 and 30 <= temp < 90
    _exec(session, "gpu-box", f"echo 0 > {HOOK}")
    idle = _exec(session, "gpu-box", query).strip().splitlines()[0]
    assert float(idle.split(",")[0]) == 0 and float(idle.split(",")[1]) < used  # numbers change
    header = _exec(session, "gpu-box", "nvidia-smi --query-gpu=index,name --format=csv")
    assert header.splitlines()[0] == "index, name" and "NVIDIA RTX 4090" in header


def test_load_follows_the_instance_cpu_and_idle_warning_fires(session, box):
    probe = GpuTelemetry(idle_minutes=0.05)  # 3 s: short enough for a test
    with probe.watch() as watch:
        # A CPU-bound process on the instance: the shim measures the instance's own CPU time.
        pid = _exec(session, "gpu-box", "nohup timeout 60 sh -c 'while :; do :; done' "
                                        ">/dev/null 2>&1 & echo $!").strip()
        busy = wait_for(lambda: _fresh(watch, box, lambda r: (r.utilization or 0) > 20),
                        timeout=30, what="utilisation following the CPU load")
        assert busy.error is None and busy.idle_warning is None
        assert busy.memory[0] > 1024  # memory follows the load too
        again = watch.reading(target_for(box))
        assert again is busy  # inside MIN_INTERVAL: the last reading, no new SSH command

        _exec(session, "gpu-box", f"kill {int(pid)}")  # timeout passes it on to the loop
        _exec(session, "gpu-box", f"echo 0 > {HOOK}")
        idle = wait_for(lambda: _fresh(watch, box, lambda r: r.idle_warning is not None),
                        timeout=60, what="the idle warning")
        assert "idle for" in idle.idle_warning and "while billing" in idle.idle_warning
        assert len(idle.history) >= 3 and idle.history[-1] == 0
        assert sparkline(idle.history)[-1] == "▁"
    with pytest.raises(RuntimeError, match="only while a view is open"):
        probe.reading(target_for(box))  # no view open: no sampling at all


def _fresh(watch, view, wanted):
    time.sleep(telemetry.MIN_INTERVAL)
    reading = watch.reading(target_for(view))
    return reading if wanted(reading) else None


def gpu_magic_at_load(sh, gpu: str, name: str, load: int) -> str:
    """Launch with the magic, pin the instance's GPU load, and return ``%spheron gpu NAME``."""
    sh.ok(f"%spheron launch --gpu {gpu} --name {name} --yes")
    _exec(sh.context.session, name, f"echo {load} > {HOOK}")
    return sh.ok(f"%spheron gpu {name}").text


def test_gpu_magic_and_watch(emulator_shell):
    from spheron_jupyter.session.backends import save_setting

    sh = emulator_shell
    session = sh.context.session
    out = gpu_magic_at_load(sh, "rtx-4090", "magic-gpu", 55)
    assert "GPUs of magic-gpu" in out and "NVIDIA RTX 4090" in out and "°C" in out
    assert "GiB" in out and "WARNING" not in out

    save_setting("gpu_idle_minutes", 0.05)
    _exec(session, "magic-gpu", f"echo 0 > {HOOK}")
    watched = sh.ok("%spheron gpu magic-gpu --watch --every 3 --count 3").text
    assert watched.count("GPUs of magic-gpu") == 3
    assert "WARNING: GPU idle for" in watched


def test_dashboard_shows_gpu_use_and_the_idle_warning(session, box, closing, monkeypatch):
    from spheron_jupyter.notebook.widgets.dashboard import Dashboard

    monkeypatch.setattr(telemetry.GpuTelemetry, "idle_limit_seconds", property(lambda self: 3.0))
    _exec(session, "gpu-box", f"echo 90 > {HOOK}")
    board = Dashboard(session, refresh_seconds=1)
    closing(board)
    wait_for(lambda: board.refreshes >= 1, what="the first refresh")
    row = lambda: board.rows[board.row_of("gpu-box")]  # noqa: E731
    wait_for(lambda: (board.ui.flush(), "spheron-gpu-use" in row()["cells"]["GPU use"].value)[1],
             timeout=60, what="GPU figures in the row")
    assert "%" in row()["cells"]["GPU use"].value and "GiB" in row()["cells"]["GPU use"].value
    _exec(session, "gpu-box", f"echo 0 > {HOOK}")
    wait_for(lambda: (board.ui.flush(), "spheron-gpu-idle" in row()["cells"]["GPU use"].value)[1],
             timeout=60, what="the idle warning in the row")
    assert "idle while billing" in board.summary.value or "GPU idle" in board.summary.value
    board.close()
    assert not telemetry.for_session(session)._tracks  # the last view closed its connections
