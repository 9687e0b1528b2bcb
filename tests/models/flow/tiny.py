"""Tiny flow networks for the tests: ``conf/model/flow/<name>.yaml`` composed with ``model_size=small`` and the
overrides in :data:`TINY` (few channels and iterations, the same code paths)."""

from hydra.utils import instantiate
from torch import nn

from tests.helpers.models import compose_model
from visionbench.losses.flow import MultiScaleEPELoss, SequenceLoss
from visionbench.models.flow.base import IterativeFlowModel

TINY_FLOWFORMER = [
    *("model.feature_dim=32", "model.hidden_dim=16", "model.context_dim=16", "model.encoder_widths=[8,12,16]"),
    *("model.patch_dim=8", "model.latent_dim=16", "model.num_latent_tokens=4", "model.encoder_depth=1"),
    *("model.heads=2", "model.query_dim=8", "model.context_qk_dim=8"),
]
TINY: dict[str, list[str]] = {
    "flownets": ["model.width_multiplier=0.0625"],
    "flownetc": ["model.width_multiplier=0.0625"],
    "raft": ["model.iters=2", "model.eval_iters=3", "model.width_multiplier=0.125"],
    "raft_small": ["model.iters=2", "model.eval_iters=3", "model.width_multiplier=0.25"],
    "flowformer": ["model.iters=2", "model.eval_iters=3", *TINY_FLOWFORMER, "model.width_multiplier=0.125"],
}
"""Overrides that shrink a network far below its published size; a config without an entry (the classical
methods, which have no size) is tested as ``model_size=small`` composes it."""


def tiny_flow_model(name: str, *overrides: str) -> nn.Module:
    """``model=flow/<name>`` at ``model_size=small`` with :data:`TINY` and ``overrides``."""
    return instantiate(compose_model("flow", name, [*TINY.get(name, []), *overrides]))


def training_loss(model: nn.Module) -> nn.Module:
    """The loss a network trains with: the sequence loss for the iterative ones, else FlowNet's multi-scale EPE."""
    return SequenceLoss() if isinstance(model, IterativeFlowModel) else MultiScaleEPELoss()
