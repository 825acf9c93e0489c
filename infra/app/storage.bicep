// The storage account behind AzureWebJobsStorage: the host's own state, the ticket queue and
// its poison queue, the lease and QR-image containers, and the package container Flex
// Consumption deploys from. Names must match the app (DeliverTicketFunction.QueueName,
// StorageOptions defaults) and host.json's queue settings.
param location string
param tags object
param storageAccountName string
param deploymentContainerName string

@description('False in the default deployment: the account answers only on its private endpoints (main.bicep).')
param publicNetworkAccess bool

var queueNames = [
  'ticket-deliveries'
  'ticket-deliveries-poison'
]

var containerNames = [
  'ticket-locks'
  'tickets'
  deploymentContainerName
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    // The host and the app sign in with the Function App's identity (AzureWebJobsStorage__accountName);
    // no key is handed out, so none can leak. The data roles are assigned in api.bicep.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
    // Private by default: blob, queue and table are reached through private endpoints from the
    // app's network; nothing, not even other Azure services, comes in from outside.
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: publicNetworkAccess ? 'Allow' : 'Deny'
      bypass: 'None'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in containerNames: {
  parent: blobService
  name: name
  properties: { publicAccess: 'None' }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in queueNames: {
  parent: queueService
  name: name
}]

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output id string = storage.id
