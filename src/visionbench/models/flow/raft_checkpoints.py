"""Released RAFT checkpoints in the names of :class:`~visionbench.models.flow.raft.RAFT` and
:class:`~visionbench.models.flow.raft.RAFTSmall`: princeton-vl/RAFT's (``raft-things.pth``, ``raft-small.pth``, ...:
keys prefixed ``module.``, saved from DataParallel) and torchvision's (``Raft_Large_Weights``, ``Raft_Small_Weights``).

Both projects hold the network of the paper with the same layers as ours, so converting renames keys and makes two
exact re-arrangements:

- GRU: their update (``convz``) and reset (``convr``) convolutions are our ``gates`` convolution (update channels
  first, then reset); their ``convq`` is our ``candidate``.
- Correlation features: both index the lookup window with the first offset added to x and the second to y, ours with
  (dy, dx) row-major, a transposition of the window within each pyramid level. The first convolution of the motion
  encoder (1x1 over those features) gets its input channels transposed the same way, which makes it compute exactly
  what theirs computes.

princeton-vl's residual units register the shortcut's norm twice (``norm3`` and ``downsample.1``; ``norm4`` in
bottleneck units), so the full model's state dict holds those tensors twice: the two copies must be equal, and the
``downsample.1`` copy is kept.

Inputs: princeton-vl's ``forward`` maps 0..255 images to ``2 x / 255 - 1`` and torchvision's expects images already
in [-1, 1]; ours maps [0, 1] images (what visionbench's flow datasets give) to ``2 x - 1``, so the three see the same
values. Every release evaluates with its own iteration count (``model.eval_iters``): 32 on Sintel, 24 on KITTI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial

import torch
from torch import Tensor, nn

from visionbench.models.flow.update import SepConvGRU
from visionbench.models.published import CheckpointFormat, StateDict

__all__ = ["OFFICIAL_RAFT", "TORCHVISION_RAFT"]

Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _rules(*pairs: tuple[str, str | Callable[[re.Match[str]], str]]) -> tuple[Rule, ...]:
    return tuple((re.compile(pattern), replacement) for pattern, replacement in pairs)


def _stage(match: re.Match[str]) -> str:
    return f"{match[1]}.stages.{int(match[2]) - 1}."


def _numbered(prefix: str) -> Callable[[re.Match[str]], str]:
    """``<name>N.`` -> ``prefix.<2 (N - 1)>.``: the N-th convolution of a Sequential that alternates conv and ReLU."""
    return lambda match: f"{prefix}.{2 * (int(match[1]) - 1)}."


_OFFICIAL_RULES = _rules(
    (r"^fnet\.", "feature_encoder."),
    (r"^cnet\.", "context_encoder."),
    (r"^(\w+_encoder)\.conv1\.", r"\1.stem.0."),
    (r"^(\w+_encoder)\.norm1\.", r"\1.stem.1."),
    (r"^(\w+_encoder)\.conv2\.", r"\1.projection."),
    (r"^(\w+_encoder)\.layer(\d)\.", _stage),
    (r"\.downsample\.", ".shortcut."),
    (r"^update_block\.encoder\.convc(\d)\.", _numbered("update_block.motion_encoder.corr")),
    (r"^update_block\.encoder\.convf(\d)\.", _numbered("update_block.motion_encoder.flow")),
    (r"^update_block\.encoder\.conv\.", "update_block.motion_encoder.fuse.0."),
    (r"^update_block\.gru\.conv([zrq])(\d?)\.", lambda match: f"update_block.gru.{match[2] or 1}.{match[1]}."),
)
"""princeton-vl/RAFT (``module.`` removed) -> ours; the GRU keys become ``update_block.gru.<unit>.<z|r|q>.``."""

_TORCHVISION_RULES = _rules(
    (r"^(\w+_encoder)\.convnormrelu\.", r"\1.stem."),
    (r"^(\w+_encoder)\.conv\.", r"\1.projection."),
    (r"^(\w+_encoder)\.layer(\d)\.", _stage),
    (r"\.convnormrelu(\d)\.0\.", r".conv\1."),
    (r"\.convnormrelu(\d)\.1\.", r".norm\1."),
    (r"\.downsample\.", ".shortcut."),
    (r"^update_block\.motion_encoder\.convcorr(\d)\.0\.", _numbered("update_block.motion_encoder.corr")),
    (r"^update_block\.motion_encoder\.convflow(\d)\.0\.", _numbered("update_block.motion_encoder.flow")),
    (r"^update_block\.motion_encoder\.conv\.0\.", "update_block.motion_encoder.fuse.0."),
    (r"^update_block\.recurrent_block\.convgru(\d)\.conv([zrq])\.", r"update_block.gru.\1.\2."),
    (r"^mask_predictor\.convrelu\.0\.", "update_block.mask.0."),
    (r"^mask_predictor\.conv\.", "update_block.mask.2."),
)
"""torchvision -> ours; the GRU keys become ``update_block.gru.<unit>.<z|r|q>.``."""

_GRU_KEY = re.compile(r"^update_block\.gru\.(\d)\.([zrq])\.(weight|bias)$")
_SHORTCUT_NORM = re.compile(r"^(.+\.layer\d\.\d+)\.downsample\.1\.")


def _strip_module_prefix(state: Mapping[str, Tensor]) -> StateDict:
    """A DataParallel state dict without its ``module.`` prefix (keys without it are kept)."""
    return {key.removeprefix("module."): value for key, value in state.items()}


def _recognise_official(state: Mapping[str, Tensor]) -> bool:
    keys = set(_strip_module_prefix(state))
    return {"fnet.conv1.weight", "cnet.conv1.weight", "update_block.encoder.convc1.weight"} <= keys


def _recognise_torchvision(state: Mapping[str, Tensor]) -> bool:
    keys = set(state)
    return {
        "feature_encoder.convnormrelu.0.weight",
        "context_encoder.convnormrelu.0.weight",
        "update_block.recurrent_block.convgru1.convz.weight",
    } <= keys


def _drop_shortcut_norm_aliases(state: StateDict) -> StateDict:
    """princeton-vl's state dict without the second copy of each shortcut norm (``norm3`` of a residual unit,
    ``norm4`` of a bottleneck unit, registered again as ``downsample.1``); a copy that differs is an error."""
    kept = dict(state)
    for block in sorted({match[1] for key in state if (match := _SHORTCUT_NORM.match(key))}):
        alias = "norm4" if f"{block}.conv3.weight" in state else "norm3"
        for key in [key for key in state if key.startswith(f"{block}.{alias}.")]:
            twin = f"{block}.downsample.1.{key.removeprefix(f'{block}.{alias}.')}"
            if twin not in state or not torch.equal(state[key], state[twin]):
                raise ValueError(
                    f"{key} should be a copy of {twin} (RAFT registers the shortcut's norm twice), but "
                    + ("the copy is missing" if twin not in state else "their values differ")
                )
            del kept[key]
    return kept


def _rename(state: Mapping[str, Tensor], rules: tuple[Rule, ...]) -> StateDict:
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key = pattern.sub(replacement, key, count=1)
        renamed[key] = value
    return renamed


def _merge_gru_gates(state: StateDict, model: nn.Module) -> StateDict:
    """Their ``z`` / ``r`` / ``q`` convolutions of each GRU unit as our ``gates`` (z then r) and ``candidate``; unit 1
    is RAFT's horizontal (1x5) GRU or RAFT-small's only GRU, unit 2 RAFT's vertical (5x1) GRU."""
    units = {"1": "horizontal.", "2": "vertical."} if isinstance(model.update_block.gru, SepConvGRU) else {"1": ""}
    gates: dict[tuple[str, str], dict[str, Tensor]] = {}
    merged = {}
    for key, value in state.items():
        match = _GRU_KEY.match(key)
        if match is None:
            merged[key] = value
        else:
            gates.setdefault((match[1], match[3]), {})[match[2]] = value
    for (unit, kind), parts in sorted(gates.items()):
        if unit not in units:
            raise ValueError(f"the checkpoint has a GRU unit {unit}, which {type(model).__name__} does not have")
        missing = sorted({"z", "r", "q"} - set(parts))
        if missing:
            raise ValueError(f"GRU unit {unit} of the checkpoint lacks its {'/'.join(missing)} convolution {kind}")
        prefix = f"update_block.gru.{units[unit]}"
        merged[f"{prefix}gates.{kind}"] = torch.cat([parts["z"], parts["r"]], dim=0)
        merged[f"{prefix}candidate.{kind}"] = parts["q"]
    return merged


