"""Deployability matrix: for every segmentation network and learned flow network, whether it runs in eager mode,
under ``torch.compile`` (fullgraph), through ``torch.export`` and ONNX export with dynamic batch / height / width,
and in onnxruntime through evaluate.py, with tensor parity and task-level parity against eager.

Each network is built as a run builds it (``conf/train.yaml`` with ``model_size=small``, the synthetic dataset's
facts), untrained (equal predictions give equal metrics, trained or not; weights initialised to zero, FCN's score
layers, get small random values). Cells:

- eager: the model's main output (``ProblemContract.main_output``) on the check input.
- compile: ``torch.compile(fullgraph=True)`` (inductor) on the check input; with a graph break, the reason, and
  whether it compiles with graph breaks allowed.
- export: ``torch.export`` traced on evaluate.py's example input (``2 x 3 x 68 x 100``:
  :data:`~visionbench.runner.evaluate.EXAMPLE_SIZE`) with batch, height and width dynamic, run on the check input
  (another batch size and image size).
- onnx: the dynamo ONNX exporter, opset 18, same example and dynamic axes, checked by ``onnx.checker``.
- onnxruntime: that file in an onnxruntime CPU session on the check input.
- tensor parity: max abs difference of compile / export / onnxruntime against eager on the check input, tolerance
  ``1e-4 x max|eager output|`` (:mod:`visionbench.deploy.parity`).
- task parity: evaluate.py on the synthetic validation split (segmentation: 16 images of synthetic_shapes, mIoU; flow:
  8 pairs of synthetic_flow, EPE), ``runtime=eager`` and ``runtime=onnxruntime runtime.model_file=<the file above>``,
  from a run directory holding the untrained weights; every metric must agree within 1e-4.

The check input comes from the problem's ``example_inputs`` (segmentation ``3 x 3 x 48 x 48``, the dataset's size;
flow ``3 x 3 x 60 x 84`` pairs, see :data:`CHECK`). RAFT, RAFT-small and FlowFormer run 4 updates
(``model.eval_iters=4``), unrolled in the exported graphs (the graph grows linearly with the updates; the result is
the same computation).
U-Net with several inputs is built with ``input_channels=[2,1]`` (the 3 RGB channels split into two inputs), the CAM
segmenter with its image-label task.

    python benchmarks/deployability.py [--write-readme] [--networks unet raft_small ...] [--no-compile]
        [--json rows.json]
    python benchmarks/deployability.py --from-json rows.json [more.json ...] [--write-readme]

``--json`` saves the rows after each network; ``--from-json`` renders the table from saved rows (e.g. of two runs
over different networks) without running anything.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import onnx
import onnxruntime
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from torch import nn

import visionbench.runner  # noqa: F401  (registers the config resolvers)
from visionbench.deploy import CompileRuntime, MainOutputModel, OnnxModule, export_onnx, export_program, load_session
from visionbench.deploy.onnx import save_onnx
from visionbench.deploy.parity import RELATIVE_TOLERANCE, Parity, parity_of, perturb_zero_weights
from visionbench.runner.builders import build_task
from visionbench.runner.evaluate import EXAMPLE_BATCH, EXAMPLE_SIZE, evaluate
from visionbench.tasks.contract import ProblemContract, problem_contract

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
README = ROOT / "README.md"
START, END = "<!-- deployability:start -->", "<!-- deployability:end -->"
FLOW_NETWORKS = ("flownets", "flownetc", "raft", "raft_small", "flowformer")
ITERATIVE = ("raft", "raft_small", "flowformer")
EVAL_ITERS = 4
OVERRIDES: dict[str, list[str]] = {
    "cam_resnet": ["task=image_label_segmentation", "loss=image_labels"],
    "unet_multi_input": ["model.input_channels=[2,1]"],
    **{name: [f"model.eval_iters={EVAL_ITERS}"] for name in ITERATIVE},
}
"""Per-network overrides (see the module docstring)."""
CHECK = {"segmentation": (3, 48, 48), "flow": (3, 60, 84)}
"""Batch, height and width of the parity input: segmentation at the synthetic dataset's size, flow at a size that is
not a multiple of 8 (RAFT pads it) and at least 57 (RAFT's smallest, see :mod:`visionbench.deploy.onnx`)."""
EARLIER_TRACE = "2x3x64x96"
"""The example size of rows saved before :attr:`Row.traced` was recorded."""
DATA = {
    "segmentation": ("segmentation/synthetic_shapes", 16),
    "flow": ("flow/synthetic_flow", 8),
}
"""Dataset and validation size of the task parity."""
TASK_TOLERANCE = 1e-4


@dataclass
class Row:
    """One network's cells: ``cells[name]`` is ``(works, note)``; ``parity[name]`` the tensor parity of a runtime."""

    problem: str
    network: str
    cells: dict[str, tuple[bool, str]] = field(default_factory=dict)
    parity: dict[str, dict[str, float]] = field(default_factory=dict)
    task: tuple[bool, str] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    traced: str = EARLIER_TRACE
    """The example input the exports were traced on (batch x channels x height x width)."""


ORT_PREFIX = re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : (Non-zero status code returned while running )?")


def first_line(error: BaseException, limit: int = 240) -> str:
    """The first non-empty line of an error (onnxruntime's status prefix and source locations dropped), shortened,
    with its type: a one-line reason for a table cell."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = ORT_PREFIX.sub("", lines[0] if lines else "")
    line = re.sub(r"/onnxruntime_src/\S+ ", "", line)
    text = f"{type(error).__name__}: {line}".replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compose_run_config(config: str, overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """``conf/<config>.yaml`` composed with ``overrides``, its outputs under ``output_dir``, as an entry point sees it
    (the Hydra runtime set, the ``hydra`` node removed)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent / "logs")
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def untrained_run(problem: str, network: str, directory: Path) -> tuple[DictConfig, nn.Module, ProblemContract]:
    """A run directory (config.yaml + ``checkpoints/untrained.ckpt``) of the untrained network as train.py builds it,
    and the network itself (eval mode) with its problem's contract."""
    overrides = [f"model={problem}/{network}", "model_size=small", *OVERRIDES.get(network, [])]
    if problem == "flow":
        overrides.insert(0, "task=flow")
    run = directory / "run"
    (run / "checkpoints").mkdir(parents=True)
    cfg = compose_run_config("train", overrides, run)
    task = build_task(cfg, instantiate(cfg.data))
    perturb_zero_weights(task.model)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    torch.save({"state_dict": task.state_dict()}, run / "checkpoints" / "untrained.ckpt")
    return cfg, task.model.eval(), problem_contract(cfg)


