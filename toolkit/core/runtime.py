"""Where and how computation runs: device choice, seeding, threads, mixed precision.

``--device auto`` means CUDA when a GPU is visible, else Apple's MPS, else the CPU.  Mixed precision
(bfloat16 autocast) is a CUDA-only policy: on CPU every run is float32 so that seeded runs repeat exactly.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import types
from dataclasses import dataclass

import numpy as np
import torch
from mediatk.core.errors import ConfigError


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a ``torch.device``, checking that it exists."""
    if isinstance(spec, torch.device):
        return spec
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError("--device mps: Apple's MPS backend is not available on this machine")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: no CUDA GPU is visible (torch.cuda.is_available() is False)")
        if ":" in spec:
            try:
                idx = int(spec.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"--device {spec}: expected cuda:N with N an integer") from None
            if not 0 <= idx < torch.cuda.device_count():
                raise ConfigError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
            return torch.device("cuda", idx)
        return torch.device("cuda")
    raise ConfigError(f"--device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def flush_denormals() -> None:
    """Treat subnormal floats as zero on the CPU.

    Saturated sigmoids and Adam's second moments can drift into the subnormal range, where x86 arithmetic
    is many times slower.  Flushing them changes values only below ~1e-38.  (Unconfirmed lead: one
    benchmark's sparse-ae run took 1387 s for 1000 steps on a loaded machine, where 300 steps take 20 s.)
    """
    torch.set_flush_denormal(True)


def set_threads(n: int | None) -> None:
    """Set torch's intra-op thread count (None leaves torch's default)."""
    if n is not None and n > 0:
        torch.set_num_threads(int(n))


@dataclass(frozen=True)
class Precision:
    """The mixed-precision policy: bfloat16 autocast on CUDA when enabled, float32 everywhere else.

    bfloat16 has float32's range, so no loss scaler is needed (unlike float16).
    """

    enabled: bool
    dtype: torch.dtype = torch.bfloat16

    @classmethod
    def for_device(cls, device: torch.device, amp: bool | None = None) -> Precision:
        use = device.type == "cuda" if amp is None else (amp and device.type == "cuda")
        return cls(enabled=bool(use))

    def autocast(self, device: torch.device):
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def import_torchvision():
    """``import torchvision`` without importing ``torch._dynamo`` on the way (about 3.5 s of CPU saved).

    torchvision 0.29's ``ops/roi_align.py`` runs ``from torch._dynamo.utils import is_compile_supported`` at
    import time, which executes the whole ``torch._dynamo`` package (the compiler front end) for a function that
    only ``roi_align`` calls.  ``mediatk detect`` needs torchvision for MTCNN (facenet-pytorch) and the
    face-forgery backbone but never compiles, so the start of every ``detect`` paid for it.  Here a one-function
    stand-in answers that import while torchvision loads and is removed at once; the stand-in imports the real
    ``is_compile_supported`` on its first call, so ``roi_align`` still works (``tests/test_runtime.py``).
    Nothing changes when torchvision or ``torch._dynamo`` is already loaded.
    """
    name = "torch._dynamo.utils"
    if "torchvision" in sys.modules or name in sys.modules:
        import torchvision

        return torchvision
    stand_in = types.ModuleType(name)

    def is_compile_supported(device_type):
        from torch._dynamo.utils import is_compile_supported as real

        return real(device_type)

    stand_in.is_compile_supported = is_compile_supported  # type: ignore[attr-defined]
    sys.modules[name] = stand_in
    try:
        import torchvision
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
    return torchvision


def package_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint, so a result can be traced to its software."""
    import platform

    from mediatk import __version__

    out = {"mediatk": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "numpy": np.__version__}
    for name in ("torchvision", "sklearn", "safetensors"):
        try:
            mod = import_torchvision() if name == "torchvision" else __import__(name)
            out[name] = getattr(mod, "__version__", "?")
        except ImportError:  # pragma: no cover
            pass
    return out


def describe_machine(device: torch.device | None = None) -> dict[str, object]:
    """A short description of where a figure was measured (benchmarks print and save it)."""
    import platform

    info: dict[str, object] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                               "torch_threads": torch.get_num_threads(), "processor": platform.processor()}
    if device is not None and device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
