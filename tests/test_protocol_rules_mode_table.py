"""The Provider/Fizz mode table of docs/spheron-protocol.md, row by row, in both modes.

Each case changes one thing in a document that is valid in both modes and lists the errors
expected in provider mode and in fizz mode as (rule code, path).  Every case runs twice per mode:
with the mode written in the document, and with the other mode written and ``check(mode=...)``
overriding it, which must give the same errors.
"""

import copy

import pytest
import yaml

from spheron_jupyter.protocol.icl import load_icl
from spheron_jupyter.protocol.rules import check
from tests.support.icl_documents import BASE, resources

RES = "profiles.compute.web.resources"
EXPOSE0 = "services.web.expose[0]"
EXPOSE1 = "services.web.expose[1]"
PLACEMENT = "profiles.placement.west.attributes"


def expose0(doc):
    return doc["services"]["web"]["expose"][0]


def set_public_port(port, drop_as=False):
    def change(doc):
        if drop_as:
            del expose0(doc)["as"]
            expose0(doc)["port"] = port
        else:
            expose0(doc)["as"] = port
    return change


def add_port_range(container, public):
    def change(doc):
        doc["services"]["web"]["expose"].append({"port_range": container, "port_range_as": public, "to": [{"global": True}]})
    return change


def use_public_port(doc):
    del expose0(doc)["as"]
    expose0(doc)["use_public_port"] = True


def set_resource(key, value):
    def change(doc):
        resources(doc)[key] = value
    return change


def gpus(units, count=1):
    def change(doc):
        resources(doc)["gpu"] = {"units": units, "attributes": {"vendor": {"nvidia": [{"model": "rtx4090"}]}}}
        doc["deployment"]["web"]["west"]["count"] = count
    return change


def add_volume(name, persistent, storage_class, mount):
    def change(doc):
        resources(doc)["storage"].append({"name": name, "size": "2Gi", "attributes": {"persistent": persistent, "class": storage_class}})
        doc["services"]["web"]["params"] = {"storage": {name: {"mount": mount}}}
    return change


def req_vram(doc):
    resources(doc)["gpu"] = {"units": 1, "attributes": {"req_vram": ">=80"}}


def arm64(doc):
    resources(doc)["cpu"]["attributes"] = {"arch": {"arm64": [{"model": "m3pro"}]}}


def placement_attribute(key, value):
    def change(doc):
        doc["profiles"]["placement"]["west"]["attributes"][key] = value
    return change


def count(number):
    def change(doc):
        doc["deployment"]["web"]["west"]["count"] = number
    return change


def refused_in_fizz(code, path):
    return [], [(code, path)]


def refused_in_provider(*errors):
    return list(errors), []


ALLOWED_IN_BOTH = ([], [])

