"""Runtimes: how evaluate.py and infer.py run a model (``runtime=eager | compile | onnxruntime``, ``conf/runtime/``).

Each runtime turns a model into a module with the same positional tensor inputs that returns the problem's main
output (``ProblemContract.main_output``: segmentation logits, final flow), in eval mode without autograd:
``runtime.prepare(model, example_inputs, main_output)``. ``example_inputs`` (``ProblemContract.example_inputs``)
are what a compiler or exporter traces; the prepared module runs at other batch sizes and image sizes.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from visionbench.deploy.onnx import OPSET, OnnxModelError, OnnxModule, export_onnx, load_session, save_onnx
from visionbench.deploy.wrapper import MainOutput, MainOutputModel

log = logging.getLogger(__name__)
ONNX_FILE = "model.onnx"
"""The name of the exported model in the directory given to :meth:`OnnxRuntime.prepare`."""


class Runtime:
    """How a model is run. ``name`` is the runtime's ``conf/runtime/<name>.yaml``; :meth:`describe` is what a run
    records of it (source.json)."""

    name: str = "runtime"

    def prepare(
        self,
        model: nn.Module,
        example_inputs: tuple[Tensor, ...],
        main_output: MainOutput,
        directory: Path | None = None,
    ) -> nn.Module:
        """A module taking ``model``'s positional tensors and returning ``main_output`` of its output, in eval mode
        and without autograd. ``directory``: where a runtime that writes files (an exported model) puts them."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The runtime's name and settings (and, once prepared, what it produced, e.g. the exported file)."""
        return {"name": self.name}


class _NoGrad(nn.Module):
    """``module`` called under ``torch.no_grad`` (a deployed model only infers)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *inputs: Tensor) -> Tensor:
        with torch.no_grad():
            return self.module(*inputs)


class EagerRuntime(Runtime):
    """The model as it is, run by PyTorch op by op (evaluate.py leaves the task's model untouched with it)."""

    name = "eager"

    def prepare(
        self,
        model: nn.Module,
        example_inputs: tuple[Tensor, ...],
        main_output: MainOutput,
        directory: Path | None = None,
    ) -> nn.Module:
        return _NoGrad(MainOutputModel(model, main_output))


class CompileRuntime(Runtime):
    """``torch.compile`` of the model, compiled in :meth:`prepare` by one call on the example inputs (so compile time
    and errors show there, not in the first batch). With ``fullgraph`` a graph break is an error; when the model has
    one, the runtime logs the reason and compiles again with graph breaks allowed (``describe()`` records it).

    Args:
        fullgraph: require one graph for the whole forward.
        dynamic: ``torch.compile``'s ``dynamic`` (None: recompile once with dynamic shapes when a size changes).
        mode: ``torch.compile``'s mode (None, ``reduce-overhead``, ``max-autotune``...).
        backend: the compiler backend (``inductor``: C++/OpenMP kernels on CPU, Triton on GPU).
    """

    name = "compile"

    def __init__(
        self, fullgraph: bool = True, dynamic: bool | None = None, mode: str | None = None, backend: str = "inductor"
    ) -> None:
        self.fullgraph, self.dynamic, self.mode, self.backend = fullgraph, dynamic, mode, backend
        self.graph_break: str | None = None
        self.compile_seconds: float | None = None

    def _compile(self, module: nn.Module, fullgraph: bool, example_inputs: tuple[Tensor, ...]) -> nn.Module:
        compiled = torch.compile(
            module, fullgraph=fullgraph, dynamic=self.dynamic, mode=self.mode, backend=self.backend
        )
        start = time.perf_counter()
        compiled(*example_inputs)
        self.compile_seconds = time.perf_counter() - start
        return compiled

    def prepare(
        self,
        model: nn.Module,
        example_inputs: tuple[Tensor, ...],
        main_output: MainOutput,
        directory: Path | None = None,
    ) -> nn.Module:
        module = _NoGrad(MainOutputModel(model, main_output))
        if not self.fullgraph:
            return self._compile(module, False, example_inputs)
        try:
            return self._compile(module, True, example_inputs)
        except (torch._dynamo.exc.Unsupported, torch._dynamo.exc.UserError) as error:  # a break, data-dependent flow
            self.graph_break = str(error).strip().splitlines()[0]
            log.warning("torch.compile(fullgraph=True) failed (%s); compiling with graph breaks", self.graph_break)
            torch._dynamo.reset()
            return self._compile(module, False, example_inputs)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fullgraph": self.fullgraph and self.graph_break is None,
            "graph_break": self.graph_break,
            "dynamic": self.dynamic,
            "mode": self.mode,
            "backend": self.backend,
            "compile_seconds": self.compile_seconds,
        }


