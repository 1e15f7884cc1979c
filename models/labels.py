"""The Cityscapes label table, the one place where ids, names, colours and thing/stuff live.

Values follow ``cityscapesscripts.helpers.labels``. ``license plate`` (id -1) is left out:
it never appears in ``*_labelIds.png``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Label:
    name: str
    id: int
    category: str
    has_instances: bool
    color: tuple[int, int, int]


# fmt: off
LABELS: tuple[Label, ...] = (
    Label("unlabeled",            0, "void",         False, (0, 0, 0)),
    Label("ego vehicle",          1, "void",         False, (0, 0, 0)),
    Label("rectification border", 2, "void",         False, (0, 0, 0)),
    Label("out of roi",           3, "void",         False, (0, 0, 0)),
    Label("static",               4, "void",         False, (0, 0, 0)),
    Label("dynamic",              5, "void",         False, (111, 74, 0)),
    Label("ground",               6, "void",         False, (81, 0, 81)),
    Label("road",                 7, "flat",         False, (128, 64, 128)),
    Label("sidewalk",             8, "flat",         False, (244, 35, 232)),
    Label("parking",              9, "flat",         False, (250, 170, 160)),
    Label("rail track",          10, "flat",         False, (230, 150, 140)),
    Label("building",            11, "construction", False, (70, 70, 70)),
    Label("wall",                12, "construction", False, (102, 102, 156)),
    Label("fence",               13, "construction", False, (190, 153, 153)),
    Label("guard rail",          14, "construction", False, (180, 165, 180)),
    Label("bridge",              15, "construction", False, (150, 100, 100)),
    Label("tunnel",              16, "construction", False, (150, 120, 90)),
    Label("pole",                17, "object",       False, (153, 153, 153)),
    Label("polegroup",           18, "object",       False, (153, 153, 153)),
    Label("traffic light",       19, "object",       False, (250, 170, 30)),
    Label("traffic sign",        20, "object",       False, (220, 220, 0)),
    Label("vegetation",          21, "nature",       False, (107, 142, 35)),
    Label("terrain",             22, "nature",       False, (152, 251, 152)),
    Label("sky",                 23, "sky",          False, (70, 130, 180)),
    Label("person",              24, "human",        True,  (220, 20, 60)),
    Label("rider",               25, "human",        True,  (255, 0, 0)),
    Label("car",                 26, "vehicle",      True,  (0, 0, 142)),
    Label("truck",               27, "vehicle",      True,  (0, 0, 70)),
    Label("bus",                 28, "vehicle",      True,  (0, 60, 100)),
    Label("caravan",             29, "vehicle",      True,  (0, 0, 90)),
    Label("trailer",             30, "vehicle",      True,  (0, 0, 110)),
    Label("train",               31, "vehicle",      True,  (0, 80, 100)),
    Label("motorcycle",          32, "vehicle",      True,  (0, 0, 230)),
    Label("bicycle",             33, "vehicle",      True,  (119, 11, 32)),
)
# fmt: on

#: NVIDIA's ``--label_nc`` for Cityscapes: ids 0..34 get a one-hot channel (34 is unused).
LABEL_NC = 35

BY_ID: dict[int, Label] = {lab.id: lab for lab in LABELS}
BY_NAME: dict[str, Label] = {lab.name: lab for lab in LABELS}
THING_IDS: frozenset[int] = frozenset(lab.id for lab in LABELS if lab.has_instances)

#: id -> RGB, for every uint8 value (unknown ids are drawn magenta so they stand out).
PALETTE = np.full((256, 3), (255, 0, 255), dtype=np.uint8)
for _lab in LABELS:
    PALETTE[_lab.id] = _lab.color

# Several void classes share black and pole/polegroup share grey; a colour maps back to the
# lowest id that has it, as cityscapesscripts' color2label does.
COLOR_TO_ID: dict[tuple[int, int, int], int] = {}
for _lab in LABELS:
    COLOR_TO_ID.setdefault(_lab.color, _lab.id)


def is_thing(label_id: int) -> bool:
    return int(label_id) in THING_IDS


def class_of(object_id: int) -> int:
    """The class of an instance-map value: ``class*1000+n`` for things, the class id otherwise."""
    object_id = int(object_id)
    return object_id if object_id < 1000 else object_id // 1000


def colorize(label: np.ndarray) -> np.ndarray:
    """uint8 HxW ids -> uint8 HxWx3 RGB in the official palette."""
    return PALETTE[label]


def ids_from_colors(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 RGB in the official palette -> uint8 HxW ids.

    Raises ``ValueError`` listing the colours that are not in the palette.
    """
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an RGB image, got an array of shape {rgb.shape}")
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colors, inverse = np.unique(packed.ravel(), return_inverse=True)
    lut = np.empty(len(colors), dtype=np.uint8)
    unknown = []
    for i, c in enumerate(colors):
        key = (int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255)
        if key in COLOR_TO_ID:
            lut[i] = COLOR_TO_ID[key]
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(str(u) for u in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise ValueError(f"colours not in the Cityscapes palette: {shown}{more}")
    return lut[inverse].reshape(packed.shape)
