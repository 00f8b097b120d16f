"""The documented ICL examples parse and validate as docs/spheron-protocol.md says."""

from pathlib import Path

import pytest

from spheron_jupyter.protocol.icl import load_icl
from spheron_jupyter.protocol.rules import check

EXAMPLES = Path(__file__).parent / "data" / "icl"


def errors(name, mode):
    return sorted(finding.code for finding in check(load_icl((EXAMPLES / name).read_text()), mode).errors)


# (example, errors in provider mode, errors in fizz mode)
EXPECTED = [
    # The complete document: valid in provider mode, and nothing breaks in fizz either: port 8888 is
    # not 80/443, one GPU, 8 CPU units, 16Gi memory and 200Gi storage are within fizz's ceiling.
    ("provider_jupyter_full.yaml", [], []),
    ("provider_persistent_storage.yaml", [], ["fizz.persistent-storage"]),
    # Two H100s and SHM: provider only.
    ("provider_shm.yaml", [], ["fizz.max-gpus", "fizz.shm"]),
    ("fizz_port_ranges.yaml", ["provider.bandwidth", "provider.port-range", "provider.port-range",
                               "provider.use-public-port"], []),
    ("multiple_gpu_models.yaml", [], []),
    # Seed 000, provider: `as: 80` for subdomain access and count 2 for load balancing, each with a GPU.
    ("seed_provider.yaml", [], ["fizz.max-gpus", "fizz.ports-80-443"]),
    ("seed_fizz.yaml", ["provider.port-range", "provider.port-range"], []),
]


@pytest.mark.parametrize("name, provider_errors, fizz_errors", EXPECTED, ids=[item[0] for item in EXPECTED])
def test_documented_examples(name, provider_errors, fizz_errors):
    assert errors(name, "provider") == provider_errors
    assert errors(name, "fizz") == fizz_errors


def test_every_example_is_covered():
    assert {path.name for path in EXAMPLES.glob("*.yaml")} == {name for name, *_ in EXPECTED}


def test_each_example_is_valid_in_its_own_mode():
    for path in EXAMPLES.glob("*.yaml"):
        doc = load_icl(path.read_text())
        assert check(doc).ok, path.name


def test_full_example_warns_about_its_public_jupyter():
    doc = load_icl((EXAMPLES / "provider_jupyter_full.yaml").read_text())
    for mode in ("provider", "fizz"):
        (warning,) = check(doc, mode).warnings
        assert warning.code == "safety.public-interactive"
        assert "JUPYTER_TOKEN=change-me" in warning.rule and "SSH tunnel" in warning.fix


def test_seed_provider_port_80_in_fizz_names_line_and_fix():
    text = (EXAMPLES / "seed_provider.yaml").read_text()
    result = check(load_icl(text), "fizz")
    port = next(finding for finding in result.errors if finding.code == "fizz.ports-80-443")
    assert port.path == "services.web.expose[0].as"
    assert "as: 80" in text.splitlines()[port.line - 1]
    assert "use provider mode" in port.message
    gpus = next(finding for finding in result.errors if finding.code == "fizz.max-gpus")
    assert gpus.path == "deployment.web.westcoast.count" and gpus.value == 2
