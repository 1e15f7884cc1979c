"""The OpenVINO fast path (``--backend openvino``, and ``auto`` on the CPU where OpenVINO is installed):
output vs eager fp32, the lookup stems, stroke previews after an OpenVINO frame, the on-disk conversion
cache and its lock, interactive engines that never wait for it, and the install hint when it is missing.
CI installs the ``openvino`` extra; without it the tests that need OpenVINO skip."""

import locale
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import test_cli_synthesize as cli_tests
import torch
from p2phd.models.checkpoint.bundle import save_bundle
from p2phd.models.cli.main import main
from p2phd.models.engine import engine as engine_mod
from p2phd.models.engine.backends import openvino as ov_backend
from p2phd.models.engine.backends.stems import Stems, Tail
from p2phd.models.engine.engine import Engine, fast_path_for
from p2phd.models.engine.norm import norms_in
from p2phd.models.engine.precision import Precision
from p2phd.models.engine.request import EngineRequest, RunCancelledError
from p2phd.models.errors import P2PHDError
from p2phd.models.vocabulary import BACKENDS
from PIL import Image
from test_engine import FP32, dab, scene, tiny_bundle, tiny_config

BF16 = Precision("cpu", torch.bfloat16, channels_last=False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path)
    return tmp_path / "openvino"


def psnr(a, b):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255**2 / mse) if mse else np.inf


def test_auto_picks_the_fast_path_on_the_cpu_where_installed_except_explicit_fp32():
    assert "openvino" in BACKENDS
    assert fast_path_for("auto", FP32, "auto", installed=True)
    assert fast_path_for("bf16", BF16, "auto", installed=True)
    assert not fast_path_for("fp32", FP32, "auto", installed=True)  # NVIDIA parity: their convs, bit for bit
    assert not fast_path_for("auto", FP32, "auto", installed=False)
    assert not fast_path_for("auto", FP32, "eager", installed=True)
    assert not fast_path_for("auto", Precision("cuda", torch.float16), "auto", installed=True)
    assert fast_path_for("fp32", FP32, "openvino", installed=False)  # asked for: the install hint says why not
    engine = Engine(tiny_bundle(tiny_config()), BF16, backend="auto")  # built directly: no fast path
    engine.run(EngineRequest(*scene()))
    assert engine.fast_path is None and engine.backend_used == "eager"


def test_auto_asks_openvino_for_bf16_wherever_the_cpu_has_it_even_when_torch_stays_fp32(cache):
    assert fast_path_for("auto", FP32, "auto", installed=True, bf16_cpu=True) == "bf16"  # a narrow net (the demo)
    assert fast_path_for("auto", FP32, "auto", installed=True, bf16_cpu=False) == "f32"
    assert fast_path_for("bf16", BF16, "auto", installed=True, bf16_cpu=True) == "bf16"
    assert fast_path_for("fp32", FP32, "openvino", installed=True, bf16_cpu=True) == "f32"  # asked for fp32
    pytest.importorskip("openvino")
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="auto", fast_path="bf16")
    assert engine._openvino.requested == "bf16" and engine.precision.dtype == torch.float32  # previews stay fp32


def test_load_auto_renders_through_openvino_with_lookups(cache, tmp_path):
    pytest.importorskip("openvino")
    cfg = tiny_config()
    bundle = tiny_bundle(cfg)
    save_bundle(tmp_path / "b", bundle.config, bundle.G, bundle.E, bundle.clusters)
    label, inst = scene()
    fast = Engine.load(tmp_path / "b", "cpu", "auto")
    result = fast.run(EngineRequest(label, inst))
    assert result.backend.startswith("openvino") and result.backend.endswith("+ lookup")
    exact = Engine.load(tmp_path / "b", "cpu", "fp32").run(EngineRequest(label, inst))
    assert exact.backend == "eager fp32"  # explicit fp32: NVIDIA's convs, no lookup, no OpenVINO
    assert psnr(result.image, exact.image) >= 40


