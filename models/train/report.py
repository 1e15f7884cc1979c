"""The run's ``web/index.html``: label | synthesized | real grids and a loss plot, drawn with PIL."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import torch
from p2phd.models.labels import PALETTE
from p2phd.models.mapfiles.to_image import to_uint8_image
from PIL import Image, ImageDraw

PLOT_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def colour_labels(label: np.ndarray) -> np.ndarray:
    return PALETTE[np.clip(label, 0, 255).astype(np.uint8)]


def sample_row(label: torch.Tensor, fake: torch.Tensor, real: torch.Tensor | None) -> np.ndarray:
    parts = [colour_labels(label.squeeze(0).cpu().numpy()), to_uint8_image(fake)]
    if real is not None:
        parts.append(to_uint8_image(real))
    return np.concatenate(parts, axis=1)


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(records: list[dict], out: Path, size: tuple[int, int] = (720, 360)) -> None:
    """One polyline per loss against total_steps, with a legend; a blank plot before any data."""
    w, h = size
    margin = 40
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([margin, 10, w - 10, h - margin], outline="black")
    keys = sorted({k for r in records for k in r.get("losses", {})})
    if records and keys:
        xs = [r["total_steps"] for r in records]
        values = [r["losses"].get(k, np.nan) for r in records for k in keys]
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
        hi = hi if hi > lo else lo + 1

        def pos(x, y):
            return (
                margin + (x - x0) / (x1 - x0) * (w - 10 - margin),
                h - margin - (y - lo) / (hi - lo) * (h - margin - 10),
            )

        for i, key in enumerate(keys):
            colour = PLOT_COLOURS[i % len(PLOT_COLOURS)]
            points = [pos(r["total_steps"], r["losses"][key]) for r in records if key in r["losses"]]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            draw.text((margin + 8 + 110 * i, 14), key, fill=colour)
        draw.text((2, 10), f"{hi:.2f}", fill="black")
        draw.text((2, h - margin - 10), f"{lo:.2f}", fill="black")
        draw.text((margin, h - margin + 8), f"step {x0}", fill="black")
        draw.text((w - 110, h - margin + 8), f"step {x1}", fill="black")
    img.save(out)


def write_report(run_dir: Path, name: str, row: np.ndarray, epoch: int, total_steps: int, keep: int = 20) -> Path:
    """Save this display's grid, redraw the loss plot, rewrite index.html (newest first)."""
    web = run_dir / "web"
    (web / "images").mkdir(parents=True, exist_ok=True)
    tag = f"epoch{epoch:03d}_step{total_steps:08d}"
    Image.fromarray(row).save(web / "images" / f"{tag}.png")
    plot_losses(read_log(run_dir / "loss_log.jsonl"), web / "loss_plot.png")
    shots = sorted((web / "images").glob("*.png"), reverse=True)[:keep]
    items = "\n".join(
        f'<h3>{html.escape(p.stem)}</h3><img src="images/{html.escape(p.name)}" width="100%">' for p in shots
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='60'>"
        f"<title>{html.escape(name)}</title></head><body><h1>{html.escape(name)}</h1>"
        f"<p>label | synthesized | real</p><img src='loss_plot.png'>\n{items}</body></html>\n"
    )
    (web / "index.html").write_text(page)
    return web / "index.html"
