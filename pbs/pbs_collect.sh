#!/bin/bash
#PBS -N mitolib-collect
#PBS -l select=1:ncpus=1:mem=4gb
#PBS -l walltime=00:30:00
#PBS -j oe
#PBS -o logs/
#
# Collect a study's complete runs into results/<profile>/<study>/ after its array job:
#   qsub -W depend=afterany:<array job id> -v STUDY=<study>,PROFILE=<profile> pbs/pbs_collect.sh
# (`mitolib study submit` does this).  afterany: collect whatever finished, failures included;
# the status listing in the log says which runs are missing.

set -euo pipefail
cd "${PBS_O_WORKDIR:-${SLURM_SUBMIT_DIR:-$PWD}}"
source pbs/common.sh

study="${STUDY:?set STUDY, e.g. qsub -v STUDY=architectures}"
mitolib study status "$study" --profile "${PROFILE:-gpu}" ${MITOLIB_ARGS[@]+"${MITOLIB_ARGS[@]}"}
mitolib study collect "$study" --profile "${PROFILE:-gpu}" ${MITOLIB_ARGS[@]+"${MITOLIB_ARGS[@]}"}
