"""pix2pixHD networks, checkpoints, training and inference.

Importing this package is cheap and does not import torch: the Qt-free document core
(``p2phd.editor``) reads the Cityscapes label table from :mod:`p2phd.models.labels`.
"""

__version__ = "0.1.0"
