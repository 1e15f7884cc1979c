"""Trainer: loss weighting, LR schedule, stage-2 freeze, resume, outputs of a run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from p2phd.models.checkpoint.loader import load_bundle
from p2phd.models.data.synthetic import write_synthetic_dataset
from p2phd.models.train.checkpoints import (
    load_training_state,
    resolve_checkpoint,
    save_training_state,
    slim_training_state,
)
from p2phd.models.train.loop import build_loader, close_loader, fit, warm_discriminator, warm_moments
from p2phd.models.train.schedule import global_frozen, lr_for_epoch
from p2phd.models.train.trainer import Trainer
from tiny import tiny_train_options


@pytest.fixture(scope="module")
def dataroot(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), n=4, width=64, height=32)


def tiny(dataroot, run_root, **changes):
    opts = dict(
        netG="global",
        num_D=2,
        loadSize=32,
        fineSize=32,
        niter=1,
        niter_decay=0,
        nThreads=0,
        print_freq=1,
        display_freq=2,
        save_latest_freq=1000,
    )
    opts.update(changes)
    return tiny_train_options(dataroot, run_root, **opts)


def first_batch(trainer):
    loader, sampler = build_loader(trainer)
    sampler.set_epoch(1)
    return next(iter(loader))


def test_lr_schedule_matches_nvidia_incremental_updates():
    lr, niter, niter_decay = 0.0002, 3, 4
    old = lr
    for epoch in range(1, niter + niter_decay + 1):
        assert lr_for_epoch(epoch, lr, niter, niter_decay) == pytest.approx(old)
        if epoch > niter:  # NVIDIA: update_learning_rate() at the end of the epoch
            old -= lr / niter_decay
    assert lr_for_epoch(niter + niter_decay, lr, niter, niter_decay) == pytest.approx(lr / niter_decay)
    assert global_frozen(2, 2, "local") and not global_frozen(3, 2, "local") and not global_frozen(1, 2, "global")


def test_feature_matching_weight_scales_with_lambda_feat(dataroot, tmp_path):
    results = {}
    for lam in (10.0, 20.0):
        trainer = Trainer(tiny(dataroot, tmp_path, lambda_feat=lam))
        losses, _ = trainer.step(first_batch(trainer))
        results[lam] = losses
    assert results[20.0]["G_GAN_Feat"] == pytest.approx(2 * results[10.0]["G_GAN_Feat"], rel=1e-5)
    assert results[20.0]["G_GAN"] == pytest.approx(results[10.0]["G_GAN"], rel=1e-6)
    trainer = Trainer(tiny(dataroot, tmp_path, no_ganFeat_loss=True))
    losses, _ = trainer.step(first_batch(trainer))
    assert set(losses) == {"G_GAN", "D_fake", "D_real"}


def test_l1_loss_is_the_mean_absolute_photo_error_times_lambda(dataroot, tmp_path):
    trainer = Trainer(tiny(dataroot, tmp_path, lambda_L1=10.0))
    batch = first_batch(trainer)
    torch.manual_seed(0)
    losses, fake = trainer.step(batch)
    real = batch["image"].to(fake.device)
    # the step's fake comes from G before its update: the L1 term is measured on exactly that fake
    assert losses["G_L1"] == pytest.approx(10.0 * (fake.float() - real).abs().mean().item(), rel=1e-5)
    default = Trainer(tiny(dataroot, tmp_path))
    assert "G_L1" not in default.step(first_batch(default))[0]  # NVIDIA's recipe has no L1 term


def test_stage2_loads_global_weights_and_trains_only_the_enhancer(dataroot, tmp_path):
    stage1 = Trainer(tiny(dataroot, tmp_path, name="g", ngf=8))
    fit(stage1, progress=False)
    local = tiny(
        dataroot,
        tmp_path,
        name="l",
        netG="local",
        ngf=4,
        load_pretrain=str(tmp_path / "g"),
        niter=2,
        niter_fix_global=1,
    )
    trainer = Trainer(local)
    global_state = {k: v.clone() for k, v in stage1.synth.G.state_dict().items()}
    G = trainer.synth.G
    for key, value in G.state_dict().items():
        if key.startswith("model."):
            assert torch.equal(value, global_state[key]), key
    assert trainer.pretrain_report["G"][1] == ["model1_1", "model1_2"]
    before = {k: v.clone() for k, v in G.state_dict().items()}
    e_before = {k: v.clone() for k, v in trainer.synth.E.state_dict().items()}
    trainer.step(first_batch(trainer))
    after = G.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("model."))
    assert any(not torch.equal(before[k], after[k]) for k in after if k.startswith("model1_"))
    assert any(not torch.equal(e_before[k], v) for k, v in trainer.synth.E.state_dict().items())
    trainer.set_global_frozen(False)
    trainer.step(first_batch(trainer))
    assert any(not torch.equal(before[k], v) for k, v in G.state_dict().items() if k.startswith("model."))


def test_resume_continues_exactly(dataroot, tmp_path):
    straight = Trainer(tiny(dataroot, tmp_path / "a", niter=2, pool_size=2, save_epoch_freq=1))
    fit(straight, progress=False)
    first = Trainer(tiny(dataroot, tmp_path / "b", niter=1, pool_size=2, save_epoch_freq=1))
    fit(first, progress=False)
    resumed = Trainer(tiny(dataroot, tmp_path / "b", niter=2, pool_size=2, save_epoch_freq=1, continue_train=True))
    assert resumed.epoch == 2 and resumed.total_steps == 4
    fit(resumed, progress=False)
    for name in ("G", "E"):
        a = getattr(straight.synth, name).state_dict()
        b = getattr(resumed.synth, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert all(torch.equal(v, resumed.D.state_dict()[k]) for k, v in straight.D.state_dict().items())


def test_a_slimmed_checkpoint_resumes_with_moments_rebuilt_at_lr_0(dataroot, tmp_path):
    first = Trainer(tiny(dataroot, tmp_path, niter=1, save_epoch_freq=1))
    fit(first, progress=False)
    full = load_training_state(resolve_checkpoint(tmp_path / "tiny"))
    slim = slim_training_state(full)
    assert "optimizer_G" not in slim and set(slim) >= {"G", "E", "D", "epoch", "total_steps"}
    save_training_state(tmp_path / "tiny", "slim", slim)  # now "latest"

    resumed = Trainer(tiny(dataroot, tmp_path, niter=2, save_epoch_freq=1, continue_train=True, warmup_moments=3))
    assert (resumed.epoch, resumed.total_steps, resumed.moments_to_warm) == (2, 4, 3)
    assert not resumed.optimizer_G.state  # no moments yet
    before = {k: v.clone() for k, v in resumed.synth.G.state_dict().items()}
    d_before = {k: v.clone() for k, v in resumed.D.state_dict().items()}
    loader, sampler = build_loader(resumed)
    warm_moments(resumed, loader, sampler, 3)
    # lr 0: every weight exactly as loaded, yet Adam has seen 3 steps of gradients
    assert all(torch.equal(before[k], v) for k, v in resumed.synth.G.state_dict().items())
    assert all(torch.equal(d_before[k], v) for k, v in resumed.D.state_dict().items())
    steps = {int(s["step"]) for s in resumed.optimizer_G.state.values()}
    assert steps == {3} and any(float(s["exp_avg_sq"].abs().max()) > 0 for s in resumed.optimizer_G.state.values())
    assert resumed.total_steps == 4 and resumed.moments_to_warm == 0  # not counted towards the schedule
    fit(resumed, progress=False)
    assert resumed.total_steps == 8
    assert any(not torch.equal(before[k], v) for k, v in resumed.synth.G.state_dict().items())


def test_warmup_D_trains_only_the_fresh_discriminator_before_the_schedule(dataroot, tmp_path):
    fit(Trainer(tiny(dataroot, tmp_path, name="pre")), progress=False)
    tuned = Trainer(
        tiny(dataroot, tmp_path, name="tuned", load_pretrain=str(tmp_path / "pre"), warmup_D=3, warmup_moments=2)
    )
    assert tuned.D_to_warm == 3 and tuned.moments_to_warm == 2  # then G's Adam moments, at lr 0
    g_before = {k: v.clone() for k, v in tuned.synth.G.state_dict().items()}
    d_before = {k: v.clone() for k, v in tuned.D.state_dict().items()}
    loader, sampler = build_loader(tuned)
    warm_discriminator(tuned, loader, sampler, 3)
    assert all(torch.equal(g_before[k], v) for k, v in tuned.synth.G.state_dict().items())
    assert not tuned.optimizer_G.state  # G computed no gradients at all
    assert any(not torch.equal(d_before[k], v) for k, v in tuned.D.state_dict().items())
    assert {int(s["step"]) for s in tuned.optimizer_D.state.values()} == {3}
    assert tuned.total_steps == 0 and tuned.D_to_warm == 0  # not counted towards the schedule
    warm_moments(tuned, loader, sampler, 2)
    assert all(torch.equal(g_before[k], v) for k, v in tuned.synth.G.state_dict().items())
    assert {int(s["step"]) for s in tuned.optimizer_G.state.values()} == {2}
    fit(tuned, progress=False)
    assert tuned.total_steps == 4
    assert any(not torch.equal(g_before[k], v) for k, v in tuned.synth.G.state_dict().items())
    resumed = Trainer(tiny(dataroot, tmp_path, name="tuned", niter=2, continue_train=True, warmup_D=3))
    assert resumed.D_to_warm == 0  # a resumed run's D has learnt already


def test_lr_G_scale_slows_the_generator_not_the_discriminator(dataroot, tmp_path):
    trainer = Trainer(tiny(dataroot, tmp_path, lr=0.001, lr_G_scale=0.25))
    trainer.set_lr(0.0008)  # what the schedule hands out as it decays: D's rate, G's times the scale
    assert [g["lr"] for g in trainer.optimizer_G.param_groups] == [pytest.approx(0.0002)]
    assert [g["lr"] for g in trainer.optimizer_D.param_groups] == [pytest.approx(0.0008)]
    g_before = {k: v.detach().clone() for k, v in trainer.synth.G.named_parameters()}
    trainer.step(first_batch(trainer))
    # Adam's first step moves each weight by about its learning rate, whatever the gradient's size
    moved = max(float((v.detach() - g_before[k]).abs().max()) for k, v in trainer.synth.G.named_parameters())
    assert 0.0001 < moved <= 0.0002 * 1.01
    with pytest.raises(ValueError, match="lr_G_scale"):
        Trainer(tiny(dataroot, tmp_path, lr_G_scale=0))


def test_persistent_workers_draw_the_crops_of_each_epoch(dataroot, tmp_path):
    """Workers outlive epochs (they keep their decoded maps), yet every epoch's crops are the ones a
    worker-less loader draws for it: the sampler hands the epoch over with each index.

    Checked in a child process: twice a CI run of the whole suite segfaulted in the test after this one,
    after spawned DataLoader workers had lived in the pytest process (not reproduced outside CI)."""
    here = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); from pathlib import Path; "
        f"from test_train_loop import check_persistent_workers; "
        f"check_persistent_workers(Path({str(dataroot)!r}), Path({str(tmp_path)!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def check_persistent_workers(dataroot: Path, tmp_path: Path) -> None:
    batches = {}
    for workers in (0, 2):
        trainer = Trainer(
            tiny(dataroot, tmp_path / str(workers), nThreads=workers, fineSize=16, scale_jitter=(0.6, 1.5))
        )
        loader, sampler = build_loader(trainer)
        assert loader.persistent_workers == (workers > 0)
        seen = []
        for epoch in (1, 2, 3):
            loader.dataset.set_epoch(epoch)  # as fit() does: only the main process's copy hears it
            sampler.set_epoch(epoch)
            seen += [(b["index"].tolist(), b["label"], b["image"]) for b in loader]
        batches[workers] = seen
        if workers:
            processes = loader._iterator._workers
            close_loader(loader)
            assert not any(p.is_alive() for p in processes)
    assert len(batches[0]) == len(batches[2]) == 12
    for (i0, l0, p0), (i2, l2, p2) in zip(batches[0], batches[2]):
        assert i0 == i2 and torch.equal(l0, l2) and torch.equal(p0, p2)
    by_index = [{tuple(i): p for i, _, p in batches[0][k * 4 : k * 4 + 4]} for k in range(2)]
    same = [p.shape == by_index[1][i].shape and torch.equal(p, by_index[1][i]) for i, p in by_index[0].items()]
    assert not any(same)  # a frame's crop changes from epoch to epoch


def test_run_outputs(dataroot, tmp_path):
    trainer = Trainer(tiny(dataroot, tmp_path, max_dataset_size=2))
    fit(trainer, progress=False)
    run = tmp_path / "tiny"
    assert resolve_checkpoint(run).name == "epoch001.pt"
    state = torch.load(run / "train" / "epoch001.pt", weights_only=True)
    assert state["epoch"] == 2 and state["total_steps"] == 2
    records = [json.loads(line) for line in (run / "loss_log.jsonl").read_text().splitlines()]
    assert [r["total_steps"] for r in records] == [1, 2] and "G_GAN_Feat" in records[0]["losses"]
    assert (run / "web" / "loss_plot.png").is_file() and "images/" in (run / "web" / "index.html").read_text()
    bundle = load_bundle(run / "bundle")
    assert bundle.E is not None and bundle.config.native_width == 32 and bundle.config.native_height == 16
    trained_on = bundle.config.provenance["trained_on"]  # what the model card shows
    assert trained_on.startswith(f"2 frames of {dataroot.resolve().name} (") and " .. " in trained_on


def test_bad_options_are_clear_errors(dataroot, tmp_path):
    with pytest.raises(ValueError, match="vgg_weights"):
        Trainer(tiny(dataroot, tmp_path, no_vgg_loss=False))
    with pytest.raises(ValueError, match="batchSize"):
        Trainer(tiny(dataroot, tmp_path, batchSize=0))


def test_resume_across_the_stage2_unfreeze(dataroot, tmp_path):
    local = dict(name="l", netG="local", ngf=4, niter_fix_global=1, save_epoch_freq=1, max_dataset_size=2)
    fit(Trainer(tiny(dataroot, tmp_path, niter=1, **local)), progress=False)
    resumed = Trainer(tiny(dataroot, tmp_path, niter=2, continue_train=True, **local))
    assert resumed.frozen  # the saved optimiser only knows the enhancer's parameters
    fit(resumed, progress=False)
    assert not resumed.frozen and len(resumed.optimizer_G.param_groups[0]["params"]) == len(
        list(resumed.synth.parameters())
    )


@pytest.mark.parametrize("first, second", [(False, True), (True, False), (True, True)], ids=str)
def test_resume_across_an_fp16_toggle(dataroot, tmp_path, monkeypatch, first, second):
    """GradScaler state is loaded only when the checkpoint has one. On this CPU a real,
    enabled CPU GradScaler stands in for CUDA's, so the empty state of a run without --fp16 is met."""
    from p2phd.models.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "grad_scaler", lambda device, fp16: torch.amp.GradScaler("cpu", enabled=fp16))
    common = dict(save_epoch_freq=1, max_dataset_size=2)
    before = Trainer(tiny(dataroot, tmp_path, niter=1, fp16=first, **common))
    fit(before, progress=False)
    saved = torch.load(resolve_checkpoint(tmp_path / "tiny"), weights_only=True)
    assert bool(saved["scaler_G"]) == first  # a disabled scaler saves {}
    resumed = Trainer(tiny(dataroot, tmp_path, niter=2, fp16=second, continue_train=True, **common))
    if first and second:
        assert resumed.scaler_G.get_scale() == saved["scaler_G"]["scale"]
    fit(resumed, progress=False)
    assert resumed.total_steps == 4 and resumed.scaler_G.is_enabled() == second


