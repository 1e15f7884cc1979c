"""Writes lose nothing: atomic single files and sets (a map pair, a bundle's clusters + library),
symlinks written through, permissions kept, and ``synthesize`` never overwrites its own input."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.models.checkpoint.bundle import load_clusters, save_bundle
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.cli.main import main
from p2phd.models.config import ModelConfig
from p2phd.models.data.synthetic import write_synthetic_dataset
from p2phd.models.features.library import ObjectLibrary
from p2phd.models.mapfiles import atomic
from p2phd.models.mapfiles.atomic import atomic_write, atomic_write_many
from p2phd.models.mapfiles.writing import write_maps, write_photo
from PIL import Image


def pair(tmp_path, fill: int):
    doc = Document(32, 16, fill=fill)
    label, inst = tmp_path / "x_gtFine_labelIds.png", tmp_path / "x_gtFine_instanceIds.png"
    doc.save(label, inst)
    return doc, label, inst


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def failing_call(real, n: int, message: str = "disk full"):
    """``real``, except that its ``n``-th call raises OSError (a disk filling up mid-save)."""
    calls = []

    def wrapper(*args):
        calls.append(args)
        if len(calls) == n:
            raise OSError(message)
        return real(*args)

    return wrapper


@pytest.mark.parametrize("step", ["second file", "second rename"])
def test_pair_write_failing_half_way_keeps_the_old_pair(tmp_path, monkeypatch, step):
    """Issue 13: "Save maps" failing between the two files left a new label map beside the old instance map."""
    _, label, inst = pair(tmp_path, fill=7)
    before = (label.read_bytes(), inst.read_bytes())
    if step == "second file":
        monkeypatch.setattr(atomic, "_write_temp", failing_call(atomic._write_temp, 2))
    else:  # both written; the first renamed over its target, then the second rename fails: rolled back
        monkeypatch.setattr(os, "replace", failing_call(os.replace, 2))
    with pytest.raises(OSError, match="disk full"):
        Document(32, 16, fill=23).save(label, inst)
    assert (label.read_bytes(), inst.read_bytes()) == before
    assert Document.open(label, inst).label.max() == 7  # the previous pair still opens
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    Document(32, 16, fill=23).save(label, inst)  # and a later save succeeds
    assert Document.open(label, inst).label.min() == 23


def test_a_new_pair_failing_half_way_leaves_no_file(tmp_path):
    def fails(fh):
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write_many({tmp_path / "a.png": b"a", tmp_path / "b.png": fails})
    assert list(tmp_path.iterdir()) == []


def test_single_write_keeps_old_content_when_the_encoder_fails(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    write_photo(tmp_path / "ok.png", rgb)

    def half_written(fh):
        fh.write(b"\x89PNG partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "ok.png", half_written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png"]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "ok.png")), rgb)
    write_photo(tmp_path / "ok.jpg", rgb + 200)
    assert Image.open(tmp_path / "ok.jpg").format == "JPEG"


def test_symlinks_are_written_through(tmp_path):
    real = tmp_path / "data" / "label.png"
    real.parent.mkdir()
    write_maps(real, np.full((4, 4), 7, np.uint8))
    link = tmp_path / "link.png"
    link.symlink_to(real)
    Document(4, 4, fill=23).save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert Document.open(real).label.max() == 23
    project_link = tmp_path / "scene.p2phd"
    (tmp_path / "data" / "scene.p2phd").write_bytes(b"")
    project_link.symlink_to(tmp_path / "data" / "scene.p2phd")
    Document(4, 4, fill=26).save_project(project_link)
    assert project_link.is_symlink() and Document.open_project(tmp_path / "data" / "scene.p2phd").label.max() == 26


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o664])
def test_existing_files_keep_their_permissions(tmp_path, mode):
    doc, label, inst = pair(tmp_path, fill=7)
    project = tmp_path / "scene.p2phd"
    doc.save_project(project)
    for path in (label, inst, project):
        os.chmod(path, mode)
    doc.save(label, inst)
    doc.save_project(project)
    for path in (label, inst, project):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_new_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        pair(tmp_path, fill=7)
        write_photo(tmp_path / "photo.png", np.zeros((2, 2, 3), np.uint8))
    finally:
        os.umask(old)
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_the_same_file_twice_in_one_set_is_refused(tmp_path):
    (tmp_path / "a").write_bytes(b"old")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ValueError, match="named twice"):
        atomic_write_many({tmp_path / "a": b"1", tmp_path / "b": b"2"})
    assert (tmp_path / "a").read_bytes() == b"old"


# -- p2phd synthesize never writes over its inputs ----------------------------------------------------


TINY = ModelConfig(netG="global", ngf=4, n_downsample_global=2, n_blocks_global=1)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "b"
    save_bundle(path, TINY, TINY.build_G())
    return path


@pytest.mark.parametrize("which", ["label", "instance", "link_to_label"])
def test_synthesize_refuses_to_overwrite_an_input(tmp_path, bundle_dir, capsys, which):
    label, inst = tmp_path / "a.png", tmp_path / "i.png"
    write_maps(label, np.full((16, 32), 7, np.uint8), inst, np.full((16, 32), 7, np.int32))
    (tmp_path / "link.png").symlink_to(label)
    out = {"label": label, "instance": inst, "link_to_label": tmp_path / "link.png"}[which]
    before = {p: p.read_bytes() for p in (label, inst)}
    argv = ["synthesize", "--checkpoint", str(bundle_dir), "--label", str(label), "--instance", str(inst)]
    assert main([*argv, "--out", str(out)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in (label, inst)} == before


# -- p2phd encode writes clusters.npz and the library as one set -------------------------------------


def test_failed_encode_keeps_the_bundles_clusters_and_library(tmp_path, monkeypatch, capsys):
    cfg = TINY.replace(instance_feat=True, feat_num=3, nef=4, n_downsample_E=2)
    data = write_synthetic_dataset(tmp_path / "data", n=2, width=64, height=32)
    bundle = tmp_path / "bundle"
    save_bundle(bundle, cfg, cfg.build_G(), cfg.build_E(), clusters={26: np.ones((2, 3), np.float32)})
    argv = ["encode", "--checkpoint", str(bundle), "--dataroot", str(data), "--n_clusters", "2"]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    assert {"clusters.npz", "library.npz", "library.json"} <= set(before)

    # clusters.npz and library.npz are written, library.json finds the disk full
    monkeypatch.setattr(atomic, "_write_temp", failing_call(atomic._write_temp, 3, "No space left on device"))
    monkeypatch.setattr(ObjectLibrary, "files", lambda self: {"library.npz": b"new", "library.json": b"new"})
    assert main([*argv, "--n_clusters", "1"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert load_bundle(bundle).clusters.keys() == load_clusters(bundle / "clusters.npz").keys()
    assert len(ObjectLibrary.load(bundle)) > 0
