#!/bin/bash
#PBS -N mitolib-study
#PBS -J 0-2
#PBS -l select=1:ncpus=8:ngpus=1:mem=32gb
#PBS -l walltime=04:00:00
#PBS -j oe
#PBS -o logs/
#
# One run of a study per array index; the generic job of pbs/.  From the project folder:
#   mitolib study submit STUDY --scheduler pbs [--profile gpu]      # this array + the collection job
#   qsub -J 0-<runs-1> -v STUDY=<study>,PROFILE=<profile> pbs/pbs_study.sh
# `mitolib study plan STUDY` prints the number of runs.  Variables (qsub -v): STUDY (required),
# PROFILE (default gpu), OVERRIDES ("key=value ..."), MITOLIB_VENV or MITOLIB_CONDA_ENV, and
# MITOLIB_DATA / MITOLIB_RUNS / MITOLIB_RESULTS.  A run that is already done is skipped, so a
# resubmitted array redoes only what is missing or failed.
# walltime: the slowest run is the gpu profile's attention_resunet at batch 8 (up to 100 epochs of
# the 1,980 EPFL training patches, then the sliding-window test volume); 4 h leaves about a factor
# of two over the estimate; check it against train_seconds + eval_seconds in results/.../runs.csv.

set -euo pipefail
cd "${PBS_O_WORKDIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
source pbs/common.sh

index="${PBS_ARRAY_INDEX:-${PBS_ARRAYID:-${SLURM_ARRAY_TASK_ID:-}}}"
if [[ -z "$index" ]]; then
    echo "no array index (PBS_ARRAY_INDEX): submit as an array, qsub -J 0-<runs-1>" >&2
    exit 2
fi
mitolib study run-index "${STUDY:?set STUDY, e.g. qsub -v STUDY=architectures}" "$index" \
    --profile "${PROFILE:-gpu}" ${MITOLIB_ARGS[@]+"${MITOLIB_ARGS[@]}"}