def test_lattice_loss_sees_a_transposed_conv_grid_not_noise_of_the_same_energy():
    from p2phd.models.networks.losses import lattice_loss

    g = torch.Generator().manual_seed(0)
    real = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 128, 128, generator=g), 5, 1, 2) * 2 - 1  # smooth photo
    y, x = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    grid = 0.1 * torch.cos(2 * torch.pi * x / 8) * torch.cos(2 * torch.pi * y / 8)  # period 8: a 3-stage lattice
    noise = torch.randn(1, 3, 128, 128, generator=g)
    noise = noise / noise.std() * grid.std()
    assert lattice_loss(real, real, 8) == 0
    assert lattice_loss(real + grid, real, 8) > 5 * lattice_loss(real + noise, real, 8)
    fake = (real + grid).requires_grad_()
    lattice_loss(fake, real, 8).backward()
    assert fake.grad.abs().sum() > 0  # it trains the generator


def test_lattice_term_enters_the_generator_loss_when_asked(dataroot, tmp_path):
    trainer = Trainer(tiny(dataroot, tmp_path, lambda_lattice=5.0))
    assert trainer.lattice_period == 2**trainer.config.n_downsample_global  # a global generator here
    losses, _ = trainer.step(first_batch(trainer))
    assert losses["G_lattice"] >= 0
    default = Trainer(tiny(dataroot, tmp_path))
    assert "G_lattice" not in default.step(first_batch(default))[0]
