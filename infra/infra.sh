#!/usr/bin/env bash
# Local infrastructure for the First Mile mesh, run as plain processes (no Docker):
# PostgreSQL and Redis from Debian's packages, an Apache Kafka 4.x broker in KRaft mode assembled
# from Maven Central, buf from npm, grpcurl built with `go install`, and the Python virtualenv.
# Everything it downloads or writes lives under .cache/ (git-ignored); every command is idempotent.
#
#   infra/infra.sh install          install what is missing (second run: seconds)
#   infra/infra.sh up               start PostgreSQL, Redis and Kafka
#   infra/infra.sh prepare          apply migrations and create Kafka topics
#   infra/infra.sh services-up      start the four services in the background, two processes each:
#                                   <svc> (role api: gRPC) and <svc>-workers (relay and consumers);
#                                   FIRSTMILE_SPLIT_ROLES=0 starts one process per service (role all)
#   infra/infra.sh services-down    stop them (SIGTERM: they drain first)
#   infra/infra.sh down             stop services and infrastructure (data is kept)
#   infra/infra.sh stop COMPONENT   stop one of postgres, redis, kafka (the others keep running);
#                                   PG_STOP_MODE=immediate stops PostgreSQL like a crash
#   infra/infra.sh start COMPONENT  start one of postgres, redis, kafka
#   infra/infra.sh status           what runs where
#   infra/infra.sh env              print the environment the services and tests use
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FIRSTMILE_CACHE:-$ROOT/.cache}"
# Where one instance keeps its data, pids and logs; a second instance (other ports, e.g. the fault
# suite's) sets FIRSTMILE_STATE to a folder of its own and shares the installed tools.
STATE="${FIRSTMILE_STATE:-$CACHE}"
RUN="$STATE/run"
LOGS="$STATE/logs"
VENV="$CACHE/venv"
BIN="$CACHE/bin"
SECRETS="$CACHE/secrets"

PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SSL_PORT="${KAFKA_SSL_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-$((KAFKA_PORT + 3))}"
BUF_VERSION="1.75.0"
GRPCURL_VERSION="v1.9.3"
SERVICES=(pur_svc routing_svc dispatch_svc attendance_adapter)
SPLIT_ROLES="${FIRSTMILE_SPLIT_ROLES:-1}"

log() { printf '\033[1m[infra]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[infra] %s\033[0m\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL refuses to run as root, so a root shell runs it as the `postgres` user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$dir" ] || die "PostgreSQL binaries not found; run: infra/infra.sh install"
  echo "$dir"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what (logs: $LOGS)"
    sleep 0.2
  done
}

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# ---------------------------------------------------------------------------------------- install

install_debian_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  # postgresql-postgis pulls the extension for the default server version (postgis alone does not).
  ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || missing+=(postgresql-postgis)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v go >/dev/null || missing+=(golang-go)
  command -v npm >/dev/null || missing+=(npm)
  command -v runuser >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOGS/apt.log" 2>&1 \
    || die "apt-get install failed; see $LOGS/apt.log"
}

install_python() {
  local want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  stamp_ok "$VENV/.stamp" "$want" && return
  log "Python virtualenv in $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]" >"$LOGS/pip.log" 2>&1 \
    || { tail -20 "$LOGS/pip.log"; die "pip install failed; see $LOGS/pip.log"; }
  # gen/ is a source root: generated code imports itself as `firstmile.<area>.v1`.
  "$VENV/bin/python" -c 'import site,sys; open(site.getsitepackages()[0]+"/firstmile-gen.pth","w").write(sys.argv[1]+"\n")' "$ROOT/gen"
  echo "$want" >"$VENV/.stamp"
}

install_kafka() {
  local want
  want="$(sha256sum "$ROOT/infra/kafka/pom.xml" | cut -d' ' -f1)"
  stamp_ok "$CACHE/kafka/.stamp" "$want" && return
  log "Apache Kafka broker jars from Maven Central"
  rm -rf "$CACHE/kafka/libs"
  mvn -q -B -f "$ROOT/infra/kafka/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$CACHE/kafka/libs" \
    >"$LOGS/maven.log" 2>&1 || { tail -20 "$LOGS/maven.log"; die "maven failed; see $LOGS/maven.log"; }
  echo "$want" >"$CACHE/kafka/.stamp"
}

