"""Following by polling `--tail N` never repeats a line, whichever way sphnctl cuts the tail."""

import random
import threading

import pytest

from spheron_jupyter.protocol.sphnctl import Sphnctl, TailDeduplicator

PREFIX = "[0xowner/44/1/1/0xprovider]"


def line(pod, text):
    return f"{PREFIX}[{pod}] {text}"


def per_pod_tail(log, window):
    """Kubernetes' `logs --tail N` over several pods: each pod's last N lines, pod after pod."""
    pods = {}
    for entry in log:
        pods.setdefault(entry.split("][")[1].split("]")[0], []).append(entry)
    return [entry for lines in pods.values() for entry in lines[-window:]]


def global_tail(log, window):
    return log[-window:]


def test_pod_after_pod_tails_do_not_repeat_the_other_pods_lines():
    log = [line("web-a", "a1"), line("web-a", "a2"), line("web-a", "a3"),
           line("web-b", "b1"), line("web-b", "b2"), line("web-b", "b3")]
    dedupe = TailDeduplicator()
    assert dedupe.new_lines(per_pod_tail(log, 3), 3) == log
    log.append(line("web-a", "a4"))
    assert dedupe.new_lines(per_pod_tail(log, 3), 3) == [line("web-a", "a4")]
    log += [line("web-b", "b4"), line("web-a", "a5")]
    assert dedupe.new_lines(per_pod_tail(log, 3), 3) == [line("web-a", "a5"), line("web-b", "b4")]
    assert dedupe.new_lines(per_pod_tail(log, 3), 3) == []


def test_a_replaced_pod_does_not_replay_the_pod_that_stayed():
    dedupe = TailDeduplicator()
    first = [line("web-a", "a1"), line("web-b", "b1"), line("web-a", "a2"), line("web-b", "b2")]
    assert dedupe.new_lines(first, 200) == first
    # web-a was replaced by web-c: its lines leave the log, web-b's stay.
    second = [line("web-b", "b1"), line("web-b", "b2"), line("web-c", "c1")]
    assert dedupe.new_lines(second, 200) == [line("web-c", "c1")]


@pytest.mark.parametrize("cut", [per_pod_tail, global_tail])
@pytest.mark.parametrize("seed", range(20))
def test_random_interleavings_never_repeat_and_lose_nothing_when_polled_often(cut, seed):
    rng = random.Random(seed)
    pods = ["web-a", "web-b", "worker-c"]
    window = 5
    log, shown = [], []
    dedupe = TailDeduplicator()
    for step in range(60):
        for _ in range(rng.randint(0, 2)):  # fewer new lines per poll than one window holds
            pod = rng.choice(pods)
            log.append(line(pod, f"{pod} says {step}-{len(log)}"))
        shown += dedupe.new_lines(cut(log, window), window)
    assert len(shown) == len(set(shown)), "a line was shown twice"
    assert sorted(shown) == sorted(log)


def test_driver_polls_per_pod_tails_without_repeats(fake, monkeypatch):
    monkeypatch.setenv("FAKE_PER_POD_TAIL", "1")
    log = fake / "growing.log"
    lines = [line("web-a", "a1"), line("web-a", "a2"), line("web-b", "b1"), line("web-b", "b2")]
    log.write_text("".join(entry + "\n" for entry in lines))
    rounds = iter([[line("web-a", "a3")], [line("web-b", "b3"), line("web-a", "a4")], []])

    def grow(_interval):
        extra = next(rounds, None)
        if extra is None:
            return True
        log.write_text(log.read_text() + "".join(entry + "\n" for entry in extra))
        return False

    seen = [ln.text for ln in Sphnctl().follow_logs(7, mode="fizz", cancel=threading.Event(), poll_tail=2, sleep=grow)]
    assert seen == ["a1", "a2", "b1", "b2", "a3", "a4", "b3"]