@pytest.mark.parametrize("netG", ["local", "global"])
def test_stems_and_tail_are_the_generator(netG):
    G = tiny_bundle(tiny_config(netG=netG)).G.eval()
    x = Engine(tiny_bundle(tiny_config(netG=netG)), FP32, backend="eager").encode(EngineRequest(*scene()))
    with torch.inference_mode():
        stems, stats = Stems(G)(x)
        out, coarse = Tail(G)(*stems)
        ref = G.forward_with_coarse(x) if netG == "local" else (G(x), None)
    assert len(stems) == len(stats) == (2 if netG == "local" else 1)
    assert all(t.is_contiguous(memory_format=torch.channels_last) for t in stems)  # NHWC, as OpenVINO takes them
    assert (out - ref[0]).abs().max() <= 1e-4
    if netG == "local":
        assert (coarse - ref[1]).abs().max() <= 1e-4
        stem_convs = Stems(G)
        stem_convs(x)
        assert all(conv.last_keys > 0 for conv in stem_convs.convs)  # lookups ran, not the conv fallback


def test_interactive_engine_renders_eager_until_prepared(cache):
    pytest.importorskip("openvino")
    cfg = tiny_config()
    label, inst = scene()
    engine = Engine(tiny_bundle(cfg), FP32, backend="auto", fast_path=True, interactive=True)
    h, w = label.shape
    assert engine.fast_path and not engine.fast_ready((w, h))
    first = engine.run(EngineRequest(label, inst))
    assert first.backend == "eager fp32" and engine._openvino.converted == 0  # no conversion in a frame
    done = []
    worker = threading.Thread(target=lambda: done.append(engine.prepare_fast((w, h))))
    worker.start()
    worker.join(120)
    assert done == [True] and engine.fast_ready((w, h))
    second = engine.run(EngineRequest(label, inst))
    assert second.backend.startswith("openvino")
    assert psnr(second.image, first.image) >= 40


def test_interactive_engine_compiles_a_cached_conversion_in_its_first_frame(cache):
    pytest.importorskip("openvino")
    cfg = tiny_config()
    label, inst = scene()
    h, w = label.shape
    first = Engine(tiny_bundle(cfg), FP32, backend="auto", fast_path=True, interactive=True)
    assert first.prepare_fast((w, h)) and first._openvino.converted == 1
    again = Engine(tiny_bundle(cfg), FP32, backend="auto", fast_path=True, interactive=True)  # a new session
    assert not again.fast_ready((w, h))
    result = again.run(EngineRequest(label, inst))
    assert result.backend.startswith("openvino") and again._openvino.converted == 0  # compiled, not converted


def test_a_failed_preparation_leaves_eager_frames(cache, monkeypatch):
    pytest.importorskip("openvino")

    def broken(*args):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(ov_backend, "convert", broken)
    label, inst = scene()
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="auto", fast_path=True)
    assert engine.run(EngineRequest(label, inst)).backend == "eager fp32"
    assert engine.fast_path is None and "exploded" in str(engine.fast_error)
    explicit = Engine(tiny_bundle(tiny_config()), FP32, backend="openvino")
    with pytest.raises(RuntimeError, match="exploded"):
        explicit.run(EngineRequest(label, inst))