install_buf() {
  [ -x "$CACHE/npm/node_modules/.bin/buf" ] && "$CACHE/npm/node_modules/.bin/buf" --version 2>/dev/null | grep -qx "$BUF_VERSION" && return
  log "buf $BUF_VERSION from the npm registry"
  npm install --silent --no-audit --no-fund --prefix "$CACHE/npm" "@bufbuild/buf@$BUF_VERSION" >"$LOGS/npm.log" 2>&1 \
    || die "npm install @bufbuild/buf failed; see $LOGS/npm.log"
  ln -sf "$CACHE/npm/node_modules/.bin/buf" "$BIN/buf"
}

install_grpcurl() {
  [ -x "$BIN/grpcurl" ] && return
  log "grpcurl $GRPCURL_VERSION with go install"
  GOBIN="$BIN" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-mod=mod \
    go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >"$LOGS/go.log" 2>&1 \
    || die "go install grpcurl failed; see $LOGS/go.log"
}

cmd_install() {
  mkdir -p "$CACHE" "$RUN" "$LOGS" "$BIN"
  install_debian_packages
  install_python
  install_kafka
  install_buf
  install_grpcurl
}

# ------------------------------------------------------------------------------------ postgres

pg_up() {
  local bin data="$STATE/pg/data" sock="$STATE/pg/run"
  bin="$(pg_bin)"
  mkdir -p "$STATE/pg" "$sock"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$STATE/pg" "$sock"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "PostgreSQL: initdb $data"
    as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 \
      || die "initdb failed; see $LOGS/initdb.log"
  fi
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "PostgreSQL already running on $PG_PORT"
  else
    port_open "$PG_PORT" && die "port $PG_PORT is taken by another process; set PG_PORT"
    log "PostgreSQL: starting on $PG_PORT"
    touch "$LOGS/postgres.log"; [ "$(id -u)" = 0 ] && chown postgres "$LOGS/postgres.log"
    as_pg "$bin/pg_ctl" -D "$data" -l "$LOGS/postgres.log" -w -t 60 start \
      -o "-p $PG_PORT -k $sock -c listen_addresses=localhost -c max_connections=300 -c shared_buffers=256MB $(pg_tls_options)" >/dev/null \
      || die "PostgreSQL did not start; see $LOGS/postgres.log"
  fi
  local psql=("$bin/psql" -h localhost -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='firstmile'")" != 1 ]; then
    "${psql[@]}" -c "CREATE ROLE firstmile LOGIN CREATEDB"
  fi
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='firstmile'")" != 1 ]; then
    "${psql[@]}" -c "CREATE DATABASE firstmile OWNER firstmile"
  fi
}

# TLS is offered (not required) so clients can ask for it with sslmode=verify-full; the server
# key must belong to the postgres user, hence a copy of the local certificate next to the data.
pg_tls_options() {
  local tls="$STATE/pg/tls"
  mkdir -p "$tls"
  cp "$SECRETS/mesh.crt" "$tls/server.crt"; cp "$SECRETS/mesh.key" "$tls/server.key"
  chmod 600 "$tls/server.key"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$tls"
  echo "-c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key"
}

pg_down() {
  local bin data="$STATE/pg/data"
  bin="$(pg_bin)"
  [ -f "$data/PG_VERSION" ] || return 0
  as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || return 0
  local mode="${PG_STOP_MODE:-fast}"
  case "$mode" in smart|fast|immediate) ;; *) die "PG_STOP_MODE must be smart, fast or immediate, not '$mode'" ;; esac
  log "PostgreSQL: stopping ($mode)"
  as_pg "$bin/pg_ctl" -D "$data" -m "$mode" -w stop >/dev/null
}

# ---------------------------------------------------------------------------------------- redis

redis_up() {
  if pid_alive "$RUN/redis.pid"; then log "Redis already running on $REDIS_PORT"; return; fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by another process; set REDIS_PORT"
  log "Redis: starting on $REDIS_PORT"
  mkdir -p "$STATE/redis"
  # A cache only: no snapshots, no append-only file.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE/redis" --daemonize yes \
    --pidfile "$RUN/redis.pid" --logfile "$LOGS/redis.log" --save "" --appendonly no \
    --maxmemory 1gb --maxmemory-policy allkeys-lru
  wait_for 20 "Redis" port_open "$REDIS_PORT"
}

redis_down() {
  pid_alive "$RUN/redis.pid" || return 0
  log "Redis: stopping"
  kill "$(cat "$RUN/redis.pid")"
  wait_for 20 "Redis to stop" bash -c "! kill -0 $(cat "$RUN/redis.pid") 2>/dev/null"
  rm -f "$RUN/redis.pid"
}

# ---------------------------------------------------------------------------------------- kafka

