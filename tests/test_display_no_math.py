"""No dollar amount can be typeset as math, in any HTML the notebook layer produces.

JupyterLab and Notebook 7 run MathJax over HTML outputs: "burning $0.14/h now; $0.0004 spent"
showed as math (issue 14). Each display type and each panel's HTML is rendered here with
dollar amounts in every field and checked with tests/support/mathcheck.py; the real-browser
check (no MathJax element, the literal text shown) is tests/browser/test_browser_screens.py.
"""

from __future__ import annotations

import pytest

from spheron_jupyter.notebook.display import KeyValues, Link, Table, Text
from spheron_jupyter.notebook.htmltext import attr, text
from spheron_jupyter.ledger import usd
from tests.support.mathcheck import assert_no_math, dollar_runs

FOOTER = "burning $0.14/h now; $0.0004 spent"


def test_the_check_sees_the_bug_it_guards_against():
    assert dollar_runs(f"<p>{FOOTER}</p>") == [FOOTER]
    assert dollar_runs("<pre>$</pre><b>$</b>") == []


def test_text_keeps_every_dollar_alone_and_shows_it_literally():
    escaped = text(FOOTER + " <b>&")
    assert_no_math(escaped)
    assert "&lt;b&gt;&amp;" in escaped and escaped.count("$") == 2
    assert attr("a'b\"$") == "a&#x27;b&quot;$"


@pytest.mark.parametrize("shown", [
    Table([{"$/hour": "$0.14", "cost so far": "$0.0004"}], title="$ title $", footer=FOOTER),
    Table([], title="$a$", empty="$ none $"),
    KeyValues({"$/hour": "$0.14 ($0.07 per GPU)", "worst case": "$1.00 ($2 budget)"},
              title="Plan $", footer=FOOTER),
    Text(FOOTER),
    Link("Jupyter $x$", "http://127.0.0.1:1/$a$", "http://127.0.0.1:1/$a$?t", note=FOOTER),
], ids=["table", "empty-table", "key-values", "text", "link"])
def test_every_display_type_renders_no_math(shown):
    markup = shown._repr_html_()
    assert_no_math(markup)
    assert "tex2jax_ignore" in markup  # and MathJax is told to skip the block


def test_panel_messages_and_labels_render_no_math():
    pytest.importorskip("ipywidgets")
    from spheron_jupyter.notebook.widgets._base import label_html, message_html

    for markup in (message_html(FOOTER, "warn"), label_html(FOOTER, bold=True, mono=True)):
        assert_no_math(markup)


def test_money_is_formatted_once_with_sub_cent_amounts_kept():
    assert usd(0.0004) == "$0.0004" and usd(0.14) == "$0.14" and usd(0) == "$0.00"
    assert usd(0.00002) == "<$0.0001"  # a fresh instance's cost is not shown as "$0.0000"


def test_sidebar_state_carries_the_same_money_text(tmp_path):
    from spheron_jupyter.server.sidebar_state import sidebar_state
    from spheron_jupyter.ledger import InstanceRecord

    rec = InstanceRecord(api_url="http://x", id="i1", backend="local", status="running",
                         created_at=1000.0, hourly_rate=0.14)
    state = sidebar_state([rec], [], now=1010.0)
    (row,) = state["instances"]
    assert row["cost_so_far_text"] == usd(rec.cost_so_far(1010.0)) == "$0.0004"
    assert row["hourly_rate_text"] == "$0.14" and state["burn_text"] == "$0.14"


def test_links_and_commands_carry_copy_buttons_and_the_lab_tab_action():
    link = Link("Jupyter", "http://127.0.0.1:8888/lab", "http://127.0.0.1:9/once/abc",
                tunnel_id="t123")
    markup = link._repr_html_()
    assert "data-copy='http://127.0.0.1:8888/lab'" in markup and "navigator.clipboard" in markup
    assert "data-spheron-tunnel='t123'" in markup and "open in a Lab tab" in markup
    assert "/once/abc" not in markup.split("data-copy=")[1].split("'")[1]  # the plain URL only
    ssh = Text("ssh -p 2222 root@1.2.3.4", copy=[("ssh command", "ssh -p 2222 root@1.2.3.4")])
    assert "data-copy='ssh -p 2222 root@1.2.3.4'" in ssh._repr_html_()
    assert_no_math(markup)


def test_an_icl_report_with_dollars_in_the_documents_text_renders_no_math():
    """`%%spheron icl --check` shows the document's own text (images, names, values quoted by
    findings): an unexpanded "$TAG-$REV" must show as written, not as math."""
    from pathlib import Path

    from spheron_jupyter.notebook.commands._protocol_shared import report_display
    from spheron_jupyter.protocol.summary import check_report

    seed = Path(__file__).parent / "data" / "icl" / "seed_provider.yaml"
    document = seed.read_text().replace("image: nginx:1.27", "image: nginx:$TAG-$REV")
    assert "$TAG-$REV" in document
    markup = report_display(check_report(document))._repr_html_()
    assert "$TAG-$REV" in repr(report_display(check_report(document)))  # the text form as written
    assert_no_math(markup)
    assert "tex2jax_ignore" in markup and "TAG-" in markup
