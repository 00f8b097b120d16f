"""Rules that hold in both modes: version, cross-references, closed vocabularies, volumes."""

from __future__ import annotations

from ..icl.models import Service
from .context import RuleContext
from .names import (
    GPU_INTERFACES,
    GPU_MODELS,
    PAYMENT_TOKEN,
    PROTOCOLS,
    PULL_POLICIES,
    SOURCES,
    STORAGE_CLASSES,
    TIER_SPELLINGS,
    TIERS,
    did_you_mean,
    image_registry_host,
    is_allowed_registry,
    normalize_gpu_model,
    registry_host,
    suggest,
)


def version(context: RuleContext) -> None:
    value = context.doc.version
    if value is None:
        context.error(("version",), None, 'an ICL document starts with version: "1.0"', 'add version: "1.0" at the top',
                      "icl.version")
    elif value != "1.0":
        context.error(("version",), value, 'the only ICL version is "1.0"', 'write version: "1.0"', "icl.version")


def mode_spelling(context: RuleContext) -> None:
    written = context.doc.profiles.mode_written
    if written == "fizz" or written == context.doc.mode or context.doc.mode != "fizz":
        return  # `Provider` means provider to every reader; only a capitalised fizz may not
    context.warn(("profiles", "mode"), written, "the protocol-sdk reads only lower-case `fizz` as Fizz mode "
                 "(any other value deploys in provider mode)", "write mode: fizz", "icl.mode-spelling")


def sections_not_empty(context: RuleContext) -> None:
    doc = context.doc
    for key, value, what in (("services", doc.services, "a service"), ("deployment", doc.deployment, "a deployment entry"),
                             (("profiles", "compute"), doc.profiles.compute, "a compute profile"),
                             (("profiles", "placement"), doc.profiles.placement, "a placement")):
        path = key if isinstance(key, tuple) else (key,)
        if not value:
            context.error(path, {}, f"{'.'.join(path)} is empty", f"add {what}", "icl.empty-section")


def deployment_references(context: RuleContext) -> None:
    doc = context.doc
    for service_name, placements in doc.deployment.items():
        if service_name not in doc.services:
            context.error(("deployment", service_name), service_name, "deployment names a service that does not exist",
                          _name_fix(service_name, doc.services, "services"), "icl.ref-service", noun="service")
        for placement_name, entry in (placements or {}).items():
            path = ("deployment", service_name, placement_name)
            placement = doc.profiles.placement.get(placement_name)
            if placement is None:
                context.error(path, placement_name, "deployment names a placement that does not exist",
                              _name_fix(placement_name, doc.profiles.placement, "profiles.placement"), "icl.ref-placement",
                              noun="placement")
            if entry.profile not in doc.profiles.compute:
                context.error(path + ("profile",), entry.profile, "deployment names a compute profile that does not exist",
                              _name_fix(entry.profile, doc.profiles.compute, "profiles.compute"), "icl.ref-compute",
                              noun="profile")
            elif placement is not None and entry.profile not in placement.pricing:
                context.error(("profiles", "placement", placement_name, "pricing"), entry.profile,
                              f"placement {placement_name} has no price for compute profile {entry.profile}",
                              f"add `{entry.profile}: {{token: {PAYMENT_TOKEN}, amount: <max per hour>}}` under its pricing",
                              "icl.ref-pricing", noun="profile")
    deployed = {service for service, _, _ in doc.deployments()}
    for service_name in doc.services:
        if service_name not in deployed:
            context.warn(("services", service_name), service_name, "service is never deployed",
                         "add it under deployment, or remove it", "icl.unused-service", noun="service")
    used_profiles = {entry.profile for _, _, entry in doc.deployments()}
    for profile_name in doc.profiles.compute:
        if profile_name not in used_profiles:
            context.warn(("profiles", "compute", profile_name), profile_name, "compute profile is never used",
                         "reference it from deployment, or remove it", "icl.unused-compute", noun="profile")


def _name_fix(name: str, existing, section: str) -> str:
    if not existing:
        return f"define it under {section}"
    names = list(existing)
    if suggest(name, names):
        return f"{did_you_mean(name, names)} ({section}: {', '.join(names)})"
    return f"define it under {section}, or use one defined there ({', '.join(names)})"


