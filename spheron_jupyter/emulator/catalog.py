"""The emulator's offer catalog: generated from a fixed seed, so it is the same on every run.

It serves the value formats public clients measured on the live service (docs/spheron-api.md,
"Live value formats"), because an idealised catalog hides exactly the bugs they cause:
- ``gpuType``: upper case with underscores, e.g. ``H100_SXM5``, ``H100_PCIE``, ``A100_80G``,
  ``A4000_PCIE``, ``RTX4090_PCIE``, ``MI300X``, ``CPU``; bare-metal offers carry a ``_BAREMETAL``
  suffix (``H100_SXM5_BAREMETAL``, displayName ``H100 SXM5 BAREMETAL``) and form their own group
  with the same ``baseGpuType``.
- cluster (region) ids are free text, some with a routing prefix that goes back verbatim on
  create: ``166e655a:culpeper-usa-1``, ``Finland 3``, ``EU North 1``, ``Texas-1``.  The volume
  regions of seed 004 (``dallas-tx-1``, ``FIN-01``..``FIN-03``) stay as the docs spell them.
- ``os_options`` like ``Ubuntu 24.04 LTS (CUDA 13)``.
- ``available`` is true on every offer, also on those in maintenance: read ``maintenance``.
- providers beyond the docs' list: ``verda`` (data-crunch's new name) and ``spheron-am`` (AMD).
- ``instanceType``: ``SPOT`` (with ``spot_price``), ``DEDICATED`` (VM or bare metal), ``CLUSTER``
  (voltage-park 8x H100 SXM5, ``extras.deployment_type == "cluster"``, InfiniBand, Kubernetes add-on).
- ``price`` is USD per hour for the whole instance; for SPOT offers it equals ``spot_price``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

SEED = 20240601

PROVIDERS = ["spheron-ai", "voltage-park", "data-crunch", "verda", "massed-compute", "sesterce",
             "tensordock", "spheron-es", "spheron-am"]

# Cluster ids as clients saw them live (docs/spheron-api.md); the prefixed one must be sent back
# verbatim.  voltage-park's Dallas and data-crunch's FIN-0N are the volume regions of seed 004.
REGIONS = {
    "spheron-ai": ["CANADA-1", "US Central 1"],
    "voltage-park": ["dallas-tx-1", "us-east-virginia-1"],
    "data-crunch": ["FIN-01", "FIN-02", "FIN-03"],
    "verda": ["Finland 3", "Iceland 1"],
    "massed-compute": ["Texas-1", "California-1", "us-central-2"],
    "sesterce": ["166e655a:culpeper-usa-1", "kansascity-usa-1", "amsterdam-netherlands-2"],
    "tensordock": ["us-tx-austin", "ca-qc-montreal", "de-fra-1"],
    "spheron-es": ["EU North 1", "EU West 1"],
    "spheron-am": ["US Central 1"],
}

PREFIXED_CLUSTER = "166e655a:culpeper-usa-1"

OS_OPTIONS = {
    "spheron-ai": ["Ubuntu 22.04 LTS (CUDA 12.8)", "Ubuntu 24.04 LTS (CUDA 13)"],
    "voltage-park": ["Ubuntu Server 22.04 LTS R570 CUDA 12.8", "Ubuntu Server 24.04 LTS R570 CUDA 12.8"],
    "data-crunch": ["Ubuntu 22.04 LTS (CUDA 12.4)", "Ubuntu 24.04 LTS (CUDA 12.8)"],
    "verda": ["Ubuntu 24.04 LTS (CUDA 13)", "Ubuntu 22.04 LTS (CUDA 12.8)"],
    "massed-compute": ["Ubuntu 22.04 LTS (CUDA 12.8)"],
    "sesterce": ["Ubuntu 22.04 LTS (CUDA 12.8)", "Ubuntu 20.04 LTS (CUDA 12.2)"],
    "tensordock": ["Ubuntu 22.04 LTS (CUDA 12.4)"],
    "spheron-es": ["Ubuntu 24.04 LTS (CUDA 13)"],
    "spheron-am": ["Ubuntu 22.04 LTS (ROCm 6.2)"],
}

# Providers that sell interruptible capacity, and how their prices compare (1.0 = list price).
SPOT_PROVIDERS = {"spheron-ai", "data-crunch", "tensordock", "sesterce"}
PRICE_FACTOR = {"spheron-ai": 0.95, "voltage-park": 1.0, "data-crunch": 1.05, "verda": 1.04,
                "massed-compute": 1.1, "sesterce": 1.08, "tensordock": 0.9, "spheron-es": 1.0,
                "spheron-am": 0.97}
# Share of offers in maintenance (one live catalog: 106 of 312, all still `available`).
MAINTENANCE_SHARE = 0.3


@dataclass(frozen=True)
class GpuModel:
    slug: str
    display: str
    vram: int  # GB per GPU
    price: float  # USD per GPU-hour, list price
    interconnect: tuple[str, ...]
    counts: tuple[int, ...]
    providers: tuple[str, ...]
    popularity: int
    live_type: str  # the gpuType the live catalog spells it as


# fmt: off
GPU_MODELS = [
    GpuModel("h100", "H100 PCIe", 80, 2.10, ("PCIe",), (1, 2, 4, 8), ("spheron-ai", "massed-compute", "sesterce", "tensordock"), 98, "H100_PCIE"),
    GpuModel("h100-sxm5", "H100 SXM5", 80, 2.49, ("SXM5",), (1, 2, 4, 8), ("voltage-park", "data-crunch", "verda", "sesterce", "spheron-es"), 100, "H100_SXM5"),
    GpuModel("h200", "H200 SXM", 141, 3.29, ("SXM5",), (1, 2, 4, 8), ("data-crunch", "verda", "sesterce", "spheron-ai"), 90, "H200_SXM5"),
    GpuModel("b200", "B200 SXM6", 180, 4.99, ("SXM6",), (1, 2, 4, 8), ("data-crunch", "sesterce"), 85, "B200_SXM6"),
    GpuModel("gh200", "GH200 Grace Hopper", 96, 1.89, ("NVLink-C2C",), (1,), ("spheron-ai", "sesterce"), 60, "GH200"),
    GpuModel("a100-80g", "A100 80GB", 80, 1.29, ("SXM4", "PCIe"), (1, 2, 4, 8), ("data-crunch", "massed-compute", "spheron-ai", "tensordock"), 95, "A100_80G"),
    GpuModel("a100-40g", "A100 40GB", 40, 0.89, ("PCIe",), (1, 2, 4, 8), ("data-crunch", "tensordock"), 70, "A100_40G"),
    GpuModel("l40s", "L40S", 48, 0.89, ("PCIe",), (1, 2, 4, 8), ("data-crunch", "verda", "massed-compute", "sesterce", "spheron-ai", "spheron-es"), 88, "L40S_PCIE"),
    GpuModel("l40", "L40", 48, 0.79, ("PCIe",), (1, 2, 4), ("massed-compute", "tensordock"), 55, "L40_PCIE"),
    GpuModel("rtx-6000-ada", "RTX 6000 Ada", 48, 0.79, ("PCIe",), (1, 2, 4, 8), ("data-crunch", "massed-compute", "tensordock"), 75, "RTX6000ADA_PCIE"),
    GpuModel("a6000", "RTX A6000", 48, 0.49, ("PCIe",), (1, 2, 4, 8), ("massed-compute", "tensordock", "spheron-ai"), 80, "A6000_PCIE"),
    GpuModel("a5000", "RTX A5000", 24, 0.29, ("PCIe",), (1, 2, 4), ("massed-compute", "tensordock"), 50, "A5000_PCIE"),
    GpuModel("a4000", "RTX A4000", 16, 0.17, ("PCIe",), (1, 2, 4), ("tensordock", "spheron-ai", "massed-compute"), 45, "A4000_PCIE"),
    GpuModel("a40", "A40", 48, 0.39, ("PCIe",), (1, 2, 4, 8), ("massed-compute", "tensordock"), 52, "A40_PCIE"),
    GpuModel("rtx-5090", "RTX 5090", 32, 0.69, ("PCIe",), (1, 2, 4), ("spheron-ai", "tensordock"), 92, "RTX5090_PCIE"),
    GpuModel("rtx-4090", "RTX 4090", 24, 0.34, ("PCIe",), (1, 2, 4, 8), ("spheron-ai", "tensordock", "sesterce", "massed-compute"), 96, "RTX4090_PCIE"),
    GpuModel("rtx-3090", "RTX 3090", 24, 0.19, ("PCIe",), (1, 2, 4), ("spheron-ai", "tensordock"), 65, "RTX3090_PCIE"),
    GpuModel("l4", "L4", 24, 0.39, ("PCIe",), (1, 2, 4), ("spheron-ai", "tensordock"), 58, "L4_PCIE"),
    GpuModel("a10", "A10", 24, 0.32, ("PCIe",), (1, 2), ("spheron-ai", "massed-compute"), 48, "A10_PCIE"),
    GpuModel("v100", "Tesla V100", 16, 0.24, ("SXM2", "PCIe"), (1, 2, 4, 8), ("data-crunch", "tensordock"), 40, "V100"),
    GpuModel("t4", "Tesla T4", 16, 0.14, ("PCIe",), (1, 2, 4), ("spheron-ai", "tensordock"), 42, "T4_PCIE"),
    GpuModel("mi300x", "AMD MI300X", 192, 2.69, ("Infinity Fabric",), (1, 8), ("sesterce", "spheron-am"), 62, "MI300X"),
]
# fmt: on

# Bare metal: full servers of these models, sold dedicated under a "_BAREMETAL" gpuType.
BAREMETAL = {"h100-sxm5": ("voltage-park", "data-crunch"), "h200": ("data-crunch",),
             "a100-80g": ("massed-compute",), "rtx-4090": ("tensordock",)}


def _offer_id(*parts) -> str:
    return "off_" + hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:14]


def _make_offer(rng: random.Random, model: GpuModel, provider: str, count: int, kind: str,
                interconnect: str, baremetal: bool = False) -> dict:
    gpu_type = f"{model.live_type}_BAREMETAL" if baremetal else model.live_type
    display = f"{model.display} BAREMETAL" if baremetal else model.display
    per_gpu = model.price * PRICE_FACTOR[provider] * rng.uniform(0.92, 1.12)
    if baremetal:
        per_gpu *= 1.12
    price = round(per_gpu * count, 2)
    regions = REGIONS[provider]
    clusters = sorted(rng.sample(regions, rng.randint(1, min(3, len(regions)))), key=regions.index)
    if kind == "CLUSTER":
        clusters = ["dallas-tx-1"]
    offer: dict[str, Any] = {
        "provider": provider,
        "offerId": _offer_id(provider, gpu_type, count, kind, interconnect),
        "name": f"{count}x {display}" + (" Cluster" if kind == "CLUSTER" else ""),
        "description": f"{count}x {display} {model.vram}GB {interconnect} on {provider}",
        "gpuType": gpu_type,
        "gpuModel": display,
        "gpuCount": count,
        "gpu_memory": model.vram,
        "vcpus": count * rng.choice([8, 12, 16, 24]) if not baremetal else count * 26,
        "memory": count * rng.choice([32, 64, 96, 128]) if not baremetal else count * 250,
        "storage": count * rng.choice([100, 200, 500, 1000]),
        "price": price,
        # Live: `available` stays true on offers in maintenance (docs/spheron-api.md).
        "available": True,
        "maintenance": rng.random() < MAINTENANCE_SHARE,
        "clusters": clusters,
        "region": clusters[0],
        "os_options": list(OS_OPTIONS[provider]),
        "interconnectType": interconnect,
        "interconnectDescription": f"{interconnect} interconnect",
        "instanceType": kind,
        "supportsCloudInit": rng.random() < 0.5,
        "extras": {"deployment_type": "cluster" if kind == "CLUSTER" else "vm",
                   "nvlink": interconnect.startswith("SXM") and count > 1,
                   "bare_metal": baremetal or kind == "CLUSTER"},
    }
    if kind == "SPOT":
        offer["spot_price"] = offer["price"] = round(price * rng.uniform(0.45, 0.65), 2)
    if kind == "CLUSTER":
        offer["extras"].update({"network": "InfiniBand 3.2 Tbps", "interconnect": "infiniband",
                                "kubernetes_addon": {"version": "1.31.1", "total_cost_per_hour": 0.5}})
        offer["interconnectDescription"] = "8x H100 SXM5, InfiniBand 3.2 Tbps between nodes"
        offer["minimumRuntimeMinutes"] = 60
    elif baremetal and rng.random() < 0.5:
        offer["minimumRuntimeMinutes"] = 30
    return offer


def _cpu_offers(rng: random.Random) -> list[dict]:
    offers = []
    for provider in ("spheron-ai", "data-crunch", "verda", "massed-compute", "tensordock"):
        for vcpus in (4, 16, 32):
            region = rng.choice(REGIONS[provider])
            offers.append({
                "provider": provider, "offerId": _offer_id(provider, "cpu", vcpus),
                "name": f"CPU {vcpus} vCPU", "description": f"CPU-only node, {vcpus} vCPU",
                "gpuType": "CPU", "gpuModel": "CPU only", "gpuCount": 0, "gpu_memory": 0,
                "vcpus": vcpus, "memory": vcpus * 4, "storage": 100,
                "price": round(vcpus * 0.012 * PRICE_FACTOR[provider], 3),
                "available": True, "maintenance": False, "clusters": [region], "region": region,
                "os_options": list(OS_OPTIONS[provider]), "interconnectType": "None",
                "interconnectDescription": "no GPU", "instanceType": "DEDICATED",
                "supportsCloudInit": rng.random() < 0.6,
                "extras": {"deployment_type": "vm", "nvlink": False, "bare_metal": False},
            })
    return offers


def generate_offers(seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    offers = []
    for model in GPU_MODELS:
        for provider in model.providers:
            for count in model.counts:
                for interconnect in model.interconnect:
                    offers.append(_make_offer(rng, model, provider, count, "DEDICATED", interconnect))
                    if provider in SPOT_PROVIDERS and count <= 4:
                        offers.append(_make_offer(rng, model, provider, count, "SPOT", interconnect))
        for provider in BAREMETAL.get(model.slug, ()):
            offers.append(_make_offer(rng, model, provider, 8, "DEDICATED", model.interconnect[0],
                                      baremetal=True))
    h100_sxm5 = next(m for m in GPU_MODELS if m.slug == "h100-sxm5")
    for _ in range(2):  # two cluster SKUs: same hardware, the second one often sold out
        offer = _make_offer(rng, h100_sxm5, "voltage-park", 8, "CLUSTER", "SXM5")
        if any(o["offerId"] == offer["offerId"] for o in offers):
            offer["offerId"] = _offer_id("voltage-park", "cluster-2")
        offers.append(offer)
    offers.extend(_cpu_offers(rng))
    # Keep a few always-usable offers so demos and tests have something to launch, among them
    # offers in the prefixed cluster (sesterce) and on massed-compute (login user ubuntu, no
    # `user` field), where the live formats matter most, and one AMD board (rocm-smi instead of
    # nvidia-smi: tests/test_gpu_amd.py).
    for offer in offers:
        if ((offer["provider"] == "spheron-ai" and offer["gpuType"] in ("RTX4090_PCIE", "T4_PCIE"))
                or (offer["provider"] == "spheron-am" and offer["gpuType"] == "MI300X"
                    and offer["gpuCount"] == 1)
                or (offer["provider"] in ("sesterce", "massed-compute")
                    and offer["gpuType"] == "RTX4090_PCIE" and offer["instanceType"] != "SPOT")):
            offer.update(available=True, maintenance=False, supportsCloudInit=True)
            offer.pop("minimumRuntimeMinutes", None)
            if offer["provider"] == "sesterce" and PREFIXED_CLUSTER not in offer["clusters"]:
                offer["clusters"] = [PREFIXED_CLUSTER] + offer["clusters"]
                offer["region"] = PREFIXED_CLUSTER
    return offers
