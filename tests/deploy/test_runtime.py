"""The runtimes (eager, compile, onnxruntime) on a tiny U-Net: main output, dynamic shapes, files and errors."""

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from visionbench.deploy import CompileRuntime, EagerRuntime, OnnxRuntime, export_program
from visionbench.deploy.onnx import OnnxModelError
from visionbench.deploy.parity import parity_of
from visionbench.deploy.wrapper import MainOutputModel, input_names
from visionbench.models.segmentation import UNet
from visionbench.tasks.segmentation.contract import SegmentationContract

CONTRACT = SegmentationContract()


class AuxUNet(nn.Module):
    """A tiny U-Net returning a dict with an aux entry, as the segmentation heads with aux outputs do."""

    def __init__(self) -> None:
        super().__init__()
        self.unet = UNet(num_classes=3, depth=2, base_channels=4)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        logits = self.unet(images)
        return {"out": logits, "aux": logits.flip(1)}


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return AuxUNet().eval()


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory, model: nn.Module) -> Path:
    """One export of the tiny model at 2 x 3 x 32 x 48 into a directory, shared by the tests below."""
    directory = tmp_path_factory.mktemp("onnx")
    OnnxRuntime().prepare(model, CONTRACT.example_inputs(model, 2, 32, 48), CONTRACT.main_output, directory)
    return directory


def test_eager_runtime_returns_the_main_output_without_autograd(model: nn.Module) -> None:
    images = CONTRACT.example_inputs(model, 2, 16, 16)
    module = EagerRuntime().prepare(model, images, CONTRACT.main_output)
    output = module(*images)
    assert not output.requires_grad
    assert torch.equal(output, model(*images)["out"])


def test_onnx_input_names_are_the_forward_parameters(model: nn.Module) -> None:
    assert input_names(MainOutputModel(model, CONTRACT.main_output), 1) == ["images"]


def test_onnxruntime_writes_model_onnx_and_runs_at_other_batch_and_image_sizes(
    model: nn.Module, onnx_dir: Path
) -> None:
    assert (onnx_dir / "model.onnx").is_file()
    assert not list(onnx_dir.glob("*.partial"))
    runtime = OnnxRuntime(model_file=str(onnx_dir / "model.onnx"))
    module = runtime.prepare(model, CONTRACT.example_inputs(model, 2, 32, 48), CONTRACT.main_output)
    reference = MainOutputModel(model, CONTRACT.main_output)
    for batch, height, width in [(2, 32, 48), (1, 48, 32), (3, 64, 64)]:
        inputs = CONTRACT.example_inputs(model, batch, height, width)
        parity = parity_of(module, reference, inputs)
        assert parity.ok, parity
        assert module(*inputs).shape == (batch, 3, height, width)
    assert runtime.describe()["model_file"] == str(onnx_dir / "model.onnx")


def test_an_export_never_overwrites_an_earlier_one(model: nn.Module, onnx_dir: Path) -> None:
    before = (onnx_dir / "model.onnx").read_bytes()
    with pytest.raises(FileExistsError, match="model.onnx"):
        OnnxRuntime().prepare(model, CONTRACT.example_inputs(model, 2, 32, 48), CONTRACT.main_output, onnx_dir)
    assert (onnx_dir / "model.onnx").read_bytes() == before


def test_torch_export_keeps_batch_height_and_width_dynamic(model: nn.Module) -> None:
    program = export_program(MainOutputModel(model, CONTRACT.main_output), CONTRACT.example_inputs(model, 2, 32, 48))
    inputs = CONTRACT.example_inputs(model, 3, 48, 64)
    assert parity_of(program.module(), MainOutputModel(model, CONTRACT.main_output), inputs).ok


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", "truncated"])
def test_a_corrupt_or_truncated_onnx_file_is_named(
    model: nn.Module, onnx_dir: Path, tmp_path: Path, content: bytes | str
) -> None:
    broken = tmp_path / "broken.onnx"
    if content == "truncated":
        content = (onnx_dir / "model.onnx").read_bytes()[:1000]
    broken.write_bytes(content)
    runtime = OnnxRuntime(model_file=str(broken))
    with pytest.raises(OnnxModelError, match=f"^ONNX model {broken} cannot be loaded by onnxruntime"):
        runtime.prepare(model, CONTRACT.example_inputs(model, 2, 16, 16), CONTRACT.main_output)


def test_a_missing_onnx_file_or_one_with_other_inputs_is_refused(
    model: nn.Module, onnx_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(OnnxModelError, match="nowhere.onnx does not exist"):
        OnnxRuntime(model_file=str(tmp_path / "nowhere.onnx")).prepare(model, (), CONTRACT.main_output)
    two_inputs = (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(OnnxModelError, match=r"takes 1 inputs \['images'\], the model takes 2"):
        OnnxRuntime(model_file=str(onnx_dir / "model.onnx")).prepare(model, two_inputs, CONTRACT.main_output)


def test_an_opset_without_grid_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="opset 16 or later"):
        OnnxRuntime(opset=15)


class GraphBreak(nn.Module):
    """A model whose forward breaks torch.compile's graph."""

    def forward(self, images: Tensor) -> Tensor:
        images = images * 2
        torch._dynamo.graph_break()
        return images + 1


def test_compile_falls_back_to_graph_breaks_and_says_why() -> None:
    torch._dynamo.reset()
    images = (torch.ones(1, 3, 8, 8),)
    runtime = CompileRuntime(fullgraph=True, backend="eager")  # dynamo's capture without code generation: fast
    module = runtime.prepare(GraphBreak(), images, CONTRACT.main_output)
    assert torch.equal(module(*images), images[0] * 2 + 1)
    assert runtime.graph_break
    assert runtime.describe()["fullgraph"] is False


@pytest.mark.slow
def test_compile_with_inductor_matches_eager(model: nn.Module) -> None:
    inputs = CONTRACT.example_inputs(model, 2, 32, 48)
    runtime = CompileRuntime(dynamic=False)
    module = runtime.prepare(model, inputs, CONTRACT.main_output)
    assert parity_of(module, MainOutputModel(model, CONTRACT.main_output), inputs).ok
    assert runtime.describe()["fullgraph"] is True
