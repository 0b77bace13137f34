"""Template: a new image detector is one file like this in ``detectors/`` (without the leading underscore).

Copy it to ``detectors/mydetector.py``, rename the class and the registered name, and fill in ``_fit`` and
``_predict``.  The registry finds the file by itself, so ``mediatk train-detector``, ``mediatk detect``, the
arena and the contract test (``tests/test_detectors.py::test_detector_contract``) pick it up.  The base class
does the rest: inputs arrive resized to the detector's size and channels in [-1, 1]; ``save``/``load`` store
``_state()`` in safetensors + JSON (never pickle).  This example is real, if weak: logistic regression on the
mean and spread of each colour channel, kept as plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from mediatk.core.options import opt
from mediatk.detectors.base import Detector, register, sigmoid


@dataclass
class TemplateConfig:
    c: float = opt(1.0, "inverse regularisation strength of the logistic regression")


def _stats(x: torch.Tensor) -> np.ndarray:
    return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1).double().numpy()


@register("template-stats", "Template: logistic regression on per-channel mean and spread")
class TemplateDetector(Detector):
    Config = TemplateConfig                  # media = "image", trainable = True (the defaults)

    def _fit(self, real: torch.Tensor, fake: torch.Tensor) -> None:
        from sklearn.linear_model import LogisticRegression

        x = np.r_[_stats(real), _stats(fake)]
        y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        lr = LogisticRegression(C=self.cfg.c, max_iter=1000).fit(x, y)
        self.w, self.b = lr.coef_.ravel().astype(np.float64), float(lr.intercept_[0])

    def _predict(self, x: torch.Tensor) -> np.ndarray:  # P(synthetic) per image
        return sigmoid(_stats(x) @ self.w + self.b)

    def _state(self):                        # (named modules or {name: tensor} dicts, extra state)
        return {"head": {"w": torch.from_numpy(self.w), "b": torch.tensor([self.b], dtype=torch.float64)}}, {}

    def _load_state(self, ckpt) -> None:
        head = ckpt.state_dict("head")
        self.w, self.b = head["w"].numpy(), float(head["b"][0])
