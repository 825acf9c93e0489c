// Log Analytics workspace and the workspace-based Application Insights the Functions host and
// the worker (Microsoft.ApplicationInsights.WorkerService) report to.
param location string
param tags object
param logAnalyticsName string
param applicationInsightsName string

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Entra-authenticated ingestion only, as the Azure Flex Consumption samples do: the connection
    // string's instrumentation key alone can no longer send (or forge) telemetry. The app's
    // identity holds Monitoring Metrics Publisher on this component (identity.bicep).
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output logAnalyticsId string = logAnalytics.id
