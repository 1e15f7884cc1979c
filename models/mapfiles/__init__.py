"""Map and image files: the one owner of reading, validating, writing, resizing and sizing maps.

Torch-free, so the editor's document core, the CLI and training all use it:

- :mod:`.limits`: the largest map or photo read (8192 x 8192), checked from the file header before decoding.
- :mod:`.reading`: label maps, instance maps and photos, by one rule for the editor, CLI and training.
- :mod:`.writing`: label / instance / colour maps and photos as PNG (JPEG for ``.jpg`` photos).
- :mod:`.atomic`: atomic writes of one file or of a set of files (a map pair, a bundle's clusters + library).
- :mod:`.resize`: nearest-neighbour resizing with PIL's pixel centres (NVIDIA's loader).
- :mod:`.sizing`: the size a map is rendered at (the editor, ``p2phd synthesize`` and ``p2phd train``).
- :mod:`.to_image`: network output in [-1, 1] to an 8-bit image (rounded).
"""
