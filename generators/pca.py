"""PCA behind the autoencoder interface: the linear baseline every autoencoder is compared with.

Fitted in one shot with scikit-learn (randomised SVD); the mean and components are stored as buffers so
the checkpoint is plain tensors.  ``encode`` projects onto the first ``code_size`` components, ``decode``
maps back; the reconstruction is the best rank-k linear one in the MSE sense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from mediatk.core.options import opt
from mediatk.generators.base import Generator, register
from mediatk.generators.nets import flat_dim


@dataclass
class PCAConfig:
    code_size: int = opt(32, "number of principal components")
    max_fit: int = opt(60000, "fit on at most this many training images")


@register("pca", "PCA (scikit-learn) behind the encode/decode interface: the linear baseline for autoencoders")
class PCA(Generator):
    Config = PCAConfig
    can_reconstruct = True
    offline = True

    def __init__(self, image_shape, cfg=None, num_classes=0, attr_names=()):
        super().__init__(image_shape, cfg, num_classes, attr_names)
        d = flat_dim(self.image_shape)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("components", torch.zeros(self.cfg.code_size, d))

    def fit_offline(self, images: torch.Tensor) -> dict[str, float]:
        from sklearn.decomposition import PCA as SkPCA

        x = images[: self.cfg.max_fit].flatten(1).cpu().numpy().astype(np.float32)
        k = min(self.cfg.code_size, x.shape[0], x.shape[1])
        pca = SkPCA(n_components=k, svd_solver="randomized", random_state=0).fit(x)
        self.mean.copy_(torch.from_numpy(pca.mean_))
        self.components.zero_()
        self.components[:k] = torch.from_numpy(pca.components_)
        rec = self.reconstruct(images[: self.cfg.max_fit].to(self.mean.device))
        mse = float(((rec - images[: self.cfg.max_fit].to(self.mean.device)) ** 2).mean())
        return {"explained_variance": float(pca.explained_variance_ratio_.sum()), "train_mse": mse}

    def encode(self, x):
        return (x.flatten(1) - self.mean) @ self.components.T

    def decode(self, z):
        return (z @ self.components + self.mean).view(z.shape[0], *self.image_shape).clamp(-1, 1)