# (row of the table, case id, change, (provider errors, fizz errors))
CASES = [
    ("ports 80/443", "as-80", set_public_port(80), refused_in_fizz("fizz.ports-80-443", f"{EXPOSE0}.as")),
    ("ports 80/443", "as-443", set_public_port(443), refused_in_fizz("fizz.ports-80-443", f"{EXPOSE0}.as")),
    ("ports 80/443", "port-443-exposed-as-itself", set_public_port(443, drop_as=True),
     refused_in_fizz("fizz.ports-80-443", f"{EXPOSE0}.port")),
    ("ports 80/443", "container-80-public-8080", lambda doc: expose0(doc).update(port=80), ALLOWED_IN_BOTH),
    ("ports 80/443", "range-covering-443", add_port_range("440-445", "440-445"),
     ([("provider.port-range", f"{EXPOSE1}.port_range"), ("provider.port-range", f"{EXPOSE1}.port_range_as")],
      [("fizz.ports-80-443", f"{EXPOSE1}.port_range_as")])),
    ("port_range", "range", add_port_range("8443-8445", "9443-9445"),
     refused_in_provider(("provider.port-range", f"{EXPOSE1}.port_range"), ("provider.port-range", f"{EXPOSE1}.port_range_as"))),
    ("port_range", "range-spans-differ", add_port_range("8443-8445", "9443-9444"),
     ([("provider.port-range", f"{EXPOSE1}.port_range"), ("provider.port-range", f"{EXPOSE1}.port_range_as")],
      [("icl.port-range-span", f"{EXPOSE1}.port_range_as")])),
    ("use_public_port", "use-public-port", use_public_port,
     refused_in_provider(("provider.use-public-port", f"{EXPOSE0}.use_public_port"))),
    ("resource ceiling", "cpu-32", set_resource("cpu", {"units": 32}), ALLOWED_IN_BOTH),
    ("resource ceiling", "cpu-33", set_resource("cpu", {"units": 33}), refused_in_fizz("fizz.max-cpu", f"{RES}.cpu.units")),
    ("resource ceiling", "cpu-33000m", set_resource("cpu", {"units": "33000m"}), refused_in_fizz("fizz.max-cpu", f"{RES}.cpu.units")),
    ("resource ceiling", "memory-128Gi", set_resource("memory", {"size": "128Gi"}), ALLOWED_IN_BOTH),
    ("resource ceiling", "memory-129Gi", set_resource("memory", {"size": "129Gi"}),
     refused_in_fizz("fizz.max-memory", f"{RES}.memory.size")),
    ("resource ceiling", "storage-2000Gi-in-two", set_resource("storage", [{"size": "1500Gi"}, {"size": "500Gi"}]), ALLOWED_IN_BOTH),
    ("resource ceiling", "storage-2001Gi-in-two", set_resource("storage", [{"size": "1500Gi"}, {"size": "501Gi"}]),
     refused_in_fizz("fizz.max-storage", f"{RES}.storage")),
    ("GPUs per deployment", "one-gpu", gpus(1), ALLOWED_IN_BOTH),
    ("GPUs per deployment", "two-gpu-units", gpus(2), refused_in_fizz("fizz.max-gpus", f"{RES}.gpu.units")),
    ("GPUs per deployment", "one-gpu-two-containers", gpus(1, count=2),
     refused_in_fizz("fizz.max-gpus", "deployment.web.west.count")),
    ("SHM", "shm", add_volume("shm", False, "ram", "/dev/shm"),
     refused_in_fizz("fizz.shm", f"{RES}.storage[1].attributes.class")),
    ("SHM", "shm-persistent", add_volume("shm", True, "ram", "/dev/shm"),
     ([("provider.shm-persistent", f"{RES}.storage[1].attributes.persistent")], [("fizz.shm", f"{RES}.storage[1].attributes.class")])),
    ("SHM", "shm-bad-name", add_volume("shm_mem", False, "ram", "/dev/shm"),
     ([("provider.shm-name", f"{RES}.storage[1].name")], [("fizz.shm", f"{RES}.storage[1].attributes.class")])),
    ("persistent storage", "persistent", add_volume("default", True, "beta3", "/data"),
     refused_in_fizz("fizz.persistent-storage", f"{RES}.storage[1].attributes.persistent")),
    ("fizz-only attributes", "req_vram", req_vram, refused_in_provider(("provider.req-vram", f"{RES}.gpu.attributes.req_vram"))),
    ("fizz-only attributes", "arch.arm64", arm64, refused_in_provider(("provider.arm64", f"{RES}.cpu.attributes.arch.arm64"))),
    ("fizz-only attributes", "bandwidth", placement_attribute("bandwidth", "100mbps"),
     refused_in_provider(("provider.bandwidth", f"{PLACEMENT}.bandwidth"))),
    ("fizz-only attributes", "desired_fizz", placement_attribute("desired_fizz", "0x8f1a2b3c4d5e6f"),
     refused_in_provider(("provider.desired-fizz", f"{PLACEMENT}.desired_fizz"))),
    ("fizz-only attributes", "fizz_exclude", placement_attribute("fizz_exclude", "0x8f1a2b3c4d5e6f"),
     refused_in_provider(("provider.fizz-exclude", f"{PLACEMENT}.fizz_exclude"))),
    ("count > 1", "count-3", count(3), ALLOWED_IN_BOTH),
]


