"""Cosine-softmax identity classification (Wojke and Bewley 2018), the loss DeepSORT's appearance network is
trained with."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CosineSoftmaxLoss(nn.Module):
    """Cross-entropy over ``kappa * cos(embedding, w_k)`` for identities ``k = 0..num_identities-1``.

    Wojke and Bewley 2018 ("Deep Cosine Metric Learning for Person Re-identification"): each identity has a weight
    vector ``w_k`` that is L2-normalised before use, embeddings are L2-normalised too, so the logits are cosine
    similarities scaled by ``kappa``. With ``learn_scale`` kappa is a free parameter, kept positive as
    ``softplus(raw)`` (the paper's parametrisation) and initialised to ``scale``; otherwise it stays ``scale``.
    The module holds the per-identity weights, so the number of identities must be known when it is built (the
    runner passes the datamodule's ``num_identities``).

    ``forward(embeddings B,D, labels B int64 in [0, num_identities)) -> scalar`` mean cross-entropy;
    :meth:`logits` gives the ``B,num_identities`` scaled cosines.

    Args:
        num_identities: number of training identities.
        embedding_dim: length of the embeddings (the network's ``embedding_dim``).
        scale: kappa, or its initial value when learned (> 0).
        learn_scale: learn kappa (True) or keep it fixed.
        label_smoothing: cross-entropy label smoothing in [0, 1).
    """

    def __init__(
        self,
        num_identities: int,
        embedding_dim: int = 128,
        scale: float = 16.0,
        learn_scale: bool = True,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if int(num_identities) < 2:
            raise ValueError(f"num_identities must be at least 2 to classify identities, got {num_identities}")
        if int(embedding_dim) <= 0:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        if float(scale) <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_identities = int(num_identities)
        self.embedding_dim = int(embedding_dim)
        self.label_smoothing = float(label_smoothing)
        self.weight = nn.Parameter(torch.empty(self.num_identities, self.embedding_dim))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(self.embedding_dim))
        raw = float(scale) + math.log(-math.expm1(-float(scale)))  # inverse softplus
        self.raw_scale = nn.Parameter(torch.tensor(raw), requires_grad=bool(learn_scale))

    @property
    def scale(self) -> Tensor:
        """The current kappa (a scalar tensor)."""
        return F.softplus(self.raw_scale)

    def logits(self, embeddings: Tensor) -> Tensor:
        """``B,num_identities`` logits ``kappa * cos(embedding, w_k)`` (embeddings are normalised here too)."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(f"expected embeddings B,{self.embedding_dim}, got {tuple(embeddings.shape)}")
        cosines = F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).t()
        return self.scale * cosines

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(self.logits(embeddings), labels, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        return f"num_identities={self.num_identities}, embedding_dim={self.embedding_dim}"
