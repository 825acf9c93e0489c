// EventRegistration on Azure: one resource group holding the Function App (Flex Consumption,
// .NET 10 isolated), its storage account, PostgreSQL Flexible Server with PgBouncer, Key Vault
// and Application Insights, by default all inside one virtual network (private access and private
// endpoints; networkAccess 'public' is for a development deployment only). `azd up` fills the
// parameters from main.parameters.json and the azd environment; secrets come from `azd env set`,
// never from a committed file.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

// Regions that offer Flex Consumption (the list of the Azure Functions Flex samples; check a region
// with `az functionapp list-flexconsumption-locations -o table`). The PostgreSQL SKU must be offered
// there too: `az postgres flexible-server list-skus --location <region> -o table` (infra/README.md).
@allowed([
  'australiaeast'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'northcentralus'
  'northeurope'
  'southcentralus'
  'southeastasia'
  'swedencentral'
  'uksouth'
  'westcentralus'
  'westeurope'
  'westus2'
])
@metadata({ azd: { type: 'location' } })
@description('Azure region of every resource: one that offers Flex Consumption.')
param location string

@allowed(['private', 'public'])
@description('private (the default): the app on a virtual network, PostgreSQL on private access, storage and Key Vault on private endpoints, no firewall rule. public: a development deployment with public endpoints and PostgreSQL\'s "any Azure service" rule; never for real payments.')
param networkAccess string = 'private'

@allowed(['15', '16'])
param postgresVersion string = '16'

@description('PgBouncer needs General Purpose or Memory Optimized compute.')
param postgresSkuName string = 'Standard_D2ds_v5'

@allowed(['GeneralPurpose', 'MemoryOptimized'])
param postgresSkuTier string = 'GeneralPurpose'

param postgresStorageSizeGB int = 32

@description('Razorpay API key id (rzp_test_… / rzp_live_…); sent to browsers, so not a secret.')
param razorpayKeyId string

@secure()
param razorpayKeySecret string

@secure()
@description('The webhook secret set in the Razorpay Dashboard, exactly as set there (commas allowed).')
param razorpayWebhookSecret string

@secure()
@description('During a secret rotation only: the previous webhook secret, still accepted for redeliveries of older events. Empty otherwise.')
param razorpayPreviousWebhookSecret string = ''

@description('WhatsApp Cloud API phone-number id (numeric id of the sending number).')
param whatsAppPhoneNumberId string

@secure()
param whatsAppAccessToken string

@secure()
@description('The verify token typed into the Meta app dashboard for the webhook callback URL (16+ random characters).')
param whatsAppWebhookVerifyToken string

@secure()
@description('The Meta app secret (App settings, Basic): it signs WhatsApp webhook bodies (X-Hub-Signature-256).')
param metaAppSecret string

@description('E-mail fallback of undeliverable tickets: the SMTP submission host (smtp.azurecomm.net, smtp.office365.com, smtp.sendgrid.net). Empty leaves the fallback off.')
param emailFallbackHost string = ''

@description('E-mail fallback: the SMTP user name (empty for none).')
param emailFallbackUserName string = ''

@secure()
@description('E-mail fallback: the SMTP password or API key. Empty when there is no fallback or no sign-in.')
param emailFallbackSmtpSecret string = ''

@description('E-mail fallback: the sender address, verified with the provider.')
param emailFallbackFrom string = ''

param whatsAppTemplateName string = 'event_ticket'
param whatsAppTemplateLanguage string = 'en'

@secure()
@description('ECDSA P-256 private key (PEM) that signs ticket tokens, base64-encoded on one line (`base64 -w0 key.pem`): a multi-line PEM would break main.parameters.json. Never the sample key.')
param ticketSigningKeyPemBase64 string

@description('During a ticket key rotation: the previous signing key\'s PUBLIC key (PEM), base64-encoded on one line (`base64 -w0 previous-public.pem`) like the signing key, so tickets it signed still scan. Not a secret. Empty otherwise.')
param ticketPreviousPublicKeyPemBase64 string = ''

@allowed([5, 10, 15])
@description('Minutes between Reconcile timer runs. The alerts count in these periods (an open anomaly older than one, no completed run for three), so only periods whose multiples are valid alert windows are offered.')
param reconciliationPeriodMinutes int = 5

