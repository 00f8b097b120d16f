"""Rules that hold in both modes: version, cross-references, vocabularies, volumes, safety warnings."""

import copy

import pytest
import yaml

from spheron_jupyter.protocol.icl import load_icl
from spheron_jupyter.protocol.rules import check, check_text
from tests.support.icl_documents import BASE, resources


def checked(change, mode=None):
    doc = copy.deepcopy(BASE)
    change(doc)
    text = yaml.safe_dump(doc, sort_keys=False)
    return text, check(load_icl(text), mode)


def web(doc):
    return doc["services"]["web"]


def gpu_model(model):
    def change(doc):
        resources(doc)["gpu"] = {"units": 1, "attributes": {"vendor": {"nvidia": [{"model": model}]}}}
    return change


# (case id, change, code, path, text the fix must contain)
ERRORS = [
    ("version-2", lambda d: d.update(version="2.0"), "icl.version", "version", 'version: "1.0"'),
    ("version-missing", lambda d: d.pop("version"), "icl.version", "version", 'version: "1.0"'),
    ("deploy-unknown-service", lambda d: d["deployment"].update(api=d["deployment"]["web"]), "icl.ref-service",
     "deployment.api", "define it under services, or use one defined there (web)"),
    ("deploy-unknown-placement", lambda d: d["deployment"]["web"].update(east=d["deployment"]["web"].pop("west")),
     "icl.ref-placement", "deployment.web.east", "did you mean `west`?"),
    ("deploy-unknown-profile", lambda d: d["deployment"]["web"]["west"].update(profile="wbe"), "icl.ref-compute",
     "deployment.web.west.profile", "did you mean `web`?"),
    ("pricing-missing", lambda d: d["profiles"]["placement"]["west"].update(pricing={}), "icl.ref-pricing",
     "profiles.placement.west.pricing", "token: uSPON"),
    ("pricing-zero", lambda d: d["profiles"]["placement"]["west"]["pricing"]["web"].update(amount=0), "icl.price-amount",
     "profiles.placement.west.pricing.web.amount", "amount: 10"),
    ("to-unknown-service", lambda d: web(d)["expose"][0].update(to=[{"service": "db"}]), "icl.ref-to-service",
     "services.web.expose[0].to[0].service", "define it under services"),
    ("global-false-alone", lambda d: web(d)["expose"][0].update(to=[{"global": False}]), "icl.global-false",
     "services.web.expose[0].to[0].global", "service: <name>"),
    ("expose-without-port", lambda d: web(d)["expose"][0].pop("port") and web(d)["expose"][0].pop("as"), "icl.expose-port",
     "services.web.expose[0]", "port:"),
    ("proto", lambda d: web(d)["expose"][0].update(proto="http"), "icl.proto", "services.web.expose[0].proto", "tcp"),
    ("pull-policy", lambda d: web(d).update(pull_policy="always"), "icl.pull-policy", "services.web.pull_policy", "`Always`"),
    ("count-0", lambda d: d["deployment"]["web"]["west"].update(count=0), "icl.count", "deployment.web.west.count", "count: 1"),
    ("volume-not-in-profile", lambda d: web(d).update(params={"storage": {"data": {"mount": "/data"}}}), "icl.ref-volume",
     "services.web.params.storage.data", "named volume"),
    ("mount-relative", lambda d: resources(d)["storage"].append({"name": "data", "size": "5Gi", "attributes": {
        "persistent": True, "class": "beta3"}}) or web(d).update(params={"storage": {"data": {"mount": "data"}}}),
     "icl.mount-path", "services.web.params.storage.data.mount", "/path/in/the/container"),
    ("storage-class", lambda d: resources(d)["storage"].append({"name": "data", "size": "5Gi", "attributes": {"class": "beta4"}}),
     "icl.storage-class", "profiles.compute.web.resources.storage[1].attributes.class", "beta3"),
    ("services-empty", lambda d: d.update(services={}, deployment={}), "icl.empty-section", "services", "add a service"),
]


@pytest.mark.parametrize("mode", ["provider", "fizz"])
@pytest.mark.parametrize("change, code, path, fix_part", [pytest.param(*case[1:], id=case[0]) for case in ERRORS])
def test_document_rules_hold_in_both_modes(change, code, path, fix_part, mode):
    text, result = checked(change, mode)
    matching = [finding for finding in result.errors if finding.code == code]
    assert matching, str(result)
    finding = matching[0]
    assert finding.path == path
    assert fix_part in finding.fix
    assert finding.path in finding.message and finding.rule in finding.message and finding.fix.rstrip(".") in finding.message
    assert finding.line is not None


@pytest.mark.parametrize("registry", ["docker.io", "ghcr.io", "registry.gitlab.com", "public.ecr.aws", "myteam.azurecr.io",
                                      "https://ghcr.io/v2/"])