def expose_entries(context: RuleContext) -> None:
    doc = context.doc
    for service_name, service in doc.services.items():
        for index, expose in enumerate(service.expose):
            path = ("services", service_name, "expose", index)
            if expose.port is None and expose.port_range is None:
                context.error(path, None, "an expose entry needs port or port_range", "add `port: <container port>`",
                              "icl.expose-port", noun="port")
            elif expose.port is not None and expose.port_range is not None:
                context.warn(path + ("port_range",), str(expose.port_range), "an expose entry with both port and port_range",
                             "split it into two entries", "icl.expose-port-and-range", noun="range")
            if expose.proto is not None and expose.proto.lower() not in PROTOCOLS:
                context.error(path + ("proto",), expose.proto, "proto is tcp or udp", did_you_mean(expose.proto, PROTOCOLS),
                              "icl.proto")
            # Each `to` item is read on its own (the protocol-sdk does; Spheron's multi-service template
            # writes `- global: false` and `- service: vscode` as two items): a `global: false` item
            # is fine as long as some item of the list names a service.
            names_a_service = any(target.service for target in expose.to)
            for target_index, target in enumerate(expose.to):
                target_path = path + ("to", target_index)
                if target.service is not None and target.service not in doc.services:
                    context.error(target_path + ("service",), target.service, "`to` names a service that does not exist",
                                  _name_fix(target.service, doc.services, "services"), "icl.ref-to-service", noun="service")
                elif target.global_ is False and target.service is None and not names_a_service:
                    context.error(target_path + ("global",), False, "global: false needs a service to expose the port to",
                                  "add `- service: <name>` to this `to` list, or write global: true", "icl.global-false")
                elif target.global_ is None and target.service is None:
                    context.error(target_path, None, "a `to` entry is {global: true} or {service: NAME}",
                                  "write `- global: true` or `- service: <name>`", "icl.to-entry")


def service_settings(context: RuleContext) -> None:
    for service_name, service in context.doc.services.items():
        path = ("services", service_name)
        if not service.image.strip():
            context.error(path + ("image",), service.image, "a service needs an image", "write image: <name>:<tag>", "icl.image")
        if service.pull_policy is not None and service.pull_policy not in PULL_POLICIES:
            context.error(path + ("pull_policy",), service.pull_policy, "pull_policy is Always, IfNotPresent or Never",
                          did_you_mean(service.pull_policy, PULL_POLICIES), "icl.pull-policy")
        _credentials(context, path, service)
        _env_duplicates(context, path, service)


def _credentials(context: RuleContext, path, service: Service) -> None:
    credentials = service.credentials
    if credentials is None:
        return
    if not is_allowed_registry(credentials.registry):
        context.warn(path + ("credentials", "registry"), credentials.registry,
                     f"a registry the docs do not name; per {SOURCES['registry']}",
                     "keep it if your provider can pull from it (quay.io, nvcr.io and private registries often work); "
                     "if the pull fails, %spheron deployment events --lid N shows it", "icl.registry")
    elif image_registry_host(service.image) != registry_host(credentials.registry):
        context.warn(path + ("credentials", "registry"), credentials.registry,
                     f"the image is pulled from {image_registry_host(service.image)}, not from the credentials' registry",
                     "name the image with its registry host, e.g. ghcr.io/owner/image:tag", "icl.registry-image")


def _env_duplicates(context: RuleContext, path, service: Service) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(service.env):
        key = entry.split("=", 1)[0]
        if key in seen:
            context.warn(path + ("env", index), key, "environment variable set twice; the last one wins",
                         "keep one entry", "icl.env-duplicate", noun="variable")
        seen.add(key)


def compute_resources(context: RuleContext) -> None:
    for profile_name, profile in context.doc.profiles.compute.items():
        path = ("profiles", "compute", profile_name, "resources")
        resources = profile.resources
        if resources.memory.size <= 0:
            context.error(path + ("memory", "size"), resources.memory.size.text, "memory must be more than 0",
                          "ask for memory like 1Gi", "icl.memory")
        names: set[str] = set()
        for index, volume in enumerate(resources.storage):
            volume_path = path + ("storage", index)
            if volume.size <= 0:
                context.error(volume_path + ("size",), volume.size.text, "storage must be more than 0",
                              "ask for storage like 10Gi", "icl.storage-size")
            if volume.name is not None and volume.name in names:
                context.error(volume_path + ("name",), volume.name, "two storage volumes with the same name",
                              "give each volume its own name", "icl.storage-name")
            if volume.name is not None:
                names.add(volume.name)
            storage_class = volume.attributes.class_ if volume.attributes else None
            if storage_class is not None and storage_class not in STORAGE_CLASSES:
                context.error(volume_path + ("attributes", "class"), storage_class,
                              "storage class is beta3 (persistent) or ram (SHM)",
                              did_you_mean(storage_class, STORAGE_CLASSES), "icl.storage-class")
        _gpu(context, path, resources.gpu)


