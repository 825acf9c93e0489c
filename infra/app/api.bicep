// The Function App on Flex Consumption: .NET 10 isolated worker, a user-assigned identity whose
// roles exist before the app (identity.bicep), code deployed from a blob container that identity
// reads. Flex takes the worker runtime and version from functionAppConfig.runtime and rejects
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION as app settings, so neither appears below.
param location string
param tags object
param planName string
param functionAppName string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param maximumInstanceCount int
param instanceMemoryMB int

@description('Resource id of the user-assigned identity (identity.bicep) the app runs as.')
param identityId string
param identityClientId string

@description('Subnet for VNet integration (delegated to Microsoft.App/environments); empty for the public development deployment.')
param virtualNetworkSubnetId string

@description('Every app setting of the app, Key Vault references included (built in main.bicep).')
param appSettings object

@description('Client id of the Entra app registration people sign in with (App Service Authentication); empty leaves the authentication off.')
param entraClientId string

@description('Name of the app setting holding that registration\'s client secret (a Key Vault reference); empty: no secret, ID tokens only.')
param entraCredentialSettingName string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Identity settings shared by the host and the app. The host reads AzureWebJobsStorage__credential
// and __clientId; the app's storage clients (StorageClients) use the Azure SDK's
// DefaultAzureCredential, which takes the user-assigned identity from AZURE_CLIENT_ID. The
// PostgreSQL token source (PostgresSignIn) is named outright: Postgres__credential and __clientId
// make the client factory build a ManagedIdentityCredential for this identity, no credential chain.
// Application Insights accepts only Entra-authenticated ingestion (disableLocalAuth): the host
// reads APPLICATIONINSIGHTS_AUTHENTICATION_STRING, and so does the app's exporter (MetricsExport).
var identitySettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AZURE_CLIENT_ID: identityClientId
  Postgres__credential: 'managedidentity'
  Postgres__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    // Outbound traffic (PostgreSQL, storage, Key Vault, Key Vault references) through the network.
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }
}

// App Service Authentication (Entra ID) in front of the app, only when an app registration is
// given. AllowAnonymous, not a redirect or a 401 from the platform: the webhooks (Razorpay, Meta),
// /api/health, the door check-ins and the console's static pages must stay reachable without a
// sign-in, and the admin routes answer their own 401/403 problem+json (Admin/Access/AdminAccess.cs).
// The platform still validates any session or token it is sent and strips X-MS-CLIENT-PRINCIPAL*
// headers a caller made up, which is what makes Admin__TrustAppServiceAuthentication safe to set.
// With every path anonymous, excludedPaths has nothing to exclude.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(entraClientId)) {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: entraClientId
          // Only the tenant's own accounts (v2.0 endpoint: the app roles arrive in the 'roles' claim).
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          // The name of an app setting, never the secret: that setting is a Key Vault reference.
          clientSecretSettingName: empty(entraCredentialSettingName) ? null : entraCredentialSettingName
        }
      }
    }
    login: {
      tokenStore: {
        enabled: true
      }
    }
  }
}

// The identity and its roles were created before this module ran (main.bicep), so the Key Vault
// references resolve on the app's first start. The settings wait for the authentication: a
// deployment that turns Admin__TrustAppServiceAuthentication on never has the app believe principal
// headers before the platform is there to strip forged ones.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, identitySettings)
  dependsOn: [authSettings]
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
output defaultHostName string = functionApp.properties.defaultHostName
