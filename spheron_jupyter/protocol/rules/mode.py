"""The Provider/Fizz mode table of docs/spheron-protocol.md, one rule per row.

| rule                                   | Provider | Fizz                 |
| ports 80 / 443                         | allowed  | refused              |
| port_range / port_range_as             | refused  | allowed              |
| use_public_port                        | refused  | allowed              |
| resource ceiling (per compute profile) | high     | cpu 32, 128Gi, 2000Gi|
| GPUs per deployment                    | several  | 1                    |
| SHM (class: ram storage)               | allowed* | refused              |
| persistent storage                     | allowed  | refused              |
| req_vram, arch.arm64, bandwidth,       | refused  | allowed              |
|   desired_fizz, fizz_exclude           |          |                      |
| count > 1                              | allowed  | allowed              |

* SHM must be `persistent: false` and named with letters, digits and `-` only.
"""

from __future__ import annotations

from ..quantities import ByteSize, format_bytes
from .context import RuleContext
from .names import is_valid_shm_name

RESERVED_FIZZ_PORTS = (80, 443)
FIZZ_MAX_CPU_UNITS = 32
FIZZ_MAX_MEMORY = ByteSize(128 * 2**30, "128Gi")
FIZZ_MAX_STORAGE = ByteSize(2000 * 2**30, "2000Gi")
FIZZ_MAX_GPUS = 1


def _exposes(context: RuleContext):
    for service_name, service in context.doc.services.items():
        for index, expose in enumerate(service.expose):
            yield ("services", service_name, "expose", index), expose


def _compute_profiles(context: RuleContext):
    for name, profile in context.doc.profiles.compute.items():
        yield ("profiles", "compute", name, "resources"), profile.resources


def ports_80_and_443(context: RuleContext) -> None:
    if not context.fizz:
        return
    for path, expose in _exposes(context):
        public, key = (expose.as_, "as") if expose.as_ is not None else (expose.port, "port")
        if public in RESERVED_FIZZ_PORTS:
            context.error(path + (key,), public, "Fizz mode cannot use ports 80/443",
                          context.other_mode_fix("use another port (8080, 8443, ...)"), "fizz.ports-80-443", noun="port")
        reserved = [port for port in RESERVED_FIZZ_PORTS if expose.public_range and port in expose.public_range]
        if reserved:
            key = "port_range_as" if expose.port_range_as else "port_range"
            context.error(path + (key,), str(expose.public_range), "Fizz mode cannot use ports 80/443",
                          context.other_mode_fix(f"choose a range without port {reserved[0]}"), "fizz.ports-80-443",
                          noun="range")


def port_ranges(context: RuleContext) -> None:
    for path, expose in _exposes(context):
        if context.provider:
            for key in ("port_range", "port_range_as"):
                value = getattr(expose, key)
                if value is not None:
                    context.error(path + (key,), str(value), "Provider mode does not support port ranges",
                                  context.other_mode_fix("expose each port as its own entry with port/as"),
                                  "provider.port-range", noun="range")
            continue
        if expose.port_range_as is not None and expose.port_range is None:
            context.error(path + ("port_range_as",), str(expose.port_range_as), "port_range_as maps a port_range",
                          "add port_range with the container ports, or use port/as", "icl.port-range-as-alone", noun="range")
        elif expose.port_range and expose.port_range_as and expose.port_range.span != expose.port_range_as.span:
            context.error(path + ("port_range_as",), str(expose.port_range_as),
                          f"port_range_as must cover as many ports as port_range ({expose.port_range.span})",
                          f"make both ranges {expose.port_range.span} ports long, e.g. "
                          f"{expose.port_range_as.start}-{expose.port_range_as.start + expose.port_range.span - 1}",
                          "icl.port-range-span", noun="range")


def use_public_port(context: RuleContext) -> None:
    for path, expose in _exposes(context):
        if not expose.use_public_port:
            continue
        if context.provider:
            context.error(path + ("use_public_port",), True, "use_public_port is a Fizz mode feature",
                          context.other_mode_fix("remove it and choose the public port with `as`"),
                          "provider.use-public-port")
        elif expose.as_ is not None:
            context.warn(path + ("as",), expose.as_, "use_public_port lets the network choose the public port, so `as` is ignored",
                         "remove `as`, or drop use_public_port to keep this port", "fizz.use-public-port-as", noun="port")


def fizz_resource_ceiling(context: RuleContext) -> None:
    if not context.fizz:
        return
    for path, resources in _compute_profiles(context):
        if resources.cpu.units > FIZZ_MAX_CPU_UNITS:
            context.error(path + ("cpu", "units"), resources.cpu.units.text, f"Fizz mode allows at most {FIZZ_MAX_CPU_UNITS} CPU units",
                          context.other_mode_fix(f"ask for {FIZZ_MAX_CPU_UNITS} units or fewer"), "fizz.max-cpu")
        if resources.memory.size > FIZZ_MAX_MEMORY:
            context.error(path + ("memory", "size"), resources.memory.size.text,
                          f"Fizz mode allows at most {FIZZ_MAX_MEMORY.text} of memory",
                          context.other_mode_fix(f"ask for {FIZZ_MAX_MEMORY.text} or less"), "fizz.max-memory")
        if resources.storage_total > FIZZ_MAX_STORAGE:
            total = format_bytes(resources.storage_total)
            context.error(path + ("storage",), total, f"Fizz mode allows at most {FIZZ_MAX_STORAGE.text} of storage in all",
                          context.other_mode_fix(f"ask for {FIZZ_MAX_STORAGE.text} or less in total"), "fizz.max-storage",
                          noun="total")


