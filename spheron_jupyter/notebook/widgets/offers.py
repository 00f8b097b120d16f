"""The offers browser (``%spheron offers --browse``): filters, a sortable table, the launcher.

The catalog is fetched once in the background (and again on "refresh"); filtering and
sorting then run locally with the client's own ``select_offers``, so the browser agrees with
``%spheron offers`` to the offer and answers each change at once. The table is a fixed pool
of row widgets made up front (widgets are created in the cell's thread only) showing one page.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import ipywidgets as W

from ..htmltext import wrappable
from ._base import Panel, button, message_html

if TYPE_CHECKING:
    from .launcher import Launcher

PAGE_ROWS = 12
ANY = "any"


@dataclass(frozen=True)
class Column:
    title: str
    width: str
    cell: Callable[[Any], str]
    sort_key: Callable[[Any], Any] | None = None
    descending_first: bool = False  # big VRAM first, cheap price first
    full: Callable[[Any], str] | None = None  # the tooltip, when the cell shows less

    def tooltip(self, offer: Any) -> str:
        return (self.full or self.cell)(offer)

    @property
    def slug(self) -> str:
        """A CSS-safe name: "$/VRAM-GB" -> "vram-gb" (browser tests find cells by it)."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def _price(o) -> float:
    return float(o.hourly_price or 0.0)


def _per_vram(o) -> float | None:
    return _price(o) / o.total_vram_gb if o.total_vram_gb else None


def _per_gpu(o) -> float | None:
    return _price(o) / o.gpu_count if o.gpu_count else None


def _is_cpu_only(o) -> bool:
    return not o.gpu_count or (o.gpu_type or "").lower() == "cpu"


def _availability(o) -> str:
    if o.maintenance:
        return "maintenance"
    return "available" if o.available else "unavailable"


def _interconnect(o) -> str:
    """The API says "None" (a string) for CPU-only offers: shown as "-" like other blanks."""
    value = o.interconnect_type or ""
    return "" if value.strip().lower() == "none" else value


def _num(value: Any, unit: str = "") -> str:
    return f"{value:g}{unit}" if value else "-"


COLUMNS = [
    Column("offer", "140px", lambda o: f"{o.gpu_count}x {o.gpu_type}",
           lambda o: (o.gpu_type or "", o.gpu_count)),
    Column("type", "70px", lambda o: o.kind, lambda o: o.kind),
    Column("provider", "100px", lambda o: o.provider or "-", lambda o: o.provider or ""),
    Column("region", "110px", lambda o: ", ".join(o.regions[:2]) + (" ..." if len(o.regions) > 2 else ""),
           lambda o: ",".join(o.regions), full=lambda o: ", ".join(o.regions) or "-"),
    Column("$/hour", "80px", lambda o: f"${_price(o):,.2f}", _price),
    Column("$/GPU-hour", "100px", lambda o: f"${_per_gpu(o):,.2f}" if _per_gpu(o) is not None else "-",
           lambda o: (_per_gpu(o) is None, _per_gpu(o) or 0.0)),
    Column("$/VRAM-GB", "95px",
           lambda o: f"${_per_vram(o):.4f}" if _per_vram(o) is not None else "-",
           lambda o: (_per_vram(o) is None, _per_vram(o) or 0.0)),
    Column("VRAM", "70px", lambda o: _num(o.total_vram_gb, " GB"), lambda o: o.total_vram_gb,
           descending_first=True),
    Column("vCPUs", "60px", lambda o: _num(o.vcpus), lambda o: o.vcpus or 0, descending_first=True),
    Column("memory", "75px", lambda o: _num(o.memory, " GB"), lambda o: o.memory or 0,
           descending_first=True),
    Column("interconnect", "110px", lambda o: _interconnect(o) or "-", _interconnect),
    Column("availability", "95px", _availability, _availability),
]
# Cells wrap only between words, and the region cell (HTML: htmltext.wrappable) also after
# its separators, never mid-word; headers never wrap, and their widths above leave room for
# the title and its sort arrow. The full text is in each cell's tooltip.
TABLE_CSS = """<style>
.spheron-offers-table .widget-label, .spheron-offers-table .widget-html-content {
  white-space: normal; overflow-wrap: normal; height: auto; line-height: 1.3; }
.spheron-offers-table .spheron-sort { padding: 0 4px; }
</style>"""


