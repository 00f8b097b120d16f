"""Offer selection: GPU names, filters, sorts, and the create body built from one offer."""

from __future__ import annotations

import re

import pytest

from spheron_jupyter.client import (CloudInit, GpuGroup, OfferError, OfferQuery, UnknownGpuError,
                                    normalize_gpu, offer_to_create_request, select_offers,
                                    unique_instance_name)
from tests.support.client_fakes import group, offer


@pytest.mark.parametrize(
    "text, key",
    [
        ("H100", "h100"), ("h100", "h100"), ("H100 SXM5", "h100-sxm5"), ("h100-sxm5", "h100-sxm5"),
        ("H100SXM5", "h100-sxm5"), ("NVIDIA H100 PCIe", "h100-pcie"), ("h100 nvl", "h100-nvl"),
        ("rtx-4090", "rtx4090"), ("RTX 4090", "rtx4090"), ("RTX4090", "rtx4090"),
        ("GeForce RTX 4090", "rtx4090"), ("4090", "rtx4090"), ("A100 80GB", "a100-80gb"),
        ("a100-80g", "a100-80gb"), ("A100-SXM4-80GB", "a100-sxm4-80gb"), ("RTX A6000", "a6000"),
        ("a6000", "a6000"), ("rtx-6000-ada", "rtx6000ada"), ("RTX 6000 Ada", "rtx6000ada"),
        ("8x H100 SXM5", "h100-sxm5"), ("Tesla V100", "v100"), ("L40S", "l40s"),
    ],
)
def test_gpu_names_normalise(text, key):
    assert normalize_gpu(text).key == key


def test_baremetal_marker_is_noted_and_removed():
    spec = normalize_gpu("h100-sxm5-baremetal")
    assert (spec.model, spec.interconnect, spec.baremetal) == ("h100", "sxm5", True)
    assert normalize_gpu("H100 SXM5 Bare Metal").baremetal


@pytest.mark.parametrize("text", ["", "   ", "NVIDIA", "80GB"])
def test_names_without_a_model_are_refused(text):
    with pytest.raises(OfferError):
        normalize_gpu(text)


CATALOG = [GpuGroup.model_validate(g) for g in [
    group("h100", "H100 PCIe",
          offer("h-pcie-1", price=2.10),
          offer("h-pcie-8", gpuCount=8, price=16.0, provider="massed-compute",
                clusters=["kansas-city-mo-1"]),
          offer("h-spot", instanceType="SPOT", price=1.2, spot_price=1.2, provider="tensordock",
                clusters=["us-tx-austin"]),
          offer("h-gone", price=0.5, available=False),
          offer("h-maint", price=0.6, maintenance=True)),
    group("h100-sxm5", "H100 SXM5",
          offer("h-sxm-1", interconnectType="SXM5", price=2.49, provider="data-crunch",
                clusters=["FIN-01", "FIN-02"], supportsCloudInit=False,
                os_options=["ubuntu-22.04-cuda-12.4"]),
          offer("h-cluster", interconnectType="SXM5", gpuCount=8, price=19.9,
                provider="voltage-park", instanceType="CLUSTER", clusters=["dallas-tx-1"],
                extras={"deployment_type": "cluster"})),
    group("h100-sxm5-baremetal", "H100 SXM5 BAREMETAL",
          offer("h-bm", interconnectType="SXM5", gpuCount=8, price=18.5, provider="sesterce",
                clusters=["fr-paris-1"])),
    group("a100-80g", "A100 80GB", offer("a100-80", gpu_memory=80, price=1.29)),
    group("a100-40g", "A100 40GB", offer("a100-40", gpu_memory=40, price=0.89)),
    group("rtx-4090", "RTX 4090",
          offer("r4090-1", gpu_memory=24, price=0.34),
          offer("r4090-4", gpu_memory=24, gpuCount=4, price=1.30, provider="verda")),
    group("cpu", "CPU only", offer("cpu-1", gpuCount=0, gpu_memory=None, price=0.05)),
]]