def build(change, mode):
    doc = copy.deepcopy(BASE)
    change(doc)
    doc["profiles"]["mode"] = mode
    text = yaml.safe_dump(doc, sort_keys=False)
    return text, load_icl(text)


def test_base_document_is_clean_in_both_modes():
    for mode in ("provider", "fizz"):
        _, doc = build(lambda doc: None, mode)
        result = check(doc)
        assert result.ok and not result.warnings, result


@pytest.mark.parametrize("mode", ["provider", "fizz"])
@pytest.mark.parametrize("row, change, expected", [pytest.param(row, change, expected, id=case_id)
                                                   for row, case_id, change, expected in CASES])
def test_mode_table(row, change, expected, mode):
    wanted = sorted(expected[0] if mode == "provider" else expected[1])
    text, doc = build(change, mode)
    result = check(doc)
    assert result.mode == mode
    assert sorted((finding.code, finding.path) for finding in result.errors) == wanted, str(result)

    # The same errors when the document says the other mode and check() overrides it.
    other = "fizz" if mode == "provider" else "provider"
    _, other_doc = build(change, other)
    overridden = check(other_doc, mode=mode)
    assert overridden.mode_overridden and overridden.mode == mode
    assert sorted((finding.code, finding.path) for finding in overridden.errors) == wanted

    lines = text.splitlines()
    for finding in result.errors:
        message = finding.message
        assert finding.path in message and finding.rule in message and finding.fix.rstrip(".") in message
        if finding.code.startswith(("fizz.", "provider.")):
            assert "mode" in (finding.rule + finding.fix).lower(), "a mode rule says which mode refuses or allows it"
        assert finding.line is not None
        last_key = finding.path.rsplit(".", 1)[-1].split("[")[0]
        assert last_key in lines[finding.line - 1], (finding.path, lines[finding.line - 1])


def test_every_row_of_the_table_is_covered_in_both_modes():
    rows = {row for row, *_ in CASES}
    assert rows == {"ports 80/443", "port_range", "use_public_port", "resource ceiling", "GPUs per deployment",
                    "SHM", "persistent storage", "fizz-only attributes", "count > 1"}
    for row in rows - {"count > 1"}:
        refused = [expected for r, _, _, expected in CASES if r == row]
        assert any(provider != fizz for provider, fizz in refused), row


def test_the_documented_message_shape():
    _, doc = build(set_public_port(443), "fizz")
    (finding,) = check(doc).errors
    assert finding.message == (
        f"services.web.expose[0].as (line {finding.line}): port 443 — Fizz mode cannot use ports 80/443: "
        "use another port (8080, 8443, ...), or use provider mode."
    )


def test_two_gpu_services_exceed_fizz_one_gpu_at_the_second_entry():
    def change(doc):
        gpus(1)(doc)
        doc["services"]["worker"] = {"image": "nginx:1.27"}
        doc["deployment"]["worker"] = {"west": {"profile": "web", "count": 1}}
    _, doc = build(change, "fizz")
    (finding,) = check(doc).errors
    assert (finding.code, finding.path, finding.value) == ("fizz.max-gpus", "deployment.worker.west", 2)
    assert finding.message.startswith("deployment.worker.west (line ")
    assert "2 GPUs in all — Fizz mode allows 1 GPU per deployment" in finding.message
    _, doc = build(change, "provider")
    assert check(doc).ok


def test_use_public_port_with_as_warns_that_as_is_ignored_in_fizz():
    _, doc = build(lambda doc: expose0(doc).update(use_public_port=True), "fizz")
    result = check(doc)
    assert result.ok
    assert [(w.code, w.path) for w in result.warnings] == [("fizz.use-public-port-as", f"{EXPOSE0}.as")]