class OffersBrowser(Panel):
    title = "Offers"

    def __init__(self, session: Any, *, gpu: str | None = None, count: int | None = None,
                 type: str | None = None, region: str | None = None,
                 provider: str | None = None, max_price: float | None = None,
                 min_vram: float | None = None, load: bool = True):
        super().__init__(session)
        self.catalog: list[Any] = []
        self.matches: list[Any] = []
        self.page = 0
        self.sort_column = 4  # $/hour, cheapest first: what `%spheron offers` shows
        self.sort_descending = False
        self.launcher: Launcher | None = None
        self._loading = False
        # The catalog arrives in a worker while the user may already be changing filters.
        self._matches_lock = threading.RLock()
        self._build_filters(gpu, count, type, region, provider, max_price, min_vram)
        self._build_table()
        self.launcher_box = W.VBox()
        self.root = W.VBox([
            W.HTML("<h4 style='margin:4px 0'>Spheron offers</h4>" + TABLE_CSS),
            self.filter_box, self.table, self.pager, self.status, self.launcher_box,
        ])
        self.root.add_class("spheron-offers")
        if load:
            self.refresh()

    # -- widgets ----------------------------------------------------------------------------
    def _build_filters(self, gpu, count, type, region, provider, max_price, min_vram) -> None:
        small = W.Layout(width="210px")
        self.gpu = W.Combobox(value=gpu or "", placeholder="any model", description="GPU",
                              ensure_option=False, continuous_update=False, layout=small)
        self.count = W.Dropdown(options=[ANY], value=ANY, description="count", layout=small)
        self.type = W.Dropdown(options=[ANY, "spot", "dedicated", "baremetal", "cluster"],
                               value=type if type else ANY, description="type", layout=small)
        self.region = W.Dropdown(options=[ANY], value=ANY, description="region", layout=small)
        self.provider = W.Dropdown(options=[ANY], value=ANY, description="provider", layout=small)
        self.max_price = W.Text(value=_text(max_price), placeholder="any", description="max $/h",
                                continuous_update=False, layout=small)
        self.min_vram = W.Text(value=_text(min_vram), placeholder="any",
                               description="min VRAM", tooltip="GB per GPU",
                               continuous_update=False, layout=small)
        self.unavailable = W.Checkbox(value=False, description="show unavailable", indent=False,
                                      layout=W.Layout(width="150px"))
        # A GPU browser shows GPU offers; CPU-only machines are one tick away.
        self.cpu_only = W.Checkbox(value=False, description="show CPU-only", indent=False,
                                   layout=W.Layout(width="130px"))
        self.reload = button("refresh", css="spheron-offers-refresh", width="90px",
                             tooltip="fetch the catalog again")
        self._wanted = {"count": count, "region": region, "provider": provider}
        for widget, css in ((self.gpu, "gpu"), (self.count, "count"), (self.type, "type"),
                            (self.region, "region"), (self.provider, "provider"),
                            (self.max_price, "max-price"), (self.min_vram, "min-vram"),
                            (self.unavailable, "unavailable"), (self.cpu_only, "cpu-only")):
            widget.add_class(f"spheron-filter-{css}")
            widget.observe(lambda change: self.apply_filters(), names="value")
        self.reload.on_click(lambda _: self.refresh())
        self.filter_box = W.VBox([
            W.HBox([self.gpu, self.count, self.type, self.region]),
            W.HBox([self.provider, self.max_price, self.min_vram, self.unavailable,
                    self.cpu_only, self.reload]),
        ])

    def _build_table(self) -> None:
        self.headers = []
        for index, column in enumerate(COLUMNS):
            head = button(column.title, css="spheron-sort", width=column.width,
                          tooltip=f"sort by {column.title}")
            head.on_click(lambda _, i=index: self.sort_by(i))
            self.headers.append(head)
        self.rows: list[list[W.Widget]] = []
        for row in range(PAGE_ROWS):
            pick = button("", css="spheron-offer-pick", width=COLUMNS[0].width,
                          tooltip="open the launcher for this offer")
            pick.on_click(lambda _, r=row: self.select_row(r))
            # Region names are long ids: HTML, so they can break at their separators.
            cells = [(W.HTML if c.title == "region" else W.Label)("", layout=W.Layout(width=c.width))
                     for c in COLUMNS[1:]]
            for cell, column in zip(cells, COLUMNS[1:]):
                cell.add_class(f"spheron-col-{column.slug}")
            self.rows.append([pick, *cells])
        template = " ".join(c.width for c in COLUMNS)
        self.table = W.GridBox(self.headers, layout=W.Layout(grid_template_columns=template,
                                                              grid_gap="2px 4px"))
        self.table.add_class("spheron-offers-table")
        self.prev = button("< prev", width="80px", css="spheron-offers-prev")
        self.next = button("next >", width="80px", css="spheron-offers-next")
        self.prev.on_click(lambda _: self.turn(-1))
        self.next.on_click(lambda _: self.turn(+1))
        self.count_label = W.HTML("loading offers ...")
        self.count_label.add_class("spheron-offers-count")
        self.pager = W.HBox([self.prev, self.next, self.count_label])
        self._refresh_sort_labels()

    # -- data -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fetch the catalog in the background; the table follows when it arrives."""
        self.say("loading the catalog ...")
        self.jobs.run("offers", self.session.client.gpu_offers, on_done=self._catalog_loaded)

    def _catalog_loaded(self, groups: list[Any]) -> None:
        from ...client import flatten_offers

        self.catalog = flatten_offers(groups)
        counts = sorted({o.gpu_count for o in self.catalog})
        regions = sorted({r for o in self.catalog for r in o.regions})
        providers = sorted({o.provider for o in self.catalog if o.provider})
        models = sorted({o.gpu_type for o in self.catalog if o.gpu_type})
        # Option lists change together, then one filter pass: set them directly (this is a
        # worker thread, but these are trait updates of widgets made in the cell's thread).
        self._loading = True
        try:
            self.gpu.options = models
            self._set_options(self.count, [ANY, *counts], self._wanted.get("count"))
            self._set_options(self.region, [ANY, *regions], self._wanted.get("region"))
            self._set_options(self.provider, [ANY, *providers], self._wanted.get("provider"))
        finally:
            self._loading = False
        self.apply_filters()

    def _set_options(self, dropdown: W.Dropdown, options: list[Any], wanted: Any) -> None:
        current = dropdown.value if dropdown.value != ANY else wanted
        dropdown.options = options
        dropdown.value = current if current in options else ANY

    def query(self):
        """The filters as an ``OfferQuery`` (raises a one-line error for a bad number)."""
        from ...client import OfferQuery

        return OfferQuery(
            gpu=self.gpu.value.strip() or None,
            count=None if self.count.value == ANY else int(self.count.value),
            type=None if self.type.value == ANY else self.type.value,
            region=None if self.region.value == ANY else self.region.value,
            provider=None if self.provider.value == ANY else self.provider.value,
            max_price=_number(self.max_price.value, "max $/h"),
            min_vram=_number(self.min_vram.value, "min VRAM"),
            include_unavailable=self.unavailable.value,
        )

    def apply_filters(self) -> None:
        if not self.catalog or self._loading:
            return
        from ...client import SpheronError, select_offers

        with self._matches_lock:
            try:
                query = self.query()
                self.matches = select_offers(self.catalog, query)
                asked_cpu = query.count == 0 or (query.gpu or "").lower() == "cpu"
                if not self.cpu_only.value and not asked_cpu:
                    self.matches = [o for o in self.matches if not _is_cpu_only(o)]
            except (SpheronError, ValueError) as exc:
                self.matches = []
                self.say(str(exc), "warn")
            else:
                self.say("")
            self._sort()
            self.page = 0
            self._show_page()

    def _sort(self) -> None:
        column = COLUMNS[self.sort_column]
        self.matches.sort(key=column.sort_key, reverse=self.sort_descending)

    def sort_by(self, index: int) -> None:
        """Click a header: sort by it; click it again: the other direction."""
        if index == self.sort_column:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_column = index
            self.sort_descending = COLUMNS[index].descending_first
        with self._matches_lock, self.ui.batch():  # the arrow and the rows change together
            self._refresh_sort_labels()
            self._sort()
            self.page = 0
            self._fill_page()

    def _refresh_sort_labels(self) -> None:
        for index, (head, column) in enumerate(zip(self.headers, COLUMNS)):
            arrow = (" ▼" if self.sort_descending else " ▲") if index == self.sort_column else ""
            self.ui.set(head, description=column.title + arrow)

    def turn(self, step: int) -> None:
        with self._matches_lock:
            pages = max(1, -(-len(self.matches) // PAGE_ROWS))
            self.page = min(max(0, self.page + step), pages - 1)
            self._show_page()

    def visible(self) -> list[Any]:
        start = self.page * PAGE_ROWS
        return self.matches[start:start + PAGE_ROWS]

    def _show_page(self) -> None:
        with self.ui.batch():
            self._fill_page()

    def _fill_page(self) -> None:
        shown = self.visible()
        children: list[W.Widget] = list(self.headers)
        for offer, cells in zip(shown, self.rows):
            for column, cell in zip(COLUMNS, cells):
                text = column.cell(offer)
                if isinstance(cell, W.Button):
                    self.ui.set(cell, description=text, disabled=not offer.usable,
                                tooltip=f"{offer.offer_id}: open the launcher")
                elif isinstance(cell, W.HTML):
                    self.ui.set(cell, value=wrappable(text), tooltip=column.tooltip(offer))
                else:
                    self.ui.set(cell, value=text, tooltip=text)
            children.extend(cells)
        self.ui.set(self.table, children=tuple(children))
        start = self.page * PAGE_ROWS
        total = len(self.matches)
        text = (f"offers {start + 1}-{start + len(shown)} of {total}" if total
                else "no offer matches these filters")
        self.ui.set(self.count_label, value=message_html(text))
        self.ui.set(self.prev, disabled=self.page == 0)
        self.ui.set(self.next, disabled=start + len(shown) >= total)

    # -- choosing ---------------------------------------------------------------------------
    def select_row(self, row: int) -> None:
        shown = self.visible()
        if row < len(shown):
            self.open_launcher(shown[row])

    def open_launcher(self, offer: Any) -> Launcher:
        """The launcher for ``offer``, shown under the table (one at a time)."""
        from .launcher import Launcher

        if self.launcher is not None:
            self.launcher.close()
        self.launcher = Launcher(self.session, offer)
        self.launcher_box.children = (self.launcher.root,)
        return self.launcher

    def close(self) -> None:
        if self.launcher is not None:
            self.launcher.close()
        super().close()


def _text(value: Any) -> str:
    return "" if value is None else f"{value:g}"


def _number(text: str, what: str) -> float | None:
    text = (text or "").strip().lstrip("$")
    if not text or text.lower() == ANY:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{what} must be 0 or more")
    return value
