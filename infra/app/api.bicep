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
// and __clientId; the app's own clients (StorageClients, the PostgreSQL token source) use the Azure
// SDK's DefaultAzureCredential, which takes the user-assigned identity from AZURE_CLIENT_ID.
// Application Insights accepts only Entra-authenticated ingestion (disableLocalAuth): the host
// reads APPLICATIONINSIGHTS_AUTHENTICATION_STRING, and so does the app's exporter (MetricsExport).
var identitySettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AZURE_CLIENT_ID: identityClientId
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

// The identity and its roles were created before this module ran (main.bicep), so the Key Vault
// references resolve on the app's first start.
resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, identitySettings)
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
output defaultHostName string = functionApp.properties.defaultHostName
