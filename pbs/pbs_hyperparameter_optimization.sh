#!/bin/bash
#PBS -N mitolib-hpo
#PBS -J 0-35
#PBS -l select=1:ncpus=8:ngpus=1:mem=32gb
#PBS -l walltime=04:00:00
#PBS -j oe
#PBS -o logs/
#
# The `hyperparameter_optimization` study (the original's pbs_hyperparameter_optimization.sh):
# 3 architectures x 4 learning rates x 3 batch sizes, one run per array index instead of 36 runs
# in one serial job.  From the project folder: qsub pbs/pbs_hyperparameter_optimization.sh
# then collect: qsub -W depend=afterany:<job id> -v STUDY=hyperparameter_optimization pbs/pbs_collect.sh
# The directives match pbs/pbs_study.sh (a test checks it); the body is pbs/pbs_study.sh's.

set -euo pipefail
cd "${PBS_O_WORKDIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
export STUDY=hyperparameter_optimization
exec bash pbs/pbs_study.sh
