#!/usr/bin/env bash
# Start the local stand-ins the tests use, each on a free 127.0.0.1 port, wait until they answer, and print
# their URLs: moto (S3, Firehose, Kinesis, SNS, SQS, CloudWatch Logs, ...) and osmem-server (the OpenSearch
# API in memory).
# Usage: eval "$(scripts/services.sh start [PID])"  -> exports LOGPIPE_MOTO_URL, LOGPIPE_SEARCH_URL, LOGPIPE_SERVICE_PIDS
#        scripts/services.sh stop                   -> stops the servers started above
# With PID, osmem-server also ends when that process does (test.sh passes its own).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for NAME PID URL LOG: until URL answers, or the server exits, or 20 s pass.
wait_for() {
  for _ in $(seq 1 100); do
    if "$py" -c "import urllib.request; urllib.request.urlopen('$3', timeout=1)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "$1 exited; its log ($4):" >&2; cat "$4" >&2; return 1
    fi
    sleep 0.2
  done
  echo "$1 did not answer within 20 s; see $4" >&2
  return 1
}

case "${1:-}" in
  start)
    scripts/setup.sh test >&2
    mkdir -p target
    port=$(free_port)
    .venv/bin/moto_server -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
    moto_pid=$!
    moto="http://127.0.0.1:$port"
    osmem_bin=$("$py" -c 'import osmem_server; print(osmem_server.resolve_binary())')
    port=$(free_port)
    owner=()
    if [ -n "${2:-}" ]; then owner=(-parent-pid "$2"); fi
    "$osmem_bin" -addr "127.0.0.1:$port" -no-stdin-watch "${owner[@]}" >target/osmem.log 2>&1 &
    osmem_pid=$!
    search="http://127.0.0.1:$port"
    if ! wait_for moto "$moto_pid" "$moto/moto-api/data.json" target/moto.log ||
       ! wait_for osmem-server "$osmem_pid" "$search/" target/osmem.log; then
      kill "$moto_pid" "$osmem_pid" 2>/dev/null || true
      exit 1
    fi
    echo "export LOGPIPE_MOTO_URL=$moto LOGPIPE_SEARCH_URL=$search LOGPIPE_SERVICE_PIDS='$moto_pid $osmem_pid'"
    ;;
  stop)
    # shellcheck disable=SC2086
    if [ -n "${LOGPIPE_SERVICE_PIDS:-}" ]; then kill $LOGPIPE_SERVICE_PIDS 2>/dev/null || true; fi
    ;;
  *) echo "usage: scripts/services.sh start|stop" >&2; exit 2 ;;
esac
