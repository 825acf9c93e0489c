using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.RegularExpressions;
using EventRegistration.Functions.Anomalies;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Tests.Foundation;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Deployment;

/// <summary>
/// infra/app/alerts.bicep and workbook.json, compiled: every alert the issue asks for exists with
/// a threshold and a reason, and every query names only what the app really emits — instruments
/// of the EventRegistration meter, tags those instruments carry, and tag values the app's code
/// writes (string literals in its source, or anomaly kinds). A renamed metric, tag or outcome fails here.
/// </summary>
public sealed partial class AlertTests
{
    private static readonly string[] RequiredRules =
    [
        "ticket-poisoned", "anomaly-overdue", "reconciliation-stalled", "reconciliation-errors",
        "webhook-signature-failures", "refunds-failed", "ticket-failure-rate", "webhooks-silent", "webhook-backlog",
    ];

    private static readonly Lazy<AppVocabulary> Vocabulary = new(AppVocabulary.Load);

    private static JsonElement Alerts => BicepTests.CompiledModule("alerts");

    private static List<JsonElement> Rules() => Alerts.GetProperty("variables").GetProperty("rules").EnumerateArray().ToList();

    [Fact]
    public void Every_alert_the_issue_asks_for_exists_with_a_threshold_and_a_reason()
    {
        var rules = Rules();
        Assert.Equal(RequiredRules.Order(), rules.Select(r => r.GetProperty("name").GetString()!).Order());
        foreach (var rule in rules)
        {
            var name = rule.GetProperty("name").GetString();
            Assert.True(rule.GetProperty("reason").GetString()!.Length > 40, $"{name}: the reason must say why");
            Assert.Contains(rule.GetProperty("operator").GetString(), new[] { "GreaterThan", "GreaterThanOrEqual", "LessThan" });
            Assert.True(rule.TryGetProperty("threshold", out _), $"{name}: no threshold");
            Assert.InRange(rule.GetProperty("severity").GetInt32(), 0, 4);
            var window = rule.GetProperty("windowMinutes").GetInt32() + rule.GetProperty("windowPeriods").GetInt32();
            Assert.True(window > 0, $"{name}: no window");

            // The rule compares a column the query itself produces.
            var column = rule.GetProperty("column").GetString()!;
            Assert.Matches($@"(summarize|extend)[^\n]*\b{column}\s*=", rule.GetProperty("query").GetString()!);
        }

        // One loop of scheduled query rules over that list, each to the e-mail action group.
        var logAlerts = Alerts.GetProperty("resources").EnumerateArray().Single(r => r.GetProperty("type").GetString() == "Microsoft.Insights/scheduledQueryRules");
        Assert.Equal("[length(variables('rules'))]", logAlerts.GetProperty("copy").GetProperty("count").GetString());
        Assert.Equal("[variables('rules')[copyIndex()].query]",
            logAlerts.GetProperty("properties").GetProperty("criteria").GetProperty("allOf")[0].GetProperty("query").GetString());
        var group = Alerts.GetProperty("resources").EnumerateArray().Single(r => r.GetProperty("type").GetString() == "Microsoft.Insights/actionGroups");
        Assert.Equal("[parameters('alertEmail')]", group.GetProperty("properties").GetProperty("emailReceivers")[0].GetProperty("emailAddress").GetString());
        Assert.Contains("${ALERT_EMAIL}", File.ReadAllText(Path.Combine(BicepTests.Root, "infra", "main.parameters.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_runbook_has_a_section_for_every_alert()
    {
        var runbook = File.ReadAllText(Path.Combine(BicepTests.Root, "docs", "runbook.md"));
        foreach (var rule in Rules())
        {
            Assert.Contains($"\n### {rule.GetProperty("name").GetString()} — ", runbook, StringComparison.Ordinal);
        }

        Assert.Contains("\n### Availability — ", runbook, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_query_names_only_instruments_tags_and_values_the_app_emits()
    {
        foreach (var rule in Rules())
        {
            var problems = Vocabulary.Value.Check(rule.GetProperty("query").GetString()!);
            Assert.True(problems.Count == 0, $"{rule.GetProperty("name").GetString()}: {string.Join("; ", problems)}");
        }
    }

    [Fact]
    public void Every_workbook_query_names_only_instruments_tags_and_values_the_app_emits_and_it_shows_the_seed_metrics()
    {
        using var workbook = JsonDocument.Parse(File.ReadAllText(Path.Combine(BicepTests.Root, "infra", "app", "workbook.json")));
        var queries = workbook.RootElement.GetProperty("items").EnumerateArray()
            .Where(i => i.GetProperty("type").GetInt32() == 3)
            .Select(i => i.GetProperty("content").GetProperty("query").GetString()!)
            .ToList();
        foreach (var query in queries)
        {
            var problems = Vocabulary.Value.Check(query);
            Assert.True(problems.Count == 0, $"{query}\n{string.Join("; ", problems)}");
        }

        // The seed's five: rollbacks, unique violations, payment conflicts, transaction duration, WhatsApp sends.
        foreach (var instrument in new[]
                 {
                     "eventregistration.transaction.rollbacks", "eventregistration.unique_violations", "eventregistration.payment_conflicts",
                     "eventregistration.transaction.duration", "eventregistration.tickets.sends", "eventregistration.reconciliation.items",
                     "eventregistration.tickets.poisoned",
                 })
        {
            Assert.Contains(queries, q => q.Contains($"\"{instrument}\"", StringComparison.Ordinal));
        }

        var resource = Alerts.GetProperty("resources").EnumerateArray().Single(r => r.GetProperty("type").GetString() == "Microsoft.Insights/workbooks");
        var loaded = Alerts.GetProperty("variables").GetProperty(resource.GetProperty("properties").GetProperty("serializedData").GetString()!.Split('\'')[1]).GetString();
        Assert.Equal(File.ReadAllText(Path.Combine(BicepTests.Root, "infra", "app", "workbook.json")), loaded);
    }

    [Fact]
    public void The_checker_itself_refuses_names_the_app_does_not_emit()
    {
        var vocabulary = Vocabulary.Value;
        Assert.Empty(vocabulary.Check("""customMetrics | where name == "eventregistration.tickets.sends" | extend result = tostring(customDimensions["result"]) | where result == "sent" """));
        Assert.NotEmpty(vocabulary.Check("""customMetrics | where name == "eventregistration.tickets.sent" """));
        Assert.NotEmpty(vocabulary.Check("""customMetrics | where name == "eventregistration.tickets.sends" | extend r = tostring(customDimensions["recipient"])"""));
        Assert.NotEmpty(vocabulary.Check("""customMetrics | where name == "eventregistration.tickets.sends" | where result in ("sent", "delivered_twice")"""));
        Assert.NotEmpty(vocabulary.Check("""requests | where name == "x" """));
    }

    [Fact]
    public void Availability_test_calls_the_health_route_and_alerts_when_two_locations_fail()
    {
        var resources = Alerts.GetProperty("resources").EnumerateArray().ToList();
        var test = resources.Single(r => r.GetProperty("type").GetString() == "Microsoft.Insights/webtests").GetProperty("properties");
        var route = FunctionsMetadataTests.Trigger("Health").GetProperty("route").GetString();
        Assert.Equal($"[format('https://{{0}}/api/{route}', parameters('functionAppHostName'))]", test.GetProperty("Request").GetProperty("RequestUrl").GetString());
        Assert.Equal("GET", test.GetProperty("Request").GetProperty("HttpVerb").GetString());
        Assert.Equal(200, test.GetProperty("ValidationRules").GetProperty("ExpectedHttpStatusCode").GetInt32());
        Assert.True(test.GetProperty("Locations").GetArrayLength() >= 3);

        var alert = resources.Single(r => r.GetProperty("type").GetString() == "Microsoft.Insights/metricAlerts").GetProperty("properties");
        Assert.Equal("Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria", alert.GetProperty("criteria").GetProperty("odata.type").GetString());
        Assert.Equal(2, alert.GetProperty("criteria").GetProperty("failedLocationCount").GetInt32());
    }

    /// <summary>What the app emits: instrument names from the meter itself, tag keys from RegistrationMetrics (any instrument's), tag values from the source.</summary>
    private sealed partial class AppVocabulary(HashSet<string> instruments, HashSet<string> tagKeys, HashSet<string> literals)
    {
        public static AppVocabulary Load()
        {
            using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
            var metrics = new RegistrationMetrics(services.GetRequiredService<IMeterFactory>());
            var instruments = new HashSet<string>(StringComparer.Ordinal);
            using (var listener = new MeterListener())
            {
                listener.InstrumentPublished = (instrument, _) =>
                {
                    if (ReferenceEquals(instrument.Meter, metrics.Meter))
                    {
                        instruments.Add(instrument.Name);
                    }
                };
                listener.Start();
            }

            var source = Path.Combine(BicepTests.Root, "EventRegistration.Functions");
            var tagKeys = TagKey().Matches(File.ReadAllText(Path.Combine(source, "Infrastructure", "Telemetry", "RegistrationMetrics.cs")))
                .Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            var literals = Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                            && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                .SelectMany(f => CSharpLiteral().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
                .Concat(Enum.GetValues<AnomalyKind>().Select(AnomalyLog.Name))
                .ToHashSet(StringComparer.Ordinal);
            Assert.Contains("eventregistration.tickets.sends", instruments);
            Assert.Contains("outcome", tagKeys);
            return new AppVocabulary(instruments, tagKeys, literals);
        }

        /// <summary>Everything in the query that does not name something the app emits.</summary>
        public List<string> Check(string query)
        {
            var problems = new List<string>();
            if (!query.TrimStart().StartsWith("customMetrics", StringComparison.Ordinal))
            {
                problems.Add("reads something other than the app's metrics (customMetrics)");
            }

            foreach (var key in Dimension().Matches(query).Select(m => m.Groups[1].Value).Where(k => !tagKeys.Contains(k)))
            {
                problems.Add($"tag '{key}' is on no instrument");
            }

            var compared = Comparison().Matches(query).Select(m => m.Groups[1].Value)
                .Concat(InList().Matches(query).SelectMany(m => Quoted().Matches(m.Groups[1].Value).Select(q => q.Groups[1].Value)));
            foreach (var value in compared)
            {
                if (value.StartsWith("eventregistration.", StringComparison.Ordinal))
                {
                    if (!instruments.Contains(value))
                    {
                        problems.Add($"instrument '{value}' does not exist");
                    }
                }
                else if (!literals.Contains(value))
                {
                    problems.Add($"value '{value}' is written nowhere in the app");
                }
            }

            if (!compared.Any(v => v.StartsWith("eventregistration.", StringComparison.Ordinal)))
            {
                problems.Add("names no instrument");
            }

            return problems;
        }

        [GeneratedRegex("""new(?:\s*KeyValuePair<string, object\?>)?\("(\w+)",""")]
        private static partial Regex TagKey();

        [GeneratedRegex("\"([a-z0-9_.]+)\"")]
        private static partial Regex CSharpLiteral();

        [GeneratedRegex("""customDimensions\["(\w+)"\]""")]
        private static partial Regex Dimension();

        [GeneratedRegex("(?:==|!=)\\s*\"([^\"]*)\"")]
        private static partial Regex Comparison();

        [GeneratedRegex("""\bin\s*\(([^)]*)\)""")]
        private static partial Regex InList();

        [GeneratedRegex("\"([^\"]*)\"")]
        private static partial Regex Quoted();
    }
}
