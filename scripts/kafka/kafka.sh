#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) for tests, assembled from Maven Central jars.
#
#   kafka.sh jars                                   collect the jars into .cache/kafka/libs (once;
#                                                   KAFKA_LIBS_DIR names another folder)
#   kafka.sh start DATA_DIR BROKER_PORT CONTROLLER_PORT [ADVERTISED_PORT]
#                                                   ADVERTISED_PORT: what clients are told to use after
#                                                   bootstrap (a proxy in front); default BROKER_PORT
#   kafka.sh stop DATA_DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
libs="${KAFKA_LIBS_DIR:-$root/.cache/kafka/libs}"
stamp="$libs/.pom-sha256"

jars() {
  local want lock
  want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
  mkdir -p "$(dirname "$libs")"
  # The test workers start their brokers at once: one fetches, the others wait for it. Unlocked,
  # a second fetch emptied the folder under a broker that was starting (ClassNotFoundException:
  # kafka.tools.StorageTool). The lock goes with the process, however it ends.
  exec {lock}> "$libs.lock"
  flock "$lock"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    command -v mvn >/dev/null || { echo "kafka.sh: mvn not found (Maven is needed to fetch the Kafka jars)" >&2; exit 3; }
    rm -rf "$libs"
    mkdir -p "$libs"
    mvn -B -q -f "$here/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libs"
    echo "$want" > "$stamp"
  fi
  exec {lock}>&-
}

start() {
  local data=$1 port=$2 controller=$3 advertised=${4:-$2}
  command -v java >/dev/null || { echo "kafka.sh: java not found (Java 17+ runs the broker)" >&2; exit 3; }
  jars
  mkdir -p "$data/logs"
  cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=1
# Threads for the machines it runs on (2 cores here), not Kafka's defaults of 3 network and 8 I/O:
# alternated under the 50-stream benchmark, the broker's CPU a request 2-8 % lower, throughput higher.
num.network.threads=1
num.io.threads=2
# The controller writes a no-op record to the metadata log this often (Kafka's default 500 ms),
# for lag metrics no test reads: each write woke the raft and controller threads, and an idle
# broker's raft and controller threads spent 14-40 ms of CPU a second, 6-16 at 5 s.
metadata.max.idle.interval.ms=5000
PROPS
  local cp="$libs/*" jvm=(-Xms256m -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "-Dlog4j2.configurationFile=$here/log4j2.xml")
  # The cluster id is kept with the data, so a restart on the same folder is the same cluster.
  # Never one starting with "-": the storage tool would read it as an option (1 start in 64 failed).
  [[ -f "$data/cluster.id" ]] \
    || python3 -c 'import base64,uuid
while (c := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]).startswith("-"): pass
print(c)' > "$data/cluster.id"
  # A static quorum (controller.quorum.voters) is formatted without --standalone.
  java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(cat "$data/cluster.id")" \
    -c "$data/server.properties" -g > "$data/format.log" 2>&1 \
    || { echo "kafka.sh: formatting storage failed:" >&2; cat "$data/format.log" >&2; exit 1; }
  : > "$data/broker.log"  # a restart waits for its own "started" line, not the last run's
  nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$data/server.properties" >> "$data/broker.log" 2>&1 &
  echo $! > "$data/broker.pid"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT_S:-90}))
  until grep -q "Kafka Server started" "$data/broker.log" 2>/dev/null; do
    if ! kill -0 "$(cat "$data/broker.pid")" 2>/dev/null; then
      echo "kafka.sh: the broker exited during start-up:" >&2; tail -n 40 "$data/broker.log" >&2; exit 1
    fi
    if (( SECONDS > deadline )); then
      echo "kafka.sh: the broker did not start in time:" >&2; tail -n 40 "$data/broker.log" >&2; stop "$data"; exit 1
    fi
    sleep 0.2
  done
  echo "127.0.0.1:$port"
}

stop() {
  local data=$1 pid
  [[ -f "$data/broker.pid" ]] || return 0
  pid=$(cat "$data/broker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$data/broker.pid"
}

case "${1:-}" in
  jars) jars ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: kafka.sh jars | start DATA_DIR BROKER_PORT CONTROLLER_PORT [ADVERTISED_PORT] | stop DATA_DIR" >&2; exit 2 ;;
esac