// Flex Consumption allows up to 1000; 100 keeps the connection budget below (every scale group at
// this count, each instance with its whole pool) inside PgBouncer's max_client_conn range.
@minValue(1)
@maxValue(100)
@description('Most instances Flex Consumption may run per scale group (HTTP, each queue function, the timer); part of the connection budget.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(256)
@description('Postgres__MaxConcurrentTransactions: transactions one instance runs at once.')
param postgresMaxConcurrentTransactions int = 8

@minValue(1)
@maxValue(64)
@description('Postgres__ConfirmationsPerTransaction: payment confirmations that waited together may commit in one transaction (1 runs each alone).')
param postgresConfirmationsPerTransaction int = 8

@minValue(2)
@maxValue(100)
@description('Npgsql Maximum Pool Size per instance (at most 100, so the budget stays inside max_client_conn\'s range). Above MaxConcurrentTransactions: ticket deliveries (host.json batch 8 + 4) and the reconciliation session use connections outside the transaction slots.')
param postgresMaxPoolSize int = 20

@minValue(5)
@maxValue(500)
@description('PgBouncer server connections for the app\'s user/database pair: what PostgreSQL itself sees.')
param pgBouncerDefaultPoolSize int = 50

@minLength(3)
@description('E-mail address the alerts go to (the operators\' shared mailbox).')
param alertEmail string

@description('Admin API keys as role:sha256hex entries, comma-separated (README "Admin API"). Empty: no key works.')
param adminKeyHashes string = ''

@description('Client id of the Entra app registration with the organiser/operator app roles (README "Admin API"). Empty: no App Service Authentication, and the app ignores principal headers.')
param entraClientId string = ''

@secure()
@description('Client secret of that app registration (stored in Key Vault). Empty: none; sign-in then uses ID tokens only.')
param entraClientSecret string = ''

var abbreviation = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var databaseName = 'eventregistration'
var deploymentContainerName = 'app-package-${take(abbreviation, 7)}'
var privateNetwork = networkAccess == 'private'
var serverName = 'psql-${abbreviation}'
var reconciliationSchedule = '0 */${reconciliationPeriodMinutes} * * * *'
// App Service Authentication in front of the app (api.bicep) exactly when an app registration is given.
var appServiceAuthentication = !empty(entraClientId)

// Flex Consumption scales per function group, and maximumInstanceCount applies to each group, not
// to the app: the HTTP functions share one group; every other trigger is a group of its own —
// DeliverTicket and RecordPoisonedTicket (queues) and Reconcile (the timer; it runs on one
// instance at a time, but the platform's limit for its group is the same). BicepTests counts the
// groups from the build's functions.metadata, so a new queue function fails the suite until it is
// counted here.
var scaleGroups = 4

// Client side of the budget: every instance of every group may open its whole pool against
// PgBouncer, plus room for migrations and operators. PgBouncer multiplexes them onto
// pgBouncerDefaultPoolSize server connections, far below the server's max_connections. At the
// parameters' maximums, 4 × 100 × 100 + 100 = 40,100, inside max_client_conn's 1–50,000.
var pgBouncerMaxClientConnections = scaleGroups * maximumInstanceCount * postgresMaxPoolSize + 100

resource resourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${abbreviation}'
    applicationInsightsName: 'appi-${abbreviation}'
  }
}

module network 'app/network.bicep' = if (privateNetwork) {
  name: 'network'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    virtualNetworkName: 'vnet-${abbreviation}'
    postgresDnsZoneName: '${serverName}.private.postgres.database.azure.com'
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    storageAccountName: take('st${abbreviation}', 24)
    deploymentContainerName: deploymentContainerName
    publicNetworkAccess: !privateNetwork
  }
}

// Blob (deployment package, host state, leases, QR images), queue (tickets) and table (the Flex
// host's diagnostics): every storage service the app or the host uses has its endpoint.
module storageEndpoints 'app/private-endpoint.bicep' = [for service in ['blob', 'queue', 'table']: if (privateNetwork) {
  name: 'pe-storage-${service}'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    name: 'pe-st-${service}-${abbreviation}'
    serviceId: storage.outputs.id
    groupId: service
    subnetId: privateNetwork ? network!.outputs.privateEndpointSubnetId : ''
    privateDnsZoneId: privateNetwork ? (service == 'blob' ? network!.outputs.blobZoneId : service == 'queue' ? network!.outputs.queueZoneId : network!.outputs.tableZoneId) : ''
  }
}]

module postgres 'app/postgres.bicep' = {
  name: 'postgres'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    serverName: serverName
    databaseName: databaseName
    postgresVersion: postgresVersion
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    administratorPrincipalId: migrations.outputs.identityPrincipalId
    administratorName: migrations.outputs.identityName
    pgBouncerDefaultPoolSize: pgBouncerDefaultPoolSize
    pgBouncerMaxClientConnections: pgBouncerMaxClientConnections
    delegatedSubnetId: privateNetwork ? network!.outputs.postgresSubnetId : ''
    privateDnsZoneId: privateNetwork ? network!.outputs.postgresZoneId : ''
  }
}

