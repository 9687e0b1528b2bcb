"""Parameter counts of models and of the objects that hold them (trackers and their appearance networks)."""

from __future__ import annotations

from torch import nn


def count_parameters(obj: object, depth: int = 3) -> int:
    """The number of parameters of the torch modules ``obj`` is or holds: ``obj`` itself when it is an
    ``nn.Module``, else the modules among its attributes, their attributes' and so on ``depth`` levels down (a
    tracker's appearance encoder's network); a parameter shared by several modules counts once, an object holding
    no module has 0."""
    modules: dict[int, nn.Module] = {}

    def visit(item: object, levels: int) -> None:
        if isinstance(item, nn.Module):
            modules[id(item)] = item
        elif levels > 0:
            for value in getattr(item, "__dict__", {}).values():
                visit(value, levels - 1)

    visit(obj, depth)
    parameters = {id(p): p for module in modules.values() for p in module.parameters()}
    return sum(p.numel() for p in parameters.values())
