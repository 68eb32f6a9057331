#!/usr/bin/env bash
# Runs a private Kafka (KRaft, one combined broker+controller) and Redis on free 127.0.0.1 ports.
# Everything for one set lives in one directory, so parallel tests each get their own set, and a
# stopped set restarts on the same ports with the same data.
set -euo pipefail

readonly kafka_version=3.9.1
readonly scala_version=2.13
# slf4j-api 1.7.36 is what kafka_2.13:3.9.1 depends on; its binding must be the same 1.7 line.
readonly slf4j_version=1.7.36
# slf4j-reload4j 1.7.36 would pull reload4j 1.2.19; the Kafka 3.9 distribution ships 1.2.25.
readonly reload4j_version=1.2.25

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly root
readonly node="$root/scripts/node.sh"
readonly cache="$root/.cache/kafka-$kafka_version"
readonly marker_name=.spillway-services

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  cat <<'EOF'
usage: deploy/local/services.sh <start|stop|kill|clean|env> [--dir DIR] [--only kafka|redis]

  start   start the set's services (reusing ports and data from an earlier run), wait until they
          answer, print KAFKA_BROKERS=... and REDIS_URL=... on stdout
  stop    SIGTERM, keep data and ports          kill   SIGKILL, keep data and ports
  clean   stop, then remove DIR                 env    print the settings; exit 1 unless running

  DIR defaults to <repo>/.run/services. SERVICES_START_TIMEOUT (seconds, default 60) bounds start.
EOF
}

command=${1:-}
[ $# -gt 0 ] && shift
dir="$root/.run/services"
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --only) [ $# -ge 2 ] || die "--only needs a value"; only=$2; shift 2 ;;
    --only=*) only=${1#--only=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
case "$only" in "" | kafka | redis) ;; *) die "--only takes kafka or redis, not '$only'" ;; esac
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
# One spelling per set: pid checks match the directory inside each service's command line.
canonical_dir() { if [ -d "$dir" ]; then dir=$(cd "$dir" && pwd -P); fi; }
canonical_dir
[ "$dir" != / ] || die "refusing DIR /"

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# ---- the set's files ---------------------------------------------------------------------------

port_of() { cat "$dir/$1.port" 2>/dev/null; }

# Services this set was started with; with none recorded yet, both.
members() {
  local s found=()
  for s in kafka redis; do [ -f "$dir/$s.port" ] && found+=("$s"); done
  if [ ${#found[@]} -eq 0 ]; then found=(kafka redis); fi
  echo "${found[@]}"
}

selected() { if [ -n "$only" ]; then echo "$only"; else members; fi; }

# A pid file alone proves nothing: the pid may have been recycled after a reboot, and a killed
# child whose parent never reaps it lingers as a zombie. So match the command line and the state.
pid_of() {
  local svc=$1 pid state args port
  pid=$(cat "$dir/$svc.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  read -r state args < <(ps -ww -o stat= -o args= -p "$pid" 2>/dev/null) || return 1
  [[ $state != Z* ]] || return 1
  case "$svc" in
    kafka) [[ $args == *"$dir/server.properties"* ]] || return 1 ;;
    # Redis retitles itself "redis-server 127.0.0.1:PORT" once running; before that, argv shows.
    redis)
      port=$(port_of redis)
      [[ $args == *redis-server*"127.0.0.1:$port"* || $args == *redis-server*"--port $port "* ]] ||
        return 1
      ;;
  esac
  echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# One line per running service of those given (default: the set's members).
env_lines() {
  local s
  # shellcheck disable=SC2046 # word splitting of the service list is intended
  [ $# -gt 0 ] || set -- $(members)
  for s in "$@"; do
    running "$s" || continue
    case "$s" in
      kafka) echo "KAFKA_BROKERS=127.0.0.1:$(port_of kafka)" ;;
      redis) echo "REDIS_URL=redis://127.0.0.1:$(port_of redis)" ;;
    esac
  done
}

write_env() {
  env_lines | sed 's/^/export /' >"$dir/env.tmp"
  mv "$dir/env.tmp" "$dir/env"
}

# Serialises commands on one set; the fd is closed for the services we launch, or they would hold
# the lock for their whole life.
lock_dir() {
  exec 9>"$dir/.lock"
  flock 9
}

# ---- tools -------------------------------------------------------------------------------------

apt_install() {
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  command -v apt-get >/dev/null || die "missing $*; install it (no apt-get here)"
  mkdir -p "$root/.cache"
  # Parallel test sets on a fresh CI machine would otherwise race for the dpkg lock.
  (
    flock 8
    log "installing $* with apt-get"
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "$@" >&2
  ) 8>"$root/.cache/apt.lock"
}

need_java() { command -v java >/dev/null || apt_install openjdk-17-jre-headless; }
need_mvn() { command -v mvn >/dev/null || apt_install maven; }

need_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  local v
  v=$(redis-server --version | sed -n 's/.* v=\([0-9]*\)\..*/\1/p')
  [ "${v:-0}" -ge 7 ] || log "warning: redis-server $v found; Spillway expects Redis 7"
}

