"""Weights published by other projects (``model.weights=<file>``): read the file, recognise its format from its keys,
convert it to the model's own parameter names and load it strictly.

A model class lists the formats it accepts in its class attribute ``checkpoint_formats`` (a tuple of
:class:`CheckpointFormat`, e.g. mmsegmentation's ADE20K checkpoints for the segmentation models, princeton-vl's and
torchvision's RAFT for RAFT). A file whose keys already are the model's own loads without conversion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from visionbench.utils.checkpoints import CheckpointError, load_state_dict_checked, read_checkpoint

StateDict = dict[str, Tensor]
NESTED_STATE_KEYS = ("state_dict", "model", "model_state_dict", "params")
MODEL_WEIGHTS_KEY = "weights"
"""The top-level key of every model config that names a published weights file (``model.weights=<file>``). It is the
runner's, not the model class's: the builder takes it out before instantiation and loads the file afterwards."""


@dataclass(frozen=True)
class CheckpointFormat:
    """One project's checkpoint layout for a family of models.

    Attributes:
        name: the project and format, shown in messages (e.g. ``"mmsegmentation"``).
        recognise: whether a (flat) state dict is in this format, from its keys.
        convert: the state dict renamed (and reshaped where the layouts differ) into ``model``'s own keys; entries
            the model has no use for (e.g. an auxiliary head it was built without) are dropped here, explicitly.
    """

    name: str
    recognise: Callable[[Mapping[str, Tensor]], bool]
    convert: Callable[[Mapping[str, Tensor], nn.Module], StateDict]


def read_state_dict(path: str | Path) -> StateDict:
    """The flat state dict of a ``.safetensors`` file or of a ``.pth``/``.pt``/``.ckpt`` file read with
    ``weights_only=True`` (a bare state dict or a checkpoint holding one under ``state_dict``/``model``/...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.weights: no such file: {path}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except SafetensorError as error:
            raise ValueError(f"model.weights: {path} is not a readable safetensors file: {error}") from error
    try:
        content = read_checkpoint(path)
    except CheckpointError as error:
        raise ValueError(
            f"model.weights: {path} cannot be read by torch.load(weights_only=True): it {error.problem}; expected a "
            ".pth/.pt/.ckpt state dict or a .safetensors file"
        ) from error
    for key in NESTED_STATE_KEYS:
        if isinstance(content, Mapping) and isinstance(content.get(key), Mapping):
            content = content[key]
            break
    if not isinstance(content, Mapping) or not all(isinstance(value, Tensor) for value in content.values()):
        raise ValueError(
            f"model.weights: {path} holds no state dict (expected tensors by name, at the top level or under one of "
            f"{NESTED_STATE_KEYS})"
        )
    return dict(content)


def convert_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> StateDict:
    """``state_dict`` in ``model``'s own names: unchanged when its keys are the model's, otherwise converted by the
    first of the model's ``checkpoint_formats`` that recognises it."""
    if set(state_dict) == set(model.state_dict()):
        return dict(state_dict)
    formats: tuple[CheckpointFormat, ...] = getattr(type(model), "checkpoint_formats", ())
    for checkpoint_format in formats:
        if checkpoint_format.recognise(state_dict):
            try:
                return checkpoint_format.convert(state_dict, model)
            except ValueError as error:
                raise ValueError(f"{source} ({checkpoint_format.name} format): {error}") from error
    known = ", ".join(f.name for f in formats) or "none"
    sample = ", ".join(sorted(state_dict)[:5])
    raise ValueError(
        f"{source}: the keys are neither {type(model).__name__}'s own nor a known published format for it "
        f"(known: {known}); first keys: {sample}"
    )


def load_published_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights in ``path`` into ``model`` (recognised, converted, strictly checked: every missing,
    unexpected or mis-shaped key is named on failure) and return it."""
    state_dict = read_state_dict(path)
    converted = convert_state_dict(model, state_dict, str(path))
    load_state_dict_checked(model, converted, source=str(path))
    return model


def file_sha256(path: str | Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def weights_record(path: str | Path) -> dict[str, str]:
    """What a run records about the published weights it used: the file's absolute path and its sha256."""
    return {"path": str(Path(path).resolve()), "sha256": file_sha256(path)}
