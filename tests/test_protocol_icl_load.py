"""load_icl: the model API, shorthand forms, and errors that name the path and the line."""

import textwrap
from pathlib import Path

import pytest

from spheron_jupyter.protocol.errors import IclError
from spheron_jupyter.protocol.icl import IclDocument, load_icl

EXAMPLES = Path(__file__).parent / "data" / "icl"


def read_example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def test_full_example_model_api():
    doc = load_icl(read_example("provider_jupyter_full.yaml"))
    assert isinstance(doc, IclDocument)
    assert doc.version == "1.0" and doc.mode == "provider"
    lab = doc.services["lab"]
    assert lab.env == ["JUPYTER_TOKEN=change-me"]
    assert lab.env_dict() == {"JUPYTER_TOKEN": "change-me"}
    expose = lab.expose[0]
    assert (expose.port, expose.as_, expose.public_port, expose.is_global) == (8888, 8888, 8888, True)
    assert doc.profiles.duration == 7200 and doc.profiles.duration.text == "2h"
    assert doc.profiles.tiers == ["community"]
    resources = doc.profiles.compute["lab"].resources
    assert resources.cpu.units == 8
    assert resources.memory.size == 16 * 2**30
    assert resources.storage_total == 200 * 2**30
    assert resources.gpu.units == 1 and resources.gpu.model_names == ["rtx4090"]
    placement = doc.profiles.placement["west"]
    assert placement.attributes.regions == ["us-west"]
    assert (placement.pricing["lab"].token, placement.pricing["lab"].amount) == ("uSPON", 10)
    assert list(doc.deployments()) == [("lab", "west", doc.deployment["lab"]["west"])]
    assert doc.deployment["lab"]["west"].profile == "lab" and doc.deployment["lab"]["west"].count == 1
    assert doc.load_warnings == []


def test_shorthands_tier_single_storage_and_millicores():
    doc = load_icl(read_example("fizz_port_ranges.yaml"))
    resources = doc.profiles.compute["node"].resources
    assert len(resources.storage) == 1 and resources.storage[0].size == 2**30  # `storage: {size}` form
    assert resources.cpu.units == 0.5 and resources.cpu.units.text == "500m"
    ranged = doc.services["node"].expose[1]
    assert (ranged.port_range.start, ranged.port_range.end, str(ranged.port_range_as)) == (8443, 8445, "8443-8445")
    assert doc.services["node"].expose[2].use_public_port is True
    assert doc.profiles.placement["edge"].attributes.regions == ["us-west", "eu-central"]
    shm = load_icl(read_example("provider_shm.yaml"))
    assert shm.profiles.tiers == ["community"]  # written `tier:`
    assert shm.profiles.compute["vllm"].resources.storage[1].is_shm
    assert shm.services["vllm"].mounts["shm"].mount == "/dev/shm"
    gpu = shm.profiles.compute["vllm"].resources.gpu.models[0]
    assert (gpu.model, gpu.ram, gpu.interface) == ("h100", 80 * 2**30, "sxm")


def test_args_numbers_become_text_and_credentials_hide_the_password():
    doc = load_icl(read_example("provider_persistent_storage.yaml"))
    assert doc.services["trainer"].args == ["-m", "http.server", "8080"]
    assert doc.services["trainer"].mounts["default"].read_only is False
    text = read_example("provider_jupyter_full.yaml").replace(
        "    env:", "    credentials:\n      registry: ghcr.io\n      username: me\n      password: hunter2-secret\n    env:")
    doc = load_icl(text)
    assert doc.services["lab"].credentials.password.get_secret_value() == "hunter2-secret"
    assert "hunter2-secret" not in repr(doc)


def test_malformed_yaml_names_the_line():
    text = 'version: "1.0"\nservices:\n  web:\n    image: nginx:1.27\n   expose: []\n'
    with pytest.raises(IclError) as caught:
        load_icl(text)
    assert caught.value.line == 5
    assert str(caught.value).startswith("line 5: malformed YAML")


def test_unclosed_bracket_is_a_yaml_error_not_a_traceback():
    with pytest.raises(IclError) as caught:
        load_icl("services: [\n")
    assert "malformed YAML" in caught.value.first_message


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_not_a_mapping(text):
    with pytest.raises(IclError) as caught:
        load_icl(text)
    assert "YAML mapping" in str(caught.value)


