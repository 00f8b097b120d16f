"""The vocabularies of ICL and "did you mean" suggestions.

Most lists come from Spheron's docs, which may lag behind the network (docs/spheron-protocol.md,
"How the official tooling reads ICL"): a value outside them is a warning that names the list's
source (``SOURCES``), never an error. Only what sphnctl or a provider provably refuses is an error.
"""

from __future__ import annotations

import difflib
import re

GPU_MODELS: tuple[str, ...] = (
    "rtx3080", "rtx3080ti", "rtx3090", "rtx3090ti", "rtx4050", "rtx4060", "rtx4060ti", "rtx4070",
    "rtx4070ti", "rtx4070tisuper", "rtx4080", "rtx4090", "rtx4000", "rtx4000-ada", "rtxa4000",
    "rtxa5000", "rtxa6000", "rtx8000", "rtx6000-ada", "titanrtx", "p100", "p40", "t4", "v100", "a10",
    "a10g", "l4", "a40", "l40", "l40s", "a100-pcie-40g", "a100-sxm-40g", "a100-80g", "h100", "gh200",
    "h200", "b200",
)

TIERS: tuple[str, ...] = (
    "secured", "community", "secured-1", "secured-2", "secured-3",
    "community-1", "community-2", "community-3", "community-4",
)
# Spellings in real use that the docs' table does not list, and what each one means.
TIER_SPELLINGS: dict[str, str] = {
    "secured1": "secured-1", "secured2": "secured-2", "secured3": "secured-3",
    "community1": "community-1", "community2": "community-2", "community3": "community-3",
    "community4": "community-4", "secure": "secured",
}

# Where each vocabulary comes from (docs/spheron-protocol.md cites each one).
SOURCES: dict[str, str] = {
    "tiers": "the tier table of Spheron's ICL docs (rent-gpu/icl, Deployment Tier)",
    "tier-spellings": "the protocol-sdk's tier table (secured1..3, community1..4) and the console's label `secure`",
    "gpu": "the GPU table of Spheron's docs (rent-gpu/supports), which may lag behind the providers",
    "registry": ("Spheron's ICL docs (rent-gpu/icl, Private Container Registry): docker.io, ghcr.io, "
                 "registry.gitlab.com, public.ecr.aws and *.azurecr.io are named, and other registries \"may work\""),
    "token": "Spheron's docs (rent-gpu/supports, Supported Payment Tokens) name uSPON",
    "interface": "Spheron's ICL docs (rent-gpu/icl, Specifying GPU Interface) name pcie and sxm",
}

PULL_POLICIES: tuple[str, ...] = ("Always", "IfNotPresent", "Never")

# Private-registry credentials are accepted for these hosts only; Azure's are per-customer names.
REGISTRY_HOSTS: tuple[str, ...] = ("docker.io", "ghcr.io", "registry.gitlab.com", "public.ecr.aws")
REGISTRY_HOST_SUFFIXES: tuple[str, ...] = (".azurecr.io",)

GPU_INTERFACES: tuple[str, ...] = ("pcie", "sxm")
PROTOCOLS: tuple[str, ...] = ("tcp", "udp")
STORAGE_CLASSES: tuple[str, ...] = ("beta1", "beta2", "beta3", "ram")
PAYMENT_TOKEN = "uSPON"

_SHM_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def normalize_gpu_model(text: str) -> str:
    """``"RTX 4090"`` -> ``"rtx4090"``: the short-name form, for matching and suggestions."""
    return re.sub(r"[\s_]+", "", text.strip().lower()).removeprefix("nvidia")


def suggest(value: str, choices: tuple[str, ...] | list[str], normalize=str.lower) -> list[str]:
    """The choices the user most likely meant, best first (possibly none)."""
    wanted = normalize(value)
    exact = [choice for choice in choices if normalize(choice) == wanted]
    if exact:
        return exact
    # "a100" could be any of three cards: list every name that extends what was written.
    extending = [choice for choice in choices if wanted and normalize(choice).startswith(wanted)]
    if extending:
        return extending[:4]
    normalized = {normalize(choice): choice for choice in choices}
    close = difflib.get_close_matches(wanted, list(normalized), n=2, cutoff=0.6)
    return [normalized[name] for name in close]


def did_you_mean(value: str, choices, normalize=str.lower) -> str:
    """A fix fragment: "did you mean `rtx4090`?" or the full list when nothing is close."""
    options = suggest(value, choices, normalize)
    if options:
        return "did you mean " + " or ".join(f"`{option}`" for option in options) + "?"
    return "use one of " + ", ".join(choices)


def registry_host(registry: str) -> str:
    """``https://ghcr.io/v2/`` -> ``ghcr.io``."""
    host = re.sub(r"^[a-z]+://", "", registry.strip().lower())
    return host.split("/", 1)[0]


def is_allowed_registry(registry: str) -> bool:
    host = registry_host(registry)
    return host in REGISTRY_HOSTS or any(host.endswith(suffix) and len(host) > len(suffix) for suffix in REGISTRY_HOST_SUFFIXES)


def image_registry_host(image: str) -> str:
    """The registry an image reference pulls from; Docker Hub when the first part is no host."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def is_valid_shm_name(name: str) -> bool:
    return bool(_SHM_NAME.match(name))
