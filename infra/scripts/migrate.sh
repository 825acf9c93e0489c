#!/usr/bin/env bash
# azd predeploy hook: apply the SQL migrations to the Azure database before the new code is
# deployed. The schema moves first, so every migration must also suit the code still running
# (add columns and tables; drop them one release later).
#
# Connects to PostgreSQL on 5432, not through PgBouncer: DDL and DbUp's journal want a plain
# session. No password exists anywhere: the server takes Microsoft Entra tokens only. The migrator
# image is built in the deployment's container registry (`az acr build`, from
# infra/migrate/Dockerfile, so this machine needs no Docker) and run once as a container group
# with the migration identity (the server's Entra administrator, infra/app/migrations.bicep); the
# container signs in with that identity's token (Postgres__EntraAuthentication, __credential,
# __clientId), applies the migrations, then makes the app's identity a PostgreSQL principal that is
# a member of evreg_app only (Migrate__AppLoginName, __AppLoginObjectId). This script waits for it,
# prints its log, fails when it fails, and deletes it. Where it runs depends on the deployment's
# NETWORK_ACCESS (an output of infra/main.bicep):
#   private (default) — in the virtual network's jobs subnet: the server has no public endpoint.
#   public (development) — without a subnet, reaching the server through its "any Azure service"
#     firewall rule; the deploying machine never connects to the database itself.
#
# Every Azure CLI call names the subscription azd deployed to (AZURE_SUBSCRIPTION_ID), never the
# CLI's own default. Ctrl-C or a TERM stops the script at once, after removing what it created.
#
# Reads from the azd environment (outputs of infra/main.bicep): POSTGRES_HOST, POSTGRES_DATABASE,
# AZURE_RESOURCE_GROUP, AZURE_SUBSCRIPTION_ID, NETWORK_ACCESS, MIGRATION_REGISTRY_NAME,
# MIGRATION_REGISTRY_LOGIN_SERVER, MIGRATION_IDENTITY_ID, MIGRATION_IDENTITY_NAME,
# MIGRATION_IDENTITY_CLIENT_ID, APP_IDENTITY_NAME, APP_IDENTITY_PRINCIPAL_ID and, when private,
# MIGRATION_SUBNET_ID.
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

require POSTGRES_HOST POSTGRES_DATABASE AZURE_RESOURCE_GROUP AZURE_SUBSCRIPTION_ID \
  MIGRATION_REGISTRY_NAME MIGRATION_REGISTRY_LOGIN_SERVER MIGRATION_IDENTITY_ID MIGRATION_IDENTITY_NAME \
  MIGRATION_IDENTITY_CLIENT_ID APP_IDENTITY_NAME APP_IDENTITY_PRINCIPAL_ID
network="${NETWORK_ACCESS:-private}"
subnet=()
if [[ "$network" == "private" ]]; then
  require MIGRATION_SUBNET_ID
  subnet=(--subnet "$MIGRATION_SUBNET_ID")
fi

root="$(cd "$(dirname "$0")/../.." && pwd)"
container=""

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "$container" ]]; then
    echo "[migrate] deleting container group $container" >&2
    az container delete --yes --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
      --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" >/dev/null || true
  fi
  exit "$status"
}
# EXIT cleans up; INT and TERM end the script (the EXIT trap then cleans up) instead of returning
# to the next command.
trap cleanup EXIT
trap 'echo "[migrate] interrupted" >&2; exit 130' INT
trap 'echo "[migrate] terminated" >&2; exit 143' TERM

# The user name is the migration identity's PostgreSQL role (Azure names it after the identity);
# its token is the password, fetched inside the container. Nothing here is a secret.
connection="Host=$POSTGRES_HOST;Port=5432;Database=$POSTGRES_DATABASE;Username=$MIGRATION_IDENTITY_NAME;SSL Mode=Require"

tag="$(date -u +%Y%m%d%H%M%S)"
image="$MIGRATION_REGISTRY_LOGIN_SERVER/evreg-migrate:$tag"
echo "[migrate] building $image in $MIGRATION_REGISTRY_NAME" >&2
az acr build --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" --registry "$MIGRATION_REGISTRY_NAME" \
  --image "evreg-migrate:$tag" --file "$root/infra/migrate/Dockerfile" "$root" >&2

container="migrate-$tag"
echo "[migrate] running $container ($network) as $MIGRATION_IDENTITY_NAME" >&2
az container create --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" --name "$container" --image "$image" \
  --assign-identity "$MIGRATION_IDENTITY_ID" --acr-identity "$MIGRATION_IDENTITY_ID" \
  ${subnet[@]+"${subnet[@]}"} --os-type Linux --cpu 1 --memory 1.5 --restart-policy Never \
  --environment-variables "Postgres__ConnectionString=$connection" "Postgres__EntraAuthentication=true" \
    "Postgres__credential=managedidentity" "Postgres__clientId=$MIGRATION_IDENTITY_CLIENT_ID" \
    "Migrate__AppLoginName=$APP_IDENTITY_NAME" "Migrate__AppLoginObjectId=$APP_IDENTITY_PRINCIPAL_ID" \
  --no-wait >/dev/null

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
echo "[migrate] migrations applied; the app's login is a member of evreg_app only" >&2
