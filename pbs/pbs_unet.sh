#!/bin/bash
#PBS -N mitolib-unet
#PBS -J 0-2
#PBS -l select=1:ncpus=8:ngpus=1:mem=32gb
#PBS -l walltime=04:00:00
#PBS -j oe
#PBS -o logs/
#
# The `architectures` study (the original's pbs_unet.sh): the three U-Nets, one per array index.
# From the project folder: qsub pbs/pbs_unet.sh   (PROFILE defaults to gpu; qsub -v PROFILE=...)
# then collect: qsub -W depend=afterany:<job id> -v STUDY=architectures pbs/pbs_collect.sh
# The directives match pbs/pbs_study.sh (a test checks it); the body is pbs/pbs_study.sh's.

set -euo pipefail
cd "${PBS_O_WORKDIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
export STUDY=architectures
exec bash pbs/pbs_study.sh
