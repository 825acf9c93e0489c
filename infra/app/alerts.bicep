// What tells an operator something is wrong before a member does: log alert rules over the app's
// own metrics in Application Insights (customMetrics: the OpenTelemetry exporter writes each
// instrument's name, its tags as customDimensions, and the interval's sum as valueSum), an
// availability test of GET /api/health with its alert, one action group that e-mails the
// operators, and the operations workbook. Every rule's threshold and the reason for it are in
// `rules` below, next to the query; docs/runbook.md says for each what to do.
// AlertTests parses the compiled queries and fails when one names an instrument, a tag or a tag
// value the app does not emit.
param location string
param tags object
param applicationInsightsId string
param applicationInsightsName string

@description('Where alerts are e-mailed (the operators\' shared mailbox).')
param alertEmail string

@description('Minutes between Reconcile runs: rules counted in reconciliation periods use it.')
param reconciliationPeriodMinutes int

@description('Host name of the Function App, for the availability test.')
param functionAppHostName string

var suffix = uniqueString(applicationInsightsId)

// windowPeriods: the window in reconciliation periods (3 × 5, 10 or 15 minutes are all valid log
// alert windows); windowMinutes: a fixed window. Each query returns one row with the column the
// rule compares; coalesce() makes "no data at all" a 0, which matters for the rules that fire on
// the absence of something.
var rules = [
  {
    name: 'ticket-poisoned'
    title: 'A ticket message was poisoned'
    // Threshold: any (> 0 in 15 minutes). A message that failed five dequeues is a paying member
    // whose ticket path broke in a way the retry policy did not foresee; one is already worth a look.
    reason: 'A ticket queue message failed five times and went to ticket-deliveries-poison. Any one is a paying member whose ticket may not arrive.'
    severity: 1
    windowMinutes: 15
    windowPeriods: 0
    query: '''
customMetrics
| where name == "eventregistration.tickets.poisoned"
| summarize poisoned = sum(valueSum)
| extend poisoned = coalesce(poisoned, 0.0)
'''
    column: 'poisoned'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'anomaly-overdue'
    title: 'An anomaly has been open for more than one reconciliation period'
    // Threshold: any open anomaly older than one period (the app counts them each run; the rule
    // reads the latest count per kind within three periods). An anomaly is a case the code
    // will not settle by itself; one period is the time an operator is promised to see it in.
    reason: 'An anomaly (anomalies table, resolved_at null) is older than one reconciliation period: a payment, refund or ticket the system will not settle by itself is waiting for a person.'
    severity: 2
    windowMinutes: 0
    windowPeriods: 3
    query: '''
customMetrics
| where name == "eventregistration.anomalies.overdue"
| extend kind = tostring(customDimensions["kind"])
| summarize arg_max(timestamp, valueSum) by kind
| summarize overdue = sum(valueSum)
| extend overdue = coalesce(overdue, 0.0)
'''
    column: 'overdue'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'reconciliation-stalled'
    title: 'No reconciliation run completed for three periods'
    // Threshold: fewer than 1 completed run in three periods (the same rule as /api/health's
    // "stale"). The timer is the safety net for lost callbacks and webhooks; one missed run can
    // be a deployment, three mean the net is gone.
    reason: 'No Reconcile run completed (completed or completed_with_errors) in three periods: lost checkouts, webhooks and ticket messages are no longer being repaired.'
    severity: 1
    windowMinutes: 0
    windowPeriods: 3
    query: '''
customMetrics
| where name == "eventregistration.reconciliation.runs"
| extend status = tostring(customDimensions["status"])
| summarize runs = sumif(valueSum, status in ("completed", "completed_with_errors"))
| extend runs = coalesce(runs, 0.0)
'''
    column: 'runs'
    operator: 'LessThan'
    threshold: 1
  }
  {
    name: 'reconciliation-errors'
    title: 'Reconciliation runs keep ending with errors'
    // Threshold: 2 or more of the last three periods' runs ended with errors, timed out or were
    // cancelled. One is usually a transient Razorpay or database blip that the next run repairs;
    // two in three means a step keeps failing.
    reason: 'Two or more Reconcile runs in three periods ended completed_with_errors, timed_out or cancelled: a step keeps failing and what it repairs is piling up.'
    severity: 2
    windowMinutes: 0
    windowPeriods: 3
    query: '''
customMetrics
| where name == "eventregistration.reconciliation.runs"
| extend status = tostring(customDimensions["status"])
| summarize failed = sumif(valueSum, status in ("completed_with_errors", "timed_out", "cancelled"))
| extend failed = coalesce(failed, 0.0)
'''
    column: 'failed'
    operator: 'GreaterThanOrEqual'
    threshold: 2
  }
  {
    name: 'webhook-signature-failures'
    title: 'Razorpay webhooks are being refused for their signature'
    // Threshold: more than 10 in 15 minutes. Razorpay signs every delivery, so a stray few are
    // scanners; a burst means the webhook secret differs between the Dashboard and Key Vault
    // (every genuine webhook refused; Razorpay disables the webhook after a day of failures) or
    // someone probing the endpoint.
    reason: 'More than 10 webhooks in 15 minutes were refused with a missing or wrong X-Razorpay-Signature: the webhook secret differs between the Dashboard and Key Vault, or the endpoint is being probed.'
    severity: 2
    windowMinutes: 15
    windowPeriods: 0
    query: '''
customMetrics
| where name == "eventregistration.webhooks"
| extend event = tostring(customDimensions["event"]), outcome = tostring(customDimensions["outcome"])
| summarize refused = sumif(valueSum, event == "unverified" and outcome in ("signature_invalid", "signature_missing"))
| extend refused = coalesce(refused, 0.0)
'''
    column: 'refused'
    operator: 'GreaterThan'
    threshold: 10
  }
  {
    name: 'refunds-failed'
    title: 'A refund failed or was refused'
    // Threshold: any open refund_failed / refund_refused anomaly (latest count within three
    // periods). Nothing retries a failed refund by itself: a member is owed money until a person acts.
    reason: 'An open refund_failed or refund_refused anomaly exists: money is owed back to a member and nothing retries it automatically.'
    severity: 1
    windowMinutes: 0
    windowPeriods: 3
    query: '''
customMetrics
| where name == "eventregistration.anomalies.open"
| extend kind = tostring(customDimensions["kind"])
| where kind in ("refund_failed", "refund_refused")
| summarize arg_max(timestamp, valueSum) by kind
| summarize failed = sum(valueSum)
| extend failed = coalesce(failed, 0.0)
'''
    column: 'failed'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'ticket-failure-rate'
    title: 'Ticket deliveries are failing'
    // Threshold: more than 10 % of ticket attempts in an hour failed for good, counted only from
    // 10 attempts on (a single bad number among a few sends is not a trend). Permanent failures
    // are a template, token or number problem that no retry fixes.
    reason: 'More than 10% of ticket attempts in the last hour ended permanent_failure (at least 10 attempts): paying members are not getting tickets.'
    severity: 2
    windowMinutes: 60
    windowPeriods: 0
    query: '''
customMetrics
| where name == "eventregistration.tickets.sends"
| extend result = tostring(customDimensions["result"])
| summarize failed = sumif(valueSum, result == "permanent_failure"), attempts = sum(valueSum)
| extend rate = iff(coalesce(attempts, 0.0) >= 10, coalesce(failed, 0.0) / attempts, 0.0)
'''
    column: 'rate'
    operator: 'GreaterThan'
    threshold: json('0.1')
  }
  {
    name: 'webhooks-silent'
    title: 'Payments are confirmed by the timer while no webhook arrives'
    // Threshold: in an hour, 3 or more payments confirmed as paid by the reconciliation and no
    // Razorpay webhook at all. Razorpay retries a failing webhook for a day and then disables
    // it; meanwhile the timer quietly confirms payments up to a period late.
    reason: 'In the last hour the reconciliation confirmed 3 or more payments while no Razorpay webhook arrived: the webhook is failing or disabled in the Dashboard.'
    severity: 1
    windowMinutes: 60
    windowPeriods: 0
    query: '''
customMetrics
| where name in ("eventregistration.confirmations", "eventregistration.webhooks")
| extend source = tostring(customDimensions["source"]), outcome = tostring(customDimensions["outcome"]), event = tostring(customDimensions["event"])
| summarize byTimer = sumif(valueSum, name == "eventregistration.confirmations" and source == "reconciliation" and outcome == "paid"), webhooks = sumif(valueSum, name == "eventregistration.webhooks" and event != "unverified")
| extend silent = iff(coalesce(byTimer, 0.0) >= 3 and coalesce(webhooks, 0.0) == 0, 1, 0)
'''
    column: 'silent'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'webhook-backlog'
    title: 'Stored webhooks are applied by the timer instead of their own request'
    // Threshold: 5 or more webhooks reprocessed by the reconciliation in an hour. A webhook is
    // stored first and applied in its request; the timer applying them means requests keep
    // failing after storing (time budget, lock waits, database trouble) and members wait a period.
    reason: 'The reconciliation applied 5 or more stored webhooks in the last hour that their own requests could not: the webhook path is failing after the inbox write.'
    severity: 3
    windowMinutes: 60
    windowPeriods: 0
    query: '''
customMetrics
| where name == "eventregistration.reconciliation.items"
| extend step = tostring(customDimensions["step"]), outcome = tostring(customDimensions["outcome"])
| summarize reprocessed = sumif(valueSum, step == "inbox" and outcome == "reprocessed")
| extend reprocessed = coalesce(reprocessed, 0.0)
'''
    column: 'reprocessed'
    operator: 'GreaterThanOrEqual'
    threshold: 5
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-evreg-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'evreg'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource logAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: 'alert-${rule.name}-${suffix}'
  location: location
  tags: tags
  properties: {
    displayName: rule.title
    description: rule.reason
    severity: rule.severity
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${rule.windowMinutes > 0 ? rule.windowMinutes : rule.windowPeriods * reconciliationPeriodMinutes}M'
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: rule.column
          operator: rule.operator
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    // Resolves by itself once the condition clears (a resolved anomaly, a run that completes).
    autoMitigate: true
    actions: {
      actionGroups: [actionGroup.id]
    }
  }
}]

