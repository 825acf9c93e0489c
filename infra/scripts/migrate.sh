#!/bin/sh
# azd predeploy hook: apply the SQL migrations to the Azure database before the new code is
# deployed. The schema moves first, so every migration must also suit the code still running
# (add columns and tables; drop them one release later).
#
# Connects straight to PostgreSQL on 5432, not through PgBouncer: DDL and DbUp's journal want a
# plain session. The server's firewall admits Azure services only, so this script opens a rule
# for this machine's public address for the duration of the run and removes it afterwards
# (needs the Azure CLI, logged in). A runner inside the server's network can skip that with
# EVREG_MIGRATE_SKIP_FIREWALL=1; MIGRATION_CLIENT_IP overrides the address lookup.
#
# Reads from the azd environment: POSTGRES_HOST, POSTGRES_DATABASE, POSTGRES_ADMIN_LOGIN,
# POSTGRES_SERVER_NAME, AZURE_RESOURCE_GROUP (outputs of infra/main.bicep) and
# POSTGRES_ADMIN_PASSWORD (set by you with `azd env set`).
set -eu

for name in POSTGRES_HOST POSTGRES_DATABASE POSTGRES_ADMIN_LOGIN POSTGRES_ADMIN_PASSWORD POSTGRES_SERVER_NAME AZURE_RESOURCE_GROUP; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "[migrate] $name is not set in the azd environment" >&2
    exit 2
  fi
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
rule=""

cleanup() {
  if [ -n "$rule" ]; then
    echo "[migrate] removing firewall rule $rule" >&2
    az postgres flexible-server firewall-rule delete --yes --only-show-errors \
      --resource-group "$AZURE_RESOURCE_GROUP" --name "$POSTGRES_SERVER_NAME" --rule-name "$rule" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "[migrate] building the migrator" >&2
dotnet build "$root/EventRegistration.Functions/EventRegistration.Functions.csproj" -c Release -o "$work/out" -nologo -v quiet >&2

if [ "${EVREG_MIGRATE_SKIP_FIREWALL:-0}" != "1" ]; then
  ip="${MIGRATION_CLIENT_IP:-$(curl -fsS https://api.ipify.org)}"
  rule="azd-migrate-$(date +%Y%m%d%H%M%S)"
  echo "[migrate] allowing $ip through the server firewall as $rule" >&2
  az postgres flexible-server firewall-rule create --only-show-errors \
    --resource-group "$AZURE_RESOURCE_GROUP" --name "$POSTGRES_SERVER_NAME" --rule-name "$rule" \
    --start-ip-address "$ip" --end-ip-address "$ip" >/dev/null
fi

# Npgsql quotes a value with double quotes; a double quote inside is doubled.
password="$(printf '%s' "$POSTGRES_ADMIN_PASSWORD" | sed 's/"/""/g')"
Postgres__ConnectionString="Host=$POSTGRES_HOST;Port=5432;Database=$POSTGRES_DATABASE;Username=$POSTGRES_ADMIN_LOGIN;Password=\"$password\";SSL Mode=Require"
export Postgres__ConnectionString

echo "[migrate] applying migrations to $POSTGRES_HOST/$POSTGRES_DATABASE" >&2
dotnet "$work/out/EventRegistration.Functions.dll" migrate