def ids(offers):
    return [o.offer_id for o in offers]


def test_flattened_offers_carry_their_group():
    sxm = CATALOG[1].offers[0]
    assert (sxm.gpu_type, sxm.display_name) == ("h100-sxm5", "H100 SXM5")


def test_default_query_skips_unavailable_and_maintenance_and_sorts_by_price():
    found = select_offers(CATALOG, OfferQuery())
    assert "h-gone" not in ids(found) and "h-maint" not in ids(found)
    prices = [o.hourly_price for o in found]
    assert prices == sorted(prices)
    assert ids(select_offers(CATALOG, OfferQuery(include_unavailable=True)))[0] == "cpu-1"


@pytest.mark.parametrize(
    "query, expected",
    [
        (OfferQuery(gpu="H100", count=1), ["h-spot", "h-pcie-1", "h-sxm-1"]),
        (OfferQuery(gpu="h100-sxm5"), ["h-sxm-1", "h-bm", "h-cluster"]),
        (OfferQuery(gpu="H100 PCIe", count=8), ["h-pcie-8"]),
        (OfferQuery(gpu="RTX4090"), ["r4090-1", "r4090-4"]),
        (OfferQuery(gpu="rtx 4090", provider="data-crunch"), ["r4090-4"]),
        (OfferQuery(gpu="A100 80GB"), ["a100-80"]),
        (OfferQuery(gpu="a100"), ["a100-40", "a100-80"]),
        (OfferQuery(type="spot"), ["h-spot"]),
        (OfferQuery(type="cluster"), ["h-cluster"]),
        (OfferQuery(type="bare-metal"), ["h-bm"]),
        (OfferQuery(gpu="H100", type="dedicated"), ["h-pcie-1", "h-sxm-1", "h-pcie-8"]),
        (OfferQuery(region="fin-02"), ["h-sxm-1"]),
        (OfferQuery(gpu="H100", max_price=2.2), ["h-spot", "h-pcie-1"]),
        (OfferQuery(min_vram=48, count=1), ["h-spot", "a100-80", "h-pcie-1", "h-sxm-1"]),
        (OfferQuery(count=0), ["cpu-1"]),
    ],
)
def test_filters(query, expected):
    assert ids(select_offers(CATALOG, query)) == expected


def test_unknown_provider_slugs_are_just_providers():
    catalog = [GpuGroup.model_validate(group("l4", "L4", offer("x", provider="brand-new-cloud")))]
    assert ids(select_offers(catalog, OfferQuery(provider="Brand-New-Cloud"))) == ["x"]


def test_sort_by_vram_and_price_per_vram():
    by_vram = select_offers(CATALOG, OfferQuery(sort="vram"))
    totals = [o.total_vram_gb for o in by_vram]
    assert totals == sorted(totals, reverse=True)
    by_ppv = select_offers(CATALOG, OfferQuery(sort="price-per-vram"))
    ratios = [o.hourly_price / o.total_vram_gb for o in by_ppv if o.total_vram_gb]
    assert ratios == sorted(ratios)
    assert by_ppv[-1].offer_id == "cpu-1"  # no VRAM: last
    assert ids(by_ppv[:2]) == ["r4090-4", "r4090-1"]  # 1.30/96 GB, then 0.34/24 GB


def test_unknown_gpu_is_one_clear_error_listing_known_models():
    with pytest.raises(UnknownGpuError) as info:
        select_offers(CATALOG, OfferQuery(gpu="H900"))
    message = str(info.value)
    assert "'H900'" in message and "H100 SXM5" in message and "\n" not in message


def test_known_gpu_with_nothing_left_is_an_empty_list_not_an_error():
    assert select_offers(CATALOG, OfferQuery(gpu="H100", max_price=0.1)) == []


