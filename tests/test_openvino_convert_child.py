"""Converting to OpenVINO runs in a child process (the export and ``convert_model`` hold the GIL for
hundreds of ms, which froze the editor's UI thread): niced when the editor prepares it in the
background, not when a frame or the CLI needs it now; a failing child is a one-line error."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from p2phd.models.engine import engine as engine_mod
from p2phd.models.engine.backends import openvino_convert as ov_convert
from p2phd.models.engine.engine import Engine
from p2phd.models.engine.request import EngineRequest
from test_engine import FP32, scene, tiny_bundle, tiny_config


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path)
    return tmp_path / "openvino"


@pytest.fixture
def children(monkeypatch):
    """The argv of every child process the backend starts."""
    started = []
    real = subprocess.Popen

    def popen(argv, *args, **kwargs):
        started.append(list(argv))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(ov_convert.subprocess, "Popen", popen)
    return started


def nice_of(argv) -> int:
    return int(argv[3])  # [python, -c, code, nice, job dir]


def test_background_preparation_converts_in_a_niced_child(cache, children):
    pytest.importorskip("openvino")
    label, inst = scene()
    h, w = label.shape
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="auto", fast_path=True, interactive=True)
    assert engine.prepare_fast((w, h))
    assert len(children) == 1 and nice_of(children[0]) == ov_convert.BACKGROUND_NICE
    assert len(list((cache / "ir").glob("*.xml"))) == 1
    assert not list((cache / "ir").glob(".convert-*"))  # the job's weights are gone
    eager = Engine(tiny_bundle(tiny_config()), FP32, backend="eager")
    x = eager.encode(EngineRequest(label, inst))
    with torch.inference_mode():
        ref, _ = eager._generate(x)
        out, _ = engine._generate(x)
    assert engine.backend_used.startswith("openvino") and (out - ref).abs().max() <= 1e-3


def test_a_frame_that_needs_it_now_converts_at_normal_priority(cache, children):
    pytest.importorskip("openvino")
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="openvino")
    assert engine.run(EngineRequest(*scene())).backend.startswith("openvino")
    assert len(children) == 1 and nice_of(children[0]) == 0


def test_a_failing_child_is_a_one_line_error(tmp_path):
    pytest.importorskip("openvino")
    cfg = tiny_config()
    G = tiny_bundle(cfg).G.float().eval()
    xml = tmp_path / "ir" / "model.xml"
    shape = Engine(tiny_bundle(cfg), FP32, backend="eager").input_shape((128, 64))
    wrong = cfg.replace(ngf=cfg.ngf * 2)  # the child builds another architecture: its weights do not fit
    with pytest.raises(RuntimeError, match="converting to OpenVINO failed") as info:
        ov_convert.convert(G, shape, xml, True, wrong)
    assert "\n" not in str(info.value) and "size mismatch" in str(info.value)
    assert not xml.exists() and not list(xml.parent.glob(".convert-*"))


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: the parent's pid
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the child through /proc")
def test_the_child_ends_with_the_process_that_started_it(tmp_path):
    """An editor closed (or killed) mid-conversion: its child stops at once and leaves no files behind."""
    pytest.importorskip("openvino")
    ir = tmp_path / "ir"
    parent_code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from p2phd.models.engine.backends import openvino_convert as ov_convert
        from p2phd.models.engine.engine import Engine
        from test_engine import FP32, tiny_bundle, tiny_config
        from pathlib import Path
        cfg = tiny_config()
        shape = Engine(tiny_bundle(cfg), FP32, backend="eager").input_shape((128, 64))
        ov_convert.convert(tiny_bundle(cfg).G.float().eval(), shape, Path({str(ir / "model.xml")!r}), True, cfg)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        deadline = time.monotonic() + 120
        while not (children := _children_of(parent.pid)):
            assert parent.poll() is None and time.monotonic() < deadline, "no conversion child started"
            time.sleep(0.05)
        (child,) = children
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 60
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the conversion child outlived its parent"
    assert not (ir / "model.xml").exists()  # it stopped, not finished (the parent died at its start)
    assert not list(ir.glob(".convert-*"))  # the job's weights are gone
    assert not [p for p in ir.glob("*") if ".tmp." in p.name or p.suffix == ".onnx"]  # no partial outputs
