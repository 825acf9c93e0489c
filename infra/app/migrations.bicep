// What the deploy hook needs to migrate the database from inside the private network: a registry
// for the migrator image (built from infra/migrate/Dockerfile by `az acr build`, so the deploying
// machine needs no Docker) and an identity that may pull it. The hook starts a one-off container
// group from that image in the network's jobs subnet, which reaches PostgreSQL on 5432 privately
// (infra/scripts/migrate.sh). The registry holds code only, no secret: the admin password reaches
// the container as a secure environment variable of the run, never the image.
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

// The container group pulls its image with this identity; it holds nothing else.
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
