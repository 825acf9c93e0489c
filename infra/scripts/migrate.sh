#!/usr/bin/env bash
# azd predeploy hook: apply the SQL migrations to the Azure database before the new code is
# deployed. The schema moves first, so every migration must also suit the code still running
# (add columns and tables; drop them one release later).
#
# Connects to PostgreSQL on 5432, not through PgBouncer: DDL and DbUp's journal want a plain
# session. How it reaches the server depends on the deployment's NETWORK_ACCESS (an output of
# infra/main.bicep):
#   private (default) — the server has no public endpoint. The migrator image is built in the
#     deployment's container registry (`az acr build`, from infra/migrate/Dockerfile) and run once
#     as a container group in the virtual network's jobs subnet; this script waits for it, prints
#     its log, fails when it fails, and deletes it.
#   public (development) — this machine connects directly, through a firewall rule for its own
#     public address that lives only as long as the run (MIGRATION_CLIENT_IP overrides the lookup;
#     EVREG_MIGRATE_SKIP_FIREWALL=1 skips the rule for a runner that already reaches the server).
#
# Every Azure CLI call names the subscription azd deployed to (AZURE_SUBSCRIPTION_ID), never the
# CLI's own default. Ctrl-C or a TERM stops the script at once, after removing what it created.
#
# Reads from the azd environment: POSTGRES_HOST, POSTGRES_DATABASE, POSTGRES_ADMIN_LOGIN,
# POSTGRES_SERVER_NAME, AZURE_RESOURCE_GROUP, AZURE_SUBSCRIPTION_ID, NETWORK_ACCESS and, when
# private, MIGRATION_REGISTRY_NAME, MIGRATION_REGISTRY_LOGIN_SERVER, MIGRATION_IDENTITY_ID,
# MIGRATION_SUBNET_ID (outputs of infra/main.bicep), and POSTGRES_ADMIN_PASSWORD (`azd env set`).
set -euo pipefail

require() {
  local name
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      echo "[migrate] $name is not set in the azd environment" >&2
      exit 2
    fi
  done
}

require POSTGRES_HOST POSTGRES_DATABASE POSTGRES_ADMIN_LOGIN POSTGRES_ADMIN_PASSWORD POSTGRES_SERVER_NAME \
  AZURE_RESOURCE_GROUP AZURE_SUBSCRIPTION_ID
network="${NETWORK_ACCESS:-private}"

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
rule=""
container=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "$rule" ]]; then
    echo "[migrate] removing firewall rule $rule" >&2
    az postgres flexible-server firewall-rule delete --yes --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
      --resource-group "$AZURE_RESOURCE_GROUP" --name "$POSTGRES_SERVER_NAME" --rule-name "$rule" >/dev/null || true
  fi
  if [[ -n "$container" ]]; then
    echo "[migrate] deleting container group $container" >&2
    az container delete --yes --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
      --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" >/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
# EXIT cleans up; INT and TERM end the script (the EXIT trap then cleans up) instead of returning
# to the next command with the work folder already gone.
trap cleanup EXIT
trap 'echo "[migrate] interrupted" >&2; exit 130' INT
trap 'echo "[migrate] terminated" >&2; exit 143' TERM

# Npgsql quotes a value with double quotes; a double quote inside is doubled.
password="$(printf '%s' "$POSTGRES_ADMIN_PASSWORD" | sed 's/"/""/g')"
connection="Host=$POSTGRES_HOST;Port=5432;Database=$POSTGRES_DATABASE;Username=$POSTGRES_ADMIN_LOGIN;Password=\"$password\";SSL Mode=Require"

if [[ "$network" == "private" ]]; then
  require MIGRATION_REGISTRY_NAME MIGRATION_REGISTRY_LOGIN_SERVER MIGRATION_IDENTITY_ID MIGRATION_SUBNET_ID
  tag="$(date -u +%Y%m%d%H%M%S)"
  image="$MIGRATION_REGISTRY_LOGIN_SERVER/evreg-migrate:$tag"
  echo "[migrate] building $image in $MIGRATION_REGISTRY_NAME" >&2
  az acr build --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" --registry "$MIGRATION_REGISTRY_NAME" \
    --image "evreg-migrate:$tag" --file "$root/infra/migrate/Dockerfile" "$root" >&2

  container="migrate-$tag"
  echo "[migrate] running $container in the jobs subnet" >&2
  # The connection string travels as a secure environment variable: kept out of the container
  # group's readable properties and of the image.
  az container create --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" --image "$image" \
    --assign-identity "$MIGRATION_IDENTITY_ID" --acr-identity "$MIGRATION_IDENTITY_ID" \
    --subnet "$MIGRATION_SUBNET_ID" --os-type Linux --cpu 1 --memory 1.5 --restart-policy Never \
    --secure-environment-variables "Postgres__ConnectionString=$connection" --no-wait >/dev/null

  deadline=$((SECONDS + 900))
  state=""
  while [[ "$state" != "Terminated" ]]; do
    if (( SECONDS > deadline )); then
      echo "[migrate] $container did not finish in 15 minutes" >&2
      exit 1
    fi
    sleep 10
    state="$(az container show --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
      --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" \
      --query 'containers[0].instanceView.currentState.state' -o tsv 2>/dev/null || true)"
  done

  az container logs --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" >&2 || true
  exit_code="$(az container show --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" \
    --query 'containers[0].instanceView.currentState.exitCode' -o tsv)"
  if [[ "$exit_code" != "0" ]]; then
    echo "[migrate] the migration failed (exit code $exit_code); the new code is not deployed" >&2
    exit 1
  fi
  echo "[migrate] migrations applied" >&2
  exit 0
fi

echo "[migrate] building the migrator" >&2
dotnet build "$root/EventRegistration.Functions/EventRegistration.Functions.csproj" -c Release -o "$work/out" -nologo -v quiet >&2

if [[ "${EVREG_MIGRATE_SKIP_FIREWALL:-0}" != "1" ]]; then
  ip="${MIGRATION_CLIENT_IP:-$(curl -fsS https://api.ipify.org)}"
  rule="azd-migrate-$(date -u +%Y%m%d%H%M%S)"
  echo "[migrate] allowing $ip through the server firewall as $rule" >&2
  az postgres flexible-server firewall-rule create --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$AZURE_RESOURCE_GROUP" --name "$POSTGRES_SERVER_NAME" --rule-name "$rule" \
    --start-ip-address "$ip" --end-ip-address "$ip" >/dev/null
fi

echo "[migrate] applying migrations to $POSTGRES_HOST/$POSTGRES_DATABASE" >&2
Postgres__ConnectionString="$connection" dotnet "$work/out/EventRegistration.Functions.dll" migrate
