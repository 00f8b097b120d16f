"""Text that goes into HTML outputs and widgets, escaped so no frontend can typeset it.

JupyterLab and Notebook 7 run every HTML output (and ipywidgets' labels) through MathJax, which
takes two ``$`` in one text run as inline math: "burning $0.14/h now; $0.0004 spent" showed as
"burning 0.14/hnow;0.0004". MathJax looks for delimiters only inside one run of text between
tags, so each ``$`` goes in its own element: the text shows the dollar sign, a copy gives it
back, and no pair of them can ever meet. ``tex2jax_ignore`` on a block tells MathJax (2 and 3,
as Jupyter configures it) to skip it as well, for frontends that honour the class.

This module is the one place HTML text is escaped for the notebook layer's outputs.
"""

from __future__ import annotations

import html
import re

DOLLAR = "<span>$</span>"
NO_MATH = "tex2jax_ignore mathjax_ignore"


def text(value: object) -> str:
    """``value`` as HTML element content: escaped, every ``$`` in its own element."""
    return html.escape(str(value), quote=False).replace("$", DOLLAR)


_BREAK_AFTER = re.compile(r"([,\-: ])")


def wrappable(value: object) -> str:
    """``value`` as :func:`text`, breakable only after ``,`` ``-`` ``:`` or a space.

    A narrow cell with ``overflow-wrap: normal`` then wraps "166e655a:culpeper-usa-1" at its
    separators instead of splitting a word ("culpe per", as ``overflow-wrap: anywhere`` did).
    The escaped text holds none of these characters except where ``value`` had them.
    """
    return _BREAK_AFTER.sub(r"\1<wbr>", text(value))


def attr(value: object) -> str:
    """``value`` as an HTML attribute value (quoted either way; MathJax never reads these)."""
    return html.escape(str(value), quote=True)


def block(inner_html: str, tag: str = "div", css: str = "") -> str:
    """A container MathJax is told to skip (belt and braces with :func:`text`)."""
    classes = f"{NO_MATH} {css}".strip()
    return f"<{tag} class='{classes}'>{inner_html}</{tag}>"


def copy_button(value: str, what: str = "") -> str:
    """A small button that copies ``value`` (an SSH command, an id, a URL) to the clipboard.

    Inline script works in a trusted output (one this session produced); a saved notebook
    opened untrusted drops the handler and the button does nothing, which is harmless.
    """
    title = attr(f"copy {what}".strip())
    return (f"<button class='spheron-copy' type='button' title={_q(title)} "
            f"data-copy={_q(attr(value))} style='font-size:11px;margin-left:6px;"
            "padding:0 6px;cursor:pointer' onclick=\"navigator.clipboard.writeText("
            "this.dataset.copy).then(() => { this.textContent = 'copied'; })\">copy</button>")


def _q(escaped: str) -> str:
    return f"'{escaped}'"