// Through PgBouncer (6432, which takes Entra tokens too), TLS required. No password: the user is
// the app identity's PostgreSQL principal (named like the identity, made a member of evreg_app by
// the migrate command) and its Entra token is the password (Postgres__EntraAuthentication). Not a
// secret, so a plain setting. No Reset On Close: PgBouncer in transaction mode hands the server
// connection on after each transaction, so Npgsql's DISCARD ALL is wasted.
// Max Auto Prepare: statements run 5 times on a connection are prepared (parsed and planned once);
// PgBouncer's pgbouncer.max_prepared_statements (app/postgres.bicep) carries them across server
// connections. Safe as long as no migration changes a result type the app reads: infra/README.md.
var postgresConnectionString = 'Host=${postgres.outputs.fullyQualifiedDomainName};Port=6432;Database=${databaseName};Username=${identity.outputs.name};SSL Mode=Require;Maximum Pool Size=${postgresMaxPoolSize};No Reset On Close=true;Max Auto Prepare=50'

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    keyVaultName: take('kv-${abbreviation}', 24)
    razorpayKeySecret: razorpayKeySecret
    razorpayWebhookSecret: razorpayWebhookSecret
    razorpayPreviousWebhookSecret: razorpayPreviousWebhookSecret
    whatsAppAccessToken: whatsAppAccessToken
    whatsAppWebhookVerifyToken: whatsAppWebhookVerifyToken
    metaAppSecret: metaAppSecret
    ticketSigningKeyPemBase64: ticketSigningKeyPemBase64
    emailFallbackSmtpSecret: emailFallbackSmtpSecret
    entraClientSecret: entraClientSecret
    publicNetworkAccess: !privateNetwork
  }
}

module keyVaultEndpoint 'app/private-endpoint.bicep' = if (privateNetwork) {
  name: 'pe-keyvault'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    name: 'pe-kv-${abbreviation}'
    serviceId: keyVault.outputs.id
    groupId: 'vault'
    subnetId: privateNetwork ? network!.outputs.privateEndpointSubnetId : ''
    privateDnsZoneId: privateNetwork ? network!.outputs.keyVaultZoneId : ''
  }
}

// The app's identity and all its roles, before the app exists (see identity.bicep).
module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    identityName: 'id-api-${abbreviation}'
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// The migration identity (the server's Entra administrator) and the registry of the migrator
// image, in both deployments: migrations always run as that identity from a container.
module migrations 'app/migrations.bicep' = {
  name: 'migrations'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    registryName: 'cr${abbreviation}'
    identityName: 'id-migrate-${abbreviation}'
  }
}

