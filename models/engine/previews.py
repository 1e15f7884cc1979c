"""Style previews (every cluster of one object, rendered as a batch of crops) and appearance transfer.

With a local-enhancer model the crops reuse the cached coarse features and instance-norm statistics
of the last full frame, so only the last enhancer runs, once, on a batch of k crops. A global-only
model runs its whole generator on the batch of crops (with their own statistics).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from p2phd.models.engine import incremental
from p2phd.models.engine.request import EngineRequest, Rect
from p2phd.models.errors import CheckpointError, InputMapError
from p2phd.models.labels import class_of
from p2phd.models.mapfiles.to_image import to_uint8_image

GLOBAL_CONTEXT = 64  # pixels of context around the object for a global-only generator


def object_box(objects: np.ndarray, object_id: int) -> Rect:
    ys, xs = np.nonzero(objects == object_id)
    if len(ys) == 0:
        raise InputMapError(f"object {object_id} is not in the instance map")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@torch.inference_mode()
def style_previews(
    engine, request: EngineRequest, object_id: int, indices: Sequence[int] | None = None
) -> tuple[Rect, list[np.ndarray]]:
    """(rectangle of the frame shown, one uint8 crop per cluster of the object's class), in ``indices`` order."""
    cfg = engine.config
    if not cfg.instance_feat:
        raise InputMapError("style previews need an instance-feature model; this one has no feature clusters")
    centres = engine.bundle.clusters.get(class_of(object_id))
    if centres is None or len(centres) == 0:
        raise InputMapError(f"class {class_of(object_id)} of object {object_id} has no style clusters")
    indices = list(range(len(centres))) if indices is None else [int(i) for i in indices]
    if any(not 0 <= i < len(centres) for i in indices):
        raise InputMapError(f"cluster indices {indices} out of range (class has {len(centres)})")
    objects = request.instance if request.instance is not None else request.label.astype(np.int32)
    box = object_box(objects, object_id)
    w, h = request.size
    if engine.local:
        engine.prepare_crops(request)
        shown, crop = incremental.plan_crop(box, engine.radius, w, h, engine.crop_grid)
    else:
        base = cfg.size_multiple
        shown = crop = incremental.expand(box, GLOBAL_CONTEXT, w, h, base)
    batch = engine.encode(request, crop).repeat(len(indices), 1, 1, 1)
    offset = cfg.label_nc + (0 if cfg.no_instance else 1)
    mask = torch.from_numpy(objects[crop[1] : crop[3], crop[0] : crop[2]] == object_id).to(batch.device)
    vectors = torch.as_tensor(np.asarray(centres)[indices], dtype=batch.dtype, device=batch.device)
    feats = batch[:, offset : offset + cfg.feat_num]
    feats.copy_(torch.where(mask, vectors[:, :, None, None], feats))
    out = engine.enhance_crops(batch, crop) if engine.local else engine.generate(batch)
    x0, y0, x1, y1 = shown
    out = out[:, :, y0 - crop[1] : y1 - crop[1], x0 - crop[0] : x1 - crop[0]]
    return shown, [to_uint8_image(image) for image in out]


@torch.inference_mode()
def encode_appearance(
    engine, photo: np.ndarray, label: np.ndarray, instance: np.ndarray | None = None
) -> dict[int, np.ndarray]:
    """E on a user photo with its own maps -> {object id: feat_num vector} to use as styles."""
    E = engine.bundle.E
    if E is None:
        raise CheckpointError("this checkpoint has no feature encoder E (E.safetensors)")
    objects = instance if instance is not None else label.astype(np.int32)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise InputMapError(f"photo must be H x W x 3 uint8, got {photo.shape} {photo.dtype}")
    if photo.shape[:2] != objects.shape:
        raise InputMapError(
            f"photo is {photo.shape[1]}x{photo.shape[0]}, its maps {objects.shape[1]}x{objects.shape[0]}"
        )
    base = 2**engine.config.n_downsample_E
    if objects.shape[0] % base or objects.shape[1] % base:
        raise InputMapError(f"photo size must be a multiple of {base} for the encoder")
    device = next(E.parameters()).device
    image = torch.from_numpy(np.ascontiguousarray(photo)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    inst = torch.from_numpy(np.ascontiguousarray(objects, dtype=np.int32))[None, None].to(device)
    feat = E(image, inst)[0].float().cpu().numpy()
    ids, first = np.unique(objects.ravel(), return_index=True)
    ys, xs = np.unravel_index(first, objects.shape)
    return {int(i): feat[:, y, x].copy() for i, y, x in zip(ids, ys, xs)}