kafka_pom() {
  cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.spillway</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$kafka_version</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$scala_version</artifactId>
      <version>$kafka_version</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$slf4j_version</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>$reload4j_version</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.8.1</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
}

# The marker holds the pom it was built from, so changing the versions above refreshes the cache.
kafka_jars_ready() {
  [ -f "$cache/.complete" ] && [ "$(kafka_pom)" = "$(cat "$cache/.complete")" ]
}

need_kafka_jars() {
  kafka_jars_ready && return 0
  mkdir -p "$cache"
  (
    flock 8
    kafka_jars_ready && exit 0
    need_mvn
    log "resolving Kafka $kafka_version jars from Maven Central into $cache/libs"
    rm -rf "$cache/libs" "$cache/.complete"
    kafka_pom >"$cache/pom.xml"
    # Maven 3.8 emits colour resets even in batch mode; keep stderr readable in CI logs.
    (cd "$cache" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs \
      -DincludeScope=runtime) 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
    kafka_pom >"$cache/.complete"
  ) 8>"$cache/.lock"
}

# Asks the OS for n distinct free ports by holding n listeners open at once.
free_ports() {
  "$node" -e '
    const net = process.getBuiltinModule("node:net");
    const servers = Array.from({ length: Number(process.argv[1]) }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((resolve, reject) => {
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => resolve(s.address().port));
    }))).then((ports) => {
      console.log(ports.join(" "));
      for (const s of servers) s.close();
    });
  ' "$1"
}

# ---- Kafka -------------------------------------------------------------------------------------