def timed_cell(row: Row, name: str, step: Callable[[], str]) -> bool:
    """Run ``step`` (returning the cell's note) into ``row.cells[name]``; an exception marks the cell failed."""
    start = time.perf_counter()
    try:
        row.cells[name] = (True, step())
    except Exception as error:  # a cell records why a network fails, whatever the exporter raised
        row.cells[name] = (False, first_line(error))
    row.seconds[name] = round(time.perf_counter() - start, 1)
    return row.cells[name][0]


def record_parity(row: Row, name: str, parity: Parity) -> str:
    row.parity[name] = {"max_abs_diff": parity.max_abs_diff, "tolerance": parity.tolerance}
    if not parity.ok:
        raise AssertionError(f"runs, differs from eager by {parity.max_abs_diff:.1e} > {parity.tolerance:.1e}")
    return f"{parity.max_abs_diff:.1e}"


def evaluation_metrics(run: Path, output_dir: Path, overrides: Sequence[str], val_size: int) -> dict[str, float]:
    """metrics.json of evaluate.py on the run's checkpoint (validation split, ``val_size`` samples)."""
    arguments = [
        f"ckpt_path={run / 'checkpoints' / 'untrained.ckpt'}",
        "num_prediction_images=1",
        f"+data_overrides.val_size={val_size}",
        *overrides,
    ]
    return evaluate(compose_run_config("evaluate", arguments, output_dir))


def task_parity(row: Row, run: Path, onnx_file: Path, problem: str, contract: ProblemContract) -> None:
    """evaluate.py with ``runtime=eager`` and ``runtime=onnxruntime`` (the exported file) on the synthetic split."""
    val_size = DATA[problem][1]
    eager = evaluation_metrics(run, run.parent / "eager", ["runtime=eager"], val_size)
    deployed = evaluation_metrics(
        run, run.parent / "onnxruntime", ["runtime=onnxruntime", f"runtime.model_file={onnx_file}"], val_size
    )
    if set(eager) != set(deployed):
        row.task = (False, f"different metrics: {sorted(set(eager) ^ set(deployed))}")
        return
    difference = max(abs(eager[key] - deployed[key]) for key in eager)
    key = contract.headline.key("val")
    note = f"{contract.headline.metric} {eager[key]:.4f} vs {deployed[key]:.4f}, max diff {difference:.1e}"
    row.task = (difference <= TASK_TOLERANCE, note)


