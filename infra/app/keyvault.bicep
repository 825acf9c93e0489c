// Key Vault holding every secret the app reads. Authorisation is Azure RBAC; the app's identity
// gets "Key Vault Secrets User" in api.bicep. Secret values arrive as @secure parameters and
// never leave as outputs: only their URIs do. Storage has no secret here: the app reaches it with
// its identity, and the account refuses shared keys. PostgreSQL has none either: the app signs in
// with an Entra token of its identity, and the server refuses passwords (postgres.bicep).
param location string
param tags object
param keyVaultName string

@secure()
param razorpayKeySecret string
@secure()
param razorpayWebhookSecret string
@secure()
param razorpayPreviousWebhookSecret string
@secure()
param whatsAppAccessToken string
@secure()
@description('The ticket signing key PEM, base64-encoded: a multi-line PEM would not survive as an azd environment value in main.parameters.json.')
param ticketSigningKeyPemBase64 string
@secure()
param emailFallbackSmtpSecret string = ''
@secure()
@description('Client secret of the Entra app registration of App Service Authentication; empty: none.')
param entraClientSecret string = ''
@secure()
param whatsAppWebhookVerifyToken string
@secure()
param metaAppSecret string

@description('False in the default deployment: the vault answers only on its private endpoint.')
param publicNetworkAccess bool

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // A deleted vault (or secret) cannot be purged before the retention ends: nobody, not even a
    // compromised deployer, can destroy the signing key and the payment secrets for good at once.
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    // The deployment writes the secrets through Resource Manager, not through the data plane, so
    // the vault can refuse every network but its private endpoint.
    networkAcls: {
      defaultAction: publicNetworkAccess ? 'Allow' : 'Deny'
      bypass: 'None'
    }
  }
}

resource razorpayKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'razorpay-key-secret'
  properties: { value: razorpayKeySecret }
}

resource razorpayWebhook 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'razorpay-webhook-secret'
  properties: { value: razorpayWebhookSecret }
}

resource emailFallback 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(emailFallbackSmtpSecret)) {
  parent: vault
  name: 'email-fallback-smtp-secret'
  properties: { value: emailFallbackSmtpSecret }
}

resource entraClient 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(entraClientSecret)) {
  parent: vault
  name: 'entra-auth-client-secret'
  properties: { value: entraClientSecret }
}

resource razorpayPreviousWebhook 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(razorpayPreviousWebhookSecret)) {
  parent: vault
  name: 'razorpay-webhook-secret-previous'
  properties: { value: razorpayPreviousWebhookSecret }
}

resource whatsAppToken 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'whatsapp-access-token'
  properties: { value: whatsAppAccessToken }
}

resource ticketSigningKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'tickets-signing-key-pem'
  properties: { value: base64ToString(ticketSigningKeyPemBase64) }
}

resource whatsAppWebhookVerify 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'whatsapp-webhook-verify-token'
  properties: { value: whatsAppWebhookVerifyToken }
}

resource metaApp 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'meta-app-secret'
  properties: { value: metaAppSecret }
}

output name string = vault.name
output id string = vault.id
// Versionless URIs: the app picks up a rotated secret without a redeployment.
output razorpayKeySecretUri string = razorpayKey.properties.secretUri
output razorpayWebhookSecretUri string = razorpayWebhook.properties.secretUri
// The rotation slot's URI, whether or not the secret exists: main.bicep uses it only when a previous secret is given.
output razorpayPreviousWebhookSecretUri string = '${vault.properties.vaultUri}secrets/razorpay-webhook-secret-previous'
output emailFallbackSmtpSecretUri string = '${vault.properties.vaultUri}secrets/email-fallback-smtp-secret'
output entraClientSecretUri string = '${vault.properties.vaultUri}secrets/entra-auth-client-secret'
output whatsAppAccessTokenUri string = whatsAppToken.properties.secretUri
output ticketSigningKeyPemUri string = ticketSigningKey.properties.secretUri
output whatsAppWebhookVerifyTokenUri string = whatsAppWebhookVerify.properties.secretUri
output metaAppSecretUri string = metaApp.properties.secretUri
