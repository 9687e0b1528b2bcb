"""ADE20K (SceneParsing / ADEChallengeData2016) class names and a visualisation palette.

``CLASS_NAMES[i]`` is the name of training class ``i``, i.e. of raw annotation value ``i + 1`` (the released
PNGs store 0 = unlabeled and 1..150 = classes; with ``reduce_zero_label`` the dataset maps value ``k`` to
class ``k - 1`` and 0 to the ignore index 255).

Names: the first synonym of each entry of the benchmark's ``objectInfo150`` list (CSAILVision/sceneparsing,
``objectInfo150.txt``, where synonyms are separated by commas), which is also the short name
mmsegmentation reports. The released ``objectInfo150.csv`` writes both the spaces inside a name and the
separators between synonyms as ``;`` (``coffee;table;cocktail;table``), so multi-word names
(``coffee table``, ``chest of drawers``) are the CSV's leading tokens joined by spaces; the test suite checks
that against the CSV fixture. One name differs from mmsegmentation's list: entry 90 is ``television``
(its first synonym) where mmsegmentation writes ``television receiver``.

Palette: not a third-party table but a deterministic rule, see :func:`make_palette`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "PALETTE", "make_palette"]

CLASS_NAMES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree",  # 1-5
    "ceiling", "road", "bed", "windowpane", "grass",  # 6-10
    "cabinet", "sidewalk", "person", "earth", "door",  # 11-15
    "table", "mountain", "plant", "curtain", "chair",  # 16-20
    "car", "water", "painting", "sofa", "shelf",  # 21-25
    "house", "sea", "mirror", "rug", "field",  # 26-30
    "armchair", "seat", "fence", "desk", "rock",  # 31-35
    "wardrobe", "lamp", "bathtub", "railing", "cushion",  # 36-40
    "base", "box", "column", "signboard", "chest of drawers",  # 41-45
    "counter", "sand", "sink", "skyscraper", "fireplace",  # 46-50
    "refrigerator", "grandstand", "path", "stairs", "runway",  # 51-55
    "case", "pool table", "pillow", "screen door", "stairway",  # 56-60
    "river", "bridge", "bookcase", "blind", "coffee table",  # 61-65
    "toilet", "flower", "book", "hill", "bench",  # 66-70
    "countertop", "stove", "palm", "kitchen island", "computer",  # 71-75
    "swivel chair", "boat", "bar", "arcade machine", "hovel",  # 76-80
    "bus", "towel", "light", "truck", "tower",  # 81-85
    "chandelier", "awning", "streetlight", "booth", "television",  # 86-90
    "airplane", "dirt track", "apparel", "pole", "land",  # 91-95
    "bannister", "escalator", "ottoman", "bottle", "buffet",  # 96-100
    "poster", "stage", "van", "ship", "fountain",  # 101-105
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool",  # 106-110
    "stool", "barrel", "basket", "waterfall", "tent",  # 111-115
    "bag", "minibike", "cradle", "oven", "ball",  # 116-120
    "food", "step", "tank", "trade name", "microwave",  # 121-125
    "pot", "animal", "bicycle", "lake", "dishwasher",  # 126-130
    "screen", "blanket", "sculpture", "hood", "sconce",  # 131-135
    "vase", "traffic light", "tray", "ashcan", "fan",  # 136-140
    "pier", "crt screen", "plate", "monitor", "bulletin board",  # 141-145
    "shower", "radiator", "glass", "clock", "flag",  # 146-150
)  # fmt: skip
"""Short name of training class ``i`` (raw annotation value ``i + 1``)."""

NUM_CLASSES: int = len(CLASS_NAMES)

# Grid levels of the palette rule: 6 red x 5 green x 5 blue = 150 colours, none black (0 is kept for
# "unlabelled / ignored" in visualisations), adjacent grid colours at least 47 apart per channel.
_RED_LEVELS = (20, 67, 114, 161, 208, 255)
_GREEN_LEVELS = (20, 79, 138, 196, 255)
_BLUE_LEVELS = (20, 79, 138, 196, 255)
_SCATTER = 97  # coprime with 150: consecutive classes land far apart on the grid


def make_palette(num_colours: int = 150) -> np.ndarray:
    """The palette rule: ``(num_colours, 3)`` uint8 RGB, all distinct (``num_colours <= 150``).

    The 150 cells of a 6 x 5 x 5 RGB grid (levels ``_RED_LEVELS`` x ``_GREEN_LEVELS`` x ``_BLUE_LEVELS``) are
    numbered ``cell = 25 * r + 5 * g + b``; class ``i`` gets cell ``97 * (i + 1) mod 150``. 97 is coprime with
    150, so the map is a permutation (every colour distinct); classes with neighbouring indices (often
    related: floor/tree, sofa/shelf) get visibly different colours, and the darkest cell, (20, 20, 20), goes
    to the last and rarest class rather than to ``wall``.
    """
    cells = len(_RED_LEVELS) * len(_GREEN_LEVELS) * len(_BLUE_LEVELS)
    if not 0 < num_colours <= cells:
        raise ValueError(f"the palette rule yields 1..{cells} colours, asked for {num_colours}")
    palette = np.empty((num_colours, 3), np.uint8)
    for i in range(num_colours):
        cell = (_SCATTER * (i + 1)) % cells
        r, rest = divmod(cell, len(_GREEN_LEVELS) * len(_BLUE_LEVELS))
        g, b = divmod(rest, len(_BLUE_LEVELS))
        palette[i] = (_RED_LEVELS[r], _GREEN_LEVELS[g], _BLUE_LEVELS[b])
    return palette


PALETTE: np.ndarray = make_palette(NUM_CLASSES)
"""Visualisation colour of each class, ``(150, 3)`` uint8 RGB (see :func:`make_palette`)."""
