"""Checks of label / instance maps: errors that make a map unusable, warnings the GUI can show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from p2phd.editor.errors import DocumentError
from p2phd.editor.objects import enclosed_small_objects, small_object_area
from p2phd.models.labels import BY_ID, LABEL_NC, THING_IDS
from p2phd.models.mapfiles.limits import MAX_INSTANCE_VALUE, MAX_SIDE

_THING_LUT = np.zeros(256, bool)
_THING_LUT[list(THING_IDS)] = True


@dataclass(frozen=True)
class Issue:
    severity: str  # "error" or "warning"
    message: str


def _listed(values: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def check_label(label: np.ndarray) -> list[Issue]:
    if label.ndim != 2:
        return [Issue("error", f"the label map must be single-channel (H x W), got shape {label.shape}")]
    if label.size == 0 or max(label.shape) > MAX_SIDE:
        return [Issue("error", f"the label map is {label.shape[1]}x{label.shape[0]}: sides must be 1..{MAX_SIDE}")]
    if label.dtype != np.uint8:
        return [Issue("error", f"the label map must be 8-bit (uint8), got {label.dtype}")]
    present = np.flatnonzero(np.bincount(label.ravel(), minlength=256))
    issues = []
    too_big = present[present >= LABEL_NC]
    if len(too_big):
        issues.append(Issue("error", f"label ids {_listed(too_big)} are not Cityscapes ids (must be < {LABEL_NC})"))
    unknown = [int(v) for v in present if v < LABEL_NC and int(v) not in BY_ID]
    if unknown:
        issues.append(Issue("warning", f"label ids {unknown} are unused by Cityscapes (no class has them)"))
    return issues


def check_instance(label: np.ndarray, inst: np.ndarray) -> list[Issue]:
    """Instance checks; assumes ``label`` passed :func:`check_label`."""
    if inst.ndim != 2:
        return [Issue("error", f"the instance map must be single-channel (H x W), got shape {inst.shape}")]
    if inst.shape != label.shape:
        return [
            Issue(
                "error",
                f"the instance map is {inst.shape[1]}x{inst.shape[0]}, the label map {label.shape[1]}x{label.shape[0]}",
            )
        ]
    if not np.issubdtype(inst.dtype, np.integer):
        return [Issue("error", f"the instance map must hold integers, got {inst.dtype}")]
    lo, hi = int(inst.min()), int(inst.max())
    if lo < 0 or hi > MAX_INSTANCE_VALUE:
        return [Issue("error", f"instance ids must be in 0..{MAX_INSTANCE_VALUE}, got {lo}..{hi}")]
    inst = inst.astype(np.int32, copy=False)
    cls = np.where(inst >= 1000, inst // 1000, inst)
    issues = []
    instances = np.unique(inst[inst >= 1000])
    inst_cls = instances // 1000
    bad_class = instances[inst_cls >= LABEL_NC]
    if len(bad_class):
        issues.append(Issue("error", f"instance ids {_listed(bad_class)} name classes >= {LABEL_NC}"))
    stuff = instances[(inst_cls < LABEL_NC) & ~_THING_LUT[np.minimum(inst_cls, 255)]]
    if len(stuff):
        names = sorted({BY_ID[int(c)].name for c in stuff // 1000 if int(c) in BY_ID})
        issues.append(
            Issue(
                "error",
                f"stuff classes ({', '.join(names)}) carry instance ids {_listed(stuff)}: "
                "stuff pixels must hold their class id",
            )
        )
    wrong = cls != label
    if wrong.any():
        pairs = np.unique(np.stack([inst[wrong], label[wrong].astype(np.int32)]), axis=1)
        shown = ", ".join(f"{int(i)} on {int(lab)}" for i, lab in pairs.T[:10])
        more = f" and {pairs.shape[1] - 10} more" if pairs.shape[1] > 10 else ""
        issues.append(
            Issue(
                "error",
                f"{int(wrong.sum())} pixels have an instance id whose class disagrees with "
                f"the label map (instance id on label id: {shown}{more})",
            )
        )
    if not issues:
        issues += check_small_objects(inst)
    return issues


def check_small_objects(inst: np.ndarray, min_area: int | None = None) -> list[Issue]:
    """A warning listing small instances inside another instance (merge them with ``Document.merge_object``)."""
    found = enclosed_small_objects(inst, min_area)
    if not found:
        return []
    limit = small_object_area(inst.shape[1], inst.shape[0]) if min_area is None else int(min_area)
    shown = ", ".join(f"{oid} ({area} px) in {around}" for oid, area, around in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return [
        Issue("warning", f"{len(found)} object(s) smaller than {limit} px lie inside another object: {shown}{more}")
    ]


def check_maps(label: np.ndarray, inst: np.ndarray | None) -> list[Issue]:
    issues = check_label(label)
    if inst is not None and not any(i.severity == "error" for i in issues):
        issues += check_instance(label, inst)
    return issues


def raise_on_errors(issues: list[Issue], source: str = "") -> list[str]:
    """Raise one :class:`DocumentError` with every error; otherwise return the warning messages."""
    errors = [i.message for i in issues if i.severity == "error"]
    if errors:
        prefix = f"{source}: " if source else ""
        raise DocumentError(prefix + "; ".join(errors))
    return [i.message for i in issues if i.severity == "warning"]
