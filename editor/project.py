"""``.p2phd`` project files: a zip with the maps, the style table, the model id and a thumbnail.

Layout (schema_version 1)::

    meta.json       {"schema_version": 1, "app": ..., "width": W, "height": H, "model_id": ..., "extra": {}}
    label.png       8-bit Cityscapes ids
    instance.png    16-bit instance ids
    styles.json     {"schema": 1, "objects": [{"id": 26001, "cluster": 3} | {"id": ..., "vector": [...]}]}
    thumbnail.png   the label map in Cityscapes colours, at most 256 pixels wide
    history.bin     (recovery files only) the last undo/redo steps, see :mod:`p2phd.editor.history_io`

Files are written atomically; readers refuse newer schema versions instead of guessing. Reading is
safe on damaged or hostile files: every member is checked before it is read (stored or deflated,
not encrypted, a declared size no larger than the document size implies, a PNG header matching
meta.json) and every failure, whatever its cause (bad CRC, broken deflate stream, nested JSON), is
one :class:`DocumentError`.
"""

from __future__ import annotations

import io as _io
import json
import struct
import zipfile
import zlib
from typing import TYPE_CHECKING

import cv2
import numpy as np
from p2phd.editor.errors import DocumentError, as_document_errors
from p2phd.editor.styles import StyleTable
from p2phd.models.labels import colorize
from p2phd.models.mapfiles.atomic import PathLike, atomic_write
from p2phd.models.mapfiles.limits import MAX_SIDE  # the shared limit of map files and documents
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
#: Caps on members whose size does not follow from the document size.
META_MAX_BYTES = 64 * 2**10
STYLES_MAX_BYTES = 32 * 2**20
THUMBNAIL_MAX_BYTES = 4 * 2**20
_PNG_SLACK = 64 * 2**10  # PNG headers, filter bytes and deflate's worst-case overhead
_SUPPORTED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def thumbnail(label: np.ndarray, width: int = THUMBNAIL_WIDTH) -> np.ndarray:
    """The label map in colours, scaled down to ``width`` pixels (RGB uint8)."""
    h, w = label.shape
    scale = min(1.0, width / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return colorize(resize_nearest(label, size))


def project_bytes(
    label: np.ndarray,
    inst: np.ndarray,
    styles: StyleTable,
    model_id: str | None = None,
    extra: dict | None = None,
    members: dict[str, bytes] | None = None,
) -> bytes:
    """The project file's bytes; ``members`` adds further zip members (stored as given)."""
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
        for name, data in (members or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def save_project(doc: DocumentCore, path: PathLike, extra: dict | None = None) -> None:
    data = project_bytes(doc.label, doc.instance, doc.styles, doc.model_id, extra)
    atomic_write(path, data)


def read_meta(path: PathLike) -> dict:
    """The ``meta.json`` of a project (cheap: no maps decoded), checked."""
    with _open_zip(path) as zf:
        return _meta(zf, path)


def read_project(path: PathLike) -> tuple[np.ndarray, np.ndarray, StyleTable, dict]:
    """(label, instance, styles, meta) of a project, checked; ``Document.open_project`` builds the document.

    ``meta["model_id"]`` is a string or None."""
    with _open_zip(path) as zf:
        meta = _meta(zf, path)
        w, h = meta["width"], meta["height"]
        label_data = _read(zf, "label.png", _png_cap(w, h, 1), path)
        inst_data = _read(zf, "instance.png", _png_cap(w, h, 4), path)
        styles_json = _read(zf, "styles.json", STYLES_MAX_BYTES, path)
    for name, data in (("label.png", label_data), ("instance.png", inst_data)):
        if _png_size(data, name, path) != (w, h):
            pw, ph = _png_size(data, name, path)
            raise DocumentError(f"{path}: {name} is {pw}x{ph}, meta.json says {w}x{h}")
    with as_document_errors():
        label = read_label(label_data)
        inst = read_instance(inst_data)
    styles = read_styles(styles_json, path)
    if label.shape != (h, w):
        raise DocumentError(f"{path}: label.png is {label.shape[1]}x{label.shape[0]}, meta.json says {w}x{h}")
    if inst.shape != (h, w):
        raise DocumentError(f"{path}: instance.png is {inst.shape[1]}x{inst.shape[0]}, meta.json says {w}x{h}")
    meta["model_id"] = meta.get("model_id") if isinstance(meta.get("model_id"), str) else None
    return label, inst, styles, meta


def read_member(path: PathLike, name: str, max_bytes: int) -> bytes | None:
    """One further member of a project (e.g. ``history.bin``), None when absent; checked like the maps."""
    with _open_zip(path) as zf:
        _meta(zf, path)
        if name not in zf.namelist():
            return None
        return _read(zf, name, max_bytes, path)


def read_thumbnail(path: PathLike) -> np.ndarray:
    """The stored thumbnail (RGB uint8), checked: at most 1024 pixels on each side."""
    with _open_zip(path) as zf:
        _meta(zf, path)
        if "thumbnail.png" not in zf.namelist():
            raise DocumentError(f"{path} has no thumbnail")
        data = _read(zf, "thumbnail.png", THUMBNAIL_MAX_BYTES, path)
    w, h = _png_size(data, "thumbnail.png", path)
    if w > 1024 or h > 1024:
        raise DocumentError(f"{path}: thumbnail.png is {w}x{h}, larger than a thumbnail")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DocumentError(f"{path}: thumbnail.png is not a readable PNG")
    return np.ascontiguousarray(image[..., ::-1])


def read_styles(data: bytes, path: PathLike = "styles.json") -> StyleTable:
    """A ``styles.json`` member -> StyleTable; any malformed entry is a DocumentError."""
    parsed = _json(data, "styles.json", path)
    try:
        return StyleTable.from_json(parsed)
    except DocumentError as exc:
        raise DocumentError(f"{path}: {str(exc)[:200]}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise DocumentError(f"{path}: styles.json has a malformed entry ({str(exc)[:200]})") from None


def _open_zip(path: PathLike) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DocumentError(f"project {path} does not exist") from None
    except IsADirectoryError:
        raise DocumentError(f"{path} is a folder, not a {SUFFIX} project") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise DocumentError(f"{path} is not a {SUFFIX} project (not a readable zip: {exc})") from None
    if len(zf.infolist()) > 64:
        zf.close()
        raise DocumentError(f"{path} is not a {SUFFIX} project: {len(zf.infolist())} members")
    return zf


def _png_cap(width: int, height: int, bytes_per_pixel: int) -> int:
    """The largest a PNG of these maps can honestly be: raw pixels, filter bytes and some slack."""
    return height * (width * bytes_per_pixel + 1) * 101 // 100 + _PNG_SLACK


def _read(zf: zipfile.ZipFile, name: str, max_bytes: int, path: PathLike) -> bytes:
    """A member's bytes; its declared size is checked before anything is decompressed."""
    info = zf.getinfo(name)
    if info.flag_bits & 0x1:
        raise DocumentError(f"{path}: {name} is encrypted (projects never are)")
    if info.compress_type not in _SUPPORTED_COMPRESSION:
        raise DocumentError(f"{path}: {name} uses compression method {info.compress_type} (only stored or deflate)")
    if info.file_size > max_bytes:
        raise DocumentError(
            f"{path}: {name} declares {info.file_size} bytes, more than the {max_bytes} this project can need"
        )
    try:
        with zf.open(info) as fh:  # in small pieces: a lying size must not inflate a bomb in one go
            parts, total = [], 0
            while total <= info.file_size:
                part = fh.read(2**16)
                if not part:
                    break
                parts.append(part)
                total += len(part)
            data = b"".join(parts)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise DocumentError(f"{path}: {name} is damaged ({exc})") from None
    if len(data) > max_bytes:
        raise DocumentError(f"{path}: {name} is larger than the {max_bytes} bytes this project can need")
    return data


def _png_size(data: bytes, name: str, path: PathLike) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, before anything is decoded."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        what = {"label.png": "label map", "instance.png": "instance map"}.get(name, "image")
        raise DocumentError(f"{path}: cannot read {what} {name}: not a PNG file")
    return struct.unpack(">II", data[16:24])


def _json(data: bytes, name: str, path: PathLike) -> object:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{path}: {name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise DocumentError(f"{path}: {name} is nested too deeply to be a project file") from None


def _meta(zf: zipfile.ZipFile, path: PathLike) -> dict:
    names = set(zf.namelist())
    missing = [n for n in _REQUIRED if n not in names]
    if missing:
        raise DocumentError(f"{path} is not a complete {SUFFIX} project: missing {', '.join(missing)}")
    meta = _json(_read(zf, "meta.json", META_MAX_BYTES, path), "meta.json", path)
    version = meta.get("schema_version") if isinstance(meta, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise DocumentError(f"{path}: meta.json has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise DocumentError(
            f"{path} was written by a newer version (schema {version}); "
            f"this version reads schema {SCHEMA_VERSION} and older"
        )
    if not all(type(meta.get(k)) is int and 0 < meta[k] <= MAX_SIDE for k in ("width", "height")):
        raise DocumentError(f"{path}: meta.json needs integer width and height in 1..{MAX_SIDE}")
    return meta
