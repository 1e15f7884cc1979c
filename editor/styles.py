"""The style table: object id -> cluster index or explicit feature vector.

Objects without an entry get NVIDIA's default cluster
(:func:`p2phd.models.inputs.default_styles.default_cluster`) when the model is applied.
Every change is reported to a listener (the document), which makes it undoable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.models.inputs.default_styles import default_cluster
from p2phd.models.labels import class_of

Style = int | np.ndarray
#: listener(object_id, old, new); ``None`` means "no explicit style".
StyleListener = Callable[[int, "Style | None", "Style | None"], None]
JSON_SCHEMA = 1
MAX_CLUSTERS = 2**20  # far above any model's clusters per class
MAX_OBJECT_ID = 65535  # instance maps are 16-bit PNGs


def _check_id(object_id: int) -> int:
    try:
        oid = int(object_id)
    except (TypeError, ValueError, OverflowError):
        raise DocumentError(f"an object id is an int, got {object_id!r}") from None
    if not 0 <= oid <= MAX_OBJECT_ID:
        raise DocumentError(f"object ids are in 0..{MAX_OBJECT_ID}, got {oid}")
    return oid


def normalize_style(style: Style | list | tuple) -> Style:
    """A cluster index (int >= 0) or a finite 1-D float32 vector, checked."""
    if isinstance(style, (bool, np.bool_)):
        raise DocumentError("a style is a cluster index or a feature vector, not a bool")
    if isinstance(style, (int, np.integer)):
        if not 0 <= int(style) < MAX_CLUSTERS:
            raise DocumentError(f"a cluster index must be in 0..{MAX_CLUSTERS - 1}, got {int(style)}")
        return int(style)
    vec = np.array(style, dtype=np.float32)
    if vec.ndim != 1 or vec.size == 0:
        raise DocumentError(f"a style vector must be 1-D and non-empty, got shape {vec.shape}")
    if not np.isfinite(vec).all():
        raise DocumentError("a style vector must be finite (no NaN or inf)")
    return vec


def styles_equal(a: Style | None, b: Style | None) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, np.ndarray) != isinstance(b, np.ndarray):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return a == b


class StyleTable:
    def __init__(self, entries: Mapping[int, Style] | None = None) -> None:
        self._entries: dict[int, Style] = {}
        self._listener: StyleListener | None = None
        for oid, style in (entries or {}).items():
            self._entries[_check_id(oid)] = normalize_style(style)

    # -- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._entries

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._entries))

    def get(self, object_id: int) -> Style | None:
        """The explicit style of an object (a copy), or ``None`` when it follows the default rule."""
        style = self._entries.get(int(object_id))
        return style.copy() if isinstance(style, np.ndarray) else style

    def effective(self, object_id: int, k: int) -> Style:
        """The explicit style, else the default cluster for a class with ``k`` clusters."""
        style = self.get(object_id)
        return default_cluster(object_id, k) if style is None else style

    def as_mapping(self) -> dict[int, Style]:
        """``{object_id: int | np.ndarray}``, as :func:`p2phd.models.inputs.network_input.feature_map` takes it."""
        return {oid: (s.copy() if isinstance(s, np.ndarray) else s) for oid, s in self._entries.items()}

    # -- editing (each call reports one change to the listener) ---------------------------------
    def set_style(self, object_id: int, cluster: int) -> None:
        if not isinstance(cluster, (int, np.integer)) or isinstance(cluster, (bool, np.bool_)):
            raise DocumentError(f"a cluster index is an int, got {type(cluster).__name__}")
        self._set(object_id, normalize_style(cluster))

    def set_vector(self, object_id: int, vector: np.ndarray | list[float]) -> None:
        self._set(object_id, normalize_style(np.asarray(vector, dtype=np.float32)))

    def copy_style(self, source_id: int, target_id: int) -> None:
        """Give ``target_id`` the explicit style of ``source_id`` (or none, if it has none)."""
        self._set(target_id, self.get(source_id))

    def interpolate(self, object_id: int, a: int, b: int, t: float, clusters: Mapping[int, np.ndarray]) -> np.ndarray:
        """Store ``(1-t)*centre[a] + t*centre[b]`` of the object's class; returns the vector."""
        if not 0.0 <= float(t) <= 1.0:
            raise DocumentError(f"interpolation t must be in [0, 1], got {t}")
        cls = class_of(object_id)
        centres = clusters.get(cls)
        if centres is None or len(centres) == 0:
            raise DocumentError(f"the model has no clusters for class {cls}")
        centres = np.asarray(centres, dtype=np.float32)
        for index in (a, b):
            if not 0 <= int(index) < len(centres):
                raise DocumentError(f"cluster {index} does not exist (class {cls} has {len(centres)})")
        vec = ((1.0 - float(t)) * centres[int(a)] + float(t) * centres[int(b)]).astype(np.float32)
        self._set(object_id, normalize_style(vec))
        return vec

    def randomize(self, object_id: int, k: int, seed: int | None = None) -> int:
        """Pick one of ``k`` clusters at random (reproducible with ``seed``); returns it."""
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise DocumentError(f"the number of clusters is an int, got {type(k).__name__}")
        if not 0 < int(k) <= MAX_CLUSTERS:
            raise DocumentError(f"the number of clusters must be in 1..{MAX_CLUSTERS}, got {k}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise DocumentError(f"a random seed is an int >= 0, got {seed!r}")
        cluster = int(np.random.default_rng(seed).integers(int(k)))
        self._set(object_id, cluster)
        return cluster

    def set(self, object_id: int, style: Style | None) -> None:
        """Set a cluster index or feature vector (checked), or ``None`` for the default rule."""
        self._set(object_id, None if style is None else normalize_style(style))

    def clear(self, object_id: int) -> None:
        """Back to the default rule."""
        self._set(object_id, None)

    def listen(self, listener: StyleListener | None) -> None:
        """Report every change to ``listener(object_id, old, new)`` (the document records it for undo)."""
        self._listener = listener

    def restore(self, object_id: int, style: Style | None) -> None:
        """Write without telling the listener (undo, redo and rollback use it)."""
        if style is None:
            self._entries.pop(int(object_id), None)
        else:
            self._entries[int(object_id)] = style.copy() if isinstance(style, np.ndarray) else style

    # -- serialisation ----------------------------------------------------------------------------
    def to_json(self) -> dict:
        objects = []
        for oid in self:
            style = self._entries[oid]
            if isinstance(style, np.ndarray):
                objects.append({"id": oid, "vector": [float(v) for v in style]})
            else:
                objects.append({"id": oid, "cluster": int(style)})
        return {"schema": JSON_SCHEMA, "objects": objects}

    @classmethod
    def from_json(cls, data: object) -> StyleTable:
        if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
            raise DocumentError("styles.json must be an object with an 'objects' list")
        if data.get("schema") != JSON_SCHEMA:
            raise DocumentError(f"styles.json schema {data.get('schema')!r} is not supported (expected {JSON_SCHEMA})")
        entries: dict[int, Style] = {}
        for item in data["objects"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                raise DocumentError(f"bad style entry {item!r}")
            if "cluster" in item and isinstance(item["cluster"], int):
                entries[item["id"]] = item["cluster"]
            elif "vector" in item and isinstance(item["vector"], list):
                entries[item["id"]] = np.asarray(item["vector"], dtype=np.float32)
            else:
                raise DocumentError(f"style entry {item['id']} needs an int 'cluster' or a list 'vector'")
        return cls(entries)

    # -- internals --------------------------------------------------------------------------------
    def _set(self, object_id: int, style: Style | None) -> None:
        oid = _check_id(object_id)
        old = self._entries.get(oid)
        if styles_equal(old, style):
            return
        self.restore(oid, style)
        if self._listener is not None:
            self._listener(oid, old, style)
