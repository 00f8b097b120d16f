"""Following a log by polling `--tail N`: turning repeated snapshots into the lines not yet seen.

A snapshot may hold several pods' lines: merged in time order (a global tail, as the emulator
does) or one pod's tail after another (a per-pod tail, as Kubernetes' `logs --tail` does). Either
way each pod's own lines in a snapshot are a contiguous tail of that pod's log, so the lines are
deduplicated per source (the `[owner/dseq/gseq/oseq/provider][pod]` prefix; unprefixed lines form
one source) and the new ones are returned in the snapshot's order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .parsers import parse_log_line


def log_source(line: str) -> str | None:
    """Which pod wrote a log line (None for start-up and unprefixed lines)."""
    return parse_log_line(line).pod


class _Source:
    """One append-only log seen through snapshots of its tail."""

    def __init__(self, keep: int):
        self.seen: deque[str] = deque(maxlen=keep)
        self.whole: list[str] | None = []  # the whole log so far, while it is known

    def new_count(self, lines: list[str], whole: bool) -> int:
        known = self.whole
        if whole and known is not None and lines[: len(known)] == known:
            fresh = len(lines) - len(known)
        else:
            fresh = len(lines) - self._overlap_end(lines)
        self.whole = lines if whole else None
        self.seen.extend(lines[len(lines) - fresh:] if fresh else [])
        return fresh

    def _overlap_end(self, lines: list[str]) -> int:
        """The longest stretch at the start of `lines` that ends what was seen (the largest,
        so that in doubt fewer lines count as new: a line is never shown twice)."""
        seen = list(self.seen)
        for end in range(len(lines), 0, -1):
            size = min(end, len(seen))
            if size and lines[end - size : end] == seen[len(seen) - size :]:
                return end
        return 0


class TailDeduplicator:
    """Turns repeated `--tail N` snapshots of a log into the lines not yet seen.

    While the snapshot is shorter than N it is the whole log, and each source's new lines are
    simply the ones past those already seen (exact, even for repeated identical lines). Once
    snapshots are full windows, a source's new lines start after the longest overlap between the
    end of what was seen from it and its lines in the snapshot; when in doubt it assumes fewer new
    lines, so a line is never shown twice.
    """

    def __init__(self, keep: int = 1000, max_sources: int = 256):
        self._keep, self._max_sources = keep, max_sources
        self._sources: dict[str | None, _Source] = {}

    def new_lines(self, snapshot: Sequence[str], window: int | None) -> list[str]:
        snapshot = list(snapshot)
        while snapshot and not snapshot[-1].strip():
            snapshot.pop()
        whole = window is None or len(snapshot) < window
        positions: dict[str | None, list[int]] = {}
        for index, line in enumerate(snapshot):
            positions.setdefault(log_source(line), []).append(index)
        fresh: list[int] = []
        for source, indexes in positions.items():
            fresh += indexes[len(indexes) - self._source(source).new_count([snapshot[i] for i in indexes], whole):]
        return [snapshot[index] for index in sorted(fresh)]

    def _source(self, name: str | None) -> _Source:
        if name not in self._sources:
            if len(self._sources) >= self._max_sources:  # pods of long-gone rollouts
                del self._sources[next(iter(self._sources))]
            self._sources[name] = _Source(self._keep)
        return self._sources[name]
