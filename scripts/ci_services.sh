# shellcheck shell=bash
# Source this (it exports variables): `source scripts/ci_services.sh` from .ci/run, venv active.
# Starts, on loopback only, the services the tests need and exports where they are; tests/conftest.py
# then uses these instead of starting private copies:
#   STORAGE_EMULATOR_HOST          gcp-storage-emulator (in memory); Beam's gcsio and google-cloud-storage honour it
#   GOOGLE_APPLICATION_CREDENTIALS tests/emulator_adc.json: a static never-expiring token, so google-auth
#                                  resolves credentials at once instead of Beam retrying ~20-37 s for them
#   GOOGLE_CLOUD_PROJECT           silences google-auth's "no project" warning
#   PARABEAM_JOB_ENDPOINT          Beam's Python portable Job API service (local_job_service_main)
# Both services are stopped by an EXIT trap (this replaces any EXIT trap set before sourcing).

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  echo "ci_services.sh: source it, do not run it (it exports variables)" >&2
  exit 2
fi

_ci_services_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_ci_services_dir=$(mktemp -d)
_ci_services_pids=()

ci_services_stop() {
  if ((${#_ci_services_pids[@]})); then
    kill "${_ci_services_pids[@]}" 2>/dev/null || true
    wait "${_ci_services_pids[@]}" 2>/dev/null || true
  fi
  _ci_services_pids=()
  rm -rf "$_ci_services_dir"
}

# _ci_services_wait NAME CMD...: poll CMD for up to 60 s; on failure print NAME's log and return 1.
_ci_services_wait() {
  local name=$1 _
  shift
  for _ in $(seq 600); do
    "$@" && return 0
    sleep 0.1
  done
  echo "ci_services: $name did not start; its log:" >&2
  cat "$_ci_services_dir/$name.log" >&2
  return 1
}

_ci_services_start() {
  local gcs_port
  gcs_port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
  gcp-storage-emulator start --host 127.0.0.1 --port "$gcs_port" --in-memory \
    >"$_ci_services_dir/gcs.log" 2>&1 &
  _ci_services_pids+=($!)
  python -m apache_beam.runners.portability.local_job_service_main --port 0 \
    --port_file "$_ci_services_dir/job.port" --staging_dir "$_ci_services_dir/staging" \
    >"$_ci_services_dir/job.log" 2>&1 &
  _ci_services_pids+=($!)
  _ci_services_wait gcs curl -sf -o /dev/null "http://127.0.0.1:$gcs_port/storage/v1/b" || return 1
  _ci_services_wait job test -s "$_ci_services_dir/job.port" || return 1
  export STORAGE_EMULATOR_HOST="http://127.0.0.1:$gcs_port"
  export GOOGLE_APPLICATION_CREDENTIALS="$_ci_services_root/tests/emulator_adc.json"
  export GOOGLE_CLOUD_PROJECT=parabeam-test
  PARABEAM_JOB_ENDPOINT="localhost:$(cat "$_ci_services_dir/job.port")"
  export PARABEAM_JOB_ENDPOINT
  echo "ci_services: GCS emulator at $STORAGE_EMULATOR_HOST, Beam job service at $PARABEAM_JOB_ENDPOINT"
}

trap ci_services_stop EXIT
_ci_services_start || { ci_services_stop; return 1; }
