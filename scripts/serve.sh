#!/usr/bin/env bash
# Start the API and one Celery worker; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

"$VENV/bin/celery" -A worker.celery_app worker --loglevel=INFO --pool=solo -Q gpu,cpu -n "apprentice@%h" &
worker_pid=$!
"$VENV/bin/uvicorn" backend.main:app --host "$HOST" --port "$PORT" &
api_pid=$!
trap 'kill -TERM $api_pid $worker_pid 2>/dev/null; wait' INT TERM EXIT
echo "Apprentice: http://$HOST:$PORT  (API docs: http://$HOST:$PORT/docs)"
wait -n $api_pid $worker_pid
