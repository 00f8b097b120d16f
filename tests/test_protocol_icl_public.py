"""ICL rules against real documents: errors only for what will fail, warnings name their source.

The corpus in tests/data/icl/public/ is copied from public repositories (its README names each
file's repository, path and commit). Every document there is one people deploy, so each must
pass `--check` in its own mode; documents with a genuinely broken field are refused with the
line, the rule and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spheron_jupyter.protocol.rules import check_text

PUBLIC = Path(__file__).parent / "data" / "icl" / "public"
CORPUS = sorted(PUBLIC.rglob("*.yaml"))


def test_the_corpus_is_there_and_every_file_has_an_origin():
    assert len(CORPUS) >= 30
    readme = (PUBLIC / "README.md").read_text()
    for path in CORPUS:
        assert f"`{path.relative_to(PUBLIC)}`" in readme, path


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(PUBLIC)))
def test_every_public_document_passes_check_in_its_mode(path):
    doc, result = check_text(path.read_text())
    assert doc is not None and result.ok, str(result)
    assert result.mode == doc.mode
    for warning in result.warnings:  # warnings never block, and each says where and why
        assert warning.severity == "warning" and warning.line is not None and warning.fix


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(PUBLIC)))
def test_every_public_document_passes_the_check_magic(shell, path):
    """What a user runs: the document pasted under `%%spheron icl --check`."""
    doc, _ = check_text(path.read_text())
    out = shell.ok("%%spheron icl --check\n" + path.read_text())
    assert repr(out.result).startswith(f"ICL document valid in {doc.mode} mode"), repr(out.result)


def test_the_check_magic_refuses_a_broken_public_document_with_the_cells_line(shell):
    text = public("awesome-spheron/ubuntu24.yaml").replace("  duration: 1h", "  duration: 1hr")
    line = text.splitlines().index("  duration: 1hr") + 2  # the %%spheron line is line 1
    shown = repr(shell.ok("%%spheron icl --check\n" + text).result)
    assert shown.startswith("ICL document could not be read: 1 error."), shown
    assert f"error: profiles.duration (line {line}): '1hr'" in shown and "like 2h" in shown


def public(name: str) -> str:
    return (PUBLIC / name).read_text()


def codes(result, severity="warnings"):
    return [finding.code for finding in getattr(result, severity)]


def test_multi_item_to_of_the_multiservice_template_is_accepted():
    text = public("awesome-spheron/examples-multiservice.yaml")
    assert "- global: false\n          - service: vscode" in text
    _, result = check_text(text)
    assert result.ok and "icl.global-false" not in codes(result, "errors")
    lone = text.replace("          - global: false\n          - service: vscode\n", "          - global: false\n")
    _, refused = check_text(lone)
    (finding,) = [f for f in refused.errors if f.code == "icl.global-false"]
    assert finding.path == "services.ollama.expose[0].to[0].global" and "service: <name>" in finding.fix


@pytest.mark.parametrize("tier, meant", [("secure", "secured"), ("secured1", "secured-1"), ("community4", "community-4")])
def test_tier_spellings_in_real_use_warn_with_their_source(tier, meant):
    text = public("other/eliza-spheron-starter.yaml").replace("    - secure\n", f"    - {tier}\n")
    _, result = check_text(text)
    assert result.ok
    (warning,) = [w for w in result.warnings if w.code == "icl.tier"]
    assert f"`{meant}`" in warning.fix and "protocol-sdk" in warning.rule and warning.line == 28


def test_an_unknown_tier_is_a_warning_naming_the_docs_table():
    text = public("other/eliza-spheron-starter.yaml").replace("    - secure\n", "    - gold\n")
    _, result = check_text(text)
    (warning,) = [w for w in result.warnings if w.code == "icl.tier"]
    assert result.ok and "rent-gpu/icl" in warning.rule and "falls back to every tier" in warning.fix


@pytest.mark.parametrize("registry", ["myregistry.com", "nvcr.io", "quay.io"])
def test_registry_credentials_for_any_host_warn_with_the_docs_as_source(registry):
    text = public("awesome-spheron/ubuntu24.yaml").replace(
        "    image: spheronfdn/ubuntu:24.04\n",
        f"    image: {registry}/team/app:1.0\n    credentials:\n      registry: {registry}\n"
        "      username: me\n      password: \"s3cret-value\"\n")
    assert registry in text
    _, result = check_text(text)
    assert result.ok, str(result)
    (warning,) = [w for w in result.warnings if w.code == "icl.registry"]
    assert "Private Container Registry" in warning.rule and "may work" in warning.rule
    assert "s3cret-value" not in str(result)


def test_gpu_spellings_the_table_lacks_warn_and_name_the_table():
    text = public("awesome-spheron/pytorch.yaml").replace("model: rtx4090", "model: a100")
    assert "model: a100" in text  # the docs' own GPU example writes it so
    _, result = check_text(text)
    (warning,) = [w for w in result.warnings if w.code == "icl.gpu-model"]
    assert result.ok and "rent-gpu/supports" in warning.rule and "`a100-80g`" in warning.fix


@pytest.mark.parametrize("key", ["region_exclude", "exclude_region", "cpu_model", "region"])
def test_placement_keys_of_the_docs_and_of_the_sdk_are_known(key):
    text = public("awesome-spheron/ubuntu24.yaml").replace(
        "    westcoast:\n      pricing:\n", f"    westcoast:\n      attributes:\n        {key}: us-east\n      pricing:\n")
    assert f"{key}: us-east" in text
    _, result = check_text(text)
    assert result.ok and "icl.unknown-key" not in codes(result), str(result)


def test_jupyter_warning_only_for_jupyters_ports():
    # sd-webui exposes 7860 (the web UI) and 8888 (Jupyter) with JUPYTER_TOKEN set.
    _, result = check_text(public("spheron-yaml-gen-api/sdwebui.yaml"))
    flagged = [w for w in result.warnings if w.code == "safety.public-interactive"]
    assert [w.path for w in flagged] == ["services.sd-webui.expose[1].as"]
    assert flagged[0].value == 8888 and "Jupyter" in flagged[0].rule


def test_mode_written_with_a_capital_is_accepted():
    text = public("awesome-spheron/ubuntu24.yaml")
    doc, result = check_text(text.replace("mode: provider", "mode: Provider"))
    assert doc.mode == "provider" and result.ok and not [w for w in result.warnings if w.code == "icl.mode-spelling"]
    fizz = public("awesome-spheron/examples-fizz.yaml").replace("mode: fizz", "mode: Fizz")
    doc, result = check_text(fizz)
    assert doc.mode == "fizz" and result.ok
    (warning,) = [w for w in result.warnings if w.code == "icl.mode-spelling"]
    assert warning.fix == "write mode: fizz"


@pytest.mark.parametrize("written, unit", [("1hr", "'hr'"), ("2 hours", None), ("90", None)])
def test_a_broken_duration_is_refused_with_line_rule_and_fix(written, unit):
    text = public("awesome-spheron/ubuntu24.yaml")
    line = text.splitlines().index("  duration: 1h") + 1
    _, result = check_text(text.replace("  duration: 1h", f"  duration: {written}"))
    (error,) = result.errors
    assert (error.path, error.line) == ("profiles.duration", line)
    assert "duration" in error.rule or "unit" in error.rule
    assert "2h" in error.fix or f"{written}h" in error.fix
    if unit:
        assert unit in error.rule
    assert f"(line {line})" in error.message


def test_regions_outside_the_docs_list_warn_and_never_block():
    # The ICL page's own example (`us-east;ap-south;eu-west`) names regions its list lacks.
    text = public("awesome-spheron/ubuntu24.yaml").replace(
        "    westcoast:\n      pricing:\n",
        "    westcoast:\n      attributes:\n        region: us-east;ap-south;eu-west\n"
        "        exclude_region: us-wset\n      pricing:\n")
    _, result = check_text(text)
    assert result.ok, str(result)
    found = [(w.path.rsplit(".", 1)[-1], w.value) for w in result.warnings if w.code == "icl.region"]
    assert found == [("region", "ap-south"), ("region", "eu-west"), ("exclude_region", "us-wset")]
    typo = [w for w in result.warnings if w.value == "us-wset"][0]
    assert "`us-west`" in typo.fix and "rent-gpu/supports" in typo.rule
