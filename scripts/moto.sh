#!/usr/bin/env bash
# Start moto on a free 127.0.0.1 port, wait until it answers, and print its URL.
# Usage: eval "$(scripts/moto.sh start)"   -> exports LOGPIPE_MOTO_URL and LOGPIPE_MOTO_PID
#        scripts/moto.sh stop              -> stops the server started above
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  start)
    scripts/setup.sh >&2
    port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p target
    .venv/bin/moto_server -H 127.0.0.1 -p "$port" >target/moto.log 2>&1 &
    pid=$!
    url="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do
      if .venv/bin/python -c "import urllib.request,sys; urllib.request.urlopen('$url/moto-api/data.json', timeout=1)" 2>/dev/null; then
        echo "export LOGPIPE_MOTO_URL=$url LOGPIPE_MOTO_PID=$pid"
        exit 0
      fi
      kill -0 "$pid" 2>/dev/null || { echo "moto exited; see target/moto.log" >&2; cat target/moto.log >&2; exit 1; }
      sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    echo "moto did not answer within 20 s; see target/moto.log" >&2
    exit 1
    ;;
  stop)
    if [ -n "${LOGPIPE_MOTO_PID:-}" ]; then kill "$LOGPIPE_MOTO_PID" 2>/dev/null || true; fi
    ;;
  *) echo "usage: scripts/moto.sh start|stop" >&2; exit 2 ;;
esac
