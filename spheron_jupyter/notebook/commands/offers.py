"""%spheron offers: browse available offers, cheapest (or best per VRAM-GB) first."""

from __future__ import annotations

from ...session.views import _field
from ..display import Table
from ..parser import non_negative_float, positive_int

TYPES = ["spot", "dedicated", "baremetal", "cluster"]


def add_filters(parser, *, with_sort: bool = True) -> None:
    parser.add_argument("--gpu", metavar="MODEL",
                        help="GPU model: H100, 'RTX 4090', a100-80gb, or the catalog's H100_SXM5 ...")
    parser.add_argument("--count", type=positive_int, metavar="N", help="GPUs per instance")
    parser.add_argument("--type", choices=TYPES)
    parser.add_argument("--region", metavar="R",
                        help="cluster id as the catalog shows it, or its name without a routing "
                             "prefix, loosely: culpeper-usa-1, finland-3 (the exact id is sent)")
    parser.add_argument("--provider", metavar="P")
    parser.add_argument("--max-price", type=non_negative_float, metavar="USD", help="per hour")
    if with_sort:
        parser.add_argument("--min-vram", type=non_negative_float, metavar="GB", help="per GPU")
        parser.add_argument("--sort", choices=["price", "vram", "price-per-vram"], default="price")


def build(parser) -> None:
    add_filters(parser)
    parser.add_argument("--limit", type=positive_int, default=20, metavar="N")
    parser.add_argument("--browse", action="store_true", help="the interactive offers browser")


def offer_row(offer) -> dict[str, str]:
    price = float(getattr(offer, "hourly_price", None) or _field(offer, "price", default=0.0))
    count = int(_field(offer, "gpu_count", "gpuCount", default=0) or 0)
    vram = _field(offer, "gpu_memory", "gpuMemory")
    total_vram = (vram or 0) * count
    regions = _field(offer, "clusters", default=None) or [_field(offer, "region", default="-")]
    return {
        "offer": str(_field(offer, "offer_id", "offerId")),
        "gpu": f"{count}x {_field(offer, 'gpu_type', 'gpuType', default='?')}",
        "VRAM/GPU": f"{vram:g} GB" if vram else "-",
        "provider": str(_field(offer, "provider", default="-")),
        "region": ", ".join(map(str, regions[:3])) + (" ..." if len(regions) > 3 else ""),
        "type": str(_field(offer, "instance_type", "instanceType", default="-")).lower(),
        "$/hour": f"${price:,.2f}",
        "$/VRAM-GB/h": f"${price / total_vram:.4f}" if total_vram else "-",
        "cloud-init": "yes" if _field(offer, "supports_cloud_init", "supportsCloudInit") else "no",
    }


def run(context, args, cell=None):
    if args.browse:
        from ..widgets.offers import OffersBrowser
        from .panel import require_notebook

        require_notebook("%spheron offers --browse",
                         "%spheron offers (without --browse) filters and sorts the same way")

        return OffersBrowser(context.session, gpu=args.gpu, count=args.count, type=args.type,
                             region=args.region, provider=args.provider,
                             max_price=args.max_price, min_vram=args.min_vram)
    from ...client import OfferQuery

    query = OfferQuery(gpu=args.gpu, count=args.count, type=args.type, region=args.region,
                       provider=args.provider, max_price=args.max_price, min_vram=args.min_vram,
                       sort=args.sort)
    offers = context.session.offers(query)
    if not offers and args.gpu and not context.session.offers(gpu=args.gpu):
        from ...session.errors import UnknownGpuError

        raise UnknownGpuError(f"no GPU model {args.gpu!r} in the catalog: %spheron offers lists them")
    shown = offers[: args.limit]
    more = f"; {len(offers) - len(shown)} more (--limit)" if len(offers) > len(shown) else ""
    return Table([offer_row(o) for o in shown], empty="no available offer matches these filters",
                 footer=f"{len(offers)} offers{more}; %spheron launch OFFER_ID --lease 2h launches one")
