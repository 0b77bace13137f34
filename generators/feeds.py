"""Data feeds for the engine: endless, seeded, resumable minibatches.

Batch ``i`` is a pure function of (seed, i, rank), so a resumed run sees exactly the batches the uninterrupted
one would (:class:`Feed` for images with targets, :class:`PairFeed` for unpaired two-domain data).
"""

from __future__ import annotations

import torch
from mediatk.core.errors import ConfigError


class Feed:
    """Endless minibatches from in-memory tensors, reshuffled every epoch by a seeded permutation."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int = 0,
                 rank: int = 0, world: int = 1):
        if len(images) == 0:
            raise ConfigError("the training set is empty")
        self.images, self.targets = images, targets
        self.batch_size = min(batch_size, len(images))
        self.seed, self.rank, self.world = seed, rank, world
        self.per_epoch = max(1, len(images) // (self.batch_size * world))
        self.count = 0  # batches drawn so far (this rank)
        self._perm_epoch, self._perm = -1, None

    def _perm_for(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(len(self.images), generator=g), epoch
        return self._perm  # type: ignore[return-value]

    def indices(self, i: int) -> torch.Tensor:
        epoch, j = divmod(i, self.per_epoch)
        start = (j * self.world + self.rank) * self.batch_size
        return self._perm_for(epoch)[start:start + self.batch_size]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.indices(self.count)
        self.count += 1
        return self.images[idx], self.targets[idx]

    def head(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` items in storage order (for fixed preview inputs); draws nothing."""
        return self.images[:n], self.targets[:n]

    def state(self) -> dict[str, int]:
        return {"count": self.count}

    def load_state(self, state: dict[str, int]) -> None:
        self.count = int(state["count"])

    @property
    def epoch(self) -> float:
        return self.count / self.per_epoch


class PairFeed:
    """Two independent feeds drawn together: batches ``(x_a, x_b)`` for unpaired translation."""

    def __init__(self, a: Feed, b: Feed):
        self.a, self.b = a, b
        self.batch_size = min(a.batch_size, b.batch_size)
        self.per_epoch = max(a.per_epoch, b.per_epoch)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a.next()[0], self.b.next()[0]

    def head(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a.head(n)[0], self.b.head(n)[0]

    def state(self) -> dict[str, int]:
        return {"count": self.a.count, "count_b": self.b.count}

    def load_state(self, state: dict[str, int]) -> None:
        self.a.count, self.b.count = int(state["count"]), int(state["count_b"])

    @property
    def count(self) -> int:
        return self.a.count

    @property
    def epoch(self) -> float:
        return self.a.count / self.a.per_epoch
