#!/usr/bin/env bash
# Runs a Stele cluster on this machine from the binaries in bin/ (make build):
# nats-server with JetStream, redis-server, the gateway(s), N verifiers and
# optionally signers, each a separate process on loopback ports, with state
# and logs under $DIR.
#
#   deployments/local/cluster.sh up [N]   start (N verifiers, default 2; GATEWAY_ARGS adds gateway flags,
#                                         VERIFIER_ARGS replaces the verifiers' (default --concurrency 4))
#       SIGNERS=M     also start M signers (default 0) with the keys of KEYS_DIR (default $DIR/keys;
#                     one key "load-1" is generated with bin/stele keygen when it holds none);
#                     SIGNER_ARGS adds signer flags
#       GATEWAYS=G    start G gateways (default 1) on ADDR's port, port+1, …
#       PROCS=P       GOMAXPROCS of every Go process started here (gateways, workers, nats-server);
#                     default 1: they all share this machine's cores, and one P each spares the Go
#                     runtime its wake-ups of idle threads (as a CPU limit of 1 would in a container,
#                     where Go sizes GOMAXPROCS from the limit); PROCS= leaves Go's default
#   deployments/local/cluster.sh pids     print the PIDs of gateways, verifiers and signers, comma-separated
#   deployments/local/cluster.sh allpids  the same, then nats-server and redis-server (for CPU figures)
#   deployments/local/cluster.sh urls     print the gateways' URLs, comma-separated
#   deployments/local/cluster.sh down     stop everything (SIGTERM)
#
# Then measure it:
#   bin/steleload -gateway http://127.0.0.1:18080 -pids "$(deployments/local/cluster.sh pids)"
#   SIGNERS=2 deployments/local/cluster.sh up 1
#   bin/steleload -gateway http://127.0.0.1:18080 -phases sign-inproc,sign,evaluate \
#     -eval-gateways "$(deployments/local/cluster.sh urls)" -pids "$(deployments/local/cluster.sh allpids)"
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${STELE_LOCAL_DIR:-/tmp/stele-local}
NATS_PORT=${NATS_PORT:-14222}
REDIS_PORT=${REDIS_PORT:-16379}
ADDR=${ADDR:-127.0.0.1:18080}
NATS_SERVER=${NATS_SERVER:-$(go env GOPATH)/bin/nats-server}
KEYS_DIR=${KEYS_DIR:-$DIR/keys}
HOST=${ADDR%:*}
PORT=${ADDR##*:}
[ -x "$NATS_SERVER" ] || NATS_SERVER=$(command -v nats-server)

PROCS=${PROCS-1}

start() { # name, command...
  local name=$1; shift
  if [ -n "$PROCS" ] && [ "$name" != redis ]; then set -- env GOMAXPROCS="$PROCS" "$@"; fi
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
  for g in $(seq 2 "${GATEWAYS:-1}"); do start "gateway-$g" bin/gateway --addr "$HOST:$((PORT + g - 1))" ${GATEWAY_ARGS:-}; done
  for i in $(seq "$n"); do start "verifier-$i" bin/verifier --name "verifier-$i" ${VERIFIER_ARGS:---concurrency 4}; done
  if [ "${SIGNERS:-0}" -gt 0 ]; then
    mkdir -p "$KEYS_DIR" && chmod 700 "$KEYS_DIR"
    ls "$KEYS_DIR"/*.key >/dev/null 2>&1 || bin/stele keygen --out "$KEYS_DIR/load-1.key" >/dev/null
    for i in $(seq "$SIGNERS"); do start "signer-$i" bin/signer --name "signer-$i" --keys "$KEYS_DIR" ${SIGNER_ARGS:-}; done
  fi
  for g in $(seq "${GATEWAYS:-1}"); do
    url="http://$HOST:$((PORT + g - 1))"
    for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
    curl -sf "$url/readyz" >/dev/null || { echo "gateway $url not ready; see $DIR/logs" >&2; exit 1; }
  done
  if [ "${SIGNERS:-0}" -gt 0 ]; then
    for _ in $(seq 100); do curl -sf "http://$ADDR/v1/keys" | grep -q keyId && break; sleep 0.1; done
    curl -sf "http://$ADDR/v1/keys" | grep -q keyId || { echo "no signer advertised a key; see $DIR/logs" >&2; exit 1; }
  fi
  echo "cluster up: $("$0" urls) (logs in $DIR/logs)"
  ;;
pids|allpids)
  pids=$(cat "$DIR/gateway.pid")
  for f in "$DIR"/gateway-*.pid "$DIR"/verifier-*.pid "$DIR"/signer-*.pid; do [ -e "$f" ] && pids="$pids,$(cat "$f")"; done
  [ "$1" = allpids ] && pids="$pids,$(cat "$DIR/nats.pid"),$(cat "$DIR/redis.pid")"
  echo "$pids"
  ;;
urls)
  urls="http://$ADDR"; for f in "$DIR"/gateway-*.pid; do [ -e "$f" ] || continue; g=${f##*/gateway-}; g=${g%.pid}; urls="$urls,http://$HOST:$((PORT + g - 1))"; done
  echo "$urls"
  ;;
down)
  for f in "$DIR"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; done
  ;;
*)
  echo "usage: $0 up [verifiers] | pids | allpids | urls | down" >&2; exit 2
  ;;
esac