class OnnxRuntime(Runtime):
    """onnxruntime (CPU execution provider): the model exported to ONNX once with dynamic batch, height and width
    (:func:`~visionbench.deploy.onnx.export_onnx`), written atomically as ``<directory>/model.onnx`` (a temporary
    file without a directory), then run through an InferenceSession; or an earlier export given as ``model_file``.
    The model is exported on the CPU in float32 (moved there: the session runs on the CPU).

    Args:
        opset: ONNX opset (>= 16 for grid_sample, which RAFT and FlowFormer use).
        dynamo: the dynamo-based exporter (True) or the TorchScript one (False; fixes RAFT's shapes at the traced
            size, see :mod:`visionbench.deploy.onnx`).
        threads: intra-op threads (None: torch's ``torch.get_num_threads()``).
        model_file: an ONNX file exported earlier, run instead of exporting the model again.
    """

    name = "onnxruntime"

    def __init__(
        self, opset: int = OPSET, dynamo: bool = True, threads: int | None = None, model_file: str | None = None
    ) -> None:
        if opset < 16:
            raise ValueError(f"runtime.opset={opset}: grid_sample (RAFT, FlowFormer) needs ONNX opset 16 or later")
        self.opset, self.dynamo, self.threads = opset, dynamo, threads
        self.model_file = Path(model_file) if model_file else None
        self.path: Path | None = None
        self.export_seconds: float | None = None

    def prepare(
        self,
        model: nn.Module,
        example_inputs: tuple[Tensor, ...],
        main_output: MainOutput,
        directory: Path | None = None,
    ) -> nn.Module:
        if self.model_file is not None:
            module = self._load(self.model_file)
        elif directory is None:
            with tempfile.TemporaryDirectory() as temporary:  # the session keeps the model in memory
                module = self._export(model, example_inputs, main_output, Path(temporary))
            self.path = None
        else:
            module = self._export(model, example_inputs, main_output, Path(directory))
        if len(module.names) != len(example_inputs):
            raise OnnxModelError(module.path, f"takes {len(module.names)} inputs {module.names}, the model takes "
                                 f"{len(example_inputs)}")  # fmt: skip
        return module

    def _export(
        self, model: nn.Module, example_inputs: tuple[Tensor, ...], main_output: MainOutput, directory: Path
    ) -> OnnxModule:
        start = time.perf_counter()
        cpu_inputs = tuple(tensor.to("cpu", torch.float32) for tensor in example_inputs)
        proto = export_onnx(MainOutputModel(model, main_output).cpu().float(), cpu_inputs, self.opset, self.dynamo)
        path = save_onnx(proto, directory / ONNX_FILE)
        self.export_seconds = time.perf_counter() - start
        return self._load(path)

    def _load(self, path: Path) -> OnnxModule:
        self.path = path
        return OnnxModule(load_session(path, self.threads), path)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "opset": self.opset,
            "exporter": "dynamo" if self.dynamo else "torchscript",
            "threads": self.threads or torch.get_num_threads(),
            "model_file": str(self.path) if self.path else None,
            "export_seconds": self.export_seconds,
        }
