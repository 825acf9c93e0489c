// What the deploy hook needs to migrate the database: a registry for the migrator image (built from
// infra/migrate/Dockerfile by `az acr build`, so the deploying machine needs no Docker) and the
// migration identity. The hook starts a one-off container group from that image (in the private
// deployment inside the network's jobs subnet, which reaches PostgreSQL on 5432 privately) running
// as this identity (infra/scripts/migrate.sh). The identity pulls the image and is the PostgreSQL
// server's Microsoft Entra administrator (postgres.bicep): the container signs in with its token.
// No secret anywhere: not in the registry, the image or the run.
param location string
param tags object
param registryName string
param identityName string

var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: {
    // Entra sign-in only: no shared admin password (anonymous pull is off unless enabled).
    adminUserEnabled: false
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// The container group pulls its image with this identity; in Azure RBAC it holds nothing else.
resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPull)
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
  }
}

output registryName string = registry.name
output loginServer string = registry.properties.loginServer
output identityId string = identity.id
output identityName string = identity.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
