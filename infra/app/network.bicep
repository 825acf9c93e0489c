// The private network of the default deployment. The Function App reaches PostgreSQL, storage and
// Key Vault only through it: the app's outbound traffic leaves through its integration subnet,
// PostgreSQL lives in its own delegated subnet (private access: no public endpoint at all), and
// storage and Key Vault answer on private endpoints whose names resolve through the private DNS
// zones linked here. The migration job (a container group, infra/scripts/migrate.sh) runs in a
// subnet of its own so it reaches the server on 5432 from inside the network.
param location string
param tags object
param virtualNetworkName string

@description('Private DNS zone of the PostgreSQL server: for a server in a delegated subnet it must end in .postgres.database.azure.com.')
param postgresDnsZoneName string

param addressPrefix string = '10.40.0.0/16'

var subnets = {
  // Flex Consumption's VNet integration runs on the Container Apps platform, hence this delegation.
  app: { name: 'snet-app', prefix: '10.40.0.0/24', delegation: 'Microsoft.App/environments' }
  // PostgreSQL Flexible Server private access injects the server into a subnet delegated to it alone.
  postgres: { name: 'snet-postgres', prefix: '10.40.1.0/24', delegation: 'Microsoft.DBforPostgreSQL/flexibleServers' }
  privateEndpoints: { name: 'snet-private-endpoints', prefix: '10.40.2.0/24', delegation: '' }
  // The one-off migration container group (Azure Container Instances) of each deploy.
  jobs: { name: 'snet-jobs', prefix: '10.40.3.0/27', delegation: 'Microsoft.ContainerInstance/containerGroups' }
}

// Zones in Azure's public cloud; storage's follow the environment's storage suffix.
var storageZones = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
}
var keyVaultZone = 'privatelink.vaultcore.azure.net'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: virtualNetworkName
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [for subnet in items(subnets): {
      name: subnet.value.name
      properties: {
        addressPrefix: subnet.value.prefix
        delegations: empty(subnet.value.delegation) ? [] : [
          {
            name: 'delegation'
            properties: { serviceName: subnet.value.delegation }
          }
        ]
        privateEndpointNetworkPolicies: 'Disabled'
      }
    }]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zone in concat(map(items(storageZones), z => z.value), [keyVaultZone, postgresDnsZoneName]): {
  name: zone
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zone, i) in concat(map(items(storageZones), z => z.value), [keyVaultZone, postgresDnsZoneName]): {
  parent: zones[i]
  name: 'link-${virtualNetworkName}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}]

output virtualNetworkName string = vnet.name
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnets.app.name)
output postgresSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnets.postgres.name)
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnets.privateEndpoints.name)
output jobsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnets.jobs.name)
output blobZoneId string = resourceId('Microsoft.Network/privateDnsZones', storageZones.blob)
output queueZoneId string = resourceId('Microsoft.Network/privateDnsZones', storageZones.queue)
output tableZoneId string = resourceId('Microsoft.Network/privateDnsZones', storageZones.table)
output keyVaultZoneId string = resourceId('Microsoft.Network/privateDnsZones', keyVaultZone)
// A module's outputs exist only once all of it is deployed, links included: a server created from
// these ids finds its zone already resolving inside the network.
output postgresZoneId string = resourceId('Microsoft.Network/privateDnsZones', postgresDnsZoneName)
