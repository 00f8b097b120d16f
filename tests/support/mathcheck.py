"""Would MathJax typeset any of this HTML? The check the no-math tests share.

MathJax (as JupyterLab and Notebook 7 run it over HTML outputs and widget labels) looks for
``$...$`` inside one run of text between tags, skipping ``pre``/``code``/``script`` and the like
(its ``skipHtmlTags``). Our rule (spheron_jupyter/notebook/htmltext.py) is stricter, so that no
later concatenation can form math either: every ``$`` stands alone in its own element.
"""

from __future__ import annotations

from html.parser import HTMLParser


class _Runs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.runs: list[str] = []
        self._current: list[str] = []

    def _cut(self) -> None:
        if self._current:
            self.runs.append("".join(self._current))
            self._current = []

    def handle_starttag(self, tag, attrs):
        self._cut()

    def handle_endtag(self, tag):
        self._cut()

    def handle_data(self, data):
        self._current.append(data)

    def close(self):
        super().close()
        self._cut()


def dollar_runs(markup: str) -> list[str]:
    """Text runs that hold a ``$`` next to anything else (empty: nothing can become math)."""
    parser = _Runs()
    parser.feed(markup)
    parser.close()
    return [run for run in parser.runs if "$" in run and run.strip() != "$"]


def assert_no_math(markup: str) -> None:
    bad = dollar_runs(markup)
    assert not bad, f"text a frontend could typeset as math: {bad!r}\nin: {markup[:500]}"
