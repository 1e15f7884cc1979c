#!/usr/bin/env bash
# Demo model v2, continued: the 26,600-iteration bundle (commit 97de88d) fine-tuned for 2,000 more
# iterations with train_v2.sh's recipe. The training state of the first 26,600 iterations (its
# discriminator and Adam moments) was lost with a machine, so D starts afresh: --warmup_D trains it
# alone first (not counted), then G and D train at the learning rate the original schedule had
# reached (~7e-5), constant for 200 iterations, then decaying linearly to 0. Resumable like train_v2.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NAME=${NAME:-demo_v2ft}
export EXTRA="--lr 0.00007 --niter 25 --niter_decay 225 --warmup_D 300 --save_epoch_freq 25 ${EXTRA:-}"
exec bash checkpoints/demo/train_v2.sh
