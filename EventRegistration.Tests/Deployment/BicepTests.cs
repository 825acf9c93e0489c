using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Foundation;

namespace EventRegistration.Tests.Deployment;

/// <summary>
/// infra/main.bicep compiled offline by the bicep binary from the Azure.Bicep.CommandLine NuGet
/// package, then the ARM JSON checked against what the app needs: its settings, its queues and
/// containers, secrets only as Key Vault references, PostgreSQL behind PgBouncer.
/// </summary>
public sealed partial class BicepTests
{
    private static readonly Lazy<BicepResult> Build = new(() => RunBicep("build", "infra/main.bicep", "--stdout"));
    private static readonly Lazy<JsonElement> Template = new(() => JsonDocument.Parse(Build.Value.StandardOutput).RootElement);

    /// <summary>The compiled main.bicep, shared with AlertTests (one bicep build per test run).</summary>
    internal static JsonElement CompiledTemplate => Template.Value;

    internal static string Root => RepositoryRoot;

    internal static JsonElement CompiledModule(string name) => ModuleTemplate(name);

    /// <summary>The settings holding secrets: each must be a Key Vault reference in Azure.</summary>
    private static readonly string[] SecretSettings =
    [
        "Razorpay__KeySecret",
        "Razorpay__WebhookSecrets__0",
        "WhatsApp__AccessToken",
        "Tickets__SigningKeyPem",
        "WhatsAppWebhook__VerifyToken",
        "WhatsAppWebhook__AppSecret",
    ];

    /// <summary>
    /// Flex Consumption sets the worker runtime from functionAppConfig.runtime and refuses it as an
    /// app setting; it only exists locally, for func start.
    /// </summary>
    private static readonly string[] LocalOnlySettings = ["FUNCTIONS_WORKER_RUNTIME"];

    /// <summary>
    /// Settings deployed in another form: storage is reached with the app's identity
    /// (<c>AzureWebJobsStorage__accountName</c>), the connection string exists only locally.
    /// </summary>
    private static string DeployedName(string setting) => setting == "AzureWebJobsStorage" ? "AzureWebJobsStorage__accountName" : setting;

    [Fact]
    public void Main_template_compiles_without_warnings()
    {
        var result = Build.Value;
        Assert.True(result.ExitCode == 0, $"bicep build failed:\n{result.StandardError}");
        AssertNoDiagnostics(result);
    }

    [Fact]
    public void Linter_reports_nothing()
    {
        var result = RunBicep("lint", "infra/main.bicep");
        Assert.True(result.ExitCode == 0, $"bicep lint failed:\n{result.StandardOutput}\n{result.StandardError}");
        AssertNoDiagnostics(result);
    }

