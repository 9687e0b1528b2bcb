"""Re-identification retrieval scores: CMC rank-k and mean average precision (Market-1501 style).

Every query ranks the whole gallery by cosine distance (``1 - cos``, ascending; ties keep gallery order). Gallery
entries marked in ``ignore`` (the protocol's "junk") are removed from that query's ranking before scoring. A gallery
entry is a match when its identity equals the query's.

- ``rank-k`` (CMC): fraction of queries whose first match is among the first ``k`` entries of the ranking.
- ``AP`` of a query: the mean, over its matches, of the precision at each match's position (non-interpolated,
  as torchreid / open-reid compute it: ``sum_i P(i) rel(i) / #matches``); ``mAP`` is the mean over queries.

Queries without any match in the (junk-free) gallery have neither score and are left out of both means (as in the
Market-1501 evaluation); ``num_queries`` counts the queries that were scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric


def cosine_distance(query: Tensor, gallery: Tensor) -> Tensor:
    """``Q,G`` matrix of ``1 - cos`` between ``Q,D`` and ``G,D`` embeddings (normalised here, float64)."""
    query = F.normalize(query.double(), dim=1)
    gallery = F.normalize(gallery.double(), dim=1)
    return 1.0 - query @ gallery.t()


def retrieval_scores(
    distances: Tensor,
    query_ids: Tensor,
    gallery_ids: Tensor,
    ignore: Tensor | None = None,
    ranks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """CMC ``rank{k}`` for each ``k`` in ``ranks``, ``mAP`` and ``num_queries`` (see the module docstring).

    Args:
        distances: ``Q,G`` query-gallery distances (smaller = more similar).
        query_ids: ``Q`` identity labels of the queries.
        gallery_ids: ``G`` identity labels of the gallery.
        ignore: optional ``Q,G`` bool, True where a gallery entry is junk for a query (neither match nor miss).
        ranks: the ``k`` of the CMC scores reported.

    Scores are fractions in [0, 1]; NaN when no query has a match.
    """
    num_queries, num_gallery = distances.shape
    if query_ids.shape != (num_queries,) or gallery_ids.shape != (num_gallery,):
        raise ValueError(
            f"ids must match the distances {tuple(distances.shape)}: got {tuple(query_ids.shape)} queries and "
            f"{tuple(gallery_ids.shape)} gallery"
        )
    if ignore is None:
        ignore = torch.zeros_like(distances, dtype=torch.bool)
    elif ignore.shape != distances.shape:
        raise ValueError(f"ignore must have the distances' shape {tuple(distances.shape)}, got {tuple(ignore.shape)}")
    if num_queries == 0 or num_gallery == 0:
        return {**{f"rank{k}": float("nan") for k in ranks}, "mAP": float("nan"), "num_queries": 0.0}
    order = torch.sort(distances, dim=1, stable=True).indices
    kept = ~torch.gather(ignore, 1, order)
    matches = (gallery_ids[order] == query_ids[:, None]) & kept
    position = torch.cumsum(kept.long(), dim=1) - 1  # rank among the kept entries, 0-based
    hits = torch.cumsum(matches.long(), dim=1)
    num_matches = hits[:, -1]
    scored = num_matches > 0
    no_match = torch.full_like(position, torch.iinfo(torch.long).max)
    first_match = torch.where(matches, position, no_match).min(dim=1).values
    precision = hits.double() / (position + 1).clamp(min=1).double()  # at a match: matches so far / its rank
    average_precision = torch.where(matches, precision, 0.0).sum(dim=1) / num_matches.clamp(min=1)
    count = int(scored.sum())
    scores: dict[str, float] = {}
    for k in ranks:
        scores[f"rank{k}"] = (first_match[scored] < k).double().mean().item() if count else float("nan")
    scores["mAP"] = average_precision[scored].mean().item() if count else float("nan")
    scores["num_queries"] = float(count)
    return scores


class ReidMetrics(Metric):
    """Accumulates embeddings of an evaluation split and scores query-against-gallery retrieval.

    ``update(embeddings B,D, ids B, is_query B bool)`` per batch; ``compute()`` splits the accumulated samples
    into queries and gallery and returns :func:`retrieval_scores` of their cosine distances (``rank1``,
    ``rank5``, ``rank10``, ``mAP``, ``num_queries``). The query/gallery protocol (which samples are queries, which
    are excluded) is the dataset's: see :class:`visionbench.data.tracking.reid.ReidCropsDataModule`.

    Args:
        ranks: the ``k`` of the CMC scores.
    """

    full_state_update = False

    def __init__(self, ranks: Sequence[int] = (1, 5, 10)) -> None:
        super().__init__()
        self.ranks = tuple(int(k) for k in ranks)
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("ids", default=[], dist_reduce_fx="cat")
        self.add_state("is_query", default=[], dist_reduce_fx="cat")

    def update(self, embeddings: Tensor, ids: Tensor, is_query: Tensor) -> None:
        self.embeddings.append(embeddings.detach().float())
        self.ids.append(ids.detach().long())
        self.is_query.append(is_query.detach().bool())

    def compute(self) -> dict[str, float]:
        def joined(state: list[Tensor] | Tensor) -> Tensor:
            return torch.cat(state) if isinstance(state, list) else state

        if isinstance(self.embeddings, list) and not self.embeddings:
            raise RuntimeError("ReidMetrics.compute() before any update()")
        embeddings, ids, is_query = joined(self.embeddings), joined(self.ids), joined(self.is_query)
        distances = cosine_distance(embeddings[is_query], embeddings[~is_query])
        return retrieval_scores(distances, ids[is_query], ids[~is_query], ranks=self.ranks)
