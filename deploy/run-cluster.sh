#!/bin/sh
# Start gongai as a cluster on one database: N API processes and M timer workers (docs/operations.md).
#
#   GONGAI_DATABASE_URL=postgresql+psycopg://gongai@db/gongai deploy/run-cluster.sh
#
# Configuration (environment; the compose file deploy/compose.yaml passes the same variables):
#   GONGAI_DATABASE_URL     database (required here; SQLite suits one process only)
#   GONGAI_API_PROCESSES    number of API processes (default 2), on ports GONGAI_PORT, GONGAI_PORT+1, …
#   GONGAI_WORKERS          number of timer workers (default 1; more are safe: a project is locked while it runs)
#   GONGAI_HOST             interface the API listens on (default 127.0.0.1)
#   GONGAI_PORT             first API port (default 8000)
#   GONGAI_PROFILE          catalogue profile (jurisdiction), e.g. default or jiangxi
#   GONGAI_TIMER_INTERVAL   seconds between timer rounds of a worker (default 30)
#   GONGAI_CATALOGUE_DIR    the jurisdiction's catalogue folder (default: the bundled one)
#   GONGAI_HOLIDAYS_DIR     extra holiday-year files (e.g. next year's, before 1 January)
#   GONGAI_LOG_FORMAT       json (default) or text
#   GONGAI_FORWARDED_ALLOW_IPS  reverse proxies trusted for X-Forwarded-For (default 127.0.0.1)
#   GONGAI_METRICS_TOKEN    bearer token Prometheus sends to GET /metrics (metrics are off without it)
#   PROMETHEUS_MULTIPROC_DIR  optional: one /metrics for all processes (prometheus_client multiprocess mode)
#   GONGAI                  the gongai command (default: gongai on PATH)
#
# The schema is upgraded once first (gongai db upgrade); the processes then start; SIGTERM or Ctrl-C stops them all.
set -eu

: "${GONGAI_DATABASE_URL:?set GONGAI_DATABASE_URL to the shared database}"
GONGAI="${GONGAI:-gongai}"
API_PROCESSES="${GONGAI_API_PROCESSES:-2}"
WORKERS="${GONGAI_WORKERS:-1}"
HOST="${GONGAI_HOST:-127.0.0.1}"
PORT="${GONGAI_PORT:-8000}"
export GONGAI_DATABASE_URL GONGAI_LOG_FORMAT="${GONGAI_LOG_FORMAT:-json}"

"$GONGAI" db upgrade

pids=""
stop() {
    trap - TERM INT EXIT
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    wait
}
trap 'stop; exit 0' TERM INT
trap stop EXIT

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
fi

i=0
while [ "$i" -lt "$API_PROCESSES" ]; do
    "$GONGAI" serve --no-timers --host "$HOST" --port $((PORT + i)) &
    pids="$pids $!"
    i=$((i + 1))
done
i=0
while [ "$i" -lt "$WORKERS" ]; do
    "$GONGAI" worker &
    pids="$pids $!"
    i=$((i + 1))
done
echo "gongai cluster: $API_PROCESSES API process(es) on $HOST:$PORT.., $WORKERS worker(s); pids$pids"
# if any process exits, stop the others (a supervisor or the orchestrator restarts the cluster)
while :; do
    for pid in $pids; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "gongai process $pid exited; stopping the cluster" >&2
            exit 1
        fi
    done
    sleep 1
done