// GET /api/health from three regions every 5 minutes; it answers 503 when the database, storage or
// the schema cannot serve payments, and reveals no configuration.
resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'webtest-health-${suffix}'
  location: location
  tags: union(tags, { 'hidden-link:${applicationInsightsId}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'webtest-health-${suffix}'
    Name: 'GET /api/health'
    Kind: 'standard'
    Enabled: true
    Frequency: 300
    Timeout: 30
    RetryEnabled: true
    Locations: [
      { Id: 'emea-nl-ams-azr' }
      { Id: 'us-va-ash-azr' }
      { Id: 'apac-sg-sin-azr' }
    ]
    Request: {
      RequestUrl: 'https://${functionAppHostName}/api/health'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

// Threshold: 2 of the 3 locations failing in 5 minutes. One location failing alone is usually
// that location's network; two agree that members cannot pay.
resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-health-${suffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'GET /api/health fails (503 or no answer) from 2 of 3 locations: the database, storage or the schema cannot serve payments.'
    severity: 0
    enabled: true
    scopes: [healthTest.id, applicationInsightsId]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: applicationInsightsId
      failedLocationCount: 2
    }
    actions: [
      { actionGroupId: actionGroup.id }
    ]
  }
}

// The operations workbook: the seed's five metrics and the ticket pipeline (workbook.json).
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsightsId, 'evreg-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'EventRegistration operations (${applicationInsightsName})'
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: loadTextContent('workbook.json')
  }
}

output actionGroupId string = actionGroup.id
