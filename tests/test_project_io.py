"""Cityscapes map files, colour PNGs, .p2phd projects and atomic saves."""

import json
import os
import zipfile

import numpy as np
import pytest
from p2phd.editor import project
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.models.labels import colorize
from PIL import Image

CAR = 26


def sample_doc():
    doc = Document(64, 32, fill=7)
    doc.fill_polygon([(0, 0), (63, 0), (63, 8), (0, 8)], 23)
    car = doc.paint_stroke([(20, 20), (30, 22)], CAR, 4)
    doc.paint_stroke([(50, 20)], 24, 3)
    doc.set_vector(car, [0.25, -1.5, 3.0])
    doc.set_style(24000, 2)
    return doc


def test_cityscapes_maps_round_trip_bit_exact(tmp_path):
    doc = sample_doc()
    doc.save(tmp_path / "x_gtFine_labelIds.png", tmp_path / "x_gtFine_instanceIds.png")
    lab, ins = Image.open(tmp_path / "x_gtFine_labelIds.png"), Image.open(tmp_path / "x_gtFine_instanceIds.png")
    assert lab.mode == "L" and ins.mode == "I;16"
    back = Document.open(tmp_path / "x_gtFine_labelIds.png", tmp_path / "x_gtFine_instanceIds.png")
    np.testing.assert_array_equal(back.label, doc.label)
    np.testing.assert_array_equal(back.instance, doc.instance)
    assert not doc.modified


def test_label_only_uses_label_as_instance(tmp_path):
    doc = sample_doc()
    doc.save(tmp_path / "l.png")
    back = Document.open(tmp_path / "l.png")
    np.testing.assert_array_equal(back.instance, doc.label.astype(np.int32))


def test_colour_palette_png(tmp_path):
    doc = sample_doc()
    doc.save_color(tmp_path / "c.png")
    rgb = np.array(Image.open(tmp_path / "c.png"))
    np.testing.assert_array_equal(rgb, colorize(doc.label))
    np.testing.assert_array_equal(Document.open(tmp_path / "c.png").label, doc.label)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    with pytest.raises(DocumentError, match=r"\(1, 2, 3\)"):
        Document.open(tmp_path / "bad.png")


def test_project_round_trip(tmp_path):
    doc = sample_doc()
    doc.model_id = "demo-v1"
    path = tmp_path / "scene.p2phd"
    doc.save_project(path)
    with zipfile.ZipFile(path) as zf:
        assert {"meta.json", "label.png", "instance.png", "styles.json", "thumbnail.png"} <= set(zf.namelist())
        meta = json.loads(zf.read("meta.json"))
    assert meta["schema_version"] == project.SCHEMA_VERSION and meta["model_id"] == "demo-v1"
    back = Document.open_project(path)
    np.testing.assert_array_equal(back.label, doc.label)
    np.testing.assert_array_equal(back.instance, doc.instance)
    assert back.model_id == "demo-v1" and back.styles.get(24000) == 2
    np.testing.assert_array_equal(back.styles.get(26000), doc.styles.get(26000))
    assert not back.history.can_undo


def rewrite(path, **entries):
    with zipfile.ZipFile(path) as zf:
        content = {n: zf.read(n) for n in zf.namelist()}
    content.update(entries)
    for name in [n for n, v in content.items() if v is None]:
        del content[name]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"meta.json": json.dumps({"schema_version": 99, "width": 64, "height": 32})}, "newer version"),
        ({"meta.json": b"{not json"}, "meta.json"),
        ({"meta.json": json.dumps({"width": 64, "height": 32})}, "schema_version"),
        ({"meta.json": json.dumps({"schema_version": 1, "width": 65, "height": 32})}, "meta.json says"),
        ({"styles.json": None}, "missing styles.json"),
        ({"styles.json": b"[1, 2"}, "styles.json"),
        ({"label.png": b"not a png"}, "cannot read label map"),
    ],
)
def test_broken_projects_are_clear_errors(tmp_path, change, message):
    path = tmp_path / "p.p2phd"
    sample_doc().save_project(path)
    rewrite(path, **change)
    with pytest.raises(DocumentError, match=message):
        Document.open_project(path)


def test_not_a_project(tmp_path):
    (tmp_path / "x.p2phd").write_bytes(b"hello")
    with pytest.raises(DocumentError, match="not a .p2phd project"):
        Document.open_project(tmp_path / "x.p2phd")
    with pytest.raises(DocumentError, match="does not exist"):
        Document.open_project(tmp_path / "missing.p2phd")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    sample_doc().save(path)
    old = path.read_bytes()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        Document(64, 32, fill=23).save(path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temp file left behind


@pytest.mark.integration
def test_real_cityscapes_maps_round_trip_bit_exact(cityscapes_samples, tmp_path):
    labels = sorted((cityscapes_samples / "train_label").glob("*_gtFine_labelIds.png"))
    assert labels
    for label_png in labels:
        inst_png = cityscapes_samples / "train_inst" / label_png.name.replace("labelIds", "instanceIds")
        doc = Document.open(label_png, inst_png)
        assert doc.warnings == []
        doc.save(tmp_path / "l.png", tmp_path / "i.png")
        for src, dst in ((label_png, tmp_path / "l.png"), (inst_png, tmp_path / "i.png")):
            a, b = Image.open(src), Image.open(dst)
            assert a.mode == b.mode and a.size == b.size
            np.testing.assert_array_equal(np.array(a), np.array(b))
        doc.save_project(tmp_path / "p.p2phd")
        back = Document.open_project(tmp_path / "p.p2phd")
        np.testing.assert_array_equal(back.instance, doc.instance)


@pytest.mark.integration
def test_removing_a_real_car_leaves_no_trace(cityscapes_samples):
    label_png = sorted((cityscapes_samples / "train_label").glob("*_gtFine_labelIds.png"))[0]
    inst_png = cityscapes_samples / "train_inst" / label_png.name.replace("labelIds", "instanceIds")
    doc = Document.open(label_png, inst_png)
    cars = [o for o in doc.objects(instances_only=True) if o.label == CAR]
    car = max(cars, key=lambda o: o.area).id
    before_l, before_i = doc.label.copy(), doc.instance.copy()
    doc.remove_object(car)
    hole = before_i == car
    assert not (doc.instance == car).any()
    assert (doc.label[~hole] == before_l[~hole]).all() and (doc.instance[~hole] == before_i[~hole]).all()
    assert set(np.unique(doc.instance[hole])) <= set(np.unique(before_i[~hole]))
    doc.undo()
    np.testing.assert_array_equal(doc.instance, before_i)
