import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cityscapes-samples"


@pytest.fixture(scope="session")
def cityscapes_samples() -> Path:
    """The 8 real Cityscapes triplets in ../shared; integration tests skip without them."""
    if not (SHARED / "train_label").is_dir():
        pytest.skip(f"Cityscapes samples not found at {SHARED} (../shared is absent)")
    return SHARED