def test_type_errors_give_path_line_value_and_fix_for_every_problem():
    text = read_example("provider_jupyter_full.yaml")
    text = text.replace("as: 8888", "as: 99999").replace("duration: 2h", "duration: 2 hours").replace(
        "size: 16Gi", "size: 16gb").replace("mode: provider", "mode: fizzz").replace("units: 8", "units: lots")
    with pytest.raises(IclError) as caught:
        load_icl(text)
    lines = text.splitlines()
    by_path = {finding.path: finding for finding in caught.value.findings}
    expected = {
        "services.lab.expose[0].as": ("99999", "65535"),
        "profiles.duration": ("2 hours", "2h or 30min"),
        "profiles.compute.lab.resources.memory.size": ("16gb", "16Gi"),
        "profiles.mode": ("fizzz", "mode: fizz"),
        "profiles.compute.lab.resources.cpu.units": ("lots", "500m"),
    }
    assert set(by_path) == set(expected)
    for path, (value, fix_part) in expected.items():
        finding = by_path[path]
        assert value in lines[finding.line - 1], (path, finding.line)
        assert path in finding.message and fix_part in finding.message and finding.rule in finding.message


def test_missing_required_keys_point_at_the_parent():
    text = textwrap.dedent("""\
        version: "1.0"
        services:
          web:
            expose: []
        profiles:
          mode: fizz
          compute: {}
          placement: {}
        deployment: {}
    """)
    with pytest.raises(IclError) as caught:
        load_icl(text)
    by_path = {finding.path: finding for finding in caught.value.findings}
    assert by_path["services.web.image"].line == 3
    assert by_path["profiles.duration"].line == 5
    assert "`duration` is required" in by_path["profiles.duration"].message


def test_single_storage_mapping_errors_use_the_written_path():
    text = read_example("seed_fizz.yaml").replace("size: 1Gi\n  placement", "size: 1Gq\n  placement")
    with pytest.raises(IclError) as caught:
        load_icl(text)
    assert caught.value.path == "profiles.compute.web.resources.storage.size"
    assert "1Gq" in text.splitlines()[caught.value.line - 1]


def test_env_entries_must_be_key_value():
    text = read_example("provider_jupyter_full.yaml").replace("- JUPYTER_TOKEN=change-me", "- JUPYTER_TOKEN")
    with pytest.raises(IclError) as caught:
        load_icl(text)
    assert caught.value.path == "services.lab.env[0]" and "KEY=VALUE" in str(caught.value)


def test_unknown_and_duplicate_keys_warn_but_load():
    text = read_example("provider_jupyter_full.yaml").replace("    expose:", "    exposse: []\n    expose:").replace(
        "  duration: 2h", "  duration: 1h\n  duration: 2h")
    doc = load_icl(text)
    warnings = {finding.code: finding for finding in doc.load_warnings}
    unknown = warnings["icl.unknown-key"]
    assert unknown.path == "services.lab.exposse" and "did you mean `expose`" in unknown.message
    assert text.splitlines()[unknown.line - 1].strip().startswith("exposse")
    duplicate = warnings["icl.duplicate-key"]
    assert duplicate.path == "profiles.duration" and duplicate.severity == "warning"
    assert doc.profiles.duration.text == "2h"


def test_unquoted_version_reads_as_text():
    doc = load_icl(read_example("seed_fizz.yaml").replace('version: "1.0"', "version: 1.0"))
    assert doc.version == "1.0"


def test_alias_bombs_and_recursive_aliases_are_refused_quickly():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefgh":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]\n"
    with pytest.raises(IclError) as caught:
        load_icl(bomb)
    assert caught.value.findings[0].code == "icl.too-large"
    with pytest.raises(IclError):
        load_icl("services: &s\n  web: *s\n")


def test_norway_problem_says_to_quote():
    text = read_example("provider_jupyter_full.yaml").replace("region: us-west", "region: no")
    with pytest.raises(IclError) as caught:
        load_icl(text)
    assert caught.value.path == "profiles.placement.west.attributes.region"
    assert "quote it" in str(caught.value)


def test_nested_values_are_described_not_dumped():
    text = read_example("fizz_port_ranges.yaml").replace("units: 500m", "units: [1]").replace("- port: 30303", "- port: {a: 1}")
    with pytest.raises(IclError) as caught:
        load_icl(text)
    messages = [finding.message for finding in caught.value.findings]
    assert messages[0].startswith("services.node.expose[2].port (line 17): a mapping — a port is a whole number")
    assert "cpu.units (line 31): a list — not a CPU amount" in messages[1]