@pytest.mark.parametrize(
    "fields, fragment",
    [({"count": -1}, "GPU count"), ({"count": 1.5}, "GPU count"), ({"max_price": -2}, "max_price"),
     ({"min_vram": float("nan")}, "min_vram"), ({"type": "preemptible"}, "Unknown offer type"),
     ({"sort": "speed"}, "Unknown sort"), ({"gpu": ""}, "empty")],
)
def test_bad_queries_are_refused(fields, fragment):
    with pytest.raises(OfferError, match=fragment):
        OfferQuery(**fields)


def test_create_request_takes_every_offer_field_from_one_offer():
    chosen = CATALOG[1].offers[0]  # data-crunch H100 SXM5, two regions, no cloud-init
    request = offer_to_create_request(chosen, name="my-run", team_id="team-personal",
                                      region="fin-02", ssh_key_id="key-1")
    assert request.to_body() == {
        "provider": "data-crunch", "offerId": "h-sxm-1", "gpuType": "h100-sxm5", "gpuCount": 1,
        "region": "FIN-02", "operatingSystem": "ubuntu-22.04-cuda-12.4",
        "instanceType": "DEDICATED", "teamId": "team-personal", "name": "my-run",
        "sshKeyId": "key-1",
    }


def test_create_request_defaults_and_inline_key_and_cloud_init():
    chosen = CATALOG[0].offers[0]
    startup = {"runcmd": ["echo hi"], "writeFiles": [{"path": "/etc/x", "content": "SECRET-HOST-KEY"}]}
    request = offer_to_create_request(chosen, ssh_public_key="ssh-ed25519 AAAA me", cloud_init=startup,
                                      os="24.04")
    body = request.to_body()
    assert body["region"] == "us-east-1" and body["operatingSystem"] == "ubuntu-24.04"
    assert body["ssh_public_key"] == "ssh-ed25519 AAAA me" and "sshKeyId" not in body
    assert body["cloudInit"] == {"packages": [], "writeFiles": [{"path": "/etc/x", "content": "SECRET-HOST-KEY"}],
                                 "runcmd": ["echo hi"]}
    assert "name" not in body and "teamId" not in body
    assert "SECRET-HOST-KEY" not in repr(request)


@pytest.mark.parametrize(
    "index, kwargs, fragment",
    [
        (1, {"ssh_key_id": "k", "cloud_init": CloudInit(runcmd=["x"])}, "does not support cloud-init"),
        (0, {"ssh_key_id": "k", "region": "mars-1"}, "no region 'mars-1'; choose one of: us-east-1"),
        (0, {"ssh_key_id": "k", "os": "windows"}, "no operating system 'windows'"),
        (0, {}, "needs an SSH key"),
        (0, {"ssh_key_id": "k", "ssh_public_key": "ssh-ed25519 A"}, "not both"),
    ],
)
def test_create_request_refusals(index, kwargs, fragment):
    with pytest.raises(OfferError, match=re.escape(fragment)):
        offer_to_create_request(CATALOG[0].offers[0] if index == 0 else CATALOG[1].offers[0], **kwargs)


def test_unavailable_offer_cannot_be_turned_into_a_request():
    gone = CATALOG[0].offers[3]
    with pytest.raises(OfferError, match="not available"):
        offer_to_create_request(gone, ssh_key_id="k")
    with pytest.raises(OfferError, match="maintenance"):
        offer_to_create_request(CATALOG[0].offers[4], ssh_key_id="k")


def test_empty_cloud_init_is_allowed_anywhere_and_not_sent():
    request = offer_to_create_request(CATALOG[1].offers[0], ssh_key_id="k", cloud_init=CloudInit())
    assert "cloudInit" not in request.to_body()


def test_unique_names():
    names = {unique_instance_name("h100-sxm5") for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch(r"sj-h100-sxm5-[0-9a-f]{8}", n) for n in names)
    assert re.fullmatch(r"sj-gpu-[0-9a-f]{8}", unique_instance_name(None))
