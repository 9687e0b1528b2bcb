"""Errors raised by dataset readers: each message names the offending path and what was expected."""


class DatasetLayoutError(FileNotFoundError):
    """A dataset root, folder or file is missing, or the folders do not follow the released layout."""


class DatasetFormatError(ValueError):
    """A file exists but its content is wrong: unreadable image, wrong mode (grey vs RGB), label out of range,
    image/mask size mismatch, malformed annotation line."""


def root_hint(folder: str) -> str:
    """The line closing every expected-layout message: how ``data.root`` (the dataset's own folder as released, named
    ``folder``) is set, and where it is looked for by default."""
    return (
        f"set data.root=/path/to/{folder}, or put {folder}/ under $VISIONBENCH_DATA (default ./datasets); "
        "see datasets/README.md"
    )