def test_allowed_registries(registry):
    def change(doc):
        web(doc).update(image="ghcr.io/me/app:1.0", credentials={"registry": registry, "username": "u", "password": "p"})
    _, result = checked(change)
    assert result.ok, str(result)


# (case id, change, code, path)
WARNINGS = [
    ("latest", lambda d: web(d).update(image="nginx:latest"), "icl.image-latest", "services.web.image"),
    ("untagged", lambda d: web(d).update(image="ghcr.io/me/app"), "icl.image-latest", "services.web.image"),
    ("registry-port-untagged", lambda d: web(d).update(image="localhost:5000/app"), "icl.image-latest", "services.web.image"),
    ("tensorboard-port", lambda d: web(d)["expose"][0].update(port=6006, **{"as": 6006}), "safety.public-interactive",
     "services.web.expose[0].as"),
    ("jupyter-port", lambda d: web(d).update(image="jupyter/base-notebook:2024-01-01") or
     web(d)["expose"][0].update(port=8888, **{"as": 8888}), "safety.public-interactive", "services.web.expose[0].as"),
    ("code-server-port", lambda d: web(d).update(image="lscr.io/linuxserver/code-server:4.9") or
     web(d)["expose"][0].update(port=8443, **{"as": 8443}), "safety.public-interactive", "services.web.expose[0].as"),
    ("weak-token", lambda d: web(d).update(env=["JUPYTER_TOKEN=change-me"]) or
     web(d)["expose"][0].update(port=8888, **{"as": 8888}), "safety.public-interactive", "services.web.expose[0].as"),
    ("unused-service", lambda d: d["services"].update(extra={"image": "redis:7.2"}), "icl.unused-service", "services.extra"),
    ("env-duplicate", lambda d: web(d).update(env=["A=1", "A=2"]), "icl.env-duplicate", "services.web.env[1]"),
    ("token", lambda d: d["profiles"]["placement"]["west"]["pricing"]["web"].update(token="USDT"), "icl.price-token",
     "profiles.placement.west.pricing.web.token"),
]


@pytest.mark.parametrize("change, code, path", [pytest.param(*case[1:], id=case[0]) for case in WARNINGS])
def test_warnings(change, code, path):
    _, result = checked(change)
    assert result.ok, str(result)
    matching = [finding for finding in result.warnings if finding.code == code]
    assert matching and matching[0].path == path, str(result)
    assert matching[0].severity == "warning"


def test_public_interactive_app_suggests_our_ssh_tunnel():
    _, result = checked(lambda d: web(d)["expose"][0].update(port=8888, **{"as": 8888}))
    (warning,) = result.warnings
    assert "SSH tunnel" in warning.fix and "global: true" in warning.fix
    # A lease is not an instance: the fix is sphnctl's SSH access and a local forward of that port.
    assert "sphnctl deployment ssh enable --lid N" in warning.fix and "%spheron forward" not in warning.fix
    assert "ssh -N -L 8888:127.0.0.1:8888 -p PORT root@HOST" in warning.fix


def test_service_local_jupyter_is_not_flagged():
    _, result = checked(lambda d: d["services"].update(lab={"image": "jupyter/base-notebook:2024-01-01", "expose": [
        {"port": 8888, "to": [{"service": "web"}]}]}) or d["deployment"].update(lab={"west": {"profile": "web", "count": 1}}))
    assert result.ok and not result.warnings, str(result)


def test_digest_pinned_image_is_fine():
    _, result = checked(lambda d: web(d).update(image="nginx@sha256:" + "a" * 64))
    assert not result.warnings


def test_check_text_reports_load_errors_as_findings():
    doc, result = check_text("services: [\n", mode="fizz")
    assert doc is None and not result.ok and result.errors[0].code == "icl.yaml"
    doc, result = check_text(yaml.safe_dump(BASE, sort_keys=False))
    assert doc is not None and result.ok and str(result) == "ICL document valid in provider mode."


def test_unknown_override_mode_is_refused_with_a_suggestion():
    doc = load_icl(yaml.safe_dump(BASE, sort_keys=False))
    with pytest.raises(ValueError, match="did you mean fizz"):
        check(doc, mode="fiz")


def test_findings_come_in_document_order_with_lines():
    def change(doc):
        doc["deployment"]["web"]["west"]["count"] = 0
        web(doc)["expose"][0]["as"] = 443
    text, result = checked(change, "fizz")
    lines = [finding.line for finding in result.errors]
    assert lines == sorted(lines) and len(lines) == 2
    assert "as: 443" in text.splitlines()[lines[0] - 1]
    assert "count: 0" in text.splitlines()[lines[1] - 1]
