using System.Reflection;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.ApplicationInsights.Extensibility;
using EventRegistration.Functions;
using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Extensions.Configuration;
using OpenTelemetry.Metrics;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace EventRegistration.Tests.Foundation;

public sealed class HostTests(TestApp app) : IClassFixture<TestApp>
{
    public static IEnumerable<object[]> FunctionClasses() =>
        typeof(EventRegistrationServices).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttribute<FunctionAttribute>() is not null))
            .Select(t => new object[] { t.FullName! });

    [Theory]
    [MemberData(nameof(FunctionClasses))]
    public void Every_function_class_is_created_from_the_registered_services(string typeName)
    {
        var type = typeof(EventRegistrationServices).Assembly.GetType(typeName)!;
        var instance = ActivatorUtilities.CreateInstance(app.Services, type);
        Assert.NotNull(instance);
    }

    [Fact]
    public void The_app_has_the_functions_of_the_design()
    {
        var names = typeof(EventRegistrationServices).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods())
            .Select(m => m.GetCustomAttribute<FunctionAttribute>()?.Name)
            .OfType<string>()
            .ToHashSet();
        Assert.Superset(new HashSet<string> { "CreateOrder", "ConfirmCheckout", "RazorpayWebhook" }, names);
    }

    [Fact]
    public async Task Program_builder_with_the_same_extension_builds_and_validates()
    {
        // What Program.cs does, minus Run(): the Functions builder, ASP.NET Core integration, our services.
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.ConfigureFunctionsWebApplication();
        foreach (var (key, value) in app.Settings())
        {
            builder.Configuration[key] = value;
        }

        builder.Services.AddEventRegistration(builder.Configuration);
        using var host = builder.Build();
        var validators = host.Services.GetServices<IStartupValidator>();
        foreach (var validator in validators)
        {
            validator.Validate();
        }

        Assert.NotNull(host.Services.GetRequiredService<Database>());
        await Task.CompletedTask;
    }

    [Theory]
    [InlineData("Postgres:ConnectionString", "", "Postgres__ConnectionString")]
    [InlineData("Razorpay:KeyId", "not-a-key", "Razorpay__KeyId")]
    [InlineData("Razorpay:KeySecret", "", "Razorpay__KeySecret")]
    [InlineData("Razorpay:WebhookSecrets", " , ", "Razorpay__WebhookSecrets")]
    [InlineData("Razorpay:BaseUrl", "not a url", "Razorpay__BaseUrl")]
    [InlineData("AzureWebJobsStorage", "", "AzureWebJobsStorage")]
    [InlineData("Orders:SeatHoldMinutes", "0", "Orders__SeatHoldMinutes")]
    [InlineData("Postgres:MaxConcurrentTransactions", "0", "Postgres__MaxConcurrentTransactions")]
    [InlineData("Postgres:ConfirmationsPerTransaction", "65", "Postgres__ConfirmationsPerTransaction")]
    public async Task A_missing_or_malformed_setting_fails_start_up_naming_it(string key, string value, string named)
    {
        Assert.Contains(named, await app.StartUpFailureWithAsync(key, value));
    }

    [Fact]
    public async Task Every_broken_setting_is_named_at_once_each_once_in_the_apps_own_words()
    {
        var settings = app.Settings();
        settings["Postgres:MaxConcurrentTransactions"] = "eight";
        settings.Remove("Razorpay:KeySecret");
        settings["Tickets:LeaseSeconds"] = "ten";
        settings["WhatsApp:AccessToken"] = "";
        settings["Reconciliation:BatchSize"] = "0";
        settings["Razorpay:WebhookSecrets:0"] = "secret\n";
        using var host = TestApp.BuildHost(settings);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.True(error is not AggregateException, error.ToString());
        Assert.DoesNotContain("Failed to convert", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("eight", error.Message, StringComparison.Ordinal);
        foreach (var named in new[]
                 {
                     "Postgres__MaxConcurrentTransactions must be a whole number", "Razorpay__KeySecret", "Tickets__LeaseSeconds must be a whole number",
                     "WhatsApp__AccessToken", "Reconciliation__BatchSize", "Razorpay__WebhookSecrets__0",
                 })
        {
            Assert.Equal(1, Occurrences(error.Message, named));
        }
    }

    [Theory]
    [InlineData("Razorpay:KeySecret", "")]
    [InlineData("Razorpay:WebhookSecrets:0", " ")]
    [InlineData("Postgres:ConnectionString", "")]
    [InlineData("Tickets:SigningKeyPem", "")]
    public async Task One_broken_setting_is_reported_once(string key, string value)
    {
        var message = await app.StartUpFailureWithAsync(key, value);
        var named = key.Replace(':', '_').Replace("_", "__", StringComparison.Ordinal);
        Assert.True(Occurrences(message, named) == 1, message);
        Assert.Contains("1 app setting is missing or malformed", message, StringComparison.Ordinal);
    }

    private static int Occurrences(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    [Fact]
    public void Metrics_are_exported_only_when_an_Application_Insights_connection_string_is_set()
    {
        // Loopback ingestion endpoint: nothing leaves the machine even if the exporter flushes.
        var settings = app.Settings();
        settings[MetricsExport.ConnectionStringSetting] = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        using var withExport = new ServiceCollection().AddLogging().AddEventRegistrationMetricsExport(configuration).BuildServiceProvider();
        using var without = new ServiceCollection().AddLogging()
            .AddEventRegistrationMetricsExport(new ConfigurationBuilder().AddInMemoryCollection(app.Settings()).Build()).BuildServiceProvider();

        Assert.NotNull(withExport.GetService<MeterProvider>());
        Assert.Null(without.GetService<MeterProvider>());
    }

    [Fact]
    public void Telemetry_signs_in_with_the_identity_named_by_the_authentication_string()
    {
        // Application Insights in Azure refuses key-based ingestion (DisableLocalAuth): without a
        // credential the exporter's metrics, and so every alert built on them, would be dropped.
        var settings = app.Settings();
        settings[MetricsExport.ConnectionStringSetting] = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/";
        settings[MetricsExport.AuthenticationStringSetting] = "ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD";
        using var provider = new ServiceCollection().AddLogging()
            .AddEventRegistrationMetricsExport(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).BuildServiceProvider();

        var exporter = provider.GetRequiredService<IOptionsMonitor<AzureMonitorExporterOptions>>().Get(MetricsExport.ExporterName);
        Assert.IsType<ManagedIdentityCredential>(exporter.Credential);
        Assert.NotNull(provider.GetRequiredService<IOptions<TelemetryConfiguration>>().Value);

        Assert.IsType<ManagedIdentityCredential>(MetricsExport.Credential("Authorization=AAD"));
        Assert.IsType<ManagedIdentityCredential>(MetricsExport.Credential(" clientid = abc ; authorization = aad "));
        Assert.Null(MetricsExport.Credential(null));
        Assert.Null(MetricsExport.Credential(""));
        Assert.Null(MetricsExport.Credential("ClientId=abc"));
        Assert.Null(MetricsExport.Credential("Authorization=Key"));
    }

    [Fact]
    public void Migrations_run_twice_change_nothing()
    {
        var again = Migrator.Apply(app.ConnectionString);
        Assert.Empty(again);
    }

    [Fact]
    public async Task A_no_transaction_migration_builds_its_index_concurrently_and_valid()
    {
        // create index concurrently fails inside a transaction, so the index exists only if the
        // Migrator ran 0018 statement by statement; an interrupted build would leave it invalid.
        Assert.Contains(Migrator.EmbeddedScripts(), s => s.EndsWith("0018_registrations_by_event.no_transaction.sql", StringComparison.Ordinal));
        var index = await app.QueryAsync<(string Definition, bool Valid)>(
            "select pg_get_indexdef(indexrelid), indisvalid from pg_index where indexrelid = 'event_registrations_event_by_id'::regclass");
        Assert.Equal(("CREATE INDEX event_registrations_event_by_id ON public.event_registrations USING btree (event_id, id)", true), Assert.Single(index));
    }

    [Fact]
    public async Task The_migrations_leave_no_outbox_table()
    {
        // The queued ticket delivery is the record that a ticket is owed; the outbox, unwritten
        // since the release before, is dropped with its index (README, "Upgrading: the outbox table is dropped").
        Assert.Empty(await app.QueryAsync<string>(
            "select relname from pg_class where relnamespace = 'public'::regnamespace and relname in ('outbox', 'outbox_undispatched')"));
    }
}
