"""The flow method contract, for every ``conf/model/flow/*.yaml`` (found by a glob; networks shrunk by the tiny
overrides of tests/models/flow/tiny.py, classical methods as configured): two ``B,3,H,W`` images in [0, 1] give
the ``B,2,H,W`` float32 flow at any size, each pair's flow independent of the rest of the batch; networks return
``{"flow", "predictions"}`` in training mode, train every parameter and survive a state-dict round trip;
classical methods have no parameters and see no motion between identical frames. Method-specific checks are in
test_networks.py and test_classical.py."""

import pytest
import torch
from hydra.utils import get_class

from tests.helpers.models import compose_model, model_config_names
from tests.models.flow.pairs import images, translated_pair
from tests.models.flow.tiny import tiny_flow_model, training_loss
from visionbench.models.flow.classical import ClassicalFlow

CONFIGS = model_config_names("flow")
CLASSICAL = [name for name in CONFIGS if issubclass(get_class(compose_model("flow", name)._target_), ClassicalFlow)]
NETWORKS = [name for name in CONFIGS if name not in CLASSICAL]


def test_every_config_is_found() -> None:
    # a broken glob or class test must not leave the tests below with nothing to check
    assert len(NETWORKS) >= 5 and len(CLASSICAL) >= 5, (NETWORKS, CLASSICAL)
    assert {"raft", "flownets", "flowformer"} <= set(NETWORKS) and {"horn_schunck", "farneback"} <= set(CLASSICAL)


@pytest.mark.parametrize("name", CONFIGS)
def test_eval_output_is_flow_at_input_size(name: str) -> None:
    torch.manual_seed(0)
    model = tiny_flow_model(name).eval()
    with torch.no_grad():
        for size in [(37, 53), (9, 13), (64, 64)]:
            flow = model(*images(2, *size))
            assert isinstance(flow, torch.Tensor) and flow.shape == (2, 2, *size)
            assert flow.dtype == torch.float32 and torch.isfinite(flow).all()


@pytest.mark.parametrize("name", CONFIGS)
def test_batch_elements_are_independent(name: str) -> None:
    """Each pair's flow is the same alone or in a batch, in the batch's order (no mixing across the batch in
    reshapes, groupings or per-batch statistics)."""
    torch.manual_seed(0)
    model = tiny_flow_model(name).eval()
    image1, image2 = translated_pair(37, 53, (0.8, 0.4))
    tolerance = {"rtol": 1e-4, "atol": 1e-4} if name in NETWORKS else {}
    with torch.no_grad():
        batch = model(torch.cat([image1, image2]), torch.cat([image2, image1]))
        torch.testing.assert_close(batch[:1], model(image1, image2), **tolerance)
        torch.testing.assert_close(batch[1:], model(image2, image1), **tolerance)


@pytest.mark.parametrize("name", NETWORKS)
def test_training_output_is_flow_and_predictions(name: str) -> None:
    torch.manual_seed(0)
    model = tiny_flow_model(name).train()
    output = model(*images(2, 37, 53))
    assert set(output) == {"flow", "predictions"}
    assert output["flow"].shape == (2, 2, 37, 53)
    assert len(output["predictions"]) >= 1
    assert all(p.shape[:2] == (2, 2) and p.shape[2] <= 37 and p.shape[3] <= 53 for p in output["predictions"])


@pytest.mark.parametrize("name", NETWORKS)
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = tiny_flow_model(name).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pair, target = images(2, 32, 40), torch.randn(2, 2, 32, 40)
    valid = torch.ones(2, 32, 40, dtype=torch.bool)
    # two steps: GMA's gamma starts at 0, which zeroes its other parameters' gradient in the first step
    for _ in range(2):
        optimizer.zero_grad()
        training_loss(model)(model(*pair), target, valid).backward()
        optimizer.step()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


@pytest.mark.parametrize("name", NETWORKS)
def test_state_dict_round_trip(name: str) -> None:
    torch.manual_seed(0)
    source = tiny_flow_model(name).train()
    source(*images(2, 32, 32))  # move BN running statistics away from their initial values
    torch.manual_seed(1)
    copy = tiny_flow_model(name)
    copy.load_state_dict(source.state_dict())
    pair = images(1, 29, 35, seed=1)
    with torch.no_grad():
        assert torch.equal(source.eval()(*pair), copy.eval()(*pair))


@pytest.mark.parametrize("name", CLASSICAL)
def test_classical_method_has_no_parameters_and_sees_no_motion_between_identical_frames(name: str) -> None:
    model = tiny_flow_model(name)
    assert isinstance(model, torch.nn.Module) and list(model.parameters()) == [] and model.state_dict() == {}
    assert type(model).__name__ in repr(model)
    frame, _ = translated_pair(40, 56, (0.0, 0.0))
    magnitude = model(frame, frame).abs()
    # measured: 0 (Horn-Schunck, Lucas-Kanade, DIS); Farneback mean 0.002, max 0.09 at the border; correlation
    # matching mean 0.02, max 0.17 (its sub-pixel parabolas are not exactly centred)
    assert magnitude.mean() < 0.05 and magnitude.max() < 0.25, f"{name}: mean {magnitude.mean():.2g} px"
