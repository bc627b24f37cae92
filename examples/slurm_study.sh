#!/bin/bash
# Run a cnas study on a SLURM cluster as three job arrays, then write its report.
#
#   bash examples/slurm_study.sh plan.json study
#
# --prepare writes every run's configuration file into study/configs/ and lists the runs:
# each line is "index, id, command", the command to type in the study folder (a search is
# `cnas search --config configs/search/....json -o search/...`, a training
# `cnas train --config ...`, a supernet scoring `cnas study -o . --resume --run-index I`).
# The indices below are those of the digits preset (cnas study --preset digits
# --list-runs): 15 searches (runs 0-14), 54 trainings (15-68: the random architectures'
# 15-38 need no search), 15 supernet scorings (69-83). For another plan, take them from
# `cnas study PLAN --list-runs`.
set -euo pipefail
plan=${1:-plan.json}
study=${2:-study}
cnas study "$plan" -o "$study" --prepare
cnas study -o "$study" --resume --list-runs > "$study/runs.tsv"
# array task I runs line I+1's command in the study folder
run='cd "$0" && eval "$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" runs.tsv | cut -f3)"'
searches=$(sbatch --parsable --array=0-14 --cpus-per-task=2 \
  --wrap "OMP_NUM_THREADS=2 bash -c '$run' $study")
trainings=$(sbatch --parsable --array=15-68 --cpus-per-task=2 --dependency="afterok:$searches" \
  --wrap "OMP_NUM_THREADS=2 bash -c '$run' $study")
scorings=$(sbatch --parsable --array=69-83 --dependency="afterok:$searches" \
  --wrap "bash -c '$run' $study")
sbatch --dependency="afterok:$trainings:$scorings" --wrap "cnas study -o $study --report"
