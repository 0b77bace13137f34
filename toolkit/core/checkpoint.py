"""Checkpoints: tensors in safetensors plus a JSON sidecar, written atomically, never pickled.

A checkpoint ``NAME`` is two files, ``NAME.safetensors`` and ``NAME.json``.  The JSON holds the model's
registered name, its constructor config, dataset, image size, step, seed, metrics, package versions and
any non-tensor state (optimiser hyper-parameters, RNG positions).  Nested state (an optimiser's
``state_dict``, RNG states) is flattened: every tensor goes into the safetensors file under a path-like key
and the JSON keeps the structure with ``{"__tensor__": key}`` placeholders.  Loading therefore never runs
code from the file: safetensors and JSON are both inert formats.

Both files carry the same random ``id``; a pair whose ids differ (a process killed between the two
renames) is reported as incomplete rather than silently mixing two saves.  Both files are written to
temporary names first and renamed only when both are complete, so a save that fails (disk full, file-size
limit, read-only folder) keeps the previous checkpoint of that name whole.

PyTorch's own ``.pt``/``.pth``/``.ckpt`` files are pickles: loading one can run code, so they are refused
with a message on how to convert a trusted one.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from mediatk.core.errors import CheckpointError, StorageError
from mediatk.core.fileio import atomic_path, dumps_json

FORMAT = "mediatk-checkpoint/1"
TENSOR_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar")
CONVERT_HINT = ("mediatk never loads pickles, which can run code; to use a checkpoint you trust, load it "
                "yourself (torch.load(path, weights_only=True)) and save its tensors with "
                "safetensors.torch.save_file, or retrain with mediatk")


def _looks_pickled(path: Path) -> bool:
    """A PyTorch zip archive or a bare pickle (protocol 2+), whatever the file is called."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _base(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix in (TENSOR_SUFFIX, ".json"):
        p = p.with_suffix("")
    return p


def flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Replace every tensor inside ``obj`` by a placeholder, collecting tensors under path keys."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k), flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if hasattr(obj, "item") and hasattr(obj, "dtype"):  # numpy scalar
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix} in a checkpoint")


def _key(k: Any) -> Any:
    if isinstance(k, (str, int, float, bool)) or k is None:
        return k
    raise TypeError(f"cannot store dict key of type {type(k).__name__}")


def unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    path: Path
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.meta.get("model", "")

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors stored under ``prefix/`` with the prefix removed (a module's state_dict)."""
        head = prefix.rstrip("/") + "/"
        return {k[len(head):]: v for k, v in self.tensors.items() if k.startswith(head)}


def save_checkpoint(path: str | os.PathLike, modules: dict[str, Any], meta: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> Path:
    """Write ``path.safetensors`` + ``path.json`` atomically; returns the ``.safetensors`` path.

    ``modules`` maps a name to an ``nn.Module`` or a plain ``{name: tensor}`` dict; tensors are stored as
    ``name/param``.  ``extra`` holds nested state with tensors (optimiser, RNG) stored through
    :func:`flatten`.  ``meta`` must name the ``model``.
    """
    from mediatk.core.runtime import package_versions
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    if "model" not in meta:
        raise ValueError("checkpoint meta must name the model")
    base = _base(path)
    tensors: dict[str, torch.Tensor] = {}
    for name, mod in modules.items():
        state = mod.state_dict() if hasattr(mod, "state_dict") else mod
        for k, v in state.items():
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"{name}/{k} is not a tensor")
            tensors[f"{name}/{k}"] = v.detach().cpu().contiguous()
    extra_json = flatten(extra or {}, "extra", tensors)
    # safetensors refuses tensors that share memory; clone those (tied weights are rare here)
    seen: dict[tuple[int, int], str] = {}
    for k, v in list(tensors.items()):
        if v.numel() == 0:
            continue
        sig = (v.untyped_storage().data_ptr(), v.storage_offset())
        if sig in seen:
            tensors[k] = v.clone()
        seen[sig] = k
    ckpt_id = uuid.uuid4().hex
    full_meta = {"format": FORMAT, "id": ckpt_id, **meta}
    full_meta.update(format=FORMAT, id=ckpt_id)  # a copied sidecar's own id must not name these new tensors
    full_meta.setdefault("versions", package_versions())
    full_meta["extra"] = extra_json
    full_meta["tensors"] = {k: list(v.shape) for k, v in tensors.items() if not k.startswith("extra/")}
    sidecar = dumps_json(full_meta)
    tfile = base.with_suffix(TENSOR_SUFFIX)
    try:
        # the sidecar is renamed first, the tensors last; a failure before the renames keeps the old pair
        with atomic_path(tfile) as ttmp, atomic_path(base.with_suffix(".json")) as jtmp:
            save_file(tensors, str(ttmp), metadata={"format": FORMAT, "id": ckpt_id, "model": str(meta["model"])})
            jtmp.write_text(sidecar, encoding="utf-8")
    except StorageError as e:
        raise _save_failed(tfile, e.cause or str(e)) from None
    except SafetensorError as e:
        raise _save_failed(tfile, _io_cause(str(e))) from None
    return tfile


def _io_cause(msg: str) -> str:
    """The OS's words inside a safetensors error: ``... I/O error: File too large (os error 27)`` (or the older
    ``IoError(Os { ..., message: "File too large" })``)."""
    import re

    m = re.search(r'(?:I/O error: |message: ")([^"(]+)', msg)
    return m.group(1).strip() if m else msg.splitlines()[0][:80]


def _save_failed(tfile: Path, cause: str) -> StorageError:
    """One line: which checkpoint could not be written, why, and what is still there."""
    try:
        kept = f"the previous {tfile.stem} checkpoint (step {read_meta(tfile).get('step')}) is kept"
    except CheckpointError:
        kept = "no earlier checkpoint of that name exists"
    return StorageError(f"cannot write checkpoint {tfile}: {cause}; {kept}")


def check_not_pickle(path: Path) -> None:
    """Refuse a PyTorch pickle checkpoint (by suffix, or by content under any other name but ours)."""
    if not path.is_file():
        return
    if path.suffix.lower() in PICKLE_SUFFIXES or (path.suffix not in (TENSOR_SUFFIX, ".json")
                                                  and _looks_pickled(path)):
        raise CheckpointError(f"{path} is a PyTorch pickle checkpoint; {CONVERT_HINT}")


def _check_given(given: Path) -> None:
    """Name the file the user gave when it is a pickle, missing, or not one of ours (not NAME.safetensors)."""
    check_not_pickle(given)
    if given.suffix in ("", TENSOR_SUFFIX, ".json"):
        return
    if given.with_suffix(TENSOR_SUFFIX).is_file():
        return  # "run/last.step" style names: the stem names the pair
    if not given.exists():
        raise CheckpointError(f"checkpoint {given} does not exist")
    raise CheckpointError(f"{given} is not a mediatk checkpoint (expected NAME{TENSOR_SUFFIX} with NAME.json "
                          "beside it)")


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Read only the JSON sidecar (cheap: for listings and newest-checkpoint lookups)."""
    _check_given(Path(path))
    base = _base(path)
    side = base.with_suffix(".json")
    if not side.is_file():
        raise CheckpointError(f"checkpoint {base}: no {side.name} sidecar next to it")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {side}: sidecar is not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {side}: not a mediatk checkpoint sidecar")
    return meta


def load_checkpoint(path: str | os.PathLike, expect_model: str | None = None,
                    device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint, checking format, pairing and (optionally) which model it belongs to."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    given = Path(path)
    base = _base(path)
    tfile = base.with_suffix(TENSOR_SUFFIX)
    if given.is_dir():
        raise CheckpointError(f"{path} is a directory; give a checkpoint file or use the run directory option")
    _check_given(given)
    if not tfile.is_file():
        raise CheckpointError(f"checkpoint {tfile} does not exist")
    meta = read_meta(base)
    if expect_model is not None and meta.get("model", "").lower() != expect_model.lower():
        raise CheckpointError(f"checkpoint {tfile} holds a {meta.get('model')!r} model, not {expect_model!r}")
    try:
        tensors = load_file(str(tfile), device=str(device))
        from safetensors import safe_open

        with safe_open(str(tfile), framework="pt") as fh:
            header = fh.metadata() or {}
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {tfile} is corrupt or truncated ({str(e).splitlines()[0][:80]})") from None
    if header.get("id") != meta.get("id"):
        raise CheckpointError(f"checkpoint {tfile}: tensors and sidecar come from different saves "
                              "(interrupted write?); use an earlier checkpoint")
    extra = unflatten(meta.get("extra", {}), tensors)
    return Checkpoint(path=tfile, meta=meta, tensors=tensors, extra=extra)


def load_into(module: torch.nn.Module, ckpt: Checkpoint, prefix: str) -> None:
    """Load ``prefix/*`` tensors into ``module``, reporting missing keys or shape mismatches in one line."""
    state = ckpt.state_dict(prefix)
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k, got, want = wrong[0]
            parts.append(f"{len(wrong)} shape mismatch(es), e.g. {prefix}/{k} is {list(got)} but the model "
                         f"expects {list(want)}")
        if missing:
            parts.append(f"{len(missing)} missing tensor(s), e.g. {prefix}/{missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s), e.g. {prefix}/{unexpected[0]}")
        raise CheckpointError(f"checkpoint {ckpt.path} does not fit this model: " + "; ".join(parts))
    module.load_state_dict(state)
