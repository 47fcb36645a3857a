#!/usr/bin/env bash
# Re-pin one Airflow line: constraints/pin.sh AIRFLOW_VERSION [CUTOFF]
#
# Resolves apache-airflow==AIRFLOW_VERSION together with this provider's ".[dev,postgres,scaleout]" and writes
# every resolved distribution as NAME==VERSION to constraints/airflow-MAJOR.MINOR.txt.
# With CUTOFF (an ISO 8601 time, e.g. 2026-03-12T00:00:00Z) only releases uploaded before it are
# considered: the same set Airflow's own constraints-X.Y.Z files capture at release time, for lines
# whose published constraints are not reachable from here. Without it: the newest compatible releases.
# Pins are for the Python that runs this script (CI: Python 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: constraints/pin.sh AIRFLOW_VERSION [CUTOFF]}"
cutoff="${2:-}"
line="$(echo "$version" | cut -d. -f1-2)"
out="constraints/airflow-${line}.txt"
python="${PYTHON:-python3}"
scratch="$(mktemp -d /tmp/ighil-pin-XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --upgrade "pip>=26"
args=()
if [ -n "$cutoff" ]; then
    # Only the package index carries upload times: leave out this machine's local wheel folders.
    args=(--isolated --uploaded-prior-to "$cutoff")
fi
PIP_CONFIG_FILE=/dev/null "$scratch/venv/bin/pip" install --quiet --dry-run --ignore-installed \
    --report "$scratch/report.json" "${args[@]}" "apache-airflow==${version}" -e ".[dev,postgres,scaleout]"

{
    echo "# Pins for apache-airflow ${version} (Airflow ${line}.x), Python $("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')."
    if [ -n "$cutoff" ]; then
        echo "# Derived by constraints/pin.sh ${version} ${cutoff}: apache-airflow==${version} + .[dev,postgres]"
        echo "# resolved from releases uploaded before ${cutoff} (the day after apache-airflow ${version} was"
        echo "# published). This approximates Airflow's own constraints-${version} file, generated at release time,"
        echo "# which cannot be downloaded from this build environment. Tested by \`make matrix\`."
    else
        echo "# Derived by constraints/pin.sh ${version}: the newest releases compatible with apache-airflow==${version}"
        echo "# and .[dev,postgres] on $(date -u +%Y-%m-%d). Tested by \`make test\`."
    fi
    echo "# Install: pip install \"apache-airflow==${version}\" \"airflow-provider-instagram-hil[postgres]\" -c ${out}"
    "$scratch/venv/bin/python" - "$scratch/report.json" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
pins = {
    item["metadata"]["name"]: item["metadata"]["version"]
    for item in report["install"]
    if item["metadata"]["name"] != "airflow-provider-instagram-hil"
}
for name in sorted(pins, key=str.lower):
    print(f"{name}=={pins[name]}")
PY
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(grep -vc '^#' "$out") pins)"
