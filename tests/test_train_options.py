import argparse
import os

import pytest
import torch
from p2phd.models.train.checkpoints import pretrained_states
from p2phd.models.train.options import add_train_arguments, apply_nvidia_compat, model_config
from tiny import tiny_config

NVIDIA_OPTIONS = """--name --checkpoints_dir --dataroot --label_nc --no_instance --instance_feat --feat_num --nef
--n_downsample_E --netG --ngf --n_downsample_global --n_blocks_global --n_local_enhancers --n_blocks_local
--niter_fix_global --num_D --n_layers_D --ndf --lambda_feat --no_ganFeat_loss --no_vgg_loss --vgg_weights
--no_lsgan --pool_size --batchSize --loadSize --fineSize --resize_or_crop --no_flip --niter --niter_decay --lr
--beta1 --load_pretrain --continue_train --which_epoch --max_dataset_size --save_latest_freq --save_epoch_freq
--display_freq --print_freq --fp16 --seed""".split()


def test_every_nvidia_option_name_is_accepted():
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    known = {s for action in parser._actions for s in action.option_strings}
    assert not [name for name in NVIDIA_OPTIONS if name not in known]


def test_nvidia_1024p_script_flags_map_to_the_config():
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    opt = parser.parse_args(
        "--name label2city_1024p --netG local --ngf 32 --num_D 3 --load_pretrain x "
        "--niter_fix_global 20 --resize_or_crop none --no_vgg_loss".split()
    )
    cfg = model_config(opt)
    assert (cfg.netG, cfg.ngf, cfg.n_downsample_global, cfg.n_blocks_global) == ("local", 32, 4, 9)
    assert opt.checkpoints_dir == "./runs" and opt.lr == 0.0002 and opt.beta1 == 0.5


def _parse(argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(argv.split())


def test_nvidia_12g_script_runs_unchanged_on_the_cpu_spelling():
    # NVIDIA's scripts/train_1024p_12G.sh, with --gpu_ids -1 for this CPU machine
    opt = _parse(
        "--name label2city_1024p_12G --netG local --ngf 32 --num_D 3 --load_pretrain checkpoints/label2city_512p/ "
        "--niter_fix_global 20 --resize_or_crop crop --fineSize 1024 --batchSize 1 --gpu_ids -1 --data_type 16"
    )
    apply_nvidia_compat(opt)
    assert opt.device == "cpu" and opt.fp16


def test_several_gpu_ids_point_to_torchrun_and_unsupported_feature_modes_are_refused():
    with pytest.raises(ValueError, match="torchrun --nproc_per_node 8"):
        apply_nvidia_compat(_parse("--gpu_ids 0,1,2,3,4,5,6,7 --batchSize 8"))
    with pytest.raises(ValueError, match="--label_feat"):
        apply_nvidia_compat(_parse("--label_feat"))


def test_load_pretrain_reads_an_nvidia_checkpoint_directory(tmp_path):
    cfg = tiny_config(n_downsample_global=1)
    G = cfg.build_G()
    torch.save({f"module.{k}": v for k, v in G.state_dict().items()}, tmp_path / "latest_net_G.pth")
    states = pretrained_states(tmp_path)
    assert set(states) == {"G"}
    assert all(torch.equal(states["G"][k], v) for k, v in G.state_dict().items())


def test_gpu_ids_selects_that_gpu_when_cuda_visible_devices_is_unset(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    opt = _parse("--gpu_ids 2")
    apply_nvidia_compat(opt)
    assert opt.device == "cuda" and os.environ["CUDA_VISIBLE_DEVICES"] == "2"


def test_gpu_ids_indexes_an_existing_cuda_visible_devices_instead_of_being_ignored(monkeypatch, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    opt = _parse("--gpu_ids 1")
    apply_nvidia_compat(opt)
    apply_nvidia_compat(opt)  # validate() applies it again: the choice must stay
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    assert "training on GPU 5" in capsys.readouterr().err
    with pytest.raises(ValueError, match="makes 1 GPU"):
        apply_nvidia_compat(_parse("--gpu_ids 1"))  # only "5" is visible now


def test_train_device_choices_come_from_the_vocabulary():
    from p2phd.models.vocabulary import TRAIN_DEVICES

    with pytest.raises(SystemExit):
        _parse("--device mps")
    assert _parse("--device cuda").device in TRAIN_DEVICES
