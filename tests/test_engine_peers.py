"""``p2phd bench --peers`` on a tiny net: MAC counting, the roofline, the interleaved rounds and the table.
(The real figures: README's performance section, from the command it names.)"""

import json

import pytest
import torch
from p2phd.models.cli.main import main
from p2phd.models.engine import engine as engine_mod
from p2phd.models.engine.peers import conv_macs, gemm_rate, markdown, run_peers
from test_engine import tiny_bundle, tiny_config
from torch import nn


class Toy(nn.Module):
    """Shaped like a global generator: ``model[1]`` is the conv reading the input."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Identity(),
            nn.Conv2d(3, 8, 3, padding=1),  # 8 x 16 x 16 outputs, 3*9 MACs each
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),  # 8 x 8 x 8 outputs, 4*9 each
            nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),  # 8*8*8 inputs, 4*9 each
        )

    def forward(self, x):
        return self.model(x)


def test_conv_macs_counts_convs_and_transposed_convs_by_hand():
    total, stems = conv_macs(Toy(), torch.zeros(1, 3, 16, 16))
    assert total == 8 * 16 * 16 * 27 + 8 * 8 * 8 * 36 + 8 * 8 * 8 * 36
    assert stems == 8 * 16 * 16 * 27


@pytest.mark.parametrize("netG", ["local", "global"])
def test_stem_macs_are_the_input_convs(netG):
    bundle = tiny_bundle(tiny_config(netG=netG))
    G = bundle.G.eval()
    x = torch.zeros(1, G.model[1].in_channels, 64, 128)
    total, stems = conv_macs(G, x)
    first = G.model[1]
    h, w = (32, 64) if netG == "local" else (64, 128)  # G1 sees the pooled input in a local enhancer
    expected = first.out_channels * h * w * first.in_channels * 49
    if netG == "local":
        enh = G.enhancer(1)[0][1]
        expected += enh.out_channels * 64 * 128 * enh.in_channels * 49
    assert stems == expected and 0 < stems < total


def test_gemm_rate_is_positive_and_finite():
    rate = gemm_rate(torch.float32, n=128, seconds=0.05)
    assert 0 < rate < 1e6


def test_peers_report_interleaves_every_contender(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path)
    report = run_peers(lambda: tiny_bundle(tiny_config()), (128, 64), rounds=2, cache=tmp_path, log=lambda _: None)
    rows = report["contenders"]
    assert {"eager fp32", "ours"} <= set(rows)
    for name, row in rows.items():
        assert len(row["times_s"]) == 2 and row["min_s"] <= row["median_s"], name
        assert row["floor_s"] > 0 and row["x_floor"] == pytest.approx(row["median_s"] / row["floor_s"])
    assert rows["eager fp32"]["psnr_vs_fp32_db"] == float("inf")
    assert rows["ours"]["psnr_vs_fp32_db"] >= 40
    if "lookup" in rows["ours"]["backend"]:  # ours skips the input convs' MACs it computes as lookups
        assert rows["ours"]["gmac_performed"] < rows["eager fp32"]["gmac_performed"]
    if "openvino bf16" in rows:
        assert report["ours_vs_openvino"] == pytest.approx(rows["openvino bf16"]["median_s"] / rows["ours"]["median_s"])
    table = markdown(report, "p2phd bench --peers")
    assert table.count("\n| ") == len(rows) + 1 and "x floor" in table
    json.dumps(report)


def test_a_failed_fast_path_is_said_loudly(tmp_path, monkeypatch):
    """A conversion that fails (here: a full disk) leaves ours on eager frames: the run says so, with why."""
    pytest.importorskip("openvino")
    from p2phd.models.engine.backends import openvino as ov_backend

    def no_space(*args, **kwargs):
        raise OSError("Not enough free space to write 37748736 bytes")

    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(ov_backend, "convert", no_space)
    lines = []
    report = run_peers(
        lambda: tiny_bundle(tiny_config()), (128, 64), rounds=1, cache=tmp_path, log=lines.append, only=["ours"]
    )
    assert "openvino" not in report["contenders"]["ours"]["backend"]
    assert any(
        line.startswith("WARNING: ours renders without its fast path") and "free space" in line for line in lines
    )


def test_cli_peers_writes_json_and_markdown(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine_mod, "CACHE_DIR", tmp_path)
    monkeypatch.setattr("p2phd.models.engine.benchmark.loader", lambda *a: lambda: tiny_bundle(tiny_config()))
    out, md = tmp_path / "peers.json", tmp_path / "peers.md"
    argv = ["bench", "--peers", "--size", "128x64", "--rounds", "1", "--only", "eager fp32", "ours"]
    assert main([*argv, "--json", str(out), "--markdown", str(md)]) == 0
    report = json.loads(out.read_text())
    assert set(report["contenders"]) == {"eager fp32", "ours"}
    assert "| ours |" in md.read_text()


def test_cli_peers_rejects_zero_rounds(capsys):
    assert main(["bench", "--peers", "--rounds", "0"]) == 2
    assert "--rounds" in capsys.readouterr().err
