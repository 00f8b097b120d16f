"""GPU model names as people type them, reduced to one comparable form.

``H100``, ``h100``, ``NVIDIA H100 SXM5``, ``h100-sxm5`` and ``H100SXM5`` all name model
``h100``; the last three add interconnect ``sxm5``.  ``rtx-4090``, ``RTX 4090``, ``RTX4090``
and ``4090`` are all ``rtx4090``.  ``A100 80GB`` is model ``a100`` with 80 GB per GPU.  A
``BAREMETAL`` marker (any spelling of "bare metal") is noted and removed, as are vendor
words and GPU counts such as ``8x``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ._errors import OfferError

__all__ = ["GpuSpec", "normalize_gpu", "normalize_interconnect", "normalize_provider"]

_VENDOR_WORDS = frozenset({"nvidia", "geforce", "tesla", "amd", "instinct", "gpu", "gpus", "intel"})
_INTERCONNECTS = {
    "sxm": "sxm", "sxm2": "sxm2", "sxm3": "sxm3", "sxm4": "sxm4", "sxm5": "sxm5", "sxm6": "sxm6",
    "pcie": "pcie", "pci": "pcie", "pcie4": "pcie", "pcie5": "pcie", "nvl": "nvl",
    "nvlink": "nvlink",
}
# Longest first, so "sxm5" is cut from "h100sxm5" before "sxm" could be.
_GLUED_INTERCONNECTS = sorted(_INTERCONNECTS, key=len, reverse=True)
# The professional RTX cards are sold as both "RTX A6000" and "A6000".
_MODEL_ALIASES = {
    "rtxa6000": "a6000", "rtxa5000": "a5000", "rtxa4000": "a4000", "rtxa4500": "a4500",
    "6000ada": "rtx6000ada", "rtx6000adageneration": "rtx6000ada", "rtxpro6000": "rtxpro6000",
}
# A bare 4-digit consumer number ("4090") means the GeForce RTX card.
_BARE_RTX = re.compile(r"^[2-5]0[5-9]0(ti)?$")
_SPLIT = re.compile(r"[\s\-_/,()+:]+")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(?:gb|g|gib)$")
_COUNT = re.compile(r"^(?:\d+x|x\d+)$")
_BAREMETAL = re.compile(r"bare[\s\-_]*metal|\bbm\b")
_PROVIDER_ALIASES = {"datacrunch": "verda"}


@dataclass(frozen=True)
class GpuSpec:
    """A GPU name reduced for comparison.  ``model`` is never empty."""

    model: str
    interconnect: str | None = None
    memory_gb: float | None = None
    baremetal: bool = False

    @property
    def key(self) -> str:
        """Canonical text form: ``h100``, ``h100-sxm5``, ``a100-80gb``."""
        parts = [self.model]
        if self.interconnect:
            parts.append(self.interconnect)
        if self.memory_gb is not None:
            parts.append(f"{self.memory_gb:g}gb")
        return "-".join(parts)


@lru_cache(maxsize=4096)
def normalize_gpu(text: str) -> GpuSpec:
    """Reduce a GPU name to a :class:`GpuSpec`; raises :class:`OfferError` if nothing is left."""
    if not isinstance(text, str) or not text.strip():
        raise OfferError("The GPU model is empty; name one such as H100 or RTX 4090.")
    lowered = text.strip().lower()
    baremetal = bool(_BAREMETAL.search(lowered))
    lowered = _BAREMETAL.sub(" ", lowered)
    model_parts: list[str] = []
    interconnect = None
    memory = None
    for token in _SPLIT.split(lowered):
        if not token or token in _VENDOR_WORDS or _COUNT.match(token):
            continue
        if token in _INTERCONNECTS:
            interconnect = _INTERCONNECTS[token]
            continue
        found = _MEMORY.match(token)
        if found:
            memory = float(found.group(1))
            continue
        model_parts.append(token)
    model = "".join(model_parts)
    if interconnect is None:
        for glued in _GLUED_INTERCONNECTS:
            if model.endswith(glued) and len(model) > len(glued):
                model, interconnect = model[: -len(glued)], _INTERCONNECTS[glued]
                break
    if _BARE_RTX.match(model):
        model = "rtx" + model
    model = _MODEL_ALIASES.get(model, model)
    if not model:
        raise OfferError(f"'{text.strip()}' does not name a GPU model; try one such as H100.")
    return GpuSpec(model, interconnect, memory, baremetal)


@lru_cache(maxsize=256)
def normalize_interconnect(text: str | None) -> str | None:
    """``SXM5`` -> ``sxm5``, ``PCIe`` -> ``pcie``; unknown spellings are lowered, not dropped."""
    if not text:
        return None
    compact = re.sub(r"[^a-z0-9]", "", text.lower())
    return _INTERCONNECTS.get(compact, compact or None)


@lru_cache(maxsize=256)
def normalize_provider(text: str | None) -> str:
    """Provider slugs compared loosely: case, dashes and the data-crunch -> verda rename."""
    compact = re.sub(r"[^a-z0-9]", "", (text or "").lower())
    return _PROVIDER_ALIASES.get(compact, compact)
