// Azure Database for PostgreSQL Flexible Server with its built-in PgBouncer. PgBouncer is only
// offered on the General Purpose and Memory Optimized tiers, hence no Burstable default.
// Server parameters are applied one after another: the service rejects concurrent updates.
//
// Microsoft Entra sign-in only: the server has no password login at all (passwordAuth Disabled,
// no administratorLogin), so there is no password to leak, rotate or break glass with. Its one
// Entra administrator is the migration identity (migrations.bicep), which the deploy hook's
// container signs in as to migrate and to create the app's principal (infra/README.md, "App
// database role"); the app's own identity is never an administrator. An operator who must get in
// adds themself as a further administrator through Azure (RBAC on the server, audited), not
// through a shared secret.
param location string
param tags object
param serverName string
param databaseName string
param postgresVersion string
param skuName string
param skuTier string
param storageSizeGB int

@description('Object (principal) id of the user-assigned identity that administers the server: the migration identity.')
param administratorPrincipalId string

@description('Name of that identity: the PostgreSQL role Azure creates for it, and the user name it signs in with.')
param administratorName string

@description('PgBouncer server connections per user/database pair: the connections PostgreSQL actually sees from the app.')
param pgBouncerDefaultPoolSize int

@description('Client connections PgBouncer accepts: must cover every Functions instance of every scale group times its Npgsql Maximum Pool Size.')
param pgBouncerMaxClientConnections int

@description('Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers (private access); empty for the public development deployment.')
param delegatedSubnetId string

@description('Private DNS zone the server registers its name in (private access); empty for the public development deployment.')
param privateDnsZoneId string

var privateAccess = !empty(delegatedSubnetId)

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: serverName
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: postgresVersion
    storage: { storageSizeGB: storageSizeGB }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: { mode: 'Disabled' }
    // Private access: the server gets an address in its delegated subnet and no public endpoint;
    // only the app's network (the Function App, the migration job) can reach it.
    network: privateAccess ? {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    } : {
      publicNetworkAccess: 'Enabled'
    }
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

// Public development deployment only (networkAccess 'public'): 0.0.0.0–0.0.0.0 is Azure's
// convention for "any Azure service", which a Flex Consumption app without a virtual network needs
// (its outbound addresses are not fixed). Never in the default, private deployment.
resource allowAzureServices 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (!privateAccess) {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [database]
}

resource pgBouncerEnabled 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.enabled'
  properties: {
    value: 'true'
    source: 'user-override'
  }
  dependsOn: [database, allowAzureServices]
}

// Transaction pooling: a server connection is lent for one transaction. The app only uses
// transaction-scoped state (set local lock_timeout, pg_advisory_xact_lock) on its hot paths.
resource pgBouncerPoolMode 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.pool_mode'
  properties: {
    value: 'transaction'
    source: 'user-override'
  }
  dependsOn: [pgBouncerEnabled]
}

resource pgBouncerPoolSize 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.default_pool_size'
  properties: {
    value: string(pgBouncerDefaultPoolSize)
    source: 'user-override'
  }
  dependsOn: [pgBouncerPoolMode]
}

resource pgBouncerMaxClients 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.max_client_conn'
  properties: {
    value: string(pgBouncerMaxClientConnections)
    source: 'user-override'
  }
  dependsOn: [pgBouncerPoolSize]
}

// Protocol-level prepared statements through transaction pooling (PgBouncer 1.21+ tracks them per
// client and prepares them again on whichever server connection it lends). Harmless for clients
// that prepare nothing; it lets the connection string turn on Npgsql's automatic preparation
// (`Max Auto Prepare`), whose named Parse/Close messages are what PgBouncer tracks (the app keeps
// `No Reset On Close=true`, so no DISCARD ALL is sent). See infra/README.md.
resource pgBouncerPreparedStatements 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.max_prepared_statements'
  properties: {
    value: '200'
    source: 'user-override'
  }
  dependsOn: [pgBouncerMaxClients]
}

// After the last parameter change: the service takes one operation on a server at a time.
resource administrator 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: administratorPrincipalId
  properties: {
    principalName: administratorName
    principalType: 'ServicePrincipal'
    tenantId: tenant().tenantId
  }
  dependsOn: [pgBouncerPreparedStatements]
}

output name string = server.name
output fullyQualifiedDomainName string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
