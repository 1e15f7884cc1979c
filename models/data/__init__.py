"""Training data: paired label / instance / photo maps in pix2pixHD's or Cityscapes' layout."""

from p2phd.models.data.datasets import PairedMapsDataset, find_triplets
from p2phd.models.data.transforms import Preprocess

__all__ = ["PairedMapsDataset", "Preprocess", "find_triplets"]
