"""ONNX export with dynamic batch / height / width, and an onnxruntime session run as a torch module.

Exporter: the dynamo-based ``torch.onnx.export(..., dynamo=True)`` at opset 18 (grid_sample needs >= 16; 18 is the
exporter's own default). The TorchScript exporter (``dynamo=False``) records Python shape arithmetic as constants:
RAFT's coordinate grids and padding then keep the traced size, so at another height/width it runs and returns wrong
flow. The dynamo exporter keeps shapes symbolic. Its graph optimiser (``optimize=True``) fails on the
``SplitToSequence`` that a ``chunk`` over the dynamic batch becomes (RAFT's feature split), so the graph is exported
unoptimised; onnxruntime optimises it when it builds the session.

An ONNX graph keeps no guards: where ``torch.export`` records that the traced program holds only for some sizes (a
branch on the input size, RAFT's correlation pyramid needing H, W >= 57), the ONNX graph runs at other sizes without
an error and may be wrong there. ``benchmarks/deployability.py`` lists such networks.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from torch import Tensor, nn

from visionbench.deploy.torch_export import IMAGE_DYNAMIC_AXES, image_dynamic_shapes
from visionbench.deploy.wrapper import input_names
from visionbench.utils.atomic import write_atomically
from visionbench.utils.checkpoints import CheckpointError

OPSET = 18
OUTPUT_NAME = "output"


class OnnxModelError(CheckpointError):
    """An ONNX model file that cannot be used: missing, not an ONNX model (corrupt, truncated), or taking other inputs
    than the model it should replace. One line naming the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(path, problem)
        self.args = (f"ONNX model {path} {problem}",)


def export_onnx(
    module: nn.Module, example_inputs: tuple[Tensor, ...], opset: int = OPSET, dynamo: bool = True
) -> onnx.ModelProto:
    """The ONNX graph of ``module`` (eval mode, one tensor out, e.g. a
    :class:`~visionbench.deploy.wrapper.MainOutputModel`) traced on ``example_inputs`` (``B,C,H,W``; use a batch of
    2 or more), with batch, height and width dynamic; inputs named after ``forward``'s parameters, the output
    ``"output"``. ``dynamo=False`` uses the TorchScript exporter (see the module docstring for why it is not the
    default). The graph is checked with ``onnx.checker``."""
    module = module.eval()
    names = input_names(module, len(example_inputs))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(
                module,
                example_inputs,
                dynamo=True,
                dynamic_shapes=image_dynamic_shapes(example_inputs),
                input_names=names,
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                optimize=False,
                verbose=False,
            )
            proto = program.model_proto
        else:
            buffer = io.BytesIO()
            torch.onnx.export(
                module,
                example_inputs,
                buffer,
                dynamo=False,
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes={name: IMAGE_DYNAMIC_AXES for name in [*names, OUTPUT_NAME]},
                opset_version=opset,
            )
            proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    return proto


def save_onnx(proto: onnx.ModelProto, path: Path) -> Path:
    """Write ``proto`` to ``path`` atomically; an existing file is never replaced (a FileExistsError names it)."""
    data = proto.SerializeToString()
    if not write_atomically(path, lambda stream: stream.write(data), replace=False):
        raise FileExistsError(f"{path} exists; an exported model is never overwritten")
    return path


def load_session(path: Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session of the ONNX model at ``path`` with ``threads`` intra-op threads (None: as many as
    torch uses, ``torch.get_num_threads()``, so both runtimes are compared on the same cores) and one inter-op
    thread. A missing, corrupt or truncated file raises :class:`OnnxModelError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(path, "does not exist (expected a file written by runtime=onnxruntime)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own exception types (InvalidProtobuf, Fail...) share no base class
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        problem = f"cannot be loaded by onnxruntime (corrupt or not an ONNX model): {reason}"
        raise OnnxModelError(path, problem) from error


class OnnxModule(nn.Module):
    """An onnxruntime session called like the torch model it was exported from: ``forward(*inputs)`` takes the same
    positional tensors (any device and float dtype; run as float32 on the CPU) and returns the graph's output as a
    float32 tensor on the first input's device. No parameters: the weights live in the session.

    Args:
        session: the session (:func:`load_session`).
        path: the ONNX file it was loaded from, for messages.
    """

    def __init__(self, session: onnxruntime.InferenceSession, path: Path) -> None:
        super().__init__()
        self.session = session
        self.path = Path(path)
        self.names = [graph_input.name for graph_input in session.get_inputs()]

    def forward(self, *inputs: Tensor) -> Tensor:
        if len(inputs) != len(self.names):
            raise ValueError(f"{self.path} takes {len(self.names)} inputs {self.names}, got {len(inputs)}")
        feed = {
            name: np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())
            for name, tensor in zip(self.names, inputs, strict=True)
        }
        output = self.session.run(None, feed)[0]
        return torch.from_numpy(output).to(inputs[0].device)

    def extra_repr(self) -> str:
        return f"path={self.path}, inputs={self.names}"
