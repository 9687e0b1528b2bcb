"""Re-identification retrieval scores: CMC rank-k and mean average precision (Market-1501 style).

Every query ranks the whole gallery by cosine distance (``1 - cos``, ascending; ties keep gallery order). Gallery
entries marked in ``ignore`` (the protocol's "junk") are removed from that query's ranking before scoring. A gallery
entry is a match when its identity equals the query's.

- ``rank-k`` (CMC): fraction of queries whose first match is among the first ``k`` entries of the ranking.
- ``AP`` of a query: the mean, over its matches, of the precision at each match's position (non-interpolated,
  as torchreid / open-reid compute it: ``sum_i P(i) rel(i) / #matches``); ``mAP`` is the mean over queries.

Queries without any match in the (junk-free) gallery have neither score and are left out of both means (as in the
Market-1501 evaluation); ``num_queries`` counts the queries that were scored.

The dataset-level scores are means of per-query fields (:func:`query_scores`: ``ap`` float64 and ``rank{k}`` int64
0/1 for each ``k``), stored per query in ``scores.npz`` and averaged by :func:`reid_scores`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from visionbench.metrics.samples import PerSampleMetric, Samples, Scores

_RANK_FIELD = re.compile(r"^rank(\d+)$")


def cosine_distance(query: Tensor, gallery: Tensor) -> Tensor:
    """``Q,G`` matrix of ``1 - cos`` between ``Q,D`` and ``G,D`` embeddings (normalised here, float64)."""
    query = F.normalize(query.double(), dim=1)
    gallery = F.normalize(gallery.double(), dim=1)
    return 1.0 - query @ gallery.t()


def query_scores(
    distances: Tensor,
    query_ids: Tensor,
    gallery_ids: Tensor,
    ignore: Tensor | None = None,
    ranks: Sequence[int] = (1, 5, 10),
) -> dict[str, np.ndarray]:
    """Per query (``Q`` entries each): ``scored`` (bool: it has a match in its junk-free gallery), ``ap`` (float64, 0
    where not scored) and ``rank{k}`` for each ``k`` in ``ranks`` (int64: 1 when its first match is among the first
    ``k`` entries of its ranking). See the module docstring; the arguments are those of :func:`retrieval_scores`."""
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
    if num_gallery == 0:
        nothing = np.zeros(num_queries, dtype=np.int64)
        ranked = {f"rank{k}": nothing for k in ranks}
        return {"scored": nothing.astype(bool), "ap": nothing.astype(np.float64), **ranked}
    order = torch.sort(distances, dim=1, stable=True).indices
    kept = ~torch.gather(ignore, 1, order)
    matches = (gallery_ids[order] == query_ids[:, None]) & kept
    position = torch.cumsum(kept.long(), dim=1) - 1  # rank among the kept entries, 0-based
    hits = torch.cumsum(matches.long(), dim=1)
    num_matches = hits[:, -1]
    no_match = torch.full_like(position, torch.iinfo(torch.long).max)
    first_match = torch.where(matches, position, no_match).min(dim=1).values
    precision = hits.double() / (position + 1).clamp(min=1).double()  # at a match: matches so far / its rank
    average_precision = torch.where(matches, precision, 0.0).sum(dim=1) / num_matches.clamp(min=1)
    scores = {"scored": (num_matches > 0).cpu().numpy(), "ap": average_precision.cpu().numpy().astype(np.float64)}
    for k in ranks:
        scores[f"rank{k}"] = (first_match < k).long().cpu().numpy()
    return scores


def reid_scores(samples: Mapping[str, np.ndarray]) -> Scores:
    """``rank{k}`` (for every ``rank{k}`` field), ``mAP`` and ``num_queries`` of the per-query fields of the scored
    queries: the means of ``rank{k}`` and ``ap`` (NaN without any query) and the number of queries."""
    ap = np.asarray(samples["ap"], dtype=np.float64)
    ranks = sorted(int(match.group(1)) for match in map(_RANK_FIELD.match, samples) if match)
    scores: Scores = {}
    for k in ranks:
        scores[f"rank{k}"] = float(np.asarray(samples[f"rank{k}"]).mean()) if len(ap) else float("nan")
    scores["mAP"] = float(ap.mean()) if len(ap) else float("nan")
    scores["num_queries"] = float(len(ap))
    return scores


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
    per_query = query_scores(distances, query_ids, gallery_ids, ignore, ranks)
    scored = per_query.pop("scored")
    return reid_scores({name: values[scored] for name, values in per_query.items()})


class ReidMetrics(PerSampleMetric):
    """Accumulates embeddings of an evaluation split and scores query-against-gallery retrieval.

    ``update(embeddings B,D, ids B, is_query B bool, indices=None)`` per batch (``indices``: the crops' dataset
    indices; under DDP the crops are de-duplicated by them, see :class:`~visionbench.metrics.samples.PerSampleMetric`);
    ``compute()`` splits the accumulated samples into queries and gallery and returns :func:`retrieval_scores` of
    their cosine distances (``rank1``, ``rank5``, ``rank10``, ``mAP``, ``num_queries``); ``sample_scores()`` the
    per-query fields (``ap``, ``rank{k}``) of the scored queries and their ``index``. The query/gallery protocol
    (which samples are queries, which are excluded) is the dataset's: see
    :class:`visionbench.data.tracking.reid.ReidCropsDataModule`.

    Args:
        ranks: the ``k`` of the CMC scores.
    """

    def __init__(self, ranks: Sequence[int] = (1, 5, 10)) -> None:
        super().__init__()
        self.ranks = tuple(int(k) for k in ranks)
        self.add_row_state("embeddings", (0,), torch.float32)
        self.add_row_state("ids", (), torch.long)
        self.add_row_state("is_query", (), torch.bool)

    def update(self, embeddings: Tensor, ids: Tensor, is_query: Tensor, indices: Tensor | None = None) -> None:
        self.add_rows(indices, embeddings=embeddings.float(), ids=ids.long(), is_query=is_query.bool())

    def samples_from_rows(self, rows: Samples) -> Samples:
        if not len(rows["index"]):
            raise RuntimeError("ReidMetrics.compute() before any update()")
        embeddings, ids = torch.from_numpy(rows["embeddings"]), torch.from_numpy(rows["ids"])
        is_query = torch.from_numpy(rows["is_query"])
        distances = cosine_distance(embeddings[is_query], embeddings[~is_query])
        per_query = query_scores(distances, ids[is_query], ids[~is_query], ranks=self.ranks)
        scored = per_query.pop("scored")
        queries = rows["index"][rows["is_query"]][scored]
        return {"index": queries, **{name: value[scored] for name, value in per_query.items()}}

    def summarise(self, samples: Mapping[str, np.ndarray]) -> Scores:
        return reid_scores(samples)
