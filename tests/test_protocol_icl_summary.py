"""summarize(): services, ports, resources, GPUs, price ceiling, duration, tiers, mode."""

from pathlib import Path

from spheron_jupyter.protocol.icl import load_icl
from spheron_jupyter.protocol.summary import render_findings_html, render_findings_text, summarize
from spheron_jupyter.protocol.rules import check

EXAMPLES = Path(__file__).parent / "data" / "icl"


def example(name):
    return load_icl((EXAMPLES / name).read_text())


def test_full_example_summary():
    summary = summarize(example("provider_jupyter_full.yaml"))
    assert (summary.mode, summary.duration.text, summary.tiers, summary.gpus_total) == ("provider", "2h", ["community"], 1)
    (service,) = summary.services
    assert (service.name, service.image, service.containers) == ("lab", "quay.io/jupyter/pytorch-notebook:cuda12-2024-07-29", 1)
    (port,) = service.ports
    assert (port.container, port.public, port.proto, port.exposure) == ("8888", "8888", "tcp", "global")
    (compute,) = summary.compute
    assert (compute.cpu, compute.memory, compute.storage, compute.gpu_text) == ("8", "16Gi", "200Gi", "1 × rtx4090")
    assert summary.price_per_hour() == {"uSPON": 10}
    assert summary.price_for_duration() == {"uSPON": 20}
    text = summary.to_text()
    for expected in ("Mode: provider", "Duration: 2h", "GPUs in all: 1", "10 uSPON per hour", "20 uSPON for 2h", "rtx4090"):
        assert expected in text


def test_price_ceiling_multiplies_by_count_and_port_ranges_show():
    summary = summarize(example("fizz_port_ranges.yaml"), mode="provider")
    assert summary.mode == "provider" and summary.document_mode == "fizz"
    assert summary.price_per_hour() == {"uSPON": 3.0}  # 1.5 × count 2
    ports = summary.services[0].ports
    assert [(port.container, port.public, port.proto) for port in ports] == [
        ("8080", "8080", "tcp"), ("8443-8445", "8443-8445", "tcp"), ("30303", "assigned by the network", "udp")]
    (placement,) = summary.placements
    assert placement.regions == ["us-west", "eu-central"]
    assert "the document says fizz" in summary.to_text()


def test_gpus_storage_and_fizz_limits():
    summary = summarize(example("provider_shm.yaml"), mode="fizz")
    (compute,) = summary.compute
    assert compute.storage == "100Gi + shm 2Gi (SHM) = 102Gi"
    assert compute.gpu_text == "2 × h100 (80Gi, sxm)"
    assert summary.gpus_total == 2
    assert "fizz limits: cpu 32, memory 128Gi, storage 2000Gi, 1 GPU" in summary.to_text()
    several = summarize(example("multiple_gpu_models.yaml"))
    assert several.compute[0].gpu_text == "1 × rtx4090 | a100-pcie-40g (40Gi, pcie) | l40s (48Gi)"
    assert several.tiers == ["secured", "community-2"]


def test_html_is_escaped_tables():
    doc = example("provider_jupyter_full.yaml")
    doc.services["lab"].image = "evil/<script>alert(1)</script>:1"
    html = summarize(doc).to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<table>") == 4


def test_findings_renderers():
    doc = example("seed_provider.yaml")
    result = check(doc, "fizz")
    text = render_findings_text(result.errors)
    assert text.startswith("error: ") and "Fizz mode cannot use ports 80/443" in text
    html = render_findings_html(result.errors + result.warnings)
    assert 'class="spheron-error"' in html and render_findings_html([]) == ""


def test_check_report_for_the_magic():
    from spheron_jupyter.protocol.summary import check_report

    report = check_report((EXAMPLES / "seed_provider.yaml").read_text(), mode="fizz")
    assert not report.ok
    assert report.verdict == "ICL document refused in fizz mode (the document says provider): 2 errors, 0 warnings."
    text = report.to_text()
    assert "2 GPUs in all — Fizz mode allows 1 GPU per deployment" in text and "Price ceiling per hour" in text
    assert "<table>" in report.to_html()
    valid = check_report((EXAMPLES / "provider_jupyter_full.yaml").read_text())
    assert valid.ok and valid.verdict == "ICL document valid in provider mode, 1 warning."
    broken = check_report("services: [\n")
    assert broken.summary is None and broken.verdict == "ICL document could not be read: 1 error."
    assert broken.to_text().splitlines()[2].startswith("error: line 2: malformed YAML")