def gpus_per_deployment(context: RuleContext) -> None:
    if not context.fizz:
        return
    too_many_per_profile = set()
    for path, resources in _compute_profiles(context):
        if resources.gpu_units > FIZZ_MAX_GPUS:
            too_many_per_profile.add(path[2])
            context.error(path + ("gpu", "units"), resources.gpu_units, "Fizz mode allows 1 GPU per deployment",
                          context.other_mode_fix("ask for gpu units: 1"), "fizz.max-gpus", noun="{} GPUs")
    total = 0
    for service, placement, entry in context.doc.deployments():
        profile = context.doc.profiles.compute.get(entry.profile)
        units = profile.resources.gpu_units if profile else 0
        if not units:
            continue
        total += units * entry.count
        if total > FIZZ_MAX_GPUS and entry.profile not in too_many_per_profile:
            path = ("deployment", service, placement) + (("count",) if entry.count > 1 else ())
            context.error(path, total, "Fizz mode allows 1 GPU per deployment",
                          context.other_mode_fix("deploy one GPU container (count: 1, one GPU service)"),
                          "fizz.max-gpus", noun="{} GPUs in all")
            return


def shared_memory(context: RuleContext) -> None:
    for path, resources in _compute_profiles(context):
        for index, volume in enumerate(resources.storage):
            if not volume.is_shm:
                continue
            volume_path = path + ("storage", index)
            if context.fizz:
                context.error(volume_path + ("attributes", "class"), "ram", "Fizz mode does not support shared memory (SHM)",
                              context.other_mode_fix("remove the class: ram volume"), "fizz.shm")
                continue
            if volume.attributes and volume.attributes.persistent:
                context.error(volume_path + ("attributes", "persistent"), True, "in provider mode, SHM (class: ram) cannot be persistent",
                              "write persistent: false", "provider.shm-persistent")
            if not volume.name or not is_valid_shm_name(volume.name):
                context.error(volume_path + ("name",), volume.name, "in provider mode, an SHM volume needs a name of letters, digits and - only",
                              "name it like `shm`", "provider.shm-name")


def persistent_storage(context: RuleContext) -> None:
    if not context.fizz:
        return
    for path, resources in _compute_profiles(context):
        for index, volume in enumerate(resources.storage):
            if volume.is_persistent and not volume.is_shm:
                attributes = volume.attributes
                key = "persistent" if attributes.persistent else "class"
                context.error(path + ("storage", index, "attributes", key), attributes.persistent if key == "persistent" else attributes.class_,
                              "Fizz mode does not support persistent storage",
                              context.other_mode_fix("use ephemeral storage (no attributes)"), "fizz.persistent-storage")


def fizz_only_attributes(context: RuleContext) -> None:
    if not context.provider:
        return
    fix = context.other_mode_fix("remove it")
    for path, resources in _compute_profiles(context):
        gpu_attributes = resources.gpu.attributes if resources.gpu else None
        if gpu_attributes and gpu_attributes.req_vram is not None:
            context.error(path + ("gpu", "attributes", "req_vram"), str(gpu_attributes.req_vram),
                          "req_vram is a Fizz mode attribute", context.other_mode_fix("choose GPUs with vendor.nvidia model and ram"),
                          "provider.req-vram")
        cpu_attributes = resources.cpu.attributes
        if cpu_attributes and cpu_attributes.arch and cpu_attributes.arch.arm64:
            models = [item.model for item in cpu_attributes.arch.arm64]
            context.error(path + ("cpu", "attributes", "arch", "arm64"), models, "Mac (arch.arm64) machines are Fizz mode only",
                          fix, "provider.arm64")
    for name, placement in context.doc.profiles.placement.items():
        attributes = placement.attributes
        if attributes is None:
            continue
        for key in ("bandwidth", "desired_fizz", "fizz_exclude"):
            value = getattr(attributes, key)
            if value is not None:
                context.error(("profiles", "placement", name, "attributes", key), value, f"{key} is a Fizz mode attribute",
                              fix, f"provider.{key.replace('_', '-')}")


def replica_count(context: RuleContext) -> None:
    # count > 1 is allowed in both modes (provider load-balances); only a count below 1 is wrong.
    for service, placement, entry in context.doc.deployments():
        if entry.count < 1:
            context.error(("deployment", service, placement, "count"), entry.count, "count is the number of containers, at least 1",
                          "write count: 1 or more, or remove the deployment entry", "icl.count")


RULES = [ports_80_and_443, port_ranges, use_public_port, fizz_resource_ceiling, gpus_per_deployment,
         shared_memory, persistent_storage, fizz_only_attributes, replica_count]
