"""Read NVIDIA's ``features_clustered_*.npy`` without executing pickled code.

The file is ``np.save`` of a dict ``{class_id: (k, feat_num) centres}``: a 0-d object array whose
payload is a pickle. :class:`ArraysOnlyUnpickler` resolves only the few globals numpy needs to
rebuild arrays, dtypes and scalars, so a hostile file (``os.system``, ``eval``, ...) is refused
before anything runs.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format
from p2phd.models.errors import CheckpointError

_core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core to numpy._core
_MULTIARRAY = _core.multiarray

#: (module, name) -> object. Both numpy spellings, since files come from numpy 1 and 2.
_ALLOWED = {
    **{(mod, "_reconstruct"): _MULTIARRAY._reconstruct for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "scalar"): _MULTIARRAY.scalar for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(str, 'latin1'): pure data.
    ("_codecs", "encode"): __import__("codecs").encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something other than numpy arrays: refused before anything runs."""


class ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to load {module}.{name}: only numpy arrays are allowed") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("refusing persistent ids: only numpy arrays are allowed")


def safe_loads(payload: bytes):
    """Unpickle bytes that may only contain numpy arrays, dtypes, scalars and plain containers."""
    return ArraysOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()


def _read_npy_object(path: Path):
    with open(path, "rb") as fp:
        version = npy_format.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = npy_format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = npy_format.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        payload = fp.read()
    if dtype != np.dtype(object) or shape != ():
        raise ValueError(f"expected a pickled dict (0-d object array), found {dtype} array of shape {shape}")
    obj = safe_loads(payload)
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    return obj


def load_feature_clusters(path: str | Path) -> dict[int, np.ndarray]:
    """NVIDIA's ``features_clustered_*.npy`` -> ``{class_id: (k, feat_num) float32}``."""
    path = Path(path)
    try:
        obj = _read_npy_object(path)
    except UnsafePickleError as exc:
        raise CheckpointError(f"{path.name} is unsafe and was not loaded: {exc}") from None
    except FileNotFoundError:
        raise CheckpointError(f"feature clusters not found: {path}") from None
    except Exception as exc:  # truncated or corrupt: numpy and pickle raise many types
        raise CheckpointError(f"cannot read feature clusters {path.name}: {exc or exc.__class__.__name__}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path.name} holds a {type(obj).__name__}, expected a dict of cluster centres")
    clusters = {}
    for key, value in obj.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= int(key) < 256:
            raise CheckpointError(f"{path.name}: class key {key!r} is not a label id")
        if not isinstance(value, np.ndarray) or value.ndim != 2 or value.dtype.kind not in "fiu":
            raise CheckpointError(f"{path.name}: centres of class {key} must be a 2-D numeric array")
        clusters[int(key)] = value.astype(np.float32)
    widths = {v.shape[1] for v in clusters.values() if len(v)}
    if len(widths) > 1:
        raise CheckpointError(f"{path.name}: classes disagree on the feature size ({sorted(widths)})")
    return clusters
