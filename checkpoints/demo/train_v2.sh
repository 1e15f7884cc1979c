#!/usr/bin/env bash
# Demo model v2 (issue 10, in progress): native 1024x512 (G1 at 512x256), random scale-jittered
# 320 px crops of the 8 frames, mild colour jitter, warm start from demo v1; from iteration 1600 on
# also pix2pix's L1 term (--lambda_L1 10): without it the transposed convs' grid stayed at 1600
# iterations. Resumable: run it again and it continues from runs/demo_v2/train/latest (--continue_train). Takes many hours on 2 CPU cores;
# keep the machine otherwise idle. A new run starts from PRETRAIN (default checkpoints/demo, the shipped
# bundle; for a faithful rerun of v2, v1's bundle from git history). Afterwards:
#   p2phd encode --checkpoint runs/demo_v2 --dataroot "$D" --n_clusters 10
#   python checkpoints/demo/evaluate.py runs/demo_v2/bundle --data "$D"
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${D:-../shared/data/cityscapes-samples}
NAME=${NAME:-demo_v2}    # train_loo.sh reuses this recipe under another name, on 7 of the frames
ARGS="--name $NAME --dataroot $D --checkpoints_dir ./runs --label_nc 35 --instance_feat --feat_num 3 --nef 16
 --n_downsample_E 3 --netG local --ngf 16 --n_local_enhancers 1 --n_blocks_local 2 --n_downsample_global 3
 --n_blocks_global 4 --num_D 2 --n_layers_D 3 --ndf 32 --no_vgg_loss --batchSize 1 --nThreads 0 --cache_maps
 --loadSize 1024 --fineSize 320 --resize_or_crop scale_width_and_crop --scale_jitter 0.6 1.5 --color_jitter 0.05 --lambda_L1 10
 --niter 2500 --niter_decay 1250 --print_freq 40 --display_freq 200 --save_latest_freq 200 --save_epoch_freq 100 --seed 1"
ARGS="$ARGS ${EXTRA:-}"  # e.g. EXTRA="--lambda_lattice 100"
if [ -f "runs/$NAME/train/latest" ]; then
  exec p2phd train $ARGS --continue_train
elif [ -n "${FROM_SCRATCH:-}" ]; then
  exec p2phd train $ARGS
else
  exec p2phd train $ARGS --load_pretrain ${PRETRAIN:-checkpoints/demo}
fi