def _gpu(context: RuleContext, path, gpu) -> None:
    if gpu is None:
        return
    if gpu.units < 0:
        context.error(path + ("gpu", "units"), gpu.units, "gpu units cannot be negative", "write units: 0 or more",
                      "icl.gpu-units")
    elif gpu.units == 0 and gpu.models:
        context.warn(path + ("gpu", "units"), 0, "GPU models are listed but no GPU is asked for",
                     "write units: 1, or remove the attributes", "icl.gpu-units-zero", noun="{} GPUs")
    for index, spec in enumerate(gpu.models):
        spec_path = path + ("gpu", "attributes", "vendor", "nvidia", index)
        if spec.model is not None and spec.model not in GPU_MODELS:
            # The docs' own GPU example writes `model: a100`, which their table does not list.
            context.warn(spec_path + ("model",), spec.model, f"a GPU model not in {SOURCES['gpu']}",
                         did_you_mean(spec.model, GPU_MODELS, normalize_gpu_model)
                         + " If no provider has this model, no one bids and the create finds no lease",
                         "icl.gpu-model", noun="model")
        if spec.interface is not None and spec.interface not in GPU_INTERFACES:
            context.warn(spec_path + ("interface",), spec.interface, f"not an interface {SOURCES['interface']}",
                         did_you_mean(spec.interface, GPU_INTERFACES), "icl.gpu-interface")


def tiers(context: RuleContext) -> None:
    for index, tier in enumerate(context.doc.profiles.tiers):
        if tier in TIERS:
            continue
        if tier in TIER_SPELLINGS:
            meant = TIER_SPELLINGS[tier]
            context.warn(("profiles", "tiers", index), tier,
                         f"a tier spelling of {SOURCES['tier-spellings']}, not of {SOURCES['tiers']}",
                         f"write `{meant}` to be sure; the protocol-sdk falls back to every tier on a value it does not know",
                         "icl.tier", noun="tier")
            continue
        context.warn(("profiles", "tiers", index), tier, f"a tier not in {SOURCES['tiers']}",
                     did_you_mean(tier, TIERS) + " (the protocol-sdk falls back to every tier on a value it does not know)",
                     "icl.tier", noun="tier")


def pricing(context: RuleContext) -> None:
    for placement_name, placement in context.doc.profiles.placement.items():
        for profile_name, price in placement.pricing.items():
            path = ("profiles", "placement", placement_name, "pricing", profile_name)
            if profile_name not in context.doc.profiles.compute:
                context.error(path, profile_name, "pricing names a compute profile that does not exist",
                              _name_fix(profile_name, context.doc.profiles.compute, "profiles.compute"),
                              "icl.ref-pricing-compute", noun="profile")
            if price.amount <= 0:
                context.error(path + ("amount",), price.amount, "amount is the most you pay per hour and must be more than 0",
                              "write the highest hourly price you accept, like amount: 10", "icl.price-amount")
            if price.token != PAYMENT_TOKEN:
                context.warn(path + ("token",), price.token, f"a token other than {PAYMENT_TOKEN}; {SOURCES['token']}",
                             f"write token: {PAYMENT_TOKEN} unless `sphnctl payment tokens` lists this one",
                             "icl.price-token")


def storage_mounts(context: RuleContext) -> None:
    doc = context.doc
    mounted: dict[str, set[str]] = {}
    for service_name, service in doc.services.items():
        profiles = [doc.profiles.compute[name] for name in doc.compute_profiles_of(service_name) if name in doc.profiles.compute]
        for volume_name, mount in service.mounts.items():
            path = ("services", service_name, "params", "storage", volume_name)
            volumes = {volume.name: volume for profile in profiles for volume in profile.resources.storage}
            mounted.setdefault(volume_name, set()).add(service_name)
            if profiles and volume_name not in volumes:
                named = sorted(name for name in volumes if name)
                fix = did_you_mean(volume_name, named) if named else "add a named volume to the service's storage list"
                context.error(path, volume_name, "mounts a storage volume its compute profile does not have", fix,
                              "icl.ref-volume", noun="volume")
            if not mount.mount or not mount.mount.startswith("/"):
                context.error(path + ("mount",), mount.mount, "a volume mounts at an absolute path",
                              "write mount: /path/in/the/container", "icl.mount-path")
            elif volumes.get(volume_name) is not None and volumes[volume_name].is_shm and mount.mount != "/dev/shm":
                context.warn(path + ("mount",), mount.mount, "shared memory is expected at /dev/shm",
                             "write mount: /dev/shm", "icl.shm-mount")
    for profile_name, profile in doc.profiles.compute.items():
        for index, volume in enumerate(profile.resources.storage):
            if (volume.is_persistent or volume.is_shm) and volume.name and volume.name not in mounted:
                context.warn(("profiles", "compute", profile_name, "resources", "storage", index), volume.name,
                             "volume is never mounted, so no container can use it",
                             f"add params.storage.{volume.name}.mount to the service", "icl.unmounted-volume", noun="volume")


RULES = [version, mode_spelling, sections_not_empty, deployment_references, expose_entries, service_settings,
         compute_resources, tiers, pricing, storage_mounts]