def network_row(problem: str, network: str, compile_backend: str | None) -> Row:
    """Every cell of one network (see the module docstring)."""
    row = Row(problem, network, traced="x".join(map(str, (EXAMPLE_BATCH, 3, *EXAMPLE_SIZE))))
    with tempfile.TemporaryDirectory(prefix=f"deploy-{network}-") as temporary:
        directory = Path(temporary)
        built: dict[str, object] = {}

        def build() -> str:
            cfg, model, contract = untrained_run(problem, network, directory)
            built.update(model=model, contract=contract, run=directory / "run")
            return ""

        if not timed_cell(row, "build", build):
            return row
        model: nn.Module = built["model"]  # type: ignore[assignment]
        contract: ProblemContract = built["contract"]  # type: ignore[assignment]
        reference = MainOutputModel(model, contract.main_output).eval()
        example = contract.example_inputs(model, EXAMPLE_BATCH, *EXAMPLE_SIZE)
        check = contract.example_inputs(model, *CHECK[problem])
        if not timed_cell(row, "eager", lambda: f"{tuple(reference(*check).shape)}"):
            return row

        if compile_backend:

            def compiled() -> str:
                runtime = CompileRuntime(fullgraph=True, dynamic=False, backend=compile_backend)
                module = runtime.prepare(model, check, contract.main_output)
                note = record_parity(row, "compile", parity_of(module, reference, check))
                if runtime.graph_break:
                    return f"graph breaks ({runtime.graph_break}); {note}"
                return f"fullgraph; {note}"

            timed_cell(row, "compile", compiled)
            torch._dynamo.reset()

        def exported() -> str:
            program = export_program(MainOutputModel(model, contract.main_output), example)
            return record_parity(row, "export", parity_of(program.module(), reference, check))

        timed_cell(row, "export", exported)
        onnx_file = directory / f"{network}.onnx"

        def onnx_export() -> str:
            proto = export_onnx(MainOutputModel(model, contract.main_output), example)
            save_onnx(proto, onnx_file)
            return f"{len(proto.graph.node)} nodes, {onnx_file.stat().st_size / 2**20:.1f} MiB"

        if not timed_cell(row, "onnx", onnx_export):
            return row

        def session() -> str:
            module = OnnxModule(load_session(onnx_file), onnx_file)
            return record_parity(row, "onnxruntime", parity_of(module, reference, check))

        timed_cell(row, "onnxruntime", session)
        if "onnxruntime" in row.parity:  # the session ran (its outputs may still differ): compare the metrics
            start = time.perf_counter()
            try:
                task_parity(row, built["run"], onnx_file, problem, contract)  # type: ignore[arg-type]
            except Exception as error:  # recorded in the table like the other cells
                row.task = (False, first_line(error))
            row.seconds["task"] = round(time.perf_counter() - start, 1)
    return row


COLUMNS = (
    ("eager", "eager"),
    ("compile", "torch.compile"),
    ("export", "torch.export"),
    ("onnx", "ONNX export"),
    ("onnxruntime", "onnxruntime"),
)


def cell_text(cell: tuple[bool, str] | None, parity: dict[str, float] | None = None) -> str:
    """``works: <note>`` or ``fails: <reason>``; a runtime that ran with outputs beyond the tolerance says so."""
    if cell is None:
        return "not run"
    works, note = cell
    if not works and parity:
        return f"fails: runs, differs from eager by {parity['max_abs_diff']:.1e} > {parity['tolerance']:.1e}"
    return f"{'works' if works else 'fails'}{': ' + note if note else ''}"


