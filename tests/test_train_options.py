import argparse

from models.train.options import add_train_arguments, model_config

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
