"""Shipped inference bundles; checkpoints/demo is installed with the package as p2phd.checkpoints."""

from pathlib import Path

DEMO = Path(__file__).resolve().parent / "demo"