def _transpose_lookup_windows(state: StateDict, levels: int, radius: int) -> StateDict:
    """The first motion-encoder convolution with its input channels in our lookup order: within each pyramid level,
    the ``(2r + 1) x (2r + 1)`` window transposed. A weight of another size is left for the strict load to report."""
    key = "update_block.motion_encoder.corr.0.weight"
    weight = state.get(key)
    side = 2 * radius + 1
    if weight is None or weight.ndim != 4 or weight.shape[1] != levels * side * side:
        return state
    out_channels, _, *kernel = weight.shape
    windows = weight.reshape(out_channels, levels, side, side, *kernel).transpose(2, 3)
    return {**state, key: windows.reshape(weight.shape).contiguous()}


def _check_variant(state: StateDict, model: nn.Module, source: str) -> None:
    """Refuse a full-size checkpoint for RAFT-small and the reverse, naming the model config to use."""
    full_checkpoint = any(key.startswith("update_block.mask.") for key in state)
    full_model = model.update_block.mask is not None
    if full_checkpoint != full_model:
        variant, config = ("RAFT", "flow/raft") if full_checkpoint else ("RAFT-small", "flow/raft_small")
        raise ValueError(
            f"this {source} checkpoint is {variant} (convex-upsampling mask head: {full_checkpoint}), but the model is "
            f"{type(model).__name__}: use model={config}"
        )


def _convert(
    state: Mapping[str, Tensor], model: nn.Module, source: str, rules: tuple[Rule, ...], official: bool
) -> StateDict:
    if official:
        state = _drop_shortcut_norm_aliases(_strip_module_prefix(state))
    renamed = _rename(state, rules)
    _check_variant(renamed, model, source)
    merged = _merge_gru_gates(renamed, model)
    return _transpose_lookup_windows(merged, model.corr_levels, model.corr_radius)


OFFICIAL_RAFT = CheckpointFormat(
    name="princeton-vl/RAFT",
    recognise=_recognise_official,
    convert=partial(_convert, source="princeton-vl/RAFT", rules=_OFFICIAL_RULES, official=True),
)
"""princeton-vl/RAFT's checkpoints (``module.fnet.*``, ``module.cnet.*``, ``module.update_block.*``)."""

TORCHVISION_RAFT = CheckpointFormat(
    name="torchvision RAFT",
    recognise=_recognise_torchvision,
    convert=partial(_convert, source="torchvision RAFT", rules=_TORCHVISION_RULES, official=False),
)
"""torchvision's ``raft_large`` / ``raft_small`` checkpoints (``feature_encoder.convnormrelu.*``,
``update_block.recurrent_block.*``, ``mask_predictor.*``)."""
