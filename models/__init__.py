"""pix2pixHD networks, checkpoints, training and inference.

Importing this package is cheap and does not import torch: the Qt-free document core
(``editor``) reads the Cityscapes label table from :mod:`models.labels`.
"""

__version__ = "0.1.0"
