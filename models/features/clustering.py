"""``p2phd encode``'s work: run E over a data set, take one feature per instance (NVIDIA's
``encode_features``), k-means them per class and pick real instance masks for the object library."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from p2phd.models.features.library import LibraryEntry
from p2phd.models.labels import THING_IDS
from tqdm import tqdm

BLOCK_NUM = 32  # NVIDIA: an instance counts when it covers > 0.5 / 32 of the image


@dataclass
class InstanceFeature:
    instance_id: int
    label: int
    feature: np.ndarray  # feat_num float32
    size_ratio: float  # pixels / (h * w // 32); NVIDIA keeps ratios > 0.5 for clustering


def class_of_instance(instance_id: int) -> int:
    return instance_id if instance_id < 1000 else instance_id // 1000


def instance_features(feat_map: np.ndarray, inst: np.ndarray) -> list[InstanceFeature]:
    """NVIDIA's per-instance feature: the value at the instance's middle pixel in row-major order.

    ``feat_map`` feat_num x H x W (E's output, constant within an instance), ``inst`` H x W ids.
    """
    h, w = inst.shape
    flat = inst.reshape(-1)
    order = np.argsort(flat, kind="stable")  # pixels of each id, in row-major order
    ids, starts, counts = np.unique(flat[order], return_index=True, return_counts=True)
    out = []
    for inst_id, start, num in zip(ids.tolist(), starts.tolist(), counts.tolist()):
        pixel = order[start + num // 2]
        y, x = divmod(int(pixel), w)
        out.append(
            InstanceFeature(
                int(inst_id),
                class_of_instance(int(inst_id)),
                feat_map[:, y, x].astype(np.float32),
                num / (h * w // BLOCK_NUM),
            )
        )
    return out


def cluster_features(
    features: list[InstanceFeature], n_clusters: int, min_ratio: float = 0.5, small_min_ratio: float = 0.02
) -> dict[int, np.ndarray]:
    """Per class: ``KMeans(n_clusters=min(n, n_clusters), random_state=0)`` on the features of
    instances larger than NVIDIA's threshold (``min_ratio``). A class none of whose instances passes
    it (people, riders, bicycles in a small data set) uses its instances above ``small_min_ratio``
    instead, so every class in the data gets styles; NVIDIA's rule would give it none."""
    from sklearn.cluster import KMeans

    if n_clusters <= 0:
        raise ValueError("--n_clusters must be positive")
    large: dict[int, list[np.ndarray]] = {}
    small: dict[int, list[np.ndarray]] = {}
    for f in features:
        if f.size_ratio > min_ratio:
            large.setdefault(f.label, []).append(f.feature)
        elif f.size_ratio > small_min_ratio:
            small.setdefault(f.label, []).append(f.feature)
    by_class = {label: large.get(label) or small[label] for label in set(large) | set(small)}
    centres = {}
    for label in sorted(by_class):
        data = np.stack(by_class[label]).astype(np.float64)
        k = min(len(data), n_clusters)
        km = KMeans(n_clusters=k, random_state=0, n_init=10).fit(data)
        centres[label] = km.cluster_centers_.astype(np.float32)
    return centres


def nearest_cluster(feature: np.ndarray, centres: np.ndarray | None) -> int | None:
    if centres is None or len(centres) == 0:
        return None
    return int(np.argmin(((centres - feature[None]) ** 2).sum(axis=1)))


class MaskCollector:
    """Keeps, per thing class, the ``per_class`` largest instance masks seen so far (those covering
    more than ``min_ratio / 32`` of the image: looser than the clustering filter, so small classes
    still get masks)."""

    def __init__(self, per_class: int = 40, min_ratio: float = 0.02):
        self.per_class, self.min_ratio = per_class, min_ratio
        self.heaps: dict[int, list] = {}
        self.counter = 0

    def add(self, inst: np.ndarray, features: list[InstanceFeature], source: str) -> None:
        h, w = inst.shape
        for f in features:
            if f.label not in THING_IDS or f.instance_id < 1000 or f.size_ratio <= self.min_ratio:
                continue
            heap = self.heaps.setdefault(f.label, [])
            area = int(f.size_ratio * (h * w // BLOCK_NUM) + 0.5)
            if len(heap) >= self.per_class and area <= heap[0][0]:
                continue
            ys, xs = np.nonzero(inst == f.instance_id)
            y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
            entry = LibraryEntry(
                f.label,
                inst[y0:y1, x0:x1] == f.instance_id,
                (x0, y0, x1, y1),
                (w, h),
                f.feature.copy(),
                None,
                source,
                f.instance_id,
            )
            self.counter += 1
            item = (area, self.counter, entry)
            if len(heap) < self.per_class:
                heapq.heappush(heap, item)
            else:
                heapq.heapreplace(heap, item)

    def entries(self, clusters: dict[int, np.ndarray]) -> list[LibraryEntry]:
        out = []
        for label in sorted(self.heaps):
            for _, _, entry in sorted(self.heaps[label], key=lambda t: (-t[0], t[1])):
                entry.cluster = nearest_cluster(entry.feature, clusters.get(label))
                out.append(entry)
        return out


@torch.no_grad()
def encode_dataset(
    E: torch.nn.Module, dataset, per_class: int = 40, device: str | torch.device = "cpu", progress: bool = True
) -> tuple[list[InstanceFeature], MaskCollector]:
    """Features of every instance of every sample (batch size 1, no flips), and library masks."""
    features: list[InstanceFeature] = []
    masks = MaskCollector(per_class)
    for i in tqdm(range(len(dataset)), desc="encoding", disable=not progress, dynamic_ncols=True):
        item = dataset[i]
        image = item["image"][None].to(device)
        inst = item["inst"][None].to(device)
        feat_map = E(image, inst)[0].float().cpu().numpy()
        inst_np = item["inst"][0].numpy().astype(np.int64)
        found = instance_features(feat_map, inst_np)
        features.extend(found)
        masks.add(inst_np, found, Path(item["path"]).stem)
    return features, masks