write_kafka_config() {
  local port cport
  port=$(port_of kafka)
  cport=$(port_of kafka-controller)
  cat >"$dir/server.properties" <<EOF
# Written by deploy/local/services.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/kafka-data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
# Fewer partitions: the group coordinator loads each one before the first consumer may join.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# After a SIGKILL the restarted broker may not register until the dead incarnation's session
# expires (DUPLICATE_BROKER_REGISTRATION); the 9 s default made crash restarts take ~15 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# Two cores: the defaults (3 network, 8 I/O threads) only add contention for a test broker.
num.network.threads=2
num.io.threads=4
EOF
  cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# Its "Kafka Server started" line marks each run in kafka.log (KafkaServer is the ZooKeeper-mode
# class and stays silent in KRaft mode).
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

format_kafka_storage() {
  [ -f "$dir/kafka-data/meta.properties" ] && return 0
  # Short-lived tool JVMs: the C1-only, serial-GC setting starts them noticeably faster.
  local quick=(-Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m
    "-Dlog4j.configuration=file:$dir/log4j.properties" -cp "$cache/libs/*") id
  id=$(java "${quick[@]}" kafka.tools.StorageTool random-uuid 2>>"$dir/kafka.log")
  java "${quick[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" \
    >>"$dir/kafka.log" 2>&1 ||
    { tail -n 40 "$dir/kafka.log" >&2; die "formatting Kafka storage failed"; }
}

launch_kafka() {
  write_kafka_config
  format_kafka_storage
  echo "--- start $(date -u +%FT%TZ)" >>"$dir/kafka.log"
  # setsid+nohup: the broker must outlive this script and its caller's terminal or process group.
  setsid nohup java -Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true "-Dlog4j.configuration=file:$dir/log4j.properties" \
    -cp "$cache/libs/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/kafka.log" 2>&1 9>&- &
  echo $! >"$dir/kafka.pid"
  # Not a job of this shell: no "Killed" notices when a failed start kills it.
  disown $!
}

# ---- Redis -------------------------------------------------------------------------------------

launch_redis() {
  mkdir -p "$dir/redis"
  echo "--- start $(date -u +%FT%TZ)" >>"$dir/redis.log"
  # Config errors go to stderr before Redis opens its log file, so both end up in one file.
  # shellcheck disable=SC2094 # appending from two writers, nothing reads it here
  setsid nohup redis-server --port "$(port_of redis)" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir/redis" --logfile "$dir/redis.log" --daemonize no \
    </dev/null >>"$dir/redis.log" 2>&1 9>&- &
  echo $! >"$dir/redis.pid"
  disown $!
}

# ---- commands ----------------------------------------------------------------------------------

# Signals the given services, then waits for each to exit; SIGKILL after 20 s.
signal_and_wait() {
  local sig=$1 s pid deadline
  shift
  local pids=()
  for s in "$@"; do
    if pid=$(pid_of "$s"); then
      echo "--- SIG$sig $(date -u +%FT%TZ)" >>"$dir/$s.log"
      kill -s "$sig" "$pid" 2>/dev/null || true
      pids+=("$s:$pid")
    else
      rm -f "$dir/$s.pid"
    fi
  done
  deadline=$(($(now_ms) + 20000))
  for s in "${pids[@]}"; do
    while running "${s%%:*}"; do
      if [ "$(now_ms)" -ge "$deadline" ]; then
        log "${s%%:*} did not exit within 20 s of SIG$sig; sending SIGKILL"
        kill -s KILL "${s#*:}" 2>/dev/null || true
        deadline=$(($(now_ms) + 5000))
      fi
      sleep 0.1
    done
    rm -f "$dir/${s%%:*}.pid"
  done
}

launched_now=()

# A start that does not finish leaves nothing half-running behind.
abort_start() {
  [ ${#launched_now[@]} -gt 0 ] && signal_and_wait KILL "${launched_now[@]}"
  return 0
}

# Kafka or Redis losing a race for a port we picked (another set, or an outgoing connection, took
# it between our probe and their bind) is worth another try on new ports; anything else is fatal.
lost_port_race() { tail -c "+$(($2 + 1))" "$dir/$1.log" | grep -q 'Address already in use'; }

cmd_start() {
  mkdir -p "$dir"
  canonical_dir
  if [ ! -f "$dir/$marker_name" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir is not empty and was not made by this script; refusing to use it"
  fi
  touch "$dir/$marker_name"
  lock_dir

  local s todo=() timeout_s=${SERVICES_START_TIMEOUT:-60} deadline
  [[ $timeout_s =~ ^[0-9]+$ ]] || die "SERVICES_START_TIMEOUT must be whole seconds, not '$timeout_s'"
  for s in $(selected); do running "$s" || todo+=("$s"); done
  if [ ${#todo[@]} -gt 0 ]; then
    local t0
    t0=$(now_ms)
    for s in "${todo[@]}"; do
      case "$s" in
        kafka) need_java; need_kafka_jars ;;
        redis) need_redis ;;
      esac
    done
    trap abort_start EXIT
    trap 'exit 130' INT TERM
    deadline=$(($(now_ms) + timeout_s * 1000))

    local attempt=1 kp cp
    declare -A fresh=() offset=()
    while [ ${#todo[@]} -gt 0 ]; do
      for s in "${todo[@]}"; do
        fresh[$s]=0
        if [ ! -f "$dir/$s.port" ]; then
          fresh[$s]=1
          case "$s" in
            kafka)
              read -r kp cp < <(free_ports 2)
              echo "$kp" >"$dir/kafka.port"
              echo "$cp" >"$dir/kafka-controller.port"
              ;;
            redis) free_ports 1 >"$dir/redis.port" ;;
          esac
        fi
        touch "$dir/$s.log"
        offset[$s]=$(wc -c <"$dir/$s.log")
        log "starting $s on 127.0.0.1:$(port_of "$s")"
        "launch_$s"
        launched_now+=("$s")
      done

      local args=() failed
      for s in "${todo[@]}"; do
        case "$s" in
          kafka) args+=(--kafka "127.0.0.1:$(port_of kafka)" --kafka-pid "$(<"$dir/kafka.pid")") ;;
          redis) args+=(--redis "redis://127.0.0.1:$(port_of redis)" --redis-pid "$(<"$dir/redis.pid")") ;;
        esac
      done
      local left=$((deadline - $(now_ms)))
      [ "$left" -gt 0 ] || left=1
      # kafkajs 2.2.4 arms timers with negative delays, which Node 24 warns about (kafkajs#1751).
      if failed=$("$node" --disable-warning=TimeoutNegativeWarning \
        "$root/deploy/local/wait-ready.ts" "${args[@]}" --timeout-ms "$left"); then
        break
      fi

      [ -n "$failed" ] || die "wait-ready failed without naming a service"
      local retry=()
      for s in $failed; do
        if [ "${fresh[$s]}" = 1 ] && [ "$attempt" -lt 3 ] &&
          lost_port_race "$s" "${offset[$s]}"; then
          log "$s lost its port to another process; picking new ports"
          signal_and_wait KILL "$s"
          rm -f "$dir/$s.port" "$dir/$s-controller.port"
          retry+=("$s")
        else
          log "$s did not become ready; last 40 lines of $dir/$s.log:"
          tail -n 40 "$dir/$s.log" >&2
          exit 1
        fi
      done
      todo=("${retry[@]}")
      attempt=$((attempt + 1))
    done
    trap - EXIT INT TERM
    log "ready in $(($(now_ms) - t0)) ms"
  fi
  write_env
  env_lines
}

cmd_stop() {
  local sig=$1
  # Nothing of ours runs from a directory this script never set up; and do not drop a lock there.
  [ -f "$dir/$marker_name" ] || return 0
  lock_dir
  # shellcheck disable=SC2046 # word splitting of the service list is intended
  signal_and_wait "$sig" $(selected)
  write_env
}

cmd_clean() {
  [ -d "$dir" ] || return 0
  if [ ! -f "$dir/$marker_name" ] && [ -n "$(ls -A "$dir")" ]; then
    die "$dir was not made by this script; not removing it"
  fi
  only=""
  cmd_stop TERM
  rm -rf "$dir"
}

cmd_env() {
  [ -f "$dir/$marker_name" ] || exit 1
  local s
  for s in $(selected); do running "$s" || exit 1; done
  # shellcheck disable=SC2046 # word splitting of the service list is intended
  env_lines $(selected)
}

case "$command" in
  start) cmd_start ;;
  stop) cmd_stop TERM ;;
  kill) cmd_stop KILL ;;
  clean)
    [ -z "$only" ] || die "--only does not apply to clean"
    cmd_clean
    ;;
  env) cmd_env ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
