"""``spectrum``: the azimuthally averaged power spectrum + a linear classifier (Durall et al. 2020).

Each image is turned into greyscale (ITU-R 601 luma), its 2-D FFT taken, the log power
``log(|F(u, v)|² + ε)`` averaged over rings of equal radius around the (shifted) zero frequency, giving a
1-D radial profile of ``min(H, W) // 2`` values from DC to Nyquist.  With ``normalise`` the profile's mean
is subtracted, so a global change of contrast does not move it.  A standardiser + logistic regression
(or a linear SVM with Platt scaling) separates the profiles.

Up-sampling by transposed convolutions leaves periodic "checkerboard" energy at high frequencies, and most
generators also miss the natural 1/f fall-off near Nyquist; both show in the tail of the profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from mediatk.core.options import opt
from mediatk.detectors.base import Detector, LinearHead, platt, register

_RING_CACHE: dict[tuple[int, int], np.ndarray] = {}


def ring_matrix(h: int, w: int) -> np.ndarray:
    """``(n_bins, H·W)`` matrix averaging an fftshift-ed spectrum over integer-radius rings."""
    key = (h, w)
    if key not in _RING_CACHE:
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.sqrt((yy - h // 2) ** 2 + (xx - w // 2) ** 2)
        bins = np.floor(r).astype(int).ravel()
        n = min(h, w) // 2
        m = np.zeros((n, h * w))
        keep = bins < n
        m[bins[keep], np.flatnonzero(keep)] = 1.0
        m /= m.sum(1, keepdims=True)
        _RING_CACHE[key] = m
    return _RING_CACHE[key]


def radial_profile_torch(x: torch.Tensor, normalise: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Differentiable :func:`radial_profile` (same dtype as ``x``)."""
    if x.shape[1] == 3:
        x = (x * torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)).sum(1)
    else:
        x = x[:, 0]
    spec = torch.fft.fftshift(torch.fft.fft2((x + 1) / 2), dim=(-2, -1))
    logp = torch.log(spec.real ** 2 + spec.imag ** 2 + eps).reshape(len(x), -1)
    ring = torch.as_tensor(ring_matrix(x.shape[1], x.shape[2]), dtype=logp.dtype, device=logp.device)
    prof = logp @ ring.T
    if normalise:
        prof = prof - prof.mean(1, keepdim=True)
    return prof


def radial_profile(x: torch.Tensor, normalise: bool = True, eps: float = 1e-8) -> np.ndarray:
    """``N×C×H×W`` images in [-1, 1] → ``N×(min(H,W)//2)`` azimuthally averaged log power spectra."""
    return radial_profile_torch(x.detach().double().cpu(), normalise, eps).numpy()


@dataclass
class SpectrumConfig:
    classifier: Literal["logreg", "svm"] = opt("logreg", "logistic regression or linear SVM (+ Platt scaling)")
    c: float = opt(1.0, "inverse regularisation strength C")
    normalise: bool = opt(True, "subtract each profile's mean (contrast invariance)")


@register("spectrum", "Azimuthally averaged FFT power spectrum + logistic regression / linear SVM (Durall et al. 2020)")
class SpectrumDetector(Detector):
    Config = SpectrumConfig

    def features(self, x: torch.Tensor) -> np.ndarray:
        return radial_profile(x, self.cfg.normalise)

    def _fit(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        f = np.r_[self.features(real), self.features(fake)]
        y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        scaler = StandardScaler().fit(f)
        z = scaler.transform(f)
        if self.cfg.classifier == "svm":
            clf = LinearSVC(C=self.cfg.c, max_iter=20000).fit(z, y)
            a, b = platt(clf.decision_function(z), y)
            self.head = LinearHead.from_sklearn(scaler, clf, a, b)
        else:
            clf = LogisticRegression(C=self.cfg.c, max_iter=5000).fit(z, y)
            self.head = LinearHead.from_sklearn(scaler, clf)
        self.info["n_bins"] = int(f.shape[1])

    def _predict(self, x: torch.Tensor) -> np.ndarray:
        return self.head.proba(self.features(x))

    def torch_logit(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logit of P(synthetic): the same features and linear head, in torch."""
        from mediatk.detectors.base import adapt

        h = self.head
        f = radial_profile_torch(adapt(x.float(), self.image_size, self.channels), self.cfg.normalise)
        t = {k: torch.as_tensor(v, dtype=f.dtype, device=f.device) for k, v in
             (("mean", h.mean), ("scale", h.scale), ("coef", h.coef))}
        d = ((f - t["mean"]) / t["scale"]) @ t["coef"] + h.intercept
        return h.a * d + h.b

    def _state(self):
        return {"head": self.head.tensors()}, {}

    def _load_state(self, ckpt) -> None:
        self.head = LinearHead.from_tensors(ckpt.state_dict("head"))
