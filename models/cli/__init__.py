"""The ``p2phd`` command line."""
