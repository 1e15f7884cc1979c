"""Training data: paired label / instance / photo maps in pix2pixHD's or Cityscapes' layout."""

from .datasets import PairedMapsDataset, find_triplets
from .transforms import Preprocess

__all__ = ["PairedMapsDataset", "Preprocess", "find_triplets"]
