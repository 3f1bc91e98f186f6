#!/bin/bash
# The runtime in its own cgroup v1 memory group (512 MiB, as the e2e memory test's pod) with the
# e2e test's in-flight budget, then rounds of 40 concurrent 16 MB requests (flood.ts). Root only.
# usage: bench/runtime/memory-retention/run.sh <workers> <rounds> [VAR=value ...]
# The image's settings: NODE_ARGS=--expose-gc with MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2;
# leave them out to see the runtime without them.
set -u
cd "$(dirname "$0")/../../.."
CG=/sys/fs/cgroup/memory/modelship-memory-retention
WORKERS=$1 ROUNDS=$2
shift 2
mkdir -p "$CG"
echo $((512 * 1024 * 1024)) > "$CG/memory.limit_in_bytes"
(
  echo $BASHPID > "$CG/cgroup.procs"
  exec env MODELSHIP_WORKERS="$WORKERS" MODELSHIP_MODEL_PATH="$PWD/examples/models/iris/model.onnx" MODELSHIP_MODEL_NAME=iris \
    MODELSHIP_PORT=18931 MODELSHIP_METRICS_PORT=18932 MODELSHIP_LOG_LEVEL=warn MODELSHIP_MAX_INFLIGHT_BYTES=123032748 "$@" \
    ./node_modules/.bin/node ${NODE_ARGS:-} runtime/src/main.ts serve
) > /tmp/modelship-memory-retention.log 2>&1 &
PID=$!
for _ in $(seq 50); do curl -sf localhost:18931/v2/health/ready > /dev/null && break; sleep 0.3; done
./node_modules/.bin/node bench/runtime/memory-retention/flood.ts 18931 40 "$ROUNDS" "$CG"
kill "$PID" 2> /dev/null
wait "$PID"
sleep 0.5
rmdir "$CG"
