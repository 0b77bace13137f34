"""pytorch-fid's FID Inception v3, built here so FIDs from a user's weight file compare with the literature.

The FID of papers uses the TensorFlow Inception graph of 2015-12-05, which pytorch-fid ships converted as
``pt_inception-2015-12-05-6726825d.pth``.  Its network is torchvision's Inception3 (1008 classes, no auxiliary
head) with four kinds of mixed blocks changed to match the TF graph: in Mixed_5b-5d (A), Mixed_6b-6e (C) and
Mixed_7b (E_1) the pooling branch averages with ``count_include_pad=False``; in Mixed_7c (E_2) it takes a 3×3
max instead.  Features are the 2048-d global average pool after Mixed_7c ("pool3"); images are resized to
299×299 (bilinear, ``align_corners=False``) and scaled to [-1, 1] (ours already are; grey is replicated).

Nothing is downloaded: the user passes the file with ``--inception-weights``.  It is read as safetensors or
with ``torch.load(weights_only=True)``, never unpickled in full.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from mediatk.core.errors import ConfigError
from torch import nn
from torchvision.models import inception as tv

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_HINT = (f"pytorch-fid's {WEIGHTS_FILE} (https://github.com/mseitzer/pytorch-fid/releases/download/"
                f"fid_weights/{WEIGHTS_FILE})")


def _avg(x: torch.Tensor) -> torch.Tensor:  # TF's average pool ignores the padding
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(tv.InceptionA):
    """Mixed_5b-5d: torchvision's InceptionA with a padding-free average in the pool branch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg(x))], 1)


class FIDInceptionC(tv.InceptionC):
    """Mixed_6b-6e: torchvision's InceptionC with a padding-free average in the pool branch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            d = conv(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg(x))], 1)


class FIDInceptionE_1(tv.InceptionE):  # pytorch-fid's name
    """Mixed_7b: torchvision's InceptionE with a padding-free average in the pool branch."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return _avg(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(self.pool(x))], 1)


class FIDInceptionE_2(FIDInceptionE_1):  # pytorch-fid's name
    """Mixed_7c: as E_1 but the pool branch takes a 3×3 max (a quirk of the TF graph)."""

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


def fid_inception_v3() -> nn.Module:
    """torchvision's Inception3 (1008 classes, no aux head, no init) with the FID blocks swapped in."""
    net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False, transform_input=False,
                        inception_blocks=[tv.BasicConv2d, FIDInceptionA, tv.InceptionB, FIDInceptionC,
                                          tv.InceptionD, FIDInceptionE_1, tv.InceptionAux])
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a ``.pth`` read with ``weights_only=True``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--inception-weights {p}: no such file; get {WEIGHTS_HINT}")
    from safetensors.torch import load_file

    try:
        if p.suffix == ".safetensors":
            return load_file(str(p))
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a corrupt file makes torch's restricted unpickler raise anything
        # (UnpicklingError, KeyError, EOFError, ...): one line, never a traceback
        raise ConfigError(f"--inception-weights {p}: not a readable weight file "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConfigError(f"--inception-weights {p}: not a state dict of tensors")
    return sd


class FIDInception(nn.Module):
    """2048-d pool3 features of images in [-1, 1] (any size, 1 or 3 channels)."""

    feat_dim = 2048

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.net = fid_inception_v3()
        self.weights_name, self.feature_id = "(none)", "inception-untrained"
        if state_dict is not None:
            self.load_weights(state_dict)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path | None) -> FIDInception:
        if not path:
            raise ConfigError(f"--features inception needs --inception-weights PATH: {WEIGHTS_HINT}")
        model = cls(read_state_dict(path))
        h = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]
        model.weights_name, model.feature_id = Path(path).name, f"inception-pt2015-{h}"
        return model

    def load_weights(self, sd: dict[str, torch.Tensor]) -> None:
        """Strict load; files saved before BatchNorm counted batches may lack ``num_batches_tracked``."""
        own = self.net.state_dict()
        missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
        extra = [k for k in sd if k not in own]
        wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
        if missing or extra or wrong:
            bad = (missing + extra + wrong)[0]
            raise ConfigError(f"not pytorch-fid's FID Inception weights: {len(missing)} tensors missing, "
                              f"{len(extra)} unexpected, {len(wrong)} of another shape (e.g. {bad}); "
                              f"use {WEIGHTS_HINT}")
        self.net.load_state_dict({**own, **sd})

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = x.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1,
                      n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b,
                      n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c, n.avgpool):
            x = layer(x)
        return x.flatten(1)