def test_concurrent_preparations_convert_once(cache, monkeypatch):
    pytest.importorskip("openvino")
    locale_before = locale.setlocale(locale.LC_CTYPE)
    calls = []
    real = ov_backend.convert
    monkeypatch.setattr(ov_backend, "convert", lambda *a: (calls.append(a[1]), time.sleep(0.3), real(*a))[2])
    label, inst = scene()
    h, w = label.shape
    engines = [Engine(tiny_bundle(tiny_config()), FP32, backend="auto", fast_path=True) for _ in range(2)]
    workers = [threading.Thread(target=e.prepare_fast, args=((w, h),)) for e in engines for _ in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert len(calls) == 1 and all(e.fast_ready((w, h)) for e in engines)
    assert locale.setlocale(locale.LC_CTYPE) == locale_before  # 1 run in 3 left "C" before compiles took turns


def test_a_compile_that_switches_the_locale_is_undone_and_compiles_take_turns():
    """What OpenVINO's model cache did when two compiles overlapped, made certain: the process's locale
    comes back, so Python's open() keeps reading UTF-8."""
    before, inside = locale.setlocale(locale.LC_CTYPE), []

    class Core:
        def compile_model(self, xml, device, config):
            inside.append(ov_backend._COMPILE_LOCK.locked())
            locale.setlocale(locale.LC_CTYPE, "C")
            return "compiled"

    assert ov_backend.compile_keeping_locale(Core(), "model.xml", {}) == "compiled"
    assert inside == [True] and locale.setlocale(locale.LC_CTYPE) == before


def test_missing_openvino_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(P2PHDError, match=r"pip install 'p2phd\[openvino\]'") as info:
        Engine(tiny_bundle(tiny_config()), FP32, backend="openvino")
    assert "\n" not in str(info.value)


def test_openvino_telemetry_never_runs():
    """Importing OpenVINO through us sends no usage event (its telemetry forks this process to send one)."""
    pytest.importorskip("openvino")
    probe = (
        "import os, sys\n"
        "forks = []\n"
        "os.register_at_fork(before=lambda: forks.append(1))\n"
        "from p2phd.models.engine.backends.openvino import require_openvino\n"
        "require_openvino()\n"
        "import openvino.tools.ovc.telemetry_utils as tu\n"
        "import time; time.sleep(0.5)  # the event is sent from a thread pool\n"
        "print(tu.tm.__name__, sys.modules.get('openvino_telemetry'), len(forks))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "None", "0"]


@pytest.mark.parametrize("netG", ["local", "global"])
def test_f32_matches_eager_fp32(cache, netG):
    pytest.importorskip("openvino")
    cfg = tiny_config(netG=netG)
    label, inst = scene()
    eager = Engine(tiny_bundle(cfg), FP32, backend="eager")
    ov = Engine(tiny_bundle(cfg), FP32, backend="openvino")
    x = eager.encode(EngineRequest(label, inst))
    with torch.inference_mode():
        ref, ref_coarse = eager._generate(x)
        out, coarse = ov._generate(x)
    assert ov.backend_used == "openvino f32 + lookup" and ov._openvino.precision_used == "f32"
    assert (out - ref).abs().max() <= 1e-3
    if netG == "local":
        assert (coarse - ref_coarse).abs().max() <= 1e-3
    image = ov.run(EngineRequest(label, inst)).image
    assert psnr(image, eager.run(EngineRequest(label, inst)).image) >= 40


def test_a_bf16_graph_has_no_transposed_convs_and_coarse_features_come_over_in_nhwc(cache):
    """OpenVINO's CPU plugin runs transposed convs in fp32 even under a bf16 hint, so a bf16 graph has them as
    sub-pixel convs (subpixel_deconv.py; an fp32 graph keeps them); an NCHW output of the coarse features
    costs a transposing reorder; fp32 extra outputs keep their producers in fp32. None may come back."""
    pytest.importorskip("openvino")
    label, inst = scene()
    for precision, deconvs in ((BF16, False), (FP32, True)):
        engine = Engine(tiny_bundle(tiny_config(netG="local")), precision, backend="openvino")
        engine.run(EngineRequest(label, inst))
        xml = engine._openvino.ir_path(tuple(engine._input.shape)).read_text()
        assert ('type="ConvolutionBackpropData"' in xml) == deconvs
        assert ('mode="blocks_first"' in xml) != deconvs  # the phase convs' depth-to-space (DCR)
        assert engine._coarse.dim() == 4 and engine._coarse.is_contiguous(memory_format=torch.channels_last)
        # OpenVINO keeps fp32 outputs' producers in fp32: a bf16 graph's coarse features and statistics are bf16
        compiled = engine._openvino._compiled[tuple(engine._input.shape)]
        types = [str(output.get_element_type()) for output in compiled.outputs]
        assert types[0] == "<Type: 'float32'>"  # the image
        assert set(types[1:]) == {"<Type: 'bfloat16'>" if precision is BF16 else "<Type: 'float32'>"}


def test_bf16_is_close_to_eager_fp32(cache):
    pytest.importorskip("openvino")
    cfg = tiny_config()
    label, inst = scene()
    ref = Engine(tiny_bundle(cfg), FP32, backend="eager").run(EngineRequest(label, inst)).image
    ov = Engine(tiny_bundle(cfg), BF16, backend="openvino")
    image = ov.run(EngineRequest(label, inst)).image
    assert ov.backend_used.startswith("openvino") and ov._openvino.requested == "bf16"
    # a tiny random net amplifies bf16 rounding more than the 1024p model (43 dB there): a loose bound
    assert psnr(image, ref) >= 25


def test_a_bf16_graph_takes_its_norm_statistics_from_bf16_activations(cache):
    """In bf16 the exported graph's statistics are bf16 outputs (openvino_convert._bf16_outputs: fp32 ones kept
    their producers in fp32); they must stay eager's statistics within bf16 rounding, not drift."""
    pytest.importorskip("openvino")
    cfg = tiny_config()
    shape = (1, 33, 64, 128)
    f32, bf16 = (ov_backend.OpenVinoGenerator(tiny_bundle(cfg).G, p, cache) for p in ("f32", "bf16"))
    assert bf16.bf16_graph and not f32.bf16_graph and bf16.ir_path(shape) != f32.ir_path(shape)  # two graphs
    label, inst = scene()
    eager, ov = Engine(tiny_bundle(cfg), FP32, backend="eager"), Engine(tiny_bundle(cfg), BF16, backend="openvino")
    for engine in (eager, ov):
        engine.run(EngineRequest(label, inst))
    assert ov.backend_used.startswith("openvino")
    pairs = list(zip(norms_in(eager.down) + norms_in(eager.up), norms_in(ov.down) + norms_in(ov.up), strict=True))
    for ref, got in pairs:
        (m0, v0), (m1, v1) = ref.stats, (s.float() for s in got.stats)
        assert ((m1 - m0) / v0.sqrt()).abs().max() <= 0.1 and ((v1 - v0) / v0).abs().max() <= 0.1


def test_previews_after_an_openvino_frame_replay_its_statistics(cache):
    pytest.importorskip("openvino")
    cfg = tiny_config()
    label, inst = scene()
    label2, inst2, rect = dab(label, inst, 40, 40)
    results = []
    for backend in ("eager", "openvino"):
        engine = Engine(tiny_bundle(cfg), FP32, backend=backend)
        engine.run(EngineRequest(label, inst, revision=1))
        results.append(engine.run(EngineRequest(label2, inst2, revision=2, dirty=rect, preview=True)))
    assert results[1].preview
    assert np.abs(results[0].image.astype(int) - results[1].image.astype(int)).max() <= 1


def test_frames_reuse_one_infer_request_and_a_cancelled_one_is_dropped(cache, monkeypatch):
    """A fresh infer request allocates (and page-faults) its intermediate buffers again; a cancelled one is
    not reused, and the frame after it renders as usual."""
    pytest.importorskip("openvino")
    monkeypatch.setattr(ov_backend, "POLL_MS", 0)  # asks should_cancel before the inference can be done
    backend = ov_backend.OpenVinoGenerator(tiny_bundle(tiny_config()).G, "f32", cache)
    x = torch.zeros(1, backend.input_nc, 64, 128)
    x[:, 1, :, :64] = x[:, 2, :, 64:] = 1
    first = backend(x)[0]
    request = backend._request[1]
    assert torch.equal(backend(x)[0], first) and backend._request[1] is request
    with pytest.raises(RunCancelledError):
        backend(x, should_cancel=lambda: True)
    assert backend._request is None
    assert torch.equal(backend(x)[0], first) and backend._request[1] is not request


def test_conversion_is_cached_on_disk_by_weights_and_size(cache, monkeypatch):
    pytest.importorskip("openvino")
    calls = []
    real = ov_backend.convert
    monkeypatch.setattr(ov_backend, "convert", lambda *a: (calls.append(a[1]), real(*a))[1])
    cfg = tiny_config()
    label, inst = scene()
    first = Engine(tiny_bundle(cfg), FP32, backend="openvino").run(EngineRequest(label, inst)).image
    assert len(calls) == 1 and len(list((cache / "ir").glob("*.xml"))) == 1
    again = Engine(tiny_bundle(cfg), FP32, backend="openvino")  # a new engine, as in a new run
    assert np.array_equal(again.run(EngineRequest(label, inst)).image, first)
    assert len(calls) == 1  # read from the cache, not converted again
    small_label, small_inst = scene(h=32, w=64)
    again.run(EngineRequest(small_label, small_inst))
    assert len(calls) == 2  # another size: another entry
    Engine(tiny_bundle(cfg, seed=1), FP32, backend="openvino").run(EngineRequest(label, inst))
    assert len(calls) == 3  # other weights: another entry


def test_replaced_compiled_models_release_their_memory_before_they_are_dropped():
    released = []

    class Compiled:
        def release_memory(self):  # OpenVINO's: frees the buffers without the GIL
            released.append(self)

    class Older:  # an OpenVINO without release_memory
        pass

    models = {(1, 3, 8, 8): Compiled(), (1, 3, 16, 16): Older()}
    first = models[(1, 3, 8, 8)]
    ov_backend._release_all(models)
    assert released == [first] and models == {}


def test_a_replaced_engine_frees_its_compiled_model_but_never_waits_for_a_preparation(cache):
    pytest.importorskip("openvino")
    label, inst = scene()
    engine = Engine(tiny_bundle(tiny_config()), FP32, backend="openvino")
    first = engine.run(EngineRequest(label, inst)).image
    fast = engine._openvino
    fast._lock.acquire()  # a preparation (perhaps a long conversion) is running
    try:
        engine.release_memory()  # returns at once
        assert len(fast._compiled) == 1
    finally:
        fast._lock.release()
    engine.release_memory()
    assert fast._compiled == {}
    assert np.array_equal(engine.run(EngineRequest(label, inst)).image, first)  # compiled again if used after all


def test_preparing_prunes_the_cache_beyond_its_cap(cache, monkeypatch):
    """An old conversion goes once the cache is over its cap; the one just compiled stays (issue 11: a full
    disk made conversions fail)."""
    pytest.importorskip("openvino")
    stale = cache / "ir" / "stale.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text("<net/>")
    stale.with_suffix(".bin").write_bytes(b"w" * 4096)
    os.utime(stale, (time.time() - 86400,) * 2)
    monkeypatch.setenv("P2PHD_CACHE_LIMIT_GB", "0")
    label, inst = scene()
    Engine(tiny_bundle(tiny_config()), FP32, backend="openvino").run(EngineRequest(label, inst))
    assert not stale.exists() and not stale.with_suffix(".bin").exists()
    assert len(list((cache / "ir").glob("*.xml"))) == 1  # this run's conversion: used just now


# -- the CLI: p2phd synthesize --backend openvino ----------------------------------------------------------------
@pytest.fixture
def cli_inputs(tmp_path):
    ckpt = tmp_path / "nvidia"
    ckpt.mkdir()
    cli_tests.save_nvidia_checkpoint(ckpt, cli_tests.TINY_FEATURES, seed=0)
    return ckpt, cli_tests.write_label(tmp_path / "frame.png")


def test_cli_without_openvino_exits_2_with_the_install_hint(cli_inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    ckpt, label = cli_inputs
    argv = ["synthesize", "--checkpoint", str(ckpt), "--label", str(label), "--out", str(tmp_path / "x.png")]
    line = cli_tests.run_error(capsys, [*argv, "--backend", "openvino"], tmp_path)
    assert "pip install 'p2phd[openvino]'" in line


def test_cli_openvino_fp32_matches_eager_fp32(cli_inputs, tmp_path, cache):
    pytest.importorskip("openvino")
    ckpt, label = cli_inputs
    images = []
    for backend in ("eager", "openvino"):
        out = tmp_path / f"{backend}.png"
        argv = ["synthesize", "--checkpoint", str(ckpt), "--label", str(label), "--out", str(out)]
        assert main([*argv, "--precision", "fp32", "--backend", backend]) == 0
        images.append(np.array(Image.open(out)).astype(int))
    assert np.abs(images[0] - images[1]).max() <= 1
    assert len(list((cache / "ir").glob("*.xml"))) == 1


def test_cli_auto_converts_once_says_so_and_reuses_the_cache(cli_inputs, tmp_path, cache, capsys):
    pytest.importorskip("openvino")
    ckpt, label = cli_inputs
    argv = ["synthesize", "--checkpoint", str(ckpt), "--label", str(label)]
    assert main([*argv, "--out", str(tmp_path / "a.png")]) == 0  # --precision auto --backend auto
    assert "converting the model for OpenVINO" in capsys.readouterr().err
    assert len(list((cache / "ir").glob("*.xml"))) == 1
    assert main([*argv, "--out", str(tmp_path / "b.png")]) == 0
    assert "converting" not in capsys.readouterr().err  # the second run loads the cached model
    assert main([*argv, "--out", str(tmp_path / "c.png"), "--precision", "fp32"]) == 0  # NVIDIA's convs
    a, c = (np.array(Image.open(tmp_path / n)).astype(int) for n in ("a.png", "c.png"))
    assert np.array_equal(a, np.array(Image.open(tmp_path / "b.png")))
    assert psnr(a, c) >= 40 and len(list((cache / "ir").glob("*.xml"))) == 1
