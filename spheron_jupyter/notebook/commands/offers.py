"""%spheron offers: browse available offers, cheapest (or best per VRAM-GB) first."""

from __future__ import annotations

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
    price = offer.hourly_price or 0.0
    count = offer.gpu_count
    vram = offer.gpu_memory
    total_vram = offer.total_vram_gb
    regions = offer.regions or ["-"]
    return {
        "offer": str(offer.offer_id),
        "gpu": f"{count}x {offer.gpu_type or '?'}",
        "VRAM/GPU": f"{vram:g} GB" if vram else "-",
        "provider": offer.provider or "-",
        "region": ", ".join(map(str, regions[:3])) + (" ..." if len(regions) > 3 else ""),
        "type": (offer.instance_type or "-").lower(),
        "$/hour": f"${price:,.2f}",
        "$/VRAM-GB/h": f"${price / total_vram:.4f}" if total_vram else "-",
        "cloud-init": "yes" if offer.supports_cloud_init else "no",
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
    offers = context.session.offers(query)  # an unknown model: the client's UnknownGpuError
    shown = offers[: args.limit]
    more = f"; {len(offers) - len(shown)} more (--limit)" if len(offers) > len(shown) else ""
    return Table([offer_row(o) for o in shown], empty="no available offer matches these filters",
                 footer=f"{len(offers)} offers{more}; %spheron launch OFFER_ID --lease 2h launches one")
