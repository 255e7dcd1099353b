#!/usr/bin/env bash
# Runs audits/adam_lr.py in separate virtual environments, one per TensorFlow the original could have used,
# and writes the rows to book/data/original_adam_lr.csv.  Needs PyPI; takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=book/data/original_adam_lr.csv
work=${AUDIT_VENVS:-${TMPDIR:-/tmp}/mitolib-adam-audit}
mkdir -p "$work"
rows=$(mktemp)
header=--header
for version in 2.15.1 2.16.2; do
  venv="$work/tf$version"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "tensorflow-cpu==$version"
  "$venv/bin/python" audits/adam_lr.py $header 2>/dev/null >> "$rows"
  header=
  if [ "$version" = 2.16.2 ]; then  # Keras 2 beside TensorFlow 2.16, as containers that keep the old Keras do
    "$venv/bin/pip" install --quiet "tf_keras==2.16.0"
    TF_USE_LEGACY_KERAS=1 "$venv/bin/python" audits/adam_lr.py 2>/dev/null >> "$rows"
  fi
done
mv "$rows" "$out"
echo "wrote $out ($(uname -m), $(date -u +%F))"
