"""Deploying a trained model: the main-output wrapper every runtime starts from, ``torch.export`` and ONNX export
with dynamic batch / height / width, an onnxruntime session as a module, and the runtimes evaluate.py and infer.py
choose with ``runtime=<name>`` (``conf/runtime/``)."""

from visionbench.deploy.onnx import OnnxModule, export_onnx, load_session
from visionbench.deploy.runtime import CompileRuntime, EagerRuntime, OnnxRuntime, Runtime
from visionbench.deploy.torch_export import export_program
from visionbench.deploy.wrapper import MainOutputModel, input_names

__all__ = [
    "CompileRuntime",
    "EagerRuntime",
    "MainOutputModel",
    "OnnxModule",
    "OnnxRuntime",
    "Runtime",
    "export_onnx",
    "export_program",
    "input_names",
    "load_session",
]
