#!/usr/bin/env bash
# Demo model v2, continued: the 26,600-iteration bundle (commit 97de88d) fine-tuned for 1,800 more
# iterations (28,400 in all) with train_v2.sh's recipe. The training state of the first 26,600
# iterations (its discriminator and Adam moments) was lost with a machine, so D starts afresh:
# --warmup_D trains it alone first, then 200 iterations at lr 0 fill G's fresh Adam moments (neither
# counted), then G and D train at the learning rate the original schedule had reached (~7e-5),
# constant for 200 iterations, then decaying linearly to 0. Resumable like train_v2.sh.
# A first try without the lr-0 moments (runs/demo_v2ft) blurred the generator within its first 200
# iterations: a fresh Adam's first steps move every weight by about the learning rate.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NAME=${NAME:-demo_v2ft2}
export EXTRA="--lr 0.00007 --niter 25 --niter_decay 200 --warmup_D 300 --warmup_moments 200 --save_epoch_freq 25 ${EXTRA:-}"
exec bash checkpoints/demo/train_v2.sh
