#!/bin/bash
# What temporalio/auto-setup's entrypoint does for PostgreSQL, with the same variables:
# DB (postgres12 | postgres12_pgx), DB_PORT, POSTGRES_SEEDS, POSTGRES_USER, POSTGRES_PWD, DBNAME,
# VISIBILITY_DBNAME, SKIP_SCHEMA_SETUP, SKIP_DB_CREATE, DEFAULT_NAMESPACE,
# DEFAULT_NAMESPACE_RETENTION, SKIP_DEFAULT_NAMESPACE_CREATION, BIND_ON_IP, TEMPORAL_BROADCAST_ADDRESS.
set -eu -o pipefail

: "${DB:?DB must be postgres12 or postgres12_pgx}"
case "$DB" in
  postgres12 | postgres12_pgx) ;;
  *) echo "auto-setup: DB=$DB is not supported by this image (postgres12, postgres12_pgx)" >&2; exit 1 ;;
esac
export DB_PORT=${DB_PORT:-5432}
export POSTGRES_SEEDS=${POSTGRES_SEEDS:?POSTGRES_SEEDS names the PostgreSQL host}
export POSTGRES_USER=${POSTGRES_USER:?}
export POSTGRES_PWD=${POSTGRES_PWD:-}
export DBNAME=${DBNAME:-temporal}
export VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
export DYNAMIC_CONFIG_FILE_PATH=${DYNAMIC_CONFIG_FILE_PATH:-config/dynamicconfig/docker.yaml}
DEFAULT_NAMESPACE=${DEFAULT_NAMESPACE:-default}
DEFAULT_NAMESPACE_RETENTION=${DEFAULT_NAMESPACE_RETENTION:-24h}

# The server binds to the container's address unless told otherwise, and must then broadcast it.
if [ -z "${BIND_ON_IP:-}" ]; then
  BIND_ON_IP=$(hostname -i 2>/dev/null | awk '{print $1}')
  export BIND_ON_IP=${BIND_ON_IP:-127.0.0.1}
fi
if [ "$BIND_ON_IP" = 0.0.0.0 ] || [ "$BIND_ON_IP" = '::0' ]; then
  : "${TEMPORAL_BROADCAST_ADDRESS:?BIND_ON_IP=$BIND_ON_IP needs TEMPORAL_BROADCAST_ADDRESS}"
fi
export BIND_ON_IP
[ -n "${TEMPORAL_ADDRESS:-}" ] || export TEMPORAL_ADDRESS="$BIND_ON_IP:${FRONTEND_GRPC_PORT:-7233}"

sql() { SQL_PASSWORD=$POSTGRES_PWD temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"; }

wait_for_postgres() {
  local i
  for i in $(seq 1 120); do
    if (exec 9<>"/dev/tcp/${POSTGRES_SEEDS%%,*}/$DB_PORT") 2>/dev/null; then
      return 0
    fi
    echo "auto-setup: waiting for PostgreSQL at ${POSTGRES_SEEDS%%,*}:$DB_PORT"
    sleep 1
  done
  echo "auto-setup: PostgreSQL at ${POSTGRES_SEEDS%%,*}:$DB_PORT did not answer in 120 s" >&2
  exit 1
}

setup_schema() {
  local schema=schema/postgresql/v12
  # The postgres image makes the database named after its user itself.
  if [ "$DBNAME" != "$POSTGRES_USER" ] && [ "${SKIP_DB_CREATE:-false}" != true ]; then
    sql --db "$DBNAME" create || true
  fi
  sql --db "$DBNAME" setup-schema -v 0.0
  sql --db "$DBNAME" update-schema -d "$schema/temporal/versioned"
  if [ "$VISIBILITY_DBNAME" != "$POSTGRES_USER" ] && [ "${SKIP_DB_CREATE:-false}" != true ]; then
    sql --db "$VISIBILITY_DBNAME" create || true
  fi
  sql --db "$VISIBILITY_DBNAME" setup-schema -v 0.0
  sql --db "$VISIBILITY_DBNAME" update-schema -d "$schema/visibility/versioned"
}

register_namespace() {
  until temporal operator cluster health >/dev/null 2>&1; do sleep 1; done
  if ! temporal operator namespace describe --namespace "$DEFAULT_NAMESPACE" >/dev/null 2>&1; then
    temporal operator namespace create --namespace "$DEFAULT_NAMESPACE" --retention "$DEFAULT_NAMESPACE_RETENTION"
  fi
  echo "auto-setup: namespace $DEFAULT_NAMESPACE is registered"
}

wait_for_postgres
if [ "${SKIP_SCHEMA_SETUP:-false}" != true ]; then setup_schema; fi
if [ "${SKIP_DEFAULT_NAMESPACE_CREATION:-false}" != true ]; then register_namespace & fi
exec temporal-server --root /etc/temporal --env docker start
