"""Benchmark records: their columns, the row of a cell that was not measured, and the CSV / markdown files."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from visionbench.benchmark.environment import environment_columns
from visionbench.benchmark.settings import Setting
from visionbench.utils.atomic import write_text_atomically

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
COLUMNS = (
    "model", "status", "reason", "precision", "memory_format", "mode", "batch", "height", "width", "device",
    "parameters", "macs", "flops", "uncounted_ops", "first_call_s", "latency_p50_ms", "latency_p90_ms",
    "samples_per_s", "peak_memory_mb", "timed_calls",
    "env_torch", "env_device_name", "env_threads", "env_git_commit", "env_load_avg_1m",
)  # fmt: skip
"""The CSV columns in order. ``model`` is the config name as ``model=`` takes it (``segmentation/unet``), which the
leaderboard joins on; ``env_*`` describe the machine."""
Record = dict[str, object]


def unmeasured_record(model: str, setting: Setting, device: torch.device, status: str, reason: str) -> Record:
    """The row of a cell that was not measured (``failed`` or ``skipped``) and why."""
    return {
        "model": model,
        "status": status,
        "reason": reason,
        **setting.as_dict(),
        "device": str(device),
        **environment_columns(device),
    }


def error_reason(error: BaseException) -> str:
    """``<ErrorType>: <first line of the message>`` (at most 300 characters)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def csv_text(records: Sequence[Mapping[str, object]]) -> str:
    """The records as CSV with the :data:`COLUMNS` header (absent values empty)."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({column: _cell(record.get(column)) for column in COLUMNS})
    return stream.getvalue()


def write_csv(path: Path, records: Sequence[Mapping[str, object]]) -> None:
    """Write (or rewrite, as records are added) the CSV at ``path`` atomically."""
    write_text_atomically(path, csv_text(records), replace=True)


MARKDOWN_COLUMNS = (
    ("model", "model"), ("precision", "precision"), ("memory_format", "memory format"), ("mode", "mode"),
    ("batch", "batch"), ("size", "H x W"), ("parameters", "params (M)"), ("flops", "GFLOPs"),
    ("latency_p50_ms", "p50 ms"), ("latency_p90_ms", "p90 ms"), ("samples_per_s", "samples/s"),
    ("first_call_s", "first call s"), ("peak_memory_mb", "peak MB"), ("status", "status"),
)  # fmt: skip


def _number(value: object, scale: float = 1.0, digits: int = 1) -> str:
    text = _cell(value)
    return f"{float(text) / scale:.{digits}f}" if text else "-"


def _markdown_cell(record: Mapping[str, object], column: str) -> str:
    if column == "size":
        return f"{record.get('height')} x {record.get('width')}"
    if column == "parameters":
        return _number(record.get(column), 1e6, 2)
    if column == "flops":
        return _number(record.get(column), 1e9, 1)
    if column in ("latency_p50_ms", "latency_p90_ms", "peak_memory_mb"):
        return _number(record.get(column), 1, 1)
    if column in ("samples_per_s", "first_call_s"):
        return _number(record.get(column), 1, 2)
    if column == "status":
        reason = str(record.get("reason") or "")
        return f"{record.get('status')} ({reason})" if reason else str(record.get("status"))
    return _cell(record.get(column)) or "-"


def markdown_table(records: Sequence[Mapping[str, object]]) -> str:
    """The records as a markdown table (parameters in millions, FLOPs in billions), with the environment of the
    first record and the uncounted operators per model below it."""
    lines = [
        "| " + " | ".join(title for _, title in MARKDOWN_COLUMNS) + " |",
        "|" + "|".join("---" if key in ("model", "status") else "---:" for key, _ in MARKDOWN_COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(_markdown_cell(r, key) for key, _ in MARKDOWN_COLUMNS) + " |" for r in records]
    if records:
        environment = ", ".join(f"{key[4:]} {records[0].get(key)}" for key in COLUMNS if key.startswith("env_"))
        lines += ["", f"Environment (first record): {environment}."]
    uncounted = {str(r["model"]): r.get("uncounted_ops") for r in records if r.get("uncounted_ops")}
    if uncounted:
        lines += ["", "Operators the FLOP counter did not count (calls per forward pass of one sample):", ""]
        lines += [f"- {model}: {text}" for model, text in uncounted.items()]
    return "\n".join(lines) + "\n"
