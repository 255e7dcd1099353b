# Sourced by the job scripts in pbs/ after they cd to the project folder (not a job script itself).
#
# 1. Activates the environment built once on the login node (see pbs/README.md):
#    MITOLIB_CONDA_ENV  a conda environment name (conda must be on PATH, e.g. after `module load`), or
#    MITOLIB_VENV       a virtual environment folder, default .venv in the project folder.
# 2. Points temporary files at node-local scratch: $TMPDIR (set per job by PBS Pro), else a new
#    temporary folder that is removed when the job ends.
# 3. Turns OVERRIDES ("key=value key=value", from qsub -v) into MITOLIB_ARGS (-p key value ...).

if [[ -n "${MITOLIB_CONDA_ENV:-}" ]]; then
    set +u  # conda's activation scripts read unset variables
    eval "$(conda shell.bash hook)"
    conda activate "$MITOLIB_CONDA_ENV"
    set -u
elif [[ -f "${MITOLIB_VENV:-.venv}/bin/activate" ]]; then
    set +u
    source "${MITOLIB_VENV:-.venv}/bin/activate"
    set -u
fi
if ! command -v mitolib >/dev/null; then
    echo "mitolib not found: set MITOLIB_VENV or MITOLIB_CONDA_ENV (see pbs/README.md)" >&2
    exit 1
fi

if [[ -z "${TMPDIR:-}" || ! -d "${TMPDIR:-}" ]]; then
    TMPDIR="$(mktemp -d)"
    trap 'rm -rf "$TMPDIR"' EXIT
fi
export TMPDIR
export JUPYTER_RUNTIME_DIR="$TMPDIR/jupyter-runtime"
export MPLCONFIGDIR="$TMPDIR/matplotlib"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

MITOLIB_ARGS=()
read -r -a _mitolib_pairs <<< "${OVERRIDES:-}"
for _pair in ${_mitolib_pairs[@]+"${_mitolib_pairs[@]}"}; do
    MITOLIB_ARGS+=(-p "${_pair%%=*}" "${_pair#*=}")
done

echo "mitolib: study=${STUDY:-} profile=${PROFILE:-} host=$(hostname) job=${PBS_JOBID:-${SLURM_JOB_ID:-}} scratch=$TMPDIR"