kafka_java() { java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" -cp "$CACHE/kafka/libs/*" "$@"; }

kafka_up() {
  [ -d "$CACHE/kafka/libs" ] || die "Kafka is not installed; run: infra/infra.sh install"
  if pid_alive "$RUN/kafka.pid"; then log "Kafka already running on $KAFKA_PORT"; return; fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set KAFKA_PORT"
  local data="$STATE/kafka/data" props="$STATE/kafka/server.properties" tls="$STATE/kafka/tls"
  mkdir -p "$STATE/kafka" "$tls"
  # The PEM keystore holds the key and its certificate in one file.
  cat "$SECRETS/mesh.key" "$SECRETS/mesh.crt" >"$tls/keystore.pem"
  chmod 600 "$tls/keystore.pem"
  cp "$SECRETS/ca.crt" "$tls/ca.crt"
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$data|g" \
    -e "s|@SSL_PORT@|$KAFKA_SSL_PORT|g" -e "s|@SASL_PORT@|$KAFKA_SASL_PORT|g" -e "s|@TLS_DIR@|$tls|g" \
    -e "s|@SASL_PASSWORD@|$(cat "$SECRETS/kafka-sasl.password")|g" \
    "$ROOT/infra/kafka/server.properties.in" >"$props"
  if [ ! -f "$data/meta.properties" ]; then
    log "Kafka: formatting KRaft storage in $data"
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$props" >"$LOGS/kafka-format.log" 2>&1 \
      || die "Kafka storage format failed; see $LOGS/kafka-format.log"
  fi
  log "Kafka: starting on $KAFKA_PORT (KRaft)"
  setsid nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" \
    -cp "$CACHE/kafka/libs/*" kafka.Kafka "$props" >"$LOGS/kafka.log" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
  wait_for 90 "Kafka" kafka_ready
}

kafka_ready() {
  pid_alive "$RUN/kafka.pid" || die "Kafka exited; see $LOGS/kafka.log"
  port_open "$KAFKA_PORT" && grep -q "Kafka Server started\|\[KafkaRaftServer nodeId=1\] Kafka Server started" "$LOGS/kafka.log"
}

kafka_down() {
  pid_alive "$RUN/kafka.pid" || return 0
  log "Kafka: stopping"
  kill "$(cat "$RUN/kafka.pid")"
  local pid; pid="$(cat "$RUN/kafka.pid")"
  wait_for 60 "Kafka to stop" bash -c "! kill -0 $pid 2>/dev/null"
  rm -f "$RUN/kafka.pid"
}

# ------------------------------------------------------------------------------------- services

cmd_env() {
  cat <<EOF
export FIRSTMILE_DATABASE_URL="postgresql+psycopg2://firstmile@localhost:$PG_PORT/firstmile"
export FIRSTMILE_REDIS_URL="redis://localhost:$REDIS_PORT/0"
export FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS="localhost:$KAFKA_PORT"
# The broker's TLS listeners (tests of the clients' Kafka security settings).
export KAFKA_SSL_PORT=$KAFKA_SSL_PORT KAFKA_SASL_PORT=$KAFKA_SASL_PORT
# Local runs: plaintext gRPC, said explicitly (the default is mutual TLS). Tokens are still required;
# the signing key is exported for local tools only (python -m mesh.commands.tokens, the demo).
export FIRSTMILE_GRPC_TRANSPORT=plaintext
export FIRSTMILE_AUTH_JWT_PUBLIC_KEY_FILE="$SECRETS/jwt-public.pem"
export FIRSTMILE_AUTH_SERVICE_TOKEN_FILE="$SECRETS/service.token"
export FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE="$SECRETS/jwt-private.pem"
# Local command-line tools (the demo, route import, the DLQ command) call the mesh as admin.
export FIRSTMILE_AUTH_TOKEN_FILE="$SECRETS/admin.token"
export PATH="$BIN:$VENV/bin:\$PATH"
EOF
}

# The local CA, certificates (gRPC, PostgreSQL and Kafka TLS), token keys and tokens.
dev_secrets() {
  [ -x "$VENV/bin/python" ] || die "the Python environment is not installed; run: infra/infra.sh install"
  (cd "$ROOT" && "$VENV/bin/python" -m mesh.commands.devsecrets "$SECRETS" >/dev/null)
}

# Local keys and tokens, database schemas and Kafka topics, all idempotent.
prepare() {
  eval "$(cmd_env)"
  dev_secrets
  "$VENV/bin/python" -m mesh.commands.migrate
  "$VENV/bin/python" -m mesh.commands.topics
}

# The processes of the services: with split roles `<svc>` serves gRPC (role api) and
# `<svc>-workers` runs the relay and consumers; otherwise `<svc>` runs both (role all).
processes() {
  local svc
  for svc in "${SERVICES[@]}"; do
    echo "$svc"
    if [ "$SPLIT_ROLES" = 1 ]; then echo "$svc-workers"; fi
  done
}

process_role() {
  case "$1" in
    *-workers) echo workers ;;
    *) if [ "$SPLIT_ROLES" = 1 ]; then echo api; else echo all; fi ;;
  esac
}

services_up() {
  prepare
  local proc svc prefix
  for proc in $(processes); do
    if pid_alive "$RUN/$proc.pid"; then log "$proc already running"; continue; fi
    svc="${proc%-workers}"
    prefix="${svc^^}"
    log "$proc: starting, role $(process_role "$proc") (log: $LOGS/$proc.log)"
    # The workers' gRPC server answers health checks only; its ports sit 10 above the api's.
    env "${prefix}_GRPC_PORT=$(service_port "$proc")" "${prefix}_METRICS_PORT=$(metrics_port "$proc")" \
      setsid nohup "$VENV/bin/python" -m "$svc" "$(process_role "$proc")" >"$LOGS/$proc.log" 2>&1 </dev/null &
    echo $! >"$RUN/$proc.pid"
  done
  for proc in $(processes); do
    wait_for 60 "$proc to serve" service_serving "$proc"
  done
}

service_port() {
  local offset=0
  case "$1" in *-workers) offset=10 ;; esac
  case "${1%-workers}" in
    pur_svc) echo $((50051 + offset)) ;; routing_svc) echo $((50052 + offset)) ;;
    dispatch_svc) echo $((50053 + offset)) ;; attendance_adapter) echo $((50054 + offset)) ;;
  esac
}

metrics_port() { echo $(($(service_port "$1") - 50051 + 9101)); }

service_serving() {
  pid_alive "$RUN/$1.pid" || die "$1 exited; see $LOGS/$1.log"
  "$BIN/grpcurl" -plaintext -max-time 2 "localhost:$(service_port "$1")" grpc.health.v1.Health/Check 2>/dev/null | grep -q SERVING
}

services_down() {
  local proc pid
  # Every process either layout may have left running.
  for proc in $(SPLIT_ROLES=1 processes); do
    pid_alive "$RUN/$proc.pid" || continue
    pid="$(cat "$RUN/$proc.pid")"
    log "$proc: stopping"
    kill -TERM "$pid"
  done
  for proc in $(SPLIT_ROLES=1 processes); do
    pid_alive "$RUN/$proc.pid" || { rm -f "$RUN/$proc.pid"; continue; }
    pid="$(cat "$RUN/$proc.pid")"
    wait_for 45 "$proc to stop" bash -c "! kill -0 $pid 2>/dev/null"
    rm -f "$RUN/$proc.pid"
  done
}

cmd_status() {
  local bin state
  bin="$(pg_bin)"
  if as_pg "$bin/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1; then state=running; else state=stopped; fi
  printf '%-20s %-8s %s\n' postgresql "$state" "localhost:$PG_PORT"
  if pid_alive "$RUN/redis.pid"; then state=running; else state=stopped; fi
  printf '%-20s %-8s %s\n' redis "$state" "localhost:$REDIS_PORT"
  if pid_alive "$RUN/kafka.pid"; then state=running; else state=stopped; fi
  printf '%-20s %-8s %s\n' kafka "$state" "localhost:$KAFKA_PORT"
  local proc
  for proc in $(processes); do
    if pid_alive "$RUN/$proc.pid"; then
      if service_serving "$proc" 2>/dev/null; then state=SERVING; else state=running; fi
    else state=stopped; fi
    printf '%-36s %-8s %s\n' "$proc ($(process_role "$proc"))" "$state" "localhost:$(service_port "$proc")"
  done
}

mkdir -p "$CACHE" "$RUN" "$LOGS" "$BIN"
case "${1:-}" in
  install) cmd_install ;;
  up) dev_secrets; pg_up; redis_up; kafka_up ;;
  prepare) prepare ;;
  services-up) services_up ;;
  services-down) services_down ;;
  down) services_down; kafka_down; redis_down; pg_down ;;
  start|stop)
    direction="$([ "$1" = start ] && echo up || echo down)"
    case "${2:-}" in
      postgres) "pg_$direction" ;;
      redis|kafka) "${2}_$direction" ;;
      *) die "usage: infra/infra.sh $1 postgres|redis|kafka" ;;
    esac ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
