#!/usr/bin/env bash
# Runs a Stele cluster on this machine from the binaries in bin/ (make build):
# nats-server with JetStream, redis-server, the gateway and N verifiers, each
# a separate process on loopback ports, with state and logs under $DIR.
#
#   deployments/local/cluster.sh up [N]   start (N verifiers, default 2; GATEWAY_ARGS adds gateway flags,
#                                         VERIFIER_ARGS replaces the verifiers' (default --concurrency 4))
#   deployments/local/cluster.sh pids     print the PIDs of gateway and verifiers, comma-separated
#   deployments/local/cluster.sh down     stop everything (SIGTERM)
#
# Then measure it:
#   bin/steleload -gateway http://127.0.0.1:18080 -pids "$(deployments/local/cluster.sh pids)"
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${STELE_LOCAL_DIR:-/tmp/stele-local}
NATS_PORT=${NATS_PORT:-14222}
REDIS_PORT=${REDIS_PORT:-16379}
ADDR=${ADDR:-127.0.0.1:18080}
NATS_SERVER=${NATS_SERVER:-$(go env GOPATH)/bin/nats-server}
[ -x "$NATS_SERVER" ] || NATS_SERVER=$(command -v nats-server)

start() { # name, command...
  local name=$1; shift
  "$@" >"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

case "${1:-}" in
up)
  n=${2:-2}
  mkdir -p "$DIR/logs" "$DIR/jetstream"
  start nats "$NATS_SERVER" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$DIR/jetstream"
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$DIR"
  wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not open; see $DIR/logs" >&2; exit 1; }
  wait_port "$NATS_PORT"
  wait_port "$REDIS_PORT"
  export STELE_NATS_URL=nats://127.0.0.1:$NATS_PORT STELE_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 STELE_LOG_LEVEL=${STELE_LOG_LEVEL:-warn}
  start gateway bin/gateway --addr "$ADDR" ${GATEWAY_ARGS:-}
  for i in $(seq "$n"); do start "verifier-$i" bin/verifier --name "verifier-$i" ${VERIFIER_ARGS:---concurrency 4}; done
  for _ in $(seq 100); do curl -sf "http://$ADDR/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$ADDR/readyz" >/dev/null || { echo "gateway not ready; see $DIR/logs" >&2; exit 1; }
  echo "cluster up: http://$ADDR (logs in $DIR/logs)"
  ;;
pids)
  pids=$(cat "$DIR/gateway.pid"); for f in "$DIR"/verifier-*.pid; do pids="$pids,$(cat "$f")"; done; echo "$pids"
  ;;
down)
  for f in "$DIR"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
  ;;
*)
  echo "usage: $0 up [verifiers] | pids | down" >&2; exit 2
  ;;
esac
