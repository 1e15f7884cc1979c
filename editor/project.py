"""``.p2phd`` project files: a zip with the maps, the style table, the model id and a thumbnail.

Layout (schema_version 1)::

    meta.json       {"schema_version": 1, "app": ..., "width": W, "height": H, "model_id": ..., "extra": {}}
    label.png       8-bit Cityscapes ids
    instance.png    16-bit instance ids
    styles.json     {"schema": 1, "objects": [{"id": 26001, "cluster": 3} | {"id": ..., "vector": [...]}]}
    thumbnail.png   the label map in Cityscapes colours, at most 256 pixels wide

Files are written atomically; readers refuse newer schema versions instead of guessing.
"""

from __future__ import annotations

import io as _io
import json
import zipfile
from typing import TYPE_CHECKING

import numpy as np
from p2phd.editor.errors import DocumentError, as_document_errors
from p2phd.editor.styles import StyleTable
from p2phd.models.labels import colorize
from p2phd.models.mapfiles.atomic import PathLike, atomic_write
from p2phd.models.mapfiles.reading import read_instance, read_label
from p2phd.models.mapfiles.resize import resize_nearest
from p2phd.models.mapfiles.writing import encode_png, instance_png, label_png

if TYPE_CHECKING:
    from p2phd.editor.core import DocumentCore

SCHEMA_VERSION = 1
SUFFIX = ".p2phd"
APP = "pix2pixhd-studio"
THUMBNAIL_WIDTH = 256
_REQUIRED = ("meta.json", "label.png", "instance.png", "styles.json")


def thumbnail(label: np.ndarray, width: int = THUMBNAIL_WIDTH) -> np.ndarray:
    """The label map in colours, scaled down to ``width`` pixels (RGB uint8)."""
    h, w = label.shape
    scale = min(1.0, width / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return colorize(resize_nearest(label, size))


def project_bytes(
    label: np.ndarray, inst: np.ndarray, styles: StyleTable, model_id: str | None = None, extra: dict | None = None
) -> bytes:
    meta = {
        "schema_version": SCHEMA_VERSION,
        "app": APP,
        "width": int(label.shape[1]),
        "height": int(label.shape[0]),
        "model_id": model_id,
        "extra": extra or {},
    }
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=1), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("styles.json", json.dumps(styles.to_json()), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("label.png", label_png(label))  # PNG is compressed already: stored
        zf.writestr("instance.png", instance_png(inst))
        zf.writestr("thumbnail.png", encode_png(thumbnail(label)))
    return buf.getvalue()


def save_project(doc: DocumentCore, path: PathLike, extra: dict | None = None) -> None:
    data = project_bytes(doc.label, doc.instance, doc.styles, doc.model_id, extra)
    atomic_write(path, data)


def read_meta(path: PathLike) -> dict:
    """The ``meta.json`` of a project (cheap: no maps decoded), checked."""
    with _open_zip(path) as zf:
        return _meta(zf, path)


def read_project(path: PathLike) -> tuple[np.ndarray, np.ndarray, StyleTable, dict]:
    """(label, instance, styles, meta) of a project, checked; ``Document.open_project`` builds the document."""
    with _open_zip(path) as zf:
        meta = _meta(zf, path)
        with as_document_errors():
            label = read_label(zf.read("label.png"))
            inst = read_instance(zf.read("instance.png"))
        try:
            styles = StyleTable.from_json(json.loads(zf.read("styles.json")))
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{path}: styles.json is not valid JSON ({exc})") from None
    if label.shape != (meta["height"], meta["width"]):
        raise DocumentError(
            f"{path}: label.png is {label.shape[1]}x{label.shape[0]}, meta.json says {meta['width']}x{meta['height']}"
        )
    return label, inst, styles, meta


def _open_zip(path: PathLike) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DocumentError(f"project {path} does not exist") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise DocumentError(f"{path} is not a {SUFFIX} project (not a readable zip: {exc})") from None


def _meta(zf: zipfile.ZipFile, path: PathLike) -> dict:
    names = set(zf.namelist())
    missing = [n for n in _REQUIRED if n not in names]
    if missing:
        raise DocumentError(f"{path} is not a complete {SUFFIX} project: missing {', '.join(missing)}")
    try:
        meta = json.loads(zf.read("meta.json"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{path}: meta.json is not valid JSON ({exc})") from None
    version = meta.get("schema_version") if isinstance(meta, dict) else None
    if not isinstance(version, int):
        raise DocumentError(f"{path}: meta.json has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise DocumentError(
            f"{path} was written by a newer version (schema {version}); "
            f"this version reads schema {SCHEMA_VERSION} and older"
        )
    if not all(isinstance(meta.get(k), int) and meta[k] > 0 for k in ("width", "height")):
        raise DocumentError(f"{path}: meta.json needs positive integer width and height")
    return meta
