#!/usr/bin/env bash
# azd postdeploy hook: prove that every Key Vault reference of the Function App resolves, so the
# first requests never see a literal "@Microsoft.KeyVault(...)" as a secret.
#
# The identity and its Key Vault role are created before the app (infra/app/identity.bicep), so
# the references normally resolve on the first start. This checks it instead of trusting it: it
# asks App Service for the status of every reference (config/configreferences/appsettings) until
# all are Resolved, for up to 10 minutes (role assignments can take that long to propagate), then
# restarts the app once if any was unresolved at first, because resolved values are otherwise only
# refreshed every 24 hours or on a configuration change. A reference still unresolved after that
# fails the deployment with its status and the platform's explanation (never a secret value).
set -euo pipefail
trap 'echo "[postdeploy] interrupted" >&2; exit 130' INT
trap 'echo "[postdeploy] terminated" >&2; exit 143' TERM

for name in AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME; do
  if [[ -z "${!name:-}" ]]; then
    echo "[postdeploy] $name is not set in the azd environment" >&2
    exit 2
  fi
done

uri="https://management.azure.com/subscriptions/$AZURE_SUBSCRIPTION_ID/resourceGroups/$AZURE_RESOURCE_GROUP/providers/Microsoft.Web/sites/$AZURE_FUNCTION_APP_NAME/config/configreferences/appsettings?api-version=2022-03-01"
query="value[?properties.status!='Resolved'].[name, properties.status, properties.details]"
deadline=$((SECONDS + 600))
restart=0
while true; do
  unresolved="$(az rest --only-show-errors --method get --uri "$uri" --query "$query" -o tsv)"
  if [[ -z "$unresolved" ]]; then
    break
  fi
  restart=1
  if (( SECONDS > deadline )); then
    echo "[postdeploy] Key Vault references still unresolved after 10 minutes:" >&2
    echo "$unresolved" >&2
    exit 1
  fi
  echo "[postdeploy] waiting for Key Vault references: $(echo "$unresolved" | cut -f1 | tr '\n' ' ')" >&2
  sleep 20
done

if (( restart )); then
  echo "[postdeploy] every reference resolves now; restarting $AZURE_FUNCTION_APP_NAME so it reads them" >&2
  az functionapp restart --only-show-errors --subscription "$AZURE_SUBSCRIPTION_ID" \
    --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME"
fi
echo "[postdeploy] every Key Vault reference resolves" >&2
