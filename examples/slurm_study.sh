#!/bin/bash
# Run a cnas study on a SLURM cluster as three job arrays, then write its report.
#
#   bash examples/slurm_study.sh plan.json study
#
# The indices below are those of the digits preset (cnas study --preset digits
# --list-runs): 15 searches (runs 0-14), 54 trainings (15-68: the random architectures'
# 15-38 need no search), 15 supernet scorings (69-83). For another plan, take them from
# `cnas study PLAN --list-runs`.
set -euo pipefail
plan=${1:-plan.json}
study=${2:-study}
cnas study "$plan" -o "$study" --prepare
searches=$(sbatch --parsable --array=0-14 --cpus-per-task=2 \
  --wrap "cnas study -o $study --run-index \$SLURM_ARRAY_TASK_ID --threads 2")
trainings=$(sbatch --parsable --array=15-68 --cpus-per-task=2 --dependency="afterok:$searches" \
  --wrap "cnas study -o $study --run-index \$SLURM_ARRAY_TASK_ID --threads 2")
scorings=$(sbatch --parsable --array=69-83 --dependency="afterok:$searches" \
  --wrap "cnas study -o $study --run-index \$SLURM_ARRAY_TASK_ID")
sbatch --dependency="afterok:$trainings:$scorings" --wrap "cnas study -o $study --report"
