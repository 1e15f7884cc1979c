"""The default scene: a plausible Cityscapes-like street in perspective, built from simple shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from p2phd.editor.document import DEFAULT_HEIGHT, DEFAULT_WIDTH, Document
from p2phd.models.labels import BY_NAME

_ID = {
    name: BY_NAME[name].id
    for name in (
        "ego vehicle",
        "road",
        "sidewalk",
        "building",
        "pole",
        "traffic sign",
        "vegetation",
        "terrain",
        "sky",
        "car",
    )
}


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.label = np.full((height, width), _ID["sky"], np.uint8)
        self.inst = np.full((height, width), _ID["sky"], np.int32)

    def _apply(self, mask: np.ndarray, label: int, value: int | None) -> None:
        hit = mask.astype(bool)
        self.label[hit] = label
        self.inst[hit] = label if value is None else value

    def polygon(self, points: Sequence[tuple[float, float]], label: int, value: int | None = None) -> None:
        mask = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(mask, [np.rint(np.asarray(points)).astype(np.int32).reshape(-1, 1, 2)], 1)
        self._apply(mask, label, value)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, label: int) -> None:
        mask = np.zeros((self.h, self.w), np.uint8)
        cv2.ellipse(mask, (round(cx), round(cy)), (max(1, round(rx)), max(1, round(ry))), 0, 0, 360, 1, -1)
        self._apply(mask, label, None)

    def stamp(self, shape: np.ndarray, x0: int, y0: int, label: int, value: int) -> None:
        """Paste a boolean mask with its top-left corner at (x0, y0), clipped to the image."""
        h, w = shape.shape
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(self.w, x0 + w), min(self.h, y0 + h)
        if xa >= xb or ya >= yb:
            return
        crop = shape[ya - y0 : yb - y0, xa - x0 : xb - x0]
        self.label[ya:yb, xa:xb][crop] = label
        self.inst[ya:yb, xa:xb][crop] = value


def _car_shape(width: int) -> np.ndarray:
    """A car seen from behind: a body with rounded corners under a narrower cabin."""
    w, h = max(4, width), max(3, round(width * 0.8))
    mask = np.zeros((h, w), np.uint8)
    body_top = round(h * 0.45)
    r = max(1, w // 12)
    cv2.rectangle(mask, (r, body_top), (w - 1 - r, h - 1), 1, -1)
    cv2.rectangle(mask, (0, body_top + r), (w - 1, h - 1 - r), 1, -1)
    for cx, cy in ((r, body_top + r), (w - 1 - r, body_top + r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 1, -1)
    cabin = [(w * 0.08, body_top), (w * 0.92, body_top), (w * 0.78, h * 0.05), (w * 0.22, h * 0.05)]
    cv2.fillPoly(mask, [np.rint(np.asarray(cabin)).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def _library_masks(library: Mapping | None, label: int) -> list[np.ndarray]:
    """Masks of one class from an object library: ``{class_id: [mask | obj with .mask, ...]}``."""
    if not library:
        return []
    items = library.get(label) or []
    masks = [np.asarray(getattr(item, "mask", item)).astype(bool) for item in items]
    return [m for m in masks if m.ndim == 2 and m.any()]


def _fit_width(mask: np.ndarray, width: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8)
    scale = width / crop.shape[1]
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_NEAREST).astype(bool)


def new_from_template(
    width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT, seed: int = 0, library: Mapping | None = None
) -> Document:
    """A street: sky, buildings on both sides, sidewalks, a road to a vanishing point, trees, poles,
    traffic signs and a few cars (real masks from ``library`` when it has cars, drawn shapes otherwise)."""
    if width < 16 or height < 16:
        raise ValueError(f"a template needs at least 16x16 pixels, got {width}x{height}")
    rng = np.random.default_rng(seed)
    W, H = width, height
    c = _Canvas(W, H)
    vx, hz = W * rng.uniform(0.46, 0.54), H * rng.uniform(0.40, 0.45)
    # As in Cityscapes frames: the road fills the bottom of the image and the sidewalks are wedges
    # between the kerb and the building line.
    curb_l, curb_r = -W * 0.3, W * 1.3  # where the road edges would meet the bottom of the image
    wall_y = H * 0.68  # where the building line meets the image sides

    def on_line(x_end: float, y_end: float, d: float) -> tuple[float, float]:
        """Point at depth d (0 = vanishing point, 1 = image edge) on the line from the vanishing point."""
        return vx + (x_end - vx) * d, hz + (y_end - hz) * d

    # Buildings: facades between the building line and a roofline, heights varying per facade.
    for side, x_edge in ((-1, 0.0), (1, float(W))):
        d = 1.0
        while d > 0.04:
            d_next = max(0.03, d * rng.uniform(0.55, 0.8))
            roof = rng.uniform(0.6, 1.4) * H * 0.9
            xa, ya = on_line(x_edge, wall_y, d)
            xb, yb = on_line(x_edge, wall_y, d_next)
            c.polygon([(xa, ya), (xb, yb), (xb, yb - roof * d_next), (xa, ya - roof * d)], _ID["building"])
            d = d_next
        del side

    c.polygon([(vx, hz), (0, wall_y), (0, H), (curb_l, H)], _ID["sidewalk"])
    c.polygon([(vx, hz), (W, wall_y), (W, H), (curb_r, H)], _ID["sidewalk"])
    c.polygon([(vx - W * 0.004, hz), (vx + W * 0.004, hz), (curb_r, H), (curb_l, H)], _ID["road"])

    # Trees along the building line, terrain patches at their feet.
    for x_edge in (0.0, float(W)):
        for d in rng.uniform(0.15, 0.95, size=3):
            x, y = on_line(x_edge, wall_y, d)
            x += (W * 0.03 * d) * (1 if x_edge == 0 else -1)
            c.ellipse(x, y + H * 0.02 * d, W * 0.06 * d, H * 0.02 * d, _ID["terrain"])
            trunk = max(1.0, W * 0.005 * d)
            c.polygon(
                [(x - trunk, y), (x + trunk, y), (x + trunk, y - H * 0.28 * d), (x - trunk, y - H * 0.28 * d)],
                _ID["vegetation"],
            )
            c.ellipse(x, y - H * 0.4 * d, W * 0.1 * d, H * 0.22 * d, _ID["vegetation"])

    # Poles with traffic signs at the kerb.
    for x_edge in (curb_l - W * 0.03, curb_r + W * 0.03):
        for i, d in enumerate(sorted(rng.uniform(0.2, 0.9, size=2))):
            x, y = on_line(x_edge, H, d)
            half, tall = max(1.0, W * 0.004 * d), H * 0.55 * d
            c.polygon([(x - half, y), (x + half, y), (x + half, y - tall), (x - half, y - tall)], _ID["pole"])
            if i == 0:
                s = max(2.0, W * 0.014 * d)
                c.polygon(
                    [(x - s, y - tall - s), (x + s, y - tall - s), (x + s, y - tall + s), (x - s, y - tall + s)],
                    _ID["traffic sign"],
                )

    # Cars, far ones first so that near ones hide them.
    masks = _library_masks(library, _ID["car"])
    count = int(rng.integers(3, 5))
    depths = np.linspace(0.3, 0.85, count) + rng.uniform(-0.04, 0.04, size=count)
    first_lane = int(rng.integers(2))
    for n, d in enumerate(depths):
        lane = (-0.3, 0.1)[(n + first_lane) % 2] + rng.uniform(-0.04, 0.04)  # oncoming lane, our lane
        road_w = (curb_r - curb_l) * d + W * 0.008
        car_w = max(4, round(road_w * 0.16))
        x, y = on_line(W / 2 + lane * (curb_r - curb_l) / 2, H, d)
        shape = _fit_width(masks[int(rng.integers(len(masks)))], car_w) if masks else _car_shape(car_w)
        c.stamp(shape, round(x - shape.shape[1] / 2), round(y - shape.shape[0]), _ID["car"], _ID["car"] * 1000 + n)

    c.ellipse(W / 2, H * 1.08, W * 0.55, H * 0.12, _ID["ego vehicle"])
    return Document.from_arrays(c.label, c.inst, source="template")