def markdown(rows: Sequence[Row], command: str) -> str:
    """The matrix as a markdown table with its settings and environment."""
    lines = [
        "| problem | network | "
        + " | ".join(title for _, title in COLUMNS)
        + " | task parity (val, eager vs onnxruntime) |",
        "|---|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for row in rows:
        if not row.cells.get("build", (False, ""))[0]:
            lines.append(f"| {row.problem} | {row.network} | build {cell_text(row.cells.get('build'))} |")
            continue
        cells = [cell_text(row.cells.get(name), row.parity.get(name)) for name, _ in COLUMNS]
        task = cell_text(row.task) if row.task else "not run"
        lines.append(f"| {row.problem} | {row.network} | " + " | ".join(cells) + f" | {task} |")
    environment = (
        f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"{datetime.now(timezone.utc):%Y-%m-%d}"
    )
    notes = [
        "",
        f"Generated by `{command}` ({environment}). Untrained networks at `model_size=small`; parity input "
        f"{'x'.join(map(str, CHECK['segmentation']))} (segmentation, 3 channels) / "
        f"{'x'.join(map(str, CHECK['flow']))} pairs (flow); exports traced with dynamic batch, height and width on "
        f"{traced_sizes(rows)}. Numbers in the compile / export / onnxruntime cells: max abs difference from eager; "
        f"tolerance {RELATIVE_TOLERANCE:g} x max|eager output|. Task parity: every metric of evaluate.py on the "
        f"synthetic validation split within {TASK_TOLERANCE:g}. RAFT, RAFT-small and FlowFormer run {EVAL_ITERS} "
        "updates, unrolled in the graphs.",
    ]
    return "\n".join(lines + notes)


def traced_sizes(rows: Sequence[Row]) -> str:
    """Which example size each network's exports were traced on, e.g. ``2x3x68x100 (raft, unet_resnet)``."""
    by_size: dict[str, list[str]] = {}
    for row in rows:
        by_size.setdefault(row.traced, []).append(row.network)
    return "; ".join(f"{size} ({', '.join(names)})" for size, names in by_size.items())


def write_readme(table: str) -> None:
    """Put ``table`` between the deployability markers of README.md (both must be there)."""
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{README} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def read_rows(paths: Sequence[Path]) -> list[Row]:
    """Rows saved by ``--json``, in :func:`networks` order; a network saved in several files is merged cell by cell
    (a later file's cells, parity and task parity replace an earlier file's, the others are kept)."""
    saved: dict[str, Row] = {}
    for path in paths:
        for entry in json.loads(path.read_text()):
            row = Row(**entry)
            row.cells = {name: tuple(cell) for name, cell in row.cells.items()}
            row.task = tuple(row.task) if row.task else None
            if row.network in saved:
                earlier = saved[row.network]
                row.cells = earlier.cells | row.cells
                row.parity = earlier.parity | row.parity
                row.seconds = earlier.seconds | row.seconds
                row.task = row.task or earlier.task
                row.traced = row.traced if row.cells.keys() & {"export", "onnx"} else earlier.traced
            saved[row.network] = row
    return [saved[name] for _, name in networks(None) if name in saved]


def networks(selected: Sequence[str] | None) -> list[tuple[str, str]]:
    """``(problem, network)`` of every segmentation network config and learned flow network (or the selected)."""
    segmentation = sorted(path.stem for path in (CONF / "model" / "segmentation").glob("*.yaml"))
    every = [("segmentation", name) for name in segmentation] + [("flow", name) for name in FLOW_NETWORKS]
    if selected:
        unknown = sorted(set(selected) - {name for _, name in every})
        if unknown:
            raise SystemExit(f"unknown networks {unknown}; choose from {[name for _, name in every]}")
        every = [(problem, name) for problem, name in every if name in selected]
    return every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", help="config names (default: all)")
    parser.add_argument("--no-compile", action="store_true", help="leave the torch.compile column out")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend (default inductor)")
    parser.add_argument("--write-readme", action="store_true", help="write the table into README.md's markers")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here (after each network)")
    parser.add_argument("--from-json", type=Path, nargs="+", help="render saved rows instead of running")
    args = parser.parse_args()
    console = Console(width=240)
    rows = read_rows(args.from_json) if args.from_json else []
    for problem, network in [] if args.from_json else networks(args.networks):
        start = time.perf_counter()
        rows.append(network_row(problem, network, None if args.no_compile else args.compile_backend))
        console.print(f"{network}: {time.perf_counter() - start:.0f} s {rows[-1].cells} task={rows[-1].task}")
        if args.json:
            args.json.write_text(json.dumps([asdict(row) for row in rows], indent=1))
    command = "python benchmarks/deployability.py --write-readme"
    if args.from_json:
        command += "`, rows of several runs (some with `--no-compile`: compile cells `not run`) merged by `--from-json"
    table = markdown(rows, command)
    console.print(table)
    if args.write_readme:
        write_readme(table)


if __name__ == "__main__":
    main()