// Every setting of README.md's configuration table. Secrets are Key Vault references; the rest
// are the documented defaults. The identity and Application Insights settings are added in api.bicep.
var appSettings = {
  // Identity-based storage: the host and the app's own clients (StorageClients) sign in with the
  // Function App's identity; no account key exists in any setting, and the account refuses them.
  AzureWebJobsStorage__accountName: storage.outputs.name
  Postgres__ConnectionString: postgresConnectionString
  Postgres__MaxConcurrentTransactions: string(postgresMaxConcurrentTransactions)
  Postgres__ConfirmationsPerTransaction: string(postgresConfirmationsPerTransaction)
  Postgres__SlotWaitMilliseconds: '4000'
  Postgres__LockTimeoutMilliseconds: '3000'
  // The app's identity signs in with an Entra token (api.bicep names it: Postgres__credential, __clientId).
  Postgres__EntraAuthentication: 'true'
  Postgres__TokenRefreshSeconds: '1800'
  Razorpay__KeyId: razorpayKeyId
  Razorpay__KeySecret: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.razorpayKeySecretUri})'
  // One setting per secret (a configuration array): a secret may contain any character, commas included.
  // The rotation slot is set to nothing outside a rotation; the app skips an empty entry.
  Razorpay__WebhookSecrets__0: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.razorpayWebhookSecretUri})'
  Razorpay__WebhookSecrets__1: empty(razorpayPreviousWebhookSecret) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.razorpayPreviousWebhookSecretUri})'
  Razorpay__BaseUrl: 'https://api.razorpay.com/'
  Razorpay__TimeoutSeconds: '10'
  Razorpay__MaxBodyBytes: '262144'
  Orders__SeatHoldMinutes: '15'
  Webhooks__TimeBudgetMilliseconds: '4000'
  Webhooks__InboxRetentionDays: '30'
  ReconciliationSchedule: reconciliationSchedule
  Reconciliation__BatchSize: '100'
  Reconciliation__OrderCheckAfterMinutes: '5'
  Reconciliation__OrderHorizonHours: '48'
  Reconciliation__UnsentDeliveryGraceSeconds: '120'
  Reconciliation__InboxGraceSeconds: '120'
  Reconciliation__StuckDeliveryMinutes: '15'
  Reconciliation__RefundCheckAfterMinutes: '60'
  Reconciliation__RunDeadlineSeconds: '120'
  Reconciliation__MaxConsecutiveFailures: '3'
  WhatsApp__BaseUrl: 'https://graph.facebook.com/'
  WhatsApp__ApiVersion: 'v21.0'
  WhatsApp__PhoneNumberId: whatsAppPhoneNumberId
  WhatsApp__AccessToken: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.whatsAppAccessTokenUri})'
  WhatsApp__TemplateName: whatsAppTemplateName
  WhatsApp__TemplateLanguage: whatsAppTemplateLanguage
  WhatsApp__TimeoutSeconds: '10'
  WhatsApp__MessagesPerSecond: '80'
  WhatsAppWebhook__VerifyToken: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.whatsAppWebhookVerifyTokenUri})'
  WhatsAppWebhook__AppSecret: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.metaAppSecretUri})'
  WhatsAppWebhook__UndeliveredAfterMinutes: '60'
  WhatsAppWebhook__InboxRetentionDays: '30'
  EmailFallback__Host: emailFallbackHost
  EmailFallback__Port: '587'
  EmailFallback__Security: 'StartTls'
  EmailFallback__UserName: emailFallbackUserName
  EmailFallback__Password: empty(emailFallbackSmtpSecret) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.emailFallbackSmtpSecretUri})'
  EmailFallback__From: emailFallbackFrom
  EmailFallback__TimeoutSeconds: '20'
  Tickets__SigningKeyPem: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.ticketSigningKeyPemUri})'
  Tickets__PreviousPublicKeyPem: empty(ticketPreviousPublicKeyPemBase64) ? '' : base64ToString(ticketPreviousPublicKeyPemBase64)
  Tickets__LeaseSeconds: '30'
  Tickets__ResendUnfinishedAfterSeconds: '60'
  Tickets__MaxAttempts: '12'
  Tickets__RetryBaseSeconds: '30'
  Tickets__RetryMaxDelaySeconds: '1800'
  Tickets__EventTimeZone: 'Asia/Kolkata'
  // SHA-256 hashes of admin keys (role:hex, comma-separated), never the keys; not a secret.
  Admin__KeyHashes: adminKeyHashes
  // Principal headers are believed only where api.bicep puts App Service Authentication in front.
  Admin__TrustAppServiceAuthentication: appServiceAuthentication ? 'true' : 'false'
  Admin__MaxBodyBytes: '65536'
  Admin__ImportMaxRows: '50000'
  Admin__ImportMaxBodyBytes: '16777216'
  // Read by App Service Authentication, not the app (api.bicep names it); empty without a secret.
  MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: appServiceAuthentication && !empty(entraClientSecret) ? '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.entraClientSecretUri})' : ''
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    planName: 'plan-${abbreviation}'
    functionAppName: 'func-${abbreviation}'
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    virtualNetworkSubnetId: privateNetwork ? network!.outputs.appSubnetId : ''
    appSettings: appSettings
    entraClientId: entraClientId
    entraCredentialSettingName: appServiceAuthentication && !empty(entraClientSecret) ? 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET' : ''
  }
  // The app starts only once its storage and Key Vault answer inside the network.
  dependsOn: [storageEndpoints, keyVaultEndpoint]
}

// Alert rules, the availability test of /api/health and the operations workbook (docs/runbook.md).
module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    alertEmail: alertEmail
    reconciliationPeriodMinutes: reconciliationPeriodMinutes
    functionAppHostName: api.outputs.defaultHostName
  }
}

// azd stores these in the environment; the predeploy hook (infra/scripts/migrate.sh) reads them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_URI string = api.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output POSTGRES_SERVER_NAME string = postgres.outputs.name
output POSTGRES_HOST string = postgres.outputs.fullyQualifiedDomainName
output POSTGRES_DATABASE string = databaseName
// infra/scripts/migrate.sh runs the migrator as a container group signed in as the migration
// identity: inside the network's jobs subnet (private), or without a subnet (public development
// deployment, reaching the server through its "any Azure service" rule). It then makes the app's
// identity a PostgreSQL principal that is a member of evreg_app only.
output NETWORK_ACCESS string = networkAccess
output MIGRATION_REGISTRY_NAME string = migrations.outputs.registryName
output MIGRATION_REGISTRY_LOGIN_SERVER string = migrations.outputs.loginServer
output MIGRATION_IDENTITY_ID string = migrations.outputs.identityId
output MIGRATION_IDENTITY_NAME string = migrations.outputs.identityName
output MIGRATION_IDENTITY_CLIENT_ID string = migrations.outputs.identityClientId
output MIGRATION_SUBNET_ID string = privateNetwork ? network!.outputs.jobsSubnetId : ''
output APP_IDENTITY_NAME string = identity.outputs.name
output APP_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
