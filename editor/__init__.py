"""Qt-free document core of pix2pixHD Studio (numpy, OpenCV, Pillow; never Qt or torch)."""
