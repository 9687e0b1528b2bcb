"""Released RAFT checkpoints load into RAFT / RAFT-small (``model.weights``): the random-weight checkpoints of
../shared/fixtures/published_weights/, written in princeton-vl/RAFT's and torchvision's formats by their own code,
reproduce the peers' stored flows within 1e-3 px (the README's tolerance); the full-size key lists convert without a
missing or extra key and with equal shapes; a wrong file fails naming the keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.helpers.published_weights import published
from visionbench.models.flow.raft import RAFT, RAFTSmall
from visionbench.models.published import convert_state_dict, load_published_weights

TOLERANCE_PX = 1e-3
KEY_LISTS = [
    ("raft_official_keys.json", RAFT),
    ("torchvision_raft_large_keys.json", RAFT),
    ("raft_official_small_keys.json", RAFTSmall),
    ("torchvision_raft_small_keys.json", RAFTSmall),
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_with_low_resolution_flow(model: RAFT, image1: torch.Tensor, image2: torch.Tensor, iters: int):
    """``(flow at 1/8 resolution, full-resolution flow)`` as the peers' ``test_mode`` returns them: the 1/8 flow is
    the sum of the update block's flow increments (``coords1 - coords0``)."""
    increments = []
    hook = model.update_block.register_forward_hook(lambda module, inputs, output: increments.append(output[2]))
    try:
        with torch.no_grad():
            flow = model.eval()(image1, image2, iters=iters)
    finally:
        hook.remove()
    assert len(increments) == iters
    return torch.stack(increments).sum(dim=0), flow


def test_official_raft_small_reproduces_princeton_vl_outputs() -> None:
    io = torch.load(published("raft_official_io.pt"), weights_only=True)
    model = load_published_weights(RAFTSmall(), published("raft_official_small.safetensors"))
    # princeton-vl's forward maps 0..255 to 2 x / 255 - 1, ours maps [0, 1] (what the flow datasets give) to 2 x - 1
    low, up = run_with_low_resolution_flow(model, io["image1"] / 255, io["image2"] / 255, io["iters"])
    assert io["iters"] == 12 and io["small_flow_up"].abs().max() > 10  # flows of several pixels: a real check
    assert (low - io["small_flow_low"]).abs().max() < TOLERANCE_PX
    assert (up - io["small_flow_up"]).abs().max() < TOLERANCE_PX


def test_torchvision_raft_small_reproduces_torchvision_outputs() -> None:
    io = torch.load(published("torchvision_raft_io.pt"), weights_only=True)
    model = load_published_weights(RAFTSmall(), published("torchvision_raft_small.safetensors"))
    # torchvision takes images in [-1, 1]
    _, up = run_with_low_resolution_flow(model, (io["image1"] + 1) / 2, (io["image2"] + 1) / 2, io["num_flow_updates"])
    assert (up - io["flow"]).abs().max() < TOLERANCE_PX


def test_both_formats_of_one_network_convert_to_the_same_weights() -> None:
    """The README: official RAFT-small and torchvision's raft_small, built after the same seed, hold equal tensors
    (paired line by line in their key lists), so both converters must give one state dict, bitwise."""
    model = RAFTSmall()
    official = convert_state_dict(model, load_file(published("raft_official_small.safetensors")), "official")
    torchvision = convert_state_dict(model, load_file(published("torchvision_raft_small.safetensors")), "torchvision")
    assert official.keys() == torchvision.keys() == model.state_dict().keys()
    assert all(torch.equal(official[key], torchvision[key]) for key in official)


def zero_state_dict(key_list: Path) -> dict[str, torch.Tensor]:
    """Zero tensors with the keys and shapes of a ``*_keys.json`` list (the aliased copies are then equal)."""
    shapes = json.loads(key_list.read_text())
    return {
        key: torch.zeros(shape, dtype=torch.int64 if key.endswith("num_batches_tracked") else torch.float32)
        for key, shape in shapes.items()
    }


@pytest.mark.parametrize(("key_list", "model_class"), KEY_LISTS, ids=[name for name, _ in KEY_LISTS])
def test_full_size_key_lists_convert_to_every_key_of_the_model(key_list: str, model_class: type[RAFT]) -> None:
    with torch.device("meta"):
        model = model_class()
    converted = convert_state_dict(model, zero_state_dict(published(key_list)), key_list)
    assert {key: tuple(value.shape) for key, value in converted.items()} == {
        key: tuple(value.shape) for key, value in model.state_dict().items()
    }


def test_official_aliased_norms_must_be_copies() -> None:
    """The large official model stores each shortcut norm of the context encoder twice (norm3 and downsample.1): the
    two copies are compared, and a difference is an error naming both keys."""
    state = zero_state_dict(published("raft_official_keys.json"))
    aliases = [key for key in state if ".norm3." in key]
    assert len(aliases) == 10
    state["module.cnet.layer2.0.norm3.weight"] = torch.ones_like(state["module.cnet.layer2.0.norm3.weight"])
    with torch.device("meta"):
        model = RAFT()
    with pytest.raises(ValueError, match=r"cnet\.layer2\.0\.norm3\.weight should be a copy of .*downsample\.1\.weight"):
        convert_state_dict(model, state, "raft-things.pth")


@pytest.mark.parametrize("fixture", ["raft_official_small.safetensors", "torchvision_raft_small.safetensors"])
def test_small_checkpoint_into_full_model_names_the_config_to_use(fixture: str) -> None:
    with pytest.raises(ValueError, match=rf"{fixture}.*RAFT-small.*use model=flow/raft_small"):
        load_published_weights(RAFT(), published(fixture))


def test_wrong_file_fails_naming_the_keys(tmp_path: Path) -> None:
    """A checkpoint of another network, and one of this format with a tensor missing or mis-shaped, fail with the
    file and the offending keys in the message."""
    foreign = tmp_path / "segmenter.safetensors"
    save_file({"backbone.conv1.weight": torch.zeros(4, 3, 3, 3), "classifier.weight": torch.zeros(2, 4)}, foreign)
    with pytest.raises(ValueError, match=r"segmenter\.safetensors.*princeton-vl/RAFT, torchvision RAFT.*backbone"):
        load_published_weights(RAFTSmall(), foreign)

    state = load_file(published("torchvision_raft_small.safetensors"))
    del state["update_block.flow_head.conv2.bias"]
    state["update_block.motion_encoder.convflow1.0.weight"] = torch.zeros(64, 2, 5, 5)
    broken = tmp_path / "raft_small_broken.safetensors"
    save_file(state, broken)
    with pytest.raises(ValueError, match=r"raft_small_broken\.safetensors") as error:
        load_published_weights(RAFTSmall(), broken)
    assert "missing keys: update_block.flow_head.conv2.bias" in str(error.value)
    assert "update_block.motion_encoder.flow.0.weight: checkpoint (64, 2, 5, 5) vs model (64, 2, 7, 7)" in str(
        error.value
    )
