"""A weighted sum of loss terms whose weights follow a per-epoch schedule (e.g. cross-entropy, then Dice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from torch import Tensor, nn


class WeightSchedule(Protocol):
    """Anything that gives the weight of each named loss term for an epoch."""

    def weights(self, epoch: int) -> dict[str, float]: ...


def _as_weights(weights: Mapping[str, float]) -> dict[str, float]:
    return {str(name): float(value) for name, value in weights.items()}


def _check_same_names(first: Mapping[str, float], second: Mapping[str, float], what: str) -> None:
    if set(first) != set(second):
        raise ValueError(f"{what} must name the same terms, got {sorted(first)} and {sorted(second)}")


class ConstantWeights:
    """The same weights at every epoch.

    Args:
        weights: weight of each term, by name (the names of the ``ScheduledLoss`` terms).
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._weights = _as_weights(weights)

    def weights(self, epoch: int) -> dict[str, float]:
        return dict(self._weights)


class SwitchAtEpoch:
    """``before`` for epochs before ``switch_epoch``, ``after`` from it on (e.g. CE first, then Dice).

    Args:
        before: weights by term name used for epochs 0..switch_epoch-1.
        after: weights by term name (the same names) used from ``switch_epoch`` on.
        switch_epoch: first epoch (0-based, as Lightning's ``current_epoch``) that uses ``after``.
    """

    def __init__(self, before: Mapping[str, float], after: Mapping[str, float], switch_epoch: int) -> None:
        _check_same_names(before, after, "SwitchAtEpoch before/after")
        self.before = _as_weights(before)
        self.after = _as_weights(after)
        self.switch_epoch = int(switch_epoch)

    def weights(self, epoch: int) -> dict[str, float]:
        return dict(self.before if epoch < self.switch_epoch else self.after)


class LinearBlend:
    """Weights interpolated linearly from ``start`` at ``start_epoch`` to ``end`` at ``end_epoch``, clamped.

    ``w(epoch) = start + t (end - start)`` with
    ``t = clip((epoch - start_epoch) / (end_epoch - start_epoch), 0, 1)``.

    Args:
        start: weights by term name up to ``start_epoch``.
        end: weights by term name (the same names) from ``end_epoch`` on.
        start_epoch: last epoch with the ``start`` weights.
        end_epoch: first epoch with the ``end`` weights; must be greater than ``start_epoch``.
    """

    def __init__(self, start: Mapping[str, float], end: Mapping[str, float], start_epoch: int, end_epoch: int) -> None:
        _check_same_names(start, end, "LinearBlend start/end")
        if end_epoch <= start_epoch:
            raise ValueError(f"LinearBlend needs end_epoch > start_epoch, got {start_epoch} and {end_epoch}")
        self.start = _as_weights(start)
        self.end = _as_weights(end)
        self.start_epoch = int(start_epoch)
        self.end_epoch = int(end_epoch)

    def weights(self, epoch: int) -> dict[str, float]:
        t = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        t = min(max(t, 0.0), 1.0)
        return {name: s + t * (self.end[name] - s) for name, s in self.start.items()}


class ScheduledLoss(nn.Module):
    """Weighted sum of named loss terms, with weights given per epoch by a schedule.

    The task calls ``set_epoch(current_epoch)`` at the start of each training epoch; the loss itself holds
    no training logic. Terms whose weight is 0 in the current epoch are not evaluated at all.

    Args:
        terms: loss modules by name, each ``term(*inputs) -> scalar`` (kept in an ``nn.ModuleDict``), e.g.
            ``(logits, mask)`` for segmentation and ``(output, flow, valid)`` for optical flow.
        schedule: gives ``{name: weight}`` for an epoch, with exactly the names of ``terms``.

    ``forward(*inputs)`` returns ``(total, values)``: ``total = sum(weight * term(*inputs))``
    over the terms of non-zero weight, and ``values`` the unweighted, detached value of each term evaluated,
    for logging. Until ``set_epoch`` is called the weights of epoch 0 are used.
    """

    def __init__(self, terms: Mapping[str, nn.Module], schedule: WeightSchedule) -> None:
        super().__init__()
        if not terms:
            raise ValueError("ScheduledLoss needs at least one term")
        self.terms = nn.ModuleDict(dict(terms))
        self.schedule = schedule
        self.set_epoch(0)

    @property
    def weights(self) -> dict[str, float]:
        """Weights of the current epoch, by term name."""
        return dict(self._weights)

    def set_epoch(self, epoch: int) -> None:
        """Take the weights of ``epoch`` from the schedule, checking that they name exactly the terms."""
        weights = _as_weights(self.schedule.weights(epoch))
        missing = sorted(set(self.terms) - set(weights))
        unknown = sorted(set(weights) - set(self.terms))
        if missing or unknown:
            raise ValueError(
                f"Loss schedule weights at epoch {epoch} do not match the terms {sorted(self.terms)}: "
                f"missing weights for {missing}, weights for unknown terms {unknown}"
            )
        if all(w == 0 for w in weights.values()):
            raise ValueError(f"Loss schedule gives weight 0 to every term at epoch {epoch}")
        self._weights = weights

    def forward(self, *inputs: Tensor | dict) -> tuple[Tensor, dict[str, Tensor]]:
        values = {name: term(*inputs) for name, term in self.terms.items() if self._weights[name] != 0}
        total = sum(self._weights[name] * value for name, value in values.items())
        return total, {name: value.detach() for name, value in values.items()}
