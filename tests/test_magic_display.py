"""Display objects: text and HTML forms, and coalesced output that never holds text back."""

from __future__ import annotations

import io
import time

from spheron_jupyter.notebook.display import KeyValues, StreamPrinter, Table


def test_table_text_is_aligned_and_html_is_escaped():
    table = Table([{"name": "a<b>", "$/hour": "$1.00"}, {"name": "long-name", "$/hour": "$12.50"}],
                  title="T", footer="2 rows")
    text = repr(table).splitlines()
    assert text[0] == "T" and text[1].startswith("name") and text[-1] == "2 rows"
    assert text[3].index("$1.00") == text[4].index("$12.50")
    assert "a&lt;b&gt;" in table._repr_html_() and "<b>" not in table._repr_html_().replace("<b>T</b>", "")
    assert "nothing" in repr(Table([], empty="nothing"))
    assert repr(KeyValues({"id": "x", "status": "running"})).splitlines() == ["id      x", "status  running"]


def test_stream_printer_shows_a_quiet_tail_soon_without_waiting_for_more():
    out = io.StringIO()
    printer = StreamPrinter(stream=out)
    printer.write("first\n")
    printer.write("second\n")  # inside the 100 ms window: held, but only briefly
    time.sleep(0.35)
    assert out.getvalue() == "first\nsecond\n"
    printer.close()


def test_stream_printer_coalesces_and_bounds_a_flood():
    out = io.StringIO()
    writes = []
    original = out.write
    out.write = lambda text: (writes.append(text), original(text))[1]
    printer = StreamPrinter(max_pending_lines=1000, stream=out)
    started = time.monotonic()
    for i in range(200_000):
        printer.line(f"line {i}")
    printer.close()
    elapsed = time.monotonic() - started
    assert len(writes) <= 10 * elapsed + 3  # at most ten updates a second (plus the last)
    assert "line 199999" in out.getvalue()
    assert "lines dropped" in out.getvalue()  # the pending buffer stayed bounded
