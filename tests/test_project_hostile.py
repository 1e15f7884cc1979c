"""Damaged and hostile ``.p2phd`` files (issue 13, class 5): each is one clear DocumentError, read with
bounded memory, and ``p2phd edit`` prints one line (exit 2) instead of a traceback.

Every file is crafted here from a good project: bytes flipped, zip headers patched (compression
method, encryption flag, declared sizes), members replaced by nested JSON, deflate bombs or PNGs
whose header disagrees with meta.json."""

import io
import json
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from p2phd.editor import project
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError

W, H = 64, 32


def good_bytes() -> bytes:
    doc = Document(W, H, fill=7)
    doc.paint_stroke([(20, 20), (30, 22)], 26, 4)
    doc.set_style(26000, 3)
    return project.project_bytes(doc.label, doc.instance, doc.styles, "demo")


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def build(content: dict[str, bytes], method: int = zipfile.ZIP_STORED, methods: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, value in content.items():
            zf.writestr(name, value, compress_type=(methods or {}).get(name, method))
    return buf.getvalue()


def patch_member(data: bytes, name: str, flags: int | None = None, method: int | None = None, size: int | None = None):
    """Rewrite fields of one member in both its local header and its central-directory entry."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        local = zf.getinfo(name).header_offset
    encoded = name.encode()
    central = -1
    pos = 0
    while True:
        pos = out.find(b"PK\x01\x02", pos)
        assert pos >= 0, name
        nlen = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + nlen]) == encoded:
            central = pos
            break
        pos += 4
    for base, f_flags, f_method, f_size in ((local, 6, 8, 22), (central, 8, 10, 24)):
        if flags is not None:
            struct.pack_into("<H", out, base + f_flags, struct.unpack_from("<H", out, base + f_flags)[0] | flags)
        if method is not None:
            struct.pack_into("<H", out, base + f_method, method)
        if size is not None:
            struct.pack_into("<I", out, base + f_size, size)
    return bytes(out)


def write(tmp_path, data: bytes):
    path = tmp_path / "hostile.p2phd"
    path.write_bytes(data)
    return path


def open_fails(path, match):
    with pytest.raises(DocumentError, match=match):
        Document.open_project(path)


def test_good_file_still_opens(tmp_path):
    doc = Document.open_project(write(tmp_path, good_bytes()))
    assert doc.styles.get(26000) == 3 and doc.model_id == "demo"


@pytest.mark.parametrize("name", ["label.png", "instance.png", "styles.json", "meta.json"])
def test_one_flipped_byte_is_a_bad_crc(tmp_path, name):
    content = members(good_bytes())
    data = build(content)  # stored: the flipped byte lands in the member's data as is
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    offset = info.header_offset + 30 + len(name) + len(info.extra) + info.compress_size // 2
    flipped = bytearray(data)
    flipped[offset] ^= 0x10
    open_fails(write(tmp_path, bytes(flipped)), "damaged|not valid JSON|meta.json|styles.json")


def test_flipped_byte_in_a_deflate_stream(tmp_path):
    content = members(good_bytes())
    data = build(content, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("instance.png")
    offset = info.header_offset + 30 + len("instance.png") + len(info.extra) + info.compress_size // 2
    flipped = bytearray(data)
    flipped[offset] ^= 0xFF
    open_fails(write(tmp_path, bytes(flipped)), "instance.png is damaged")


@pytest.mark.parametrize("method", [99, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_unknown_or_unexpected_compression_methods(tmp_path, method):
    content = members(good_bytes())
    if method == 99:
        data = patch_member(build(content), "label.png", method=99)
    else:
        data = build(content, methods={"label.png": method})
    open_fails(write(tmp_path, data), f"label.png uses compression method {method}")


def test_encrypted_member(tmp_path):
    data = patch_member(build(members(good_bytes())), "styles.json", flags=0x1)
    open_fails(write(tmp_path, data), "styles.json is encrypted")
    data = patch_member(build(members(good_bytes())), "meta.json", flags=0x1)
    with pytest.raises(DocumentError, match="meta.json is encrypted"):
        project.read_meta(write(tmp_path, data))


@pytest.mark.parametrize("name", ["styles.json", "meta.json"])
def test_deeply_nested_json(tmp_path, name):
    content = members(good_bytes())
    content[name] = b"[" * 30000 + b"]" * 30000
    open_fails(write(tmp_path, build(content, zipfile.ZIP_DEFLATED)), f"{name} is nested too deeply")


@pytest.mark.parametrize(
    "styles, match",
    [
        ({"schema": 1, "objects": [{"id": 5, "vector": [[1, 2], [3]]}]}, "malformed"),
        ({"schema": 1, "objects": [{"id": 5, "vector": ["x"]}]}, "malformed"),
        ({"schema": 1, "objects": [{"id": 5, "cluster": -1}]}, "cluster index"),
        ({"schema": 1, "objects": [{"id": -5, "cluster": 1}]}, "object ids"),
        ({"schema": 1, "objects": [{"id": 5, "vector": [1e309]}]}, "finite|malformed"),
    ],
)
def test_malformed_style_entries(tmp_path, styles, match):
    content = members(good_bytes())
    content["styles.json"] = json.dumps(styles).replace("Infinity", "1e309").encode()
    open_fails(write(tmp_path, build(content)), match)


def peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_deflate_bomb_declared_honestly_is_refused_before_reading(tmp_path):
    content = members(good_bytes())
    content["styles.json"] = b" " * (64 * 2**20)  # 64 MiB of spaces deflate to ~64 KB
    path = write(tmp_path, build(content, zipfile.ZIP_DEFLATED))
    assert path.stat().st_size < 2 * 2**20

    def attempt():
        open_fails(path, "styles.json declares 67108864 bytes")

    assert peak_mib(attempt) < 16


def test_small_member_declaring_two_gib_is_refused(tmp_path):
    data = patch_member(build(members(good_bytes())), "label.png", size=2**31)
    path = write(tmp_path, data)
    assert peak_mib(lambda: open_fails(path, r"label.png declares 2147483648 bytes")) < 16


def test_deflate_bomb_with_a_lying_declared_size_reads_only_the_declared_bytes(tmp_path):
    content = members(good_bytes())
    content["styles.json"] = b" " * (256 * 2**20)  # 256 MiB of spaces deflate to ~256 KB
    data = patch_member(build(content, zipfile.ZIP_DEFLATED), "styles.json", size=2048)
    path = write(tmp_path, data)
    assert peak_mib(lambda: open_fails(path, "styles.json is damaged")) < 16


def test_png_larger_than_meta_says_is_refused_from_its_header(tmp_path):
    content = members(good_bytes())
    # A valid 46341 x 46341 grey PNG (2 GiB of pixels) whose IDAT is tiny: zeros compress to almost nothing.
    row = b"\x00" + bytes(46341)
    idat = zlib.compress(row * 64, 9)  # truncated image data: the header alone must refuse it

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 46341, 46341, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    content["label.png"] = png
    path = write(tmp_path, build(content))
    assert peak_mib(lambda: open_fails(path, "label.png is 46341x46341, meta.json says 64x32")) < 16


@pytest.mark.parametrize("width, height", [(10**9, 32), (0, 32), (64, True), (64, 16385)])
def test_absurd_sizes_in_meta(tmp_path, width, height):
    content = members(good_bytes())
    content["meta.json"] = json.dumps({"schema_version": 1, "width": width, "height": height}).encode()
    open_fails(write(tmp_path, build(content)), "width and height")


def test_truncated_and_empty_files(tmp_path):
    data = good_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 10):
        open_fails(write(tmp_path, data[:cut]), "not a .p2phd project")


def test_too_many_members(tmp_path):
    content = members(good_bytes())
    content.update({f"junk{i}": b"" for i in range(100)})
    open_fails(write(tmp_path, build(content)), "members")


def test_cli_edit_prints_one_line_and_exits_2(tmp_path, capsys, monkeypatch):
    from p2phd.models.cli.main import main

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    content = members(good_bytes())
    content["styles.json"] = b"[" * 30000 + b"]" * 30000
    path = write(tmp_path, build(content))
    assert main(["edit", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("p2phd edit: error:") and "nested too deeply" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_thumbnail_reader_is_checked(tmp_path):
    path = write(tmp_path, good_bytes())
    thumb = project.read_thumbnail(path)
    assert thumb.shape == (H, W, 3) and thumb.dtype == np.uint8
    content = members(good_bytes())
    content["thumbnail.png"] = b"junk"
    with pytest.raises(DocumentError, match="thumbnail"):
        project.read_thumbnail(write(tmp_path, build(content)))


def test_project_side_limit_is_the_shared_map_limit(tmp_path):
    """Projects, recovery records and map files share one side limit (mapfiles.limits.MAX_SIDE)."""
    from p2phd.editor import history_io
    from p2phd.models.mapfiles.limits import MAX_SIDE

    assert project.MAX_SIDE is MAX_SIDE and history_io.MAX_SIDE is MAX_SIDE and MAX_SIDE == 8192
    path = tmp_path / "wide.p2phd"
    with zipfile.ZipFile(path, "w") as zf:
        meta = {"schema_version": 1, "width": MAX_SIDE + 1, "height": 1}
        zf.writestr("meta.json", json.dumps(meta))
        for name in ("label.png", "instance.png", "styles.json"):
            zf.writestr(name, b"")
    with pytest.raises(DocumentError, match=f"1..{MAX_SIDE}"):
        project.read_project(path)
