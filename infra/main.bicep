// EventRegistration on Azure: one resource group holding the Function App (Flex Consumption,
// .NET 10 isolated), its storage account, PostgreSQL Flexible Server with PgBouncer, Key Vault
// and Application Insights. `azd up` fills the parameters from main.parameters.json and the
// azd environment; secrets come from `azd env set`, never from a committed file.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource.')
param location string

@description('PostgreSQL administrator login (also the app\'s login until a dedicated role exists).')
param postgresAdministratorLogin string = 'evregadmin'

@secure()
@minLength(12)
@description('PostgreSQL administrator password.')
param postgresAdministratorPassword string

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

param whatsAppTemplateName string = 'event_ticket'
param whatsAppTemplateLanguage string = 'en'

@secure()
@description('ECDSA P-256 private key (PEM) that signs ticket tokens. Never the sample key.')
param ticketSigningKeyPem string

@description('NCRONTAB schedule of the Reconcile timer (six fields, UTC).')
param reconciliationSchedule string = '0 */5 * * * *'

@minValue(1)
@maxValue(1000)
@description('Most Function App instances Flex Consumption may run; part of the connection budget.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(256)
@description('Postgres__MaxConcurrentTransactions: transactions one instance runs at once.')
param postgresMaxConcurrentTransactions int = 8

@minValue(2)
@maxValue(100)
@description('Npgsql Maximum Pool Size per instance. Above MaxConcurrentTransactions: ticket deliveries (host.json batch 8 + 4) and the reconciliation session use connections outside the transaction slots.')
param postgresMaxPoolSize int = 20

@minValue(5)
@maxValue(500)
@description('PgBouncer server connections for the app\'s user/database pair: what PostgreSQL itself sees.')
param pgBouncerDefaultPoolSize int = 50

@description('Admin API keys as role:sha256hex entries, comma-separated (README "Admin API"). Empty: no key works.')
param adminKeyHashes string = ''

var abbreviation = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var databaseName = 'eventregistration'
var deploymentContainerName = 'app-package-${take(abbreviation, 7)}'

// Client side of the budget: every instance may open its whole pool against PgBouncer, plus
// room for migrations and operators. PgBouncer multiplexes them onto pgBouncerDefaultPoolSize
// server connections, far below the server's max_connections.
var pgBouncerMaxClientConnections = maximumInstanceCount * postgresMaxPoolSize + 100

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

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    storageAccountName: take('st${abbreviation}', 24)
    deploymentContainerName: deploymentContainerName
  }
}

module postgres 'app/postgres.bicep' = {
  name: 'postgres'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    serverName: 'psql-${abbreviation}'
    databaseName: databaseName
    postgresVersion: postgresVersion
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    storageSizeGB: postgresStorageSizeGB
    administratorLogin: postgresAdministratorLogin
    administratorPassword: postgresAdministratorPassword
    pgBouncerDefaultPoolSize: pgBouncerDefaultPoolSize
    pgBouncerMaxClientConnections: pgBouncerMaxClientConnections
  }
}

// Through PgBouncer (6432), TLS required. No Reset On Close: PgBouncer in transaction mode
// hands the server connection on after each transaction, so Npgsql's DISCARD ALL is wasted.
var postgresConnectionString = 'Host=${postgres.outputs.fullyQualifiedDomainName};Port=6432;Database=${databaseName};Username=${postgresAdministratorLogin};Password="${replace(postgresAdministratorPassword, '"', '""')}";SSL Mode=Require;Maximum Pool Size=${postgresMaxPoolSize};No Reset On Close=true'

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    keyVaultName: take('kv-${abbreviation}', 24)
    postgresConnectionString: postgresConnectionString
    razorpayKeySecret: razorpayKeySecret
    razorpayWebhookSecret: razorpayWebhookSecret
    razorpayPreviousWebhookSecret: razorpayPreviousWebhookSecret
    whatsAppAccessToken: whatsAppAccessToken
    whatsAppWebhookVerifyToken: whatsAppWebhookVerifyToken
    metaAppSecret: metaAppSecret
    ticketSigningKeyPem: ticketSigningKeyPem
  }
}

// Every setting of README.md's configuration table. Secrets are Key Vault references; the rest
// are the documented defaults. APPLICATIONINSIGHTS_CONNECTION_STRING is added in api.bicep.
var appSettings = {
  // Identity-based storage: the host and the app's own clients (StorageClients) sign in with the
  // Function App's identity; no account key exists in any setting, and the account refuses them.
  AzureWebJobsStorage__accountName: storage.outputs.name
  Postgres__ConnectionString: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.postgresConnectionSecretUri})'
  Postgres__MaxConcurrentTransactions: string(postgresMaxConcurrentTransactions)
  Postgres__SlotWaitMilliseconds: '4000'
  Postgres__LockTimeoutMilliseconds: '3000'
  // Password sign-in until the identity is mapped to evreg_app (infra/README.md, "App database role").
  Postgres__EntraAuthentication: 'false'
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
  Reconciliation__OutboxGraceSeconds: '60'
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
  Tickets__SigningKeyPem: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.ticketSigningKeyPemUri})'
  Tickets__LeaseSeconds: '30'
  Tickets__ResendUnfinishedAfterSeconds: '60'
  Tickets__MaxAttempts: '12'
  Tickets__RetryBaseSeconds: '30'
  Tickets__RetryMaxDelaySeconds: '1800'
  Tickets__EventTimeZone: 'Asia/Kolkata'
  // SHA-256 hashes of admin keys (role:hex, comma-separated), never the keys; not a secret.
  Admin__KeyHashes: adminKeyHashes
  // App Service Authentication is not configured by this template yet, so the principal headers are not trusted.
  Admin__TrustAppServiceAuthentication: 'false'
  Admin__MaxBodyBytes: '65536'
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
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: appSettings
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
output POSTGRES_ADMIN_LOGIN string = postgresAdministratorLogin
