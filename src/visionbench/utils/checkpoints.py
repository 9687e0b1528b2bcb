"""Reading checkpoint and weights files as data only, and loading weights with errors that name the offending keys.

Every checkpoint the project reads goes through :func:`read_checkpoint`: ``torch.load(..., weights_only=True)``
passed explicitly, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot override (torch >= 2.6 lets that variable change
only a call that leaves ``weights_only`` unset), so a checkpoint can hold tensors and plain containers but never a
pickled object whose loading runs code. Every problem with the file raises :class:`CheckpointError`, one line naming
the file and what is wrong with it.
"""

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of a checkpoint saved by ``torch.save`` (a zip archive, the default since torch 1.6)."""
PICKLE_PROTOCOL_OPCODE = 0x80
"""The first byte of a checkpoint in torch's legacy (pre-1.6) format: a pickle protocol opcode."""
SAFETENSORS_SUFFIX = ".safetensors"
CONVERSION_HINT = (
    "to use it, convert it once in a session where you trust its origin: unpickle it there with torch's full loader, "
    "then torch.save({'state_dict': <its state_dict>}, <new file>): the new file holds tensors only and loads here"
)
_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL (\S+) (?:was not an allowed global|whose module \S+ is blocked)")


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be read as data: missing, a directory, empty, truncated, not a torch
    checkpoint, or holding pickled objects beyond tensors and plain containers. The message is one line naming the
    file and the problem (``path`` and ``problem`` hold the two parts)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"checkpoint {path} {problem}")
        self.path = path
        self.problem = problem


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(character.isprintable() or character in "\t\r\n" for character in text)


def check_checkpoint_file(path: str | Path) -> Path:
    """``path`` if it is a file that may be a checkpoint; :class:`CheckpointError` for a missing path, a directory or
    an empty, text or otherwise foreign file, told from its first bytes before torch sees it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "does not exist")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, expected a checkpoint file (.ckpt, .pt, .pth)")
    try:
        with path.open("rb") as stream:
            head = stream.read(64)
    except OSError as error:
        raise CheckpointError(path, f"cannot be opened: {error.strerror or error}") from error
    if not head:
        raise CheckpointError(path, "is empty (0 bytes): an interrupted save or a failed copy")
    if path.suffix == SAFETENSORS_SUFFIX or head.startswith(ZIP_MAGIC) or head[0] == PICKLE_PROTOCOL_OPCODE:
        return path
    if _is_text(head):
        start = (head.decode("utf-8").strip().splitlines() or [""])[0][:40]
        raise CheckpointError(path, f"is a text file (starting {start!r}), not a torch checkpoint")
    raise CheckpointError(
        path,
        f"is not a torch checkpoint: it starts with bytes {head[:8]!r}, expected a zip archive ({ZIP_MAGIC!r}, what "
        "torch.save writes) or a legacy torch pickle",
    )
    return path


def _problem(path: Path, error: Exception) -> str:
    """Why ``torch.load`` refused ``path``, in one line."""
    message = str(error)
    if unsupported := _UNSUPPORTED_GLOBAL.search(message):
        return (
            f"is refused: it holds a pickled Python object ({unsupported.group(1)}), and checkpoints are read as data "
            f"only (weights_only=True), never by running pickled code; {CONVERSION_HINT}"
        )
    size = path.stat().st_size
    if "central directory" in message:
        return (
            f"is truncated or corrupt ({size} bytes; its zip archive has no central directory, which is written last)"
        )
    reason = f"{type(error).__name__}: {(message.strip().splitlines() or ['no detail'])[0]}"
    if isinstance(error, EOFError):
        return f"is truncated ({size} bytes; {reason})"
    return f"cannot be read as a torch checkpoint ({reason})"


def read_checkpoint(path: str | Path) -> dict:
    """The content of a checkpoint or weights file (``torch.save`` zip or legacy format, or ``.safetensors``), read as
    data only: ``torch.load(path, map_location="cpu", weights_only=True)``.

    Raises :class:`CheckpointError` (one line naming the file) for a missing path, a directory, an empty, text,
    truncated or corrupt file, a pickled object that is not data (named, with how to convert the file) or content that
    is not a dict."""
    path = check_checkpoint_file(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for malformed files: each becomes one CheckpointError
        raise CheckpointError(path, _problem(path, error)) from error
    if not isinstance(content, dict):
        raise CheckpointError(path, f"holds a {type(content).__name__}, expected a dict (a state dict or a checkpoint)")
    return content


def load_state_dict_checked(module: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """``module.load_state_dict(strict=True)`` with a message listing missing, unexpected and mis-shaped keys."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(expected) & set(state_dict))
        if state_dict[key].shape != expected[key].shape
    ]
    problems = []
    for title, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if keys:
            shown = ", ".join(keys[:20]) + (f" ... (+{len(keys) - 20} more)" if len(keys) > 20 else "")
            problems.append(f"{len(keys)} {title}: {shown}")
    if problems:
        raise ValueError(f"weights from {source} do not fit {type(module).__name__}:\n  " + "\n  ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def resolve_checkpoint(run_dir: str | None, ckpt_path: str | None) -> tuple[Path, Path]:
    """``(checkpoint, run_directory)`` from either argument; clear errors for missing files."""
    if ckpt_path:
        checkpoint = Path(ckpt_path)
        check_checkpoint_file(checkpoint)
        run = checkpoint.resolve().parent.parent
    elif run_dir:
        run = Path(run_dir)
        run_info = run / "run.json"
        if not run_info.is_file():
            raise FileNotFoundError(f"{run} is not a finished training run: {run_info} is missing")
        best = OmegaConf.load(run_info).get("best_checkpoint")
        if not best:
            raise FileNotFoundError(f"{run_info} names no best checkpoint (was checkpointing disabled?)")
        checkpoint = run / best
        if not checkpoint.is_file():
            raise FileNotFoundError(f"best checkpoint named in {run_info} does not exist: {checkpoint}")
    else:
        raise ValueError("evaluate.py needs run_dir=<training run directory> or ckpt_path=<checkpoint file>")
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"the run's config is missing: {run / 'config.yaml'} (expected beside checkpoints/)")
    return checkpoint, run