    [Fact]
    public void Function_app_gets_every_setting_of_the_sample_settings()
    {
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot, "local.settings.sample.json")));
        var required = sample.RootElement.GetProperty("Values").EnumerateObject()
            .Select(p => p.Name)
            .Except(LocalOnlySettings)
            .Select(DeployedName)
            .ToList();

        var missing = required.Except(AppSettings().Keys).ToList();
        Assert.True(missing.Count == 0, $"missing app settings: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Function_app_gets_every_setting_of_the_readme_configuration_table()
    {
        var documented = ReadmeSettings();
        Assert.Contains("Reconciliation__BatchSize", documented);

        var missing = documented.Select(DeployedName).Except(AppSettings().Keys).ToList();
        Assert.True(missing.Count == 0, $"README settings missing from the app: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Webhook_secrets_are_one_setting_each_with_the_rotation_slot_empty_unless_a_previous_secret_is_given()
    {
        var settings = AppSettings();
        Assert.DoesNotContain("Razorpay__WebhookSecrets", settings.Keys);
        Assert.Contains("parameters('razorpayPreviousWebhookSecret')", settings["Razorpay__WebhookSecrets__1"], StringComparison.Ordinal);
        Assert.Contains("@Microsoft.KeyVault(SecretUri=", settings["Razorpay__WebhookSecrets__1"], StringComparison.Ordinal);
    }

    [Fact]
    public void Worker_runtime_is_left_to_the_flex_consumption_runtime_block()
    {
        Assert.DoesNotContain("FUNCTIONS_WORKER_RUNTIME", AppSettings().Keys);
        Assert.DoesNotContain("FUNCTIONS_EXTENSION_VERSION", AppSettings().Keys);

        var site = Resource(ModuleTemplate("api"), "Microsoft.Web/sites");
        var config = site.GetProperty("properties").GetProperty("functionAppConfig");
        Assert.Equal("dotnet-isolated", config.GetProperty("runtime").GetProperty("name").GetString());
        Assert.Equal("10.0", config.GetProperty("runtime").GetProperty("version").GetString());
        Assert.Equal("UserAssigned", site.GetProperty("identity").GetProperty("type").GetString());
        Assert.Equal("UserAssignedIdentity",
            config.GetProperty("deployment").GetProperty("storage").GetProperty("authentication").GetProperty("type").GetString());

        var plan = Resource(ModuleTemplate("api"), "Microsoft.Web/serverfarms");
        Assert.Equal("FC1", plan.GetProperty("sku").GetProperty("name").GetString());
        Assert.Equal("FlexConsumption", plan.GetProperty("sku").GetProperty("tier").GetString());
    }

    [Fact]
    public void Secrets_are_key_vault_references_never_literals()
    {
        var settings = AppSettings();
        foreach (var name in SecretSettings)
        {
            Assert.StartsWith("[format('@Microsoft.KeyVault(SecretUri={0})', reference(", settings[name]);
        }

        var parameters = Template.Value.GetProperty("parameters");
        foreach (var name in new[]
                 {
                     "razorpayKeySecret", "razorpayWebhookSecret",
                     "whatsAppAccessToken", "ticketSigningKeyPemBase64", "whatsAppWebhookVerifyToken", "metaAppSecret",
                 })
        {
            Assert.Equal("securestring", parameters.GetProperty(name).GetProperty("type").GetString());
            Assert.False(parameters.GetProperty(name).TryGetProperty("defaultValue", out _), $"{name} has a default value");
        }
    }

    [Fact]
    public void Committed_parameters_file_takes_every_value_from_the_environment()
    {
        using var file = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "main.parameters.json")));
        foreach (var parameter in file.RootElement.GetProperty("parameters").EnumerateObject())
        {
            Assert.Matches(@"^\$\{[A-Z0-9_]+(=[^}]*)?\}$", parameter.Value.GetProperty("value").GetString()!);
        }
    }

    [Fact]
    public void App_identity_may_read_the_key_vault_secrets_before_the_app_exists()
    {
        const string keyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
        var identity = ModuleTemplate("identity");
        Assert.Equal(keyVaultSecretsUser, identity.GetProperty("variables").GetProperty("roles").GetProperty("keyVaultSecretsUser").GetString());
        Assert.Contains(Resources(identity, "Microsoft.Authorization/roleAssignments"), a => IsRoleOfTheIdentity(a, "Microsoft.KeyVault/vaults", "keyVaultSecretsUser"));

        // The app (and so its first start) comes after the identity module, roles included, and
        // resolves its references with that identity.
        Assert.Contains(Module("api").GetProperty("dependsOn").EnumerateArray(), d => d.GetString()!.EndsWith("'Microsoft.Resources/deployments', 'identity')]", StringComparison.Ordinal));
        var site = Resource(ModuleTemplate("api"), "Microsoft.Web/sites");
        Assert.Equal("[parameters('identityId')]", site.GetProperty("properties").GetProperty("keyVaultReferenceIdentity").GetString());
        Assert.Contains("identity'), '2025-04-01').outputs.id.value", Module("api").GetProperty("properties").GetProperty("parameters").GetProperty("identityId").GetProperty("value").GetString(), StringComparison.Ordinal);

        var vault = Resource(ModuleTemplate("keyvault"), "Microsoft.KeyVault/vaults");
        Assert.True(vault.GetProperty("properties").GetProperty("enableRbacAuthorization").GetBoolean());
    }

    [Fact]
    public void Key_vault_has_purge_protection_and_answers_only_its_private_endpoint_by_default()
    {
        var properties = Resource(ModuleTemplate("keyvault"), "Microsoft.KeyVault/vaults").GetProperty("properties");
        Assert.True(properties.GetProperty("enablePurgeProtection").GetBoolean());
        Assert.True(properties.GetProperty("softDeleteRetentionInDays").GetInt32() >= 7);
        Assert.Equal("[if(parameters('publicNetworkAccess'), 'Enabled', 'Disabled')]", properties.GetProperty("publicNetworkAccess").GetString());
        Assert.Equal("[not(variables('privateNetwork'))]", ModuleParameter("keyvault", "publicNetworkAccess"));
        AssertPrivateByDefault();

        var endpoint = Module("pe-keyvault");
        Assert.Equal("[variables('privateNetwork')]", endpoint.GetProperty("condition").GetString());
        Assert.Equal("vault", ModuleParameter("pe-keyvault", "groupId"));
    }

    [Fact]
    public void Signing_key_pem_arrives_base64_encoded_and_is_decoded_into_the_secret()
    {
        var secret = Resources(ModuleTemplate("keyvault"), "Microsoft.KeyVault/vaults/secrets").Single(r => ChildName(r) == "tickets-signing-key-pem");
        Assert.Equal("[base64ToString(parameters('ticketSigningKeyPemBase64'))]", secret.GetProperty("properties").GetProperty("value").GetString());
        var parameters = File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "main.parameters.json"));
        Assert.Contains("\"ticketSigningKeyPemBase64\": { \"value\": \"${TICKETS_SIGNING_KEY_PEM_BASE64}\" }", parameters, StringComparison.Ordinal);
        Assert.DoesNotContain("TICKETS_SIGNING_KEY_PEM}", parameters, StringComparison.Ordinal);
        Assert.Contains("TICKETS_SIGNING_KEY_PEM_BASE64", File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "README.md")), StringComparison.Ordinal);
    }

    [Fact]
    public void Application_insights_takes_only_entra_authenticated_telemetry_from_the_app_identity()
    {
        var component = Resource(ModuleTemplate("monitoring"), "Microsoft.Insights/components");
        Assert.True(component.GetProperty("properties").GetProperty("DisableLocalAuth").GetBoolean());

        const string monitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
        var identity = ModuleTemplate("identity");
        Assert.Equal(monitoringMetricsPublisher, identity.GetProperty("variables").GetProperty("roles").GetProperty("monitoringMetricsPublisher").GetString());
        Assert.Contains(Resources(identity, "Microsoft.Authorization/roleAssignments"), a => IsRoleOfTheIdentity(a, "Microsoft.Insights/components", "monitoringMetricsPublisher"));

        var settings = AppSettingsResource().GetProperty("properties").GetRawText();
        Assert.Contains("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", settings, StringComparison.Ordinal);
        Assert.Contains("Authorization=AAD", settings, StringComparison.Ordinal);
    }

    [Fact]
    public void Location_is_restricted_to_flex_consumption_regions()
    {
        var location = Template.Value.GetProperty("parameters").GetProperty("location");
        var allowed = location.GetProperty("allowedValues").EnumerateArray().Select(v => v.GetString()!).ToList();
        Assert.Contains("centralindia", allowed);
        Assert.DoesNotContain("eastus2euap", allowed);
        Assert.All(allowed, region => Assert.Matches("^[a-z0-9]+$", region));
        Assert.Equal("location", location.GetProperty("metadata").GetProperty("azd").GetProperty("type").GetString());
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "README.md"));
        Assert.Contains("az postgres flexible-server list-skus", readme, StringComparison.Ordinal);
        Assert.Contains("az functionapp list-flexconsumption-locations", readme, StringComparison.Ordinal);
    }

    [Fact]
    public void Storage_refuses_shared_keys_and_no_setting_or_secret_holds_an_account_key_or_password()
    {
        var account = Resource(ModuleTemplate("storage"), "Microsoft.Storage/storageAccounts");
        Assert.False(account.GetProperty("properties").GetProperty("allowSharedKeyAccess").GetBoolean());
        Assert.False(AppSettings().ContainsKey("AzureWebJobsStorage"), "a storage connection string would carry the account key");
        Assert.Matches(@"'storage'\), '[0-9-]+'\)\.outputs\.name\.value\]$", AppSettings()["AzureWebJobsStorage__accountName"]);
        foreach (var (name, value) in AppSettings())
        {
            Assert.DoesNotContain("AccountKey", value, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("listKeys", value, StringComparison.OrdinalIgnoreCase);
            Assert.False(value.Contains("Password", StringComparison.OrdinalIgnoreCase), $"{name} carries a password in the clear");
        }

        // The settings api.bicep adds (identity, Application Insights) hold no key or password either.
        var added = AppSettingsResource().GetProperty("properties").GetString()!;
        Assert.StartsWith("[union(parameters('appSettings'), createObject(", added, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey", added, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("InstrumentationKey=", added, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", added, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("listKeys", added, StringComparison.OrdinalIgnoreCase);

        Assert.DoesNotContain("listKeys", ModuleTemplate("keyvault").GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("listKeys", ModuleTemplate("api").GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Storage_answers_only_its_private_endpoints_by_default_one_for_each_service_the_app_and_host_use()
    {
        var properties = Resource(ModuleTemplate("storage"), "Microsoft.Storage/storageAccounts").GetProperty("properties");
        Assert.Equal("[if(parameters('publicNetworkAccess'), 'Enabled', 'Disabled')]", properties.GetProperty("publicNetworkAccess").GetString());
        Assert.Equal("None", properties.GetProperty("networkAcls").GetProperty("bypass").GetString());
        Assert.Equal("[not(variables('privateNetwork'))]", ModuleParameter("storage", "publicNetworkAccess"));
        AssertPrivateByDefault();

        var endpoints = Template.Value.GetProperty("resources").EnumerateArray()
            .Single(r => r.TryGetProperty("copy", out var copy) && copy.GetProperty("name").GetString() == "storageEndpoints");
        Assert.Equal("[variables('privateNetwork')]", endpoints.GetProperty("condition").GetString());
        Assert.Equal("[length(createArray('blob', 'queue', 'table'))]", endpoints.GetProperty("copy").GetProperty("count").GetString());
        Assert.Equal("[createArray('blob', 'queue', 'table')[copyIndex()]]",
            endpoints.GetProperty("properties").GetProperty("parameters").GetProperty("groupId").GetProperty("value").GetString());
    }

    [Fact]
    public void The_timer_and_the_alerts_count_in_the_same_reconciliation_period()
    {
        Assert.Equal("[variables('reconciliationSchedule')]", AppSettings()["ReconciliationSchedule"]);
        Assert.Equal("[format('0 */{0} * * * *', parameters('reconciliationPeriodMinutes'))]",
            Template.Value.GetProperty("variables").GetProperty("reconciliationSchedule").GetString());
        Assert.Equal("[parameters('reconciliationPeriodMinutes')]", ModuleParameter("alerts", "reconciliationPeriodMinutes"));

        // Every offered period makes a schedule the app accepts, whose period (the unit of an
        // overdue anomaly, counted by the app) is the one the alert windows are built from.
        var periods = Template.Value.GetProperty("parameters").GetProperty("reconciliationPeriodMinutes").GetProperty("allowedValues").EnumerateArray().Select(p => p.GetInt32());
        foreach (var minutes in periods)
        {
            var options = new EventRegistration.Functions.Reconciliation.ReconciliationOptions { Schedule = $"0 */{minutes} * * * *" };
            Assert.True(EventRegistration.Functions.Reconciliation.ReconciliationOptions.IsValidSchedule(options.Schedule));
            Assert.Equal(TimeSpan.FromMinutes(minutes), options.Period(new DateTime(2026, 11, 26, 0, 1, 0, DateTimeKind.Utc)));
            Assert.Contains(3 * minutes, new[] { 5, 10, 15, 30, 45, 60 });
        }
    }

    [Fact]
    public void Function_app_is_integrated_into_the_network_by_default()
    {
        var site = Resource(ModuleTemplate("api"), "Microsoft.Web/sites");
        Assert.Equal("[if(empty(parameters('virtualNetworkSubnetId')), null(), parameters('virtualNetworkSubnetId'))]",
            site.GetProperty("properties").GetProperty("virtualNetworkSubnetId").GetString());
        Assert.Matches(PrivateOnly("appSubnetId"), ModuleParameter("api", "virtualNetworkSubnetId"));
        AssertPrivateByDefault();

        var subnets = ModuleTemplate("network").GetProperty("variables").GetProperty("subnets");
        Assert.Equal("Microsoft.App/environments", subnets.GetProperty("app").GetProperty("delegation").GetString());
        Assert.Equal("Microsoft.DBforPostgreSQL/flexibleServers", subnets.GetProperty("postgres").GetProperty("delegation").GetString());
        Assert.Equal("Microsoft.ContainerInstance/containerGroups", subnets.GetProperty("jobs").GetProperty("delegation").GetString());
    }

    [Theory]
    [InlineData("storageBlobDataOwner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b")]
    [InlineData("storageQueueDataContributor", "974c5e8b-45b9-4653-ba55-5f855dd0fb88")]
    [InlineData("storageTableDataContributor", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3")]
    public void App_identity_has_each_storage_data_role_it_needs_on_the_account(string role, string roleDefinitionId)
    {
        var identity = ModuleTemplate("identity");
        Assert.Equal(roleDefinitionId, identity.GetProperty("variables").GetProperty("roles").GetProperty(role).GetString());
        Assert.Contains(Resources(identity, "Microsoft.Authorization/roleAssignments"), a => IsRoleOfTheIdentity(a, "Microsoft.Storage/storageAccounts", role));
    }

    [Fact]
    public void Storage_has_the_queues_and_containers_the_app_uses()
    {
        var variables = ModuleTemplate("storage").GetProperty("variables");
        var queues = variables.GetProperty("queueNames").EnumerateArray().Select(q => q.GetString()).ToList();
        var containers = variables.GetProperty("containerNames").EnumerateArray().Select(c => c.GetString()).ToList();
        var storageDefaults = new StorageOptions();

        Assert.Equal([DeliverTicketFunction.QueueName, RecordPoisonedTicketFunction.QueueName], queues);
        Assert.Equal(["ticket-deliveries", "ticket-deliveries-poison"], queues);
        Assert.Contains(storageDefaults.TicketLocksContainer, containers);
        Assert.Contains(storageDefaults.TicketsContainer, containers);
        Assert.Contains("ticket-locks", containers);
        Assert.Contains("tickets", containers);
        Assert.Contains("[parameters('deploymentContainerName')]", containers);
        Assert.Single(Resources(ModuleTemplate("storage"), "Microsoft.Storage/storageAccounts/queueServices/queues"));
        Assert.Single(Resources(ModuleTemplate("storage"), "Microsoft.Storage/storageAccounts/blobServices/containers"));
    }

    [Fact]
    public void Postgres_is_version_15_or_16_with_pgbouncer_and_the_app_database()
    {
        var version = Template.Value.GetProperty("parameters").GetProperty("postgresVersion");
        Assert.Contains(version.GetProperty("defaultValue").GetString(), new[] { "15", "16" });
        Assert.All(version.GetProperty("allowedValues").EnumerateArray(), v => Assert.Contains(v.GetString(), new[] { "15", "16" }));

        var template = ModuleTemplate("postgres");
        var configurations = Resources(template, "Microsoft.DBforPostgreSQL/flexibleServers/configurations")
            .ToDictionary(c => ChildName(c), c => c.GetProperty("properties").GetProperty("value").GetString());
        Assert.Equal("true", configurations["pgbouncer.enabled"]);
        Assert.Equal("transaction", configurations["pgbouncer.pool_mode"]);

        var tier = Template.Value.GetProperty("parameters").GetProperty("postgresSkuTier");
        Assert.DoesNotContain("Burstable", tier.GetProperty("allowedValues").EnumerateArray().Select(v => v.GetString()));

        var module = Module("postgres").GetProperty("properties").GetProperty("parameters");
        Assert.Equal("eventregistration", Template.Value.GetProperty("variables").GetProperty("databaseName").GetString());
        Assert.Equal("[variables('databaseName')]", module.GetProperty("databaseName").GetProperty("value").GetString());

    }

    [Fact]
    public void Default_deployment_puts_postgres_on_private_access_with_no_all_azure_firewall_rule()
    {
        AssertPrivateByDefault();
        var template = ModuleTemplate("postgres");
        Assert.Equal("[not(empty(parameters('delegatedSubnetId')))]", template.GetProperty("variables").GetProperty("privateAccess").GetString());
        Assert.Matches(PrivateOnly("postgresSubnetId"), ModuleParameter("postgres", "delegatedSubnetId"));
        Assert.Matches(PrivateOnly("postgresZoneId"), ModuleParameter("postgres", "privateDnsZoneId"));

        // With private access the server has no public endpoint at all.
        var network = Resource(template, "Microsoft.DBforPostgreSQL/flexibleServers").GetProperty("properties").GetProperty("network").GetString()!;
        Assert.StartsWith("[if(variables('privateAccess'), createObject('delegatedSubnetResourceId', parameters('delegatedSubnetId'), 'privateDnsZoneArmResourceId', parameters('privateDnsZoneId'), 'publicNetworkAccess', 'Disabled'),", network, StringComparison.Ordinal);

        // The "any Azure service" rule (0.0.0.0) exists only in the public development deployment; no other rule exists at all.
        var firewall = Resource(template, "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules");
        Assert.Equal("[not(variables('privateAccess'))]", firewall.GetProperty("condition").GetString());
        Assert.Equal("0.0.0.0", firewall.GetProperty("properties").GetProperty("startIpAddress").GetString());
    }

    [Fact]
    public void App_connects_through_pgbouncer_within_the_connection_budget()
    {
        var connectionString = AppSettings()["Postgres__ConnectionString"];
        Assert.Contains("Port=6432;", connectionString, StringComparison.Ordinal);
        Assert.Contains("SSL Mode=Require;", connectionString, StringComparison.Ordinal);
        Assert.Contains("Maximum Pool Size={", connectionString, StringComparison.Ordinal);
        Assert.Contains("parameters('postgresMaxPoolSize')", connectionString, StringComparison.Ordinal);
        // PgBouncer hands a transaction to any server connection; No Reset On Close spares the DISCARD ALL it would make useless.
        Assert.Contains(";No Reset On Close=true", connectionString, StringComparison.Ordinal);

        var parameters = Template.Value.GetProperty("parameters");
        int Default(string name) => parameters.GetProperty(name).GetProperty("defaultValue").GetInt32();
        var pool = Default("postgresMaxPoolSize");
        var slots = Default("postgresMaxConcurrentTransactions");
        var instances = Default("maximumInstanceCount");

        // README "Connection budget": a pool a little above the transaction slots, and every
        // instance of every Flex scale group with its whole pool admitted by PgBouncer.
        Assert.InRange(pool, slots + 1, slots * 4);
        Assert.Equal(
            "[add(mul(mul(variables('scaleGroups'), parameters('maximumInstanceCount')), parameters('postgresMaxPoolSize')), 100)]",
            Template.Value.GetProperty("variables").GetProperty("pgBouncerMaxClientConnections").GetString());
        Assert.True(Default("pgBouncerDefaultPoolSize") < instances * pool, "PgBouncer should multiplex, not mirror, the client connections");

        // Even at the parameters' maximums the computed value stays inside max_client_conn's allowed range (1–50,000).
        int Maximum(string name) => parameters.GetProperty(name).GetProperty("maxValue").GetInt32();
        var groups = Template.Value.GetProperty("variables").GetProperty("scaleGroups").GetInt32();
        var worst = groups * Maximum("maximumInstanceCount") * Maximum("postgresMaxPoolSize") + 100;
        Assert.True(worst <= 50_000, $"max_client_conn would be {worst} at the parameters' maximums, above PgBouncer's 50,000");
    }

    [Fact]
    public void Deployed_connection_string_prepares_statements_within_what_pgbouncer_tracks()
    {
        var prepared = MaxAutoPrepare(AppSettings()["Postgres__ConnectionString"]);
        Assert.True(prepared > 0, "the deployed connection string should turn on Npgsql's automatic preparation (Max Auto Prepare)");

        // PgBouncer in transaction mode only carries named statements across server connections when it tracks them,
        // and keeps at most max_prepared_statements of them per server connection.
        var configurations = Resources(ModuleTemplate("postgres"), "Microsoft.DBforPostgreSQL/flexibleServers/configurations")
            .ToDictionary(c => ChildName(c), c => c.GetProperty("properties").GetProperty("value").GetString());
        Assert.InRange(prepared, 1, int.Parse(configurations["pgbouncer.max_prepared_statements"]!, System.Globalization.CultureInfo.InvariantCulture));

        // The local and test connection strings prepare as the deployment does, so the suite and the benchmark run what is deployed.
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryRoot, "local.settings.sample.json")));
        Assert.Equal(prepared, MaxAutoPrepare(sample.RootElement.GetProperty("Values").GetProperty("Postgres__ConnectionString").GetString()!));
        Assert.Equal(prepared, MaxAutoPrepare(EventRegistration.Tests.Infrastructure.TestDatabase.ConnectionStringFor("any", pooling: true)));
        Assert.Contains($"Max Auto Prepare={prepared}\"", File.ReadAllText(Path.Combine(RepositoryRoot, "dev")), StringComparison.Ordinal);

        // Nor do they reset the session when a connection goes back to the pool (the deployment never does, see above).
        Assert.Contains("No Reset On Close=true;", sample.RootElement.GetProperty("Values").GetProperty("Postgres__ConnectionString").GetString()!, StringComparison.Ordinal);
        Assert.True(new Npgsql.NpgsqlConnectionStringBuilder(EventRegistration.Tests.Infrastructure.TestDatabase.ConnectionStringFor("any", pooling: true)).NoResetOnClose);
        Assert.Contains("No Reset On Close=true;", File.ReadAllText(Path.Combine(RepositoryRoot, "dev")), StringComparison.Ordinal);
    }

    private static int MaxAutoPrepare(string connectionString) =>
        MaxAutoPreparePattern().Match(connectionString) is { Success: true } m
            ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
            : 0;

    [GeneratedRegex(@"(?:^|;)\s*Max\s*Auto\s*Prepare\s*=\s*(\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex MaxAutoPreparePattern();

    [Fact]
    public void Connection_budget_counts_every_flex_scale_group_the_app_has()
    {
        // Flex Consumption: HTTP functions scale as one group; every other trigger scales on its own.
        var triggers = FunctionsMetadataTests.All
            .Select(f => f.GetProperty("bindings").EnumerateArray().Single(b => b.GetProperty("type").GetString()!.EndsWith("Trigger", StringComparison.Ordinal)).GetProperty("type").GetString())
            .ToList();
        var groups = (triggers.Any(t => t == "httpTrigger") ? 1 : 0) + triggers.Count(t => t != "httpTrigger");
        Assert.Equal(groups, Template.Value.GetProperty("variables").GetProperty("scaleGroups").GetInt32());
    }

    [Theory]
    [InlineData("migrate.sh", "predeploy")]
    [InlineData("postdeploy.sh", "postdeploy")]
    public void Deploy_hooks_are_strict_bash_that_stop_on_interrupt_and_use_the_azd_subscription(string file, string hook)
    {
        var script = Path.Combine(RepositoryRoot, "infra", "scripts", file);
        var result = Run("bash", ["-n", script]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        var text = File.ReadAllText(script);
        Assert.StartsWith("#!/usr/bin/env bash\n", text, StringComparison.Ordinal);
        Assert.Contains("set -euo pipefail", text, StringComparison.Ordinal);
        Assert.Matches(@"trap '[^']*exit 130' INT", text);
        Assert.Matches(@"trap '[^']*exit 143' TERM", text);

        // Every Azure CLI call that touches a resource names azd's subscription (az rest takes it from the URI).
        var calls = text.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("az ", StringComparison.Ordinal) || l.Contains("$(az ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(calls);
        Assert.All(calls, call => Assert.True(
            call.Contains("--subscription \"$AZURE_SUBSCRIPTION_ID\"", StringComparison.Ordinal) || call.Contains("az rest", StringComparison.Ordinal) && text.Contains("subscriptions/$AZURE_SUBSCRIPTION_ID/", StringComparison.Ordinal),
            $"{file}: {call}"));

        var azure = File.ReadAllText(Path.Combine(RepositoryRoot, "azure.yaml"));
        Assert.Contains($"  {hook}:", azure, StringComparison.Ordinal);
        Assert.Contains($"./infra/scripts/{file}", azure, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrations_run_inside_the_network_in_the_default_deployment()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "scripts", "migrate.sh"));
        Assert.Contains("Port=5432", text, StringComparison.Ordinal);
        Assert.Contains("--subnet \"$MIGRATION_SUBNET_ID\"", text, StringComparison.Ordinal);
        Assert.Contains("--environment-variables \"Postgres__ConnectionString=$connection\"", text, StringComparison.Ordinal);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"EventRegistration.Functions.dll\", \"migrate\"]",
            File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "migrate", "Dockerfile")), StringComparison.Ordinal);

        // The hook's inputs are outputs of the template, filled only in the private deployment.
        var outputs = Template.Value.GetProperty("outputs");
        foreach (var name in new[]
                 {
                     "NETWORK_ACCESS", "MIGRATION_REGISTRY_NAME", "MIGRATION_REGISTRY_LOGIN_SERVER", "MIGRATION_IDENTITY_ID", "MIGRATION_SUBNET_ID",
                     "MIGRATION_IDENTITY_NAME", "MIGRATION_IDENTITY_CLIENT_ID", "APP_IDENTITY_NAME", "APP_IDENTITY_PRINCIPAL_ID",
                 })
        {
            Assert.True(outputs.TryGetProperty(name, out _), $"output {name} missing");
            Assert.Contains(name, text, StringComparison.Ordinal);
        }

        // The subnet only in the private deployment; the migration identity and registry in both.
        Assert.Contains("subnet=(--subnet \"$MIGRATION_SUBNET_ID\")", text, StringComparison.Ordinal);
        Assert.False(Module("migrations").TryGetProperty("condition", out _), "migrations run as the migration identity in every deployment");
        var registry = Resource(ModuleTemplate("migrations"), "Microsoft.ContainerRegistry/registries");
        Assert.False(registry.GetProperty("properties").GetProperty("adminUserEnabled").GetBoolean());

        // The build context never carries local settings (real secrets may live there).
        Assert.Contains("**/local.settings.json", File.ReadAllText(Path.Combine(RepositoryRoot, ".dockerignore")), StringComparison.Ordinal);
    }

    [Fact]
    public void Postgres_takes_entra_tokens_only_with_the_migration_identity_as_its_administrator()
    {
        var template = ModuleTemplate("postgres");
        var server = Resource(template, "Microsoft.DBforPostgreSQL/flexibleServers").GetProperty("properties");
        var auth = server.GetProperty("authConfig");
        Assert.Equal("Enabled", auth.GetProperty("activeDirectoryAuth").GetString());
        Assert.Equal("Disabled", auth.GetProperty("passwordAuth").GetString());
        Assert.Equal("[tenant().tenantId]", auth.GetProperty("tenantId").GetString());
        Assert.False(server.TryGetProperty("administratorLogin", out _), "a password login would exist");
        Assert.False(server.TryGetProperty("administratorLoginPassword", out _), "a password would exist");
        Assert.DoesNotContain(Template.Value.GetProperty("parameters").EnumerateObject(),
            p => p.Name.Contains("postgres", StringComparison.OrdinalIgnoreCase) && p.Value.GetProperty("type").GetString() == "securestring");

        // The one Entra administrator: the migration identity (a user-assigned identity of its own), never the app's.
        var administrator = Resource(template, "Microsoft.DBforPostgreSQL/flexibleServers/administrators");
        Assert.Equal("[format('{0}/{1}', parameters('serverName'), parameters('administratorPrincipalId'))]", administrator.GetProperty("name").GetString());
        Assert.Equal("ServicePrincipal", administrator.GetProperty("properties").GetProperty("principalType").GetString());
        Assert.Equal("[parameters('administratorName')]", administrator.GetProperty("properties").GetProperty("principalName").GetString());
        Assert.Equal("[tenant().tenantId]", administrator.GetProperty("properties").GetProperty("tenantId").GetString());
        Assert.Matches(@"'migrations'\), '[0-9-]+'\)\.outputs\.identityPrincipalId\.value\]$", ModuleParameter("postgres", "administratorPrincipalId"));
        Assert.Matches(@"'migrations'\), '[0-9-]+'\)\.outputs\.identityName\.value\]$", ModuleParameter("postgres", "administratorName"));
        Assert.Equal("Microsoft.ManagedIdentity/userAssignedIdentities", Resource(ModuleTemplate("migrations"), "Microsoft.ManagedIdentity/userAssignedIdentities").GetProperty("type").GetString());
        var migrationIdentity = ModuleParameter("migrations", "identityName");
        var appIdentity = ModuleParameter("identity", "identityName");
        Assert.Equal("[format('id-migrate-{0}', variables('abbreviation'))]", migrationIdentity);
        Assert.Equal("[format('id-api-{0}', variables('abbreviation'))]", appIdentity);
        Assert.DoesNotContain(Resources(ModuleTemplate("migrations"), "Microsoft.Authorization/roleAssignments"), a => a.GetRawText().Contains("Microsoft.DBforPostgreSQL", StringComparison.Ordinal));
    }

    [Fact]
    public void App_signs_in_to_postgres_as_its_own_identity_with_a_token_and_no_password()
    {
        var settings = AppSettings();
        Assert.Equal("true", settings["Postgres__EntraAuthentication"]);
        var connectionString = settings["Postgres__ConnectionString"];
        Assert.StartsWith("[format('Host={0};Port=6432;Database={1};Username={2};SSL Mode=Require;", connectionString, StringComparison.Ordinal);
        Assert.Contains("'identity'), '2025-04-01').outputs.name.value", connectionString, StringComparison.Ordinal);
        Assert.DoesNotContain("migrations", connectionString, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", connectionString, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("postgres", ModuleTemplate("keyvault").GetRawText(), StringComparison.OrdinalIgnoreCase);

        // The token comes from the app's user-assigned identity, named outright (PostgresSignIn's credential section).
        var added = AppSettingsResource().GetProperty("properties").GetString()!;
        Assert.Contains("'Postgres__credential', 'managedidentity', 'Postgres__clientId', parameters('identityClientId')", added, StringComparison.Ordinal);
        Assert.Equal("[reference(extensionResourceId(format('/subscriptions/{0}/resourceGroups/{1}', subscription().subscriptionId, format('rg-{0}', parameters('environmentName'))), 'Microsoft.Resources/deployments', 'identity'), '2025-04-01').outputs.clientId.value]",
            ModuleParameter("api", "identityClientId"));
    }

    [Fact]
    public void Migrations_sign_in_as_the_migration_identity_and_make_the_app_identity_a_member_of_evreg_app()
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "scripts", "migrate.sh"));
        Assert.Contains("connection=\"Host=$POSTGRES_HOST;Port=5432;Database=$POSTGRES_DATABASE;Username=$MIGRATION_IDENTITY_NAME;SSL Mode=Require\"", text, StringComparison.Ordinal);
        Assert.Contains("\"Postgres__EntraAuthentication=true\"", text, StringComparison.Ordinal);
        Assert.Contains("\"Postgres__credential=managedidentity\" \"Postgres__clientId=$MIGRATION_IDENTITY_CLIENT_ID\"", text, StringComparison.Ordinal);
        Assert.Contains("--assign-identity \"$MIGRATION_IDENTITY_ID\"", text, StringComparison.Ordinal);
        Assert.Contains($"\"{Functions.Infrastructure.Database.AppLogin.NameSetting}=$APP_IDENTITY_NAME\"", text, StringComparison.Ordinal);
        Assert.Contains($"\"{Functions.Infrastructure.Database.AppLogin.ObjectIdSetting}=$APP_IDENTITY_PRINCIPAL_ID\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain(text.Split('\n').Where(l => !l.TrimStart().StartsWith('#')), l => l.Contains("password", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain("firewall-rule", text, StringComparison.Ordinal);

        var outputs = Template.Value.GetProperty("outputs");
        Assert.Contains("'migrations'), '2025-04-01').outputs.identityName.value", outputs.GetProperty("MIGRATION_IDENTITY_NAME").GetProperty("value").GetString(), StringComparison.Ordinal);
        Assert.Contains("'migrations'), '2025-04-01').outputs.identityClientId.value", outputs.GetProperty("MIGRATION_IDENTITY_CLIENT_ID").GetProperty("value").GetString(), StringComparison.Ordinal);
        Assert.Contains("'identity'), '2025-04-01').outputs.name.value", outputs.GetProperty("APP_IDENTITY_NAME").GetProperty("value").GetString(), StringComparison.Ordinal);
        Assert.Contains("'identity'), '2025-04-01').outputs.principalId.value", outputs.GetProperty("APP_IDENTITY_PRINCIPAL_ID").GetProperty("value").GetString(), StringComparison.Ordinal);
        Assert.False(outputs.TryGetProperty("POSTGRES_ADMIN_LOGIN", out _));
    }

    private static Dictionary<string, string> AppSettings()
    {
        var value = Module("api").GetProperty("properties").GetProperty("parameters").GetProperty("appSettings").GetProperty("value");
        return value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
    }

    /// <summary>Setting names from the first column of README.md's configuration table.</summary>
    private static List<string> ReadmeSettings()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var start = readme.IndexOf("## Configuration", StringComparison.Ordinal);
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        return readme[start..end].Split('\n')
            .Where(line => line.StartsWith("| `", StringComparison.Ordinal))
            .SelectMany(line => SettingName().Matches(line.Split('|')[1]).Select(m => m.Groups[1].Value))
            .ToList();
    }

    [GeneratedRegex("`([A-Za-z_]+)`")]
    private static partial Regex SettingName();

    private static JsonElement Module(string name) =>
        Template.Value.GetProperty("resources").EnumerateArray()
            .Single(r => r.GetProperty("type").GetString() == "Microsoft.Resources/deployments" && r.GetProperty("name").GetString() == name);

    private static JsonElement ModuleTemplate(string name) => Module(name).GetProperty("properties").GetProperty("template");

    /// <summary>A module parameter's expression; a conditional one is compiled as if(…, createObject('value', a), createObject('value', b)).</summary>
    private static string ModuleParameter(string module, string name)
    {
        var parameter = Module(module).GetProperty("properties").GetProperty("parameters").GetProperty(name);
        return parameter.ValueKind == JsonValueKind.String ? parameter.GetString()! : parameter.GetProperty("value").GetString()!;
    }

    /// <summary>A module parameter that is the network module's output in the private deployment and empty in the public one.</summary>
    private static string PrivateOnly(string networkOutput) =>
        $@"^\[if\(variables\('privateNetwork'\), createObject\('value', reference\(.*'network'\), '[0-9-]+'\)\.outputs\.{networkOutput}\.value\), createObject\('value', ''\)\)\]$";

    /// <summary>The default deployment is the private one: networkAccess defaults to 'private', and privateNetwork follows it.</summary>
    private static void AssertPrivateByDefault()
    {
        Assert.Equal("private", Template.Value.GetProperty("parameters").GetProperty("networkAccess").GetProperty("defaultValue").GetString());
        Assert.Equal("[equals(parameters('networkAccess'), 'private')]", Template.Value.GetProperty("variables").GetProperty("privateNetwork").GetString());
        Assert.Contains("${NETWORK_ACCESS=private}", File.ReadAllText(Path.Combine(RepositoryRoot, "infra", "main.parameters.json")), StringComparison.Ordinal);
    }

    /// <summary>A role assignment of the app's user-assigned identity, on a resource of the given type, for the named role.</summary>
    private static bool IsRoleOfTheIdentity(JsonElement assignment, string scopeType, string role) =>
        assignment.GetProperty("scope").GetString()!.Contains(scopeType, StringComparison.Ordinal)
        && assignment.GetProperty("properties").GetProperty("roleDefinitionId").GetString()!.Contains($"roles').{role}", StringComparison.Ordinal)
        && assignment.GetProperty("properties").GetProperty("principalId").GetString()!.Contains("Microsoft.ManagedIdentity/userAssignedIdentities", StringComparison.Ordinal);

    private static List<JsonElement> Resources(JsonElement template, string type) =>
        template.GetProperty("resources").EnumerateArray().Where(r => r.GetProperty("type").GetString() == type).ToList();

    private static JsonElement Resource(JsonElement template, string type) => Assert.Single(Resources(template, type));

    /// <summary>The api module's app settings (its other sites/config is the optional authsettingsV2).</summary>
    private static JsonElement AppSettingsResource() =>
        Assert.Single(Resources(ModuleTemplate("api"), "Microsoft.Web/sites/config"), r => r.GetProperty("name").GetString()!.EndsWith("'appsettings')]", StringComparison.Ordinal));

    /// <summary>The literal last segment of a child resource's name: format('{0}/{1}', …, 'pgbouncer.enabled').</summary>
    private static string ChildName(JsonElement resource)
    {
        var name = resource.GetProperty("name").GetString()!;
        var match = Regex.Match(name, @", '([^']+)'\)\]$");
        Assert.True(match.Success, $"unexpected child name {name}");
        return match.Groups[1].Value;
    }

    private static void AssertNoDiagnostics(BicepResult result)
    {
        var diagnostics = (result.StandardError + "\n" + (result.Arguments[0] == "lint" ? result.StandardOutput : ""))
            .Split('\n')
            .Where(line => line.Contains(": Warning ", StringComparison.Ordinal) || line.Contains(": Error ", StringComparison.Ordinal))
            .ToList();
        Assert.True(diagnostics.Count == 0, string.Join('\n', diagnostics));
    }

    private static string RepositoryRoot { get; } = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "EventRegistration.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        return directory.FullName;
    }

    private static string BicepPath()
    {
        var path = typeof(BicepTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "BicepPath").Value;
        Assert.True(File.Exists(path), $"bicep not found at {path}: restore the test project (package Azure.Bicep.CommandLine.linux-x64).");
        return path!;
    }

    private static BicepResult RunBicep(params string[] arguments) => Run(BicepPath(), arguments);

    private static BicepResult Run(string fileName, string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{fileName} {string.Join(' ', arguments)} did not finish in 2 minutes");
        }

        return new BicepResult(arguments, process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    private sealed record BicepResult(string[] Arguments, int ExitCode, string StandardOutput, string StandardError);
}
