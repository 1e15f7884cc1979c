"""One reader, one rule: the editor, ``p2phd synthesize`` and training read every kind of map file
identically (grey, 16-bit, palette, colour, odd sizes), and oversized images are refused from the header."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.models.checkpoint.bundle import save_bundle
from p2phd.models.cli.main import main
from p2phd.models.config import ModelConfig
from p2phd.models.data.datasets import PairedMapsDataset
from p2phd.models.data.transforms import Preprocess
from p2phd.models.engine.engine import Engine
from p2phd.models.engine.request import EngineRequest
from p2phd.models.engine.work_size import fit_request
from p2phd.models.errors import InputMapError
from p2phd.models.labels import PALETTE, colorize
from p2phd.models.mapfiles.limits import MAX_SIDE
from p2phd.models.mapfiles.reading import read_instance, read_label, read_photo
from PIL import Image, ImageFile

CFG = ModelConfig(netG="global", ngf=4, n_downsample_global=2, n_blocks_global=1, native_width=64, native_height=32)


def scene(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    label = np.full((h, w), 7, np.uint8)  # road
    label[: h // 3] = 23  # sky
    inst = label.astype(np.int32)
    label[h // 2 : h // 2 + 5, 2:9] = 26
    inst[h // 2 : h // 2 + 5, 2:9] = 26001
    return label, inst


def palette_png(path, label: np.ndarray, colours: np.ndarray) -> None:
    """A mode-P PNG whose index i has colour ``colours[i]``; indices are not the ids."""
    ids = np.unique(label)
    indices = np.searchsorted(ids, label).astype(np.uint8)
    image = Image.fromarray(indices, "L").convert("P")
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(ids)] = colours[ids]
    image.putpalette(palette.ravel().tolist())
    image.save(path)


def write_case(folder, kind: str, h: int, w: int):
    """(label file, instance file, expected label ids, expected instance ids) for one kind of file."""
    label, inst = scene(h, w)
    lab_path, inst_path = folder / "train_label" / "x.png", folder / "train_inst" / "x.png"
    lab_path.parent.mkdir(parents=True)
    inst_path.parent.mkdir(parents=True)
    if kind == "grey":
        Image.fromarray(label, "L").save(lab_path)
    elif kind == "16bit":
        Image.fromarray(label.astype(np.uint16)).save(lab_path)
    elif kind == "palette_colours":  # palette holds Cityscapes colours: read by colour
        palette_png(lab_path, label, PALETTE)
    elif kind == "palette_grey":  # a grey palette: the grey levels are the ids
        palette_png(lab_path, label, np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, 1))
    elif kind == "rgb":
        Image.fromarray(colorize(label)).save(lab_path)
    Image.fromarray(inst.astype(np.uint16)).save(inst_path)  # 16-bit, as Cityscapes
    return lab_path, inst_path, label, inst


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "b"
    save_bundle(path, CFG, CFG.build_G())
    return path


def cli_inputs(monkeypatch, bundle_dir, lab_path, inst_path, out):
    """What ``p2phd synthesize`` hands the engine (its maps), and the size of the photo it writes."""
    seen = {}
    real = Engine.synthesize

    def spy(self, label, inst=None, **kwargs):
        seen["label"], seen["inst"] = label, inst
        return real(self, label, inst, **kwargs)

    monkeypatch.setattr(Engine, "synthesize", spy)
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(lab_path), "--instance", str(inst_path)]
    assert main([*argv, "--out", str(out), "--device", "cpu", "--precision", "fp32"]) == 0
    return seen["label"], seen["inst"], Image.open(out).size


@pytest.mark.parametrize(
    "kind, h, w",
    [("grey", 37, 70), ("16bit", 33, 41), ("palette_colours", 64, 64), ("palette_grey", 131, 97), ("rgb", 40, 200)],
)
def test_editor_cli_and_training_read_and_size_identically(tmp_path, monkeypatch, bundle_dir, kind, h, w):
    lab_path, inst_path, label, inst = write_case(tmp_path, kind, h, w)
    doc = Document.open(lab_path, inst_path)  # the editor
    np.testing.assert_array_equal(doc.label, label)
    np.testing.assert_array_equal(doc.instance, inst)

    cli_label, cli_inst, cli_size = cli_inputs(monkeypatch, bundle_dir, lab_path, inst_path, tmp_path / "out.png")
    np.testing.assert_array_equal(cli_label, label)
    np.testing.assert_array_equal(cli_inst, inst)

    item = PairedMapsDataset(tmp_path, Preprocess("none", flip=False, size_multiple=1), need_image=False)[0]
    np.testing.assert_array_equal(item["label"][0].numpy(), label)  # training
    np.testing.assert_array_equal(item["inst"][0].numpy(), inst)

    # the size: the editor's engine request and the CLI's photo follow one rule
    editor_size = fit_request(CFG, EngineRequest(doc.label, doc.instance)).size
    assert editor_size == cli_size
    assert cli_size[0] <= max(64, w) and cli_size[0] % 4 == 0 and cli_size[1] % 4 == 0


def test_a_square_map_keeps_its_aspect_in_the_cli(tmp_path, monkeypatch, bundle_dir):
    """Issue 9: a 1024x1024 map rendered 512x256 in the CLI but 512x512 in the editor (here: native 64x32)."""
    lab_path, inst_path, *_ = write_case(tmp_path, "grey", 128, 128)
    assert cli_inputs(monkeypatch, bundle_dir, lab_path, inst_path, tmp_path / "out.png")[2] == (64, 64)


def test_colour_palette_outside_cityscapes_is_refused_everywhere(tmp_path, bundle_dir, capsys):
    label, _ = scene(16, 32)
    path = tmp_path / "train_label" / "x.png"
    path.parent.mkdir()
    palette_png(path, label, np.random.default_rng(0).integers(0, 256, (256, 3)).astype(np.uint8))
    with pytest.raises(DocumentError, match="not in the Cityscapes palette"):
        Document.open(path)
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(path), "--out", str(tmp_path / "o.png")]
    assert main(argv) == 2
    assert "not in the Cityscapes palette" in capsys.readouterr().err
    with pytest.raises(InputMapError, match="not in the Cityscapes palette"):
        PairedMapsDataset(tmp_path, Preprocess("none", flip=False), need_image=False)[0]


def test_instance_maps_are_grey_ids(tmp_path):
    inst = np.array([[26001, 33000], [7, 0]], np.uint16)
    Image.fromarray(inst).save(tmp_path / "inst.png")
    out = read_instance(tmp_path / "inst.png")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, inst)
    Image.fromarray(inst.astype(np.uint8)).save(tmp_path / "inst8.png")  # 8-bit is fine too
    np.testing.assert_array_equal(read_instance(tmp_path / "inst8.png"), inst.astype(np.uint8))
    palette_png(tmp_path / "colour.png", np.array([[7, 26]], np.uint8), PALETTE)
    with pytest.raises(InputMapError, match="colour palette"):
        read_instance(tmp_path / "colour.png")
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputMapError, match="mode 'RGB'.*single-channel"):
        read_instance(tmp_path / "rgb.png")


def test_unknown_colours_are_listed(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    with pytest.raises(InputMapError, match=r"\(1, 2, 3\)"):
        read_label(tmp_path / "bad.png")


@pytest.mark.parametrize("reader", [read_label, read_instance, read_photo])
def test_missing_corrupt_and_truncated_files(tmp_path, reader):
    with pytest.raises(InputMapError, match="does not exist"):
        reader(tmp_path / "absent.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(InputMapError, match="junk.png"):
        reader(tmp_path / "junk.png")
    grey = np.random.default_rng(0).integers(0, 30, (64, 64), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:-300])
    with pytest.raises(InputMapError, match="cut.png.*truncated"):
        reader(tmp_path / "cut.png")


# -- image bombs: a tiny file whose header declares a huge image -------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int, colour_type: int = 3) -> bytes:
    """A valid-looking PNG header (8-bit palette by default) with a few bytes of image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    plte = _chunk(b"PLTE", bytes(PALETTE[:35].ravel())) if colour_type == 3 else b""
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # four rows of data, the rest missing
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + plte + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("size", [(16384, 10900), (MAX_SIDE + 1, 8), (9000, 9000), (100_000, 100_000)])
@pytest.mark.parametrize("reader", [read_label, read_instance, read_photo])
def test_header_bombs_are_refused_before_decoding(tmp_path, no_decoding, size, reader):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(*size, colour_type=3 if reader is not read_instance else 0))
    assert path.stat().st_size < 20_000
    with pytest.raises(InputMapError, match=f"bomb.png.*{MAX_SIDE}"):
        reader(path)  # no_decoding: refused from the header, before a pixel is decoded


def test_header_bombs_are_refused_by_editor_cli_training_and_projects(tmp_path, bundle_dir, capsys, no_decoding):
    path = tmp_path / "train_label" / "bomb.png"
    path.parent.mkdir()
    data = bomb_png(16384, 10900)
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=f"sides must be 1..{MAX_SIDE}"):
        Document.open(path)
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(path), "--out", str(tmp_path / "o.png")]
    assert main(argv) == 2
    assert f"sides must be 1..{MAX_SIDE}" in capsys.readouterr().err
    with pytest.raises(InputMapError, match=f"sides must be 1..{MAX_SIDE}"):
        PairedMapsDataset(tmp_path, Preprocess("none", flip=False), need_image=False)[0]
    with pytest.raises(InputMapError, match=f"sides must be 1..{MAX_SIDE}"):
        read_label(data)  # a project's label.png member is read from bytes by the same reader


def test_the_largest_allowed_side_is_read(tmp_path):
    Image.fromarray(np.full((2, MAX_SIDE), 7, np.uint8)).save(tmp_path / "wide.png")
    assert read_label(tmp_path / "wide.png").shape == (2, MAX_SIDE)
