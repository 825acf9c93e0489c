using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Tickets;

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

    /// <summary>The settings holding secrets: each must be a Key Vault reference in Azure.</summary>
    private static readonly string[] SecretSettings =
    [
        "Postgres__ConnectionString",
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
        Assert.Equal("SystemAssigned", site.GetProperty("identity").GetProperty("type").GetString());
        Assert.Equal("SystemAssignedIdentity",
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
                     "postgresAdministratorPassword", "razorpayKeySecret", "razorpayWebhookSecret",
                     "whatsAppAccessToken", "ticketSigningKeyPem", "whatsAppWebhookVerifyToken", "metaAppSecret",
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
            Assert.Matches(@"^\$\{[A-Z_]+(=[^}]*)?\}$", parameter.Value.GetProperty("value").GetString()!);
        }
    }

    [Fact]
    public void App_identity_may_read_the_key_vault_secrets()
    {
        const string keyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";
        var roles = ModuleTemplate("api").GetProperty("variables").GetProperty("roles");
        Assert.Equal(keyVaultSecretsUser, roles.GetProperty("keyVaultSecretsUser").GetString());
        var assignments = Resources(ModuleTemplate("api"), "Microsoft.Authorization/roleAssignments");
        Assert.Contains(assignments, a =>
            a.GetProperty("scope").GetString()!.Contains("Microsoft.KeyVault/vaults", StringComparison.Ordinal)
            && a.GetProperty("properties").GetProperty("roleDefinitionId").GetString()!.Contains("roles').keyVaultSecretsUser", StringComparison.Ordinal)
            && a.GetProperty("properties").GetProperty("principalId").GetString()!.Contains("identity.principalId", StringComparison.Ordinal));

        var settings = Resource(ModuleTemplate("api"), "Microsoft.Web/sites/config");
        var dependsOn = settings.GetProperty("dependsOn").EnumerateArray().Select(d => d.GetString()!).ToList();
        Assert.Contains(dependsOn, d => d.Contains("roleAssignments", StringComparison.Ordinal));

        var vault = Resource(ModuleTemplate("keyvault"), "Microsoft.KeyVault/vaults");
        Assert.True(vault.GetProperty("properties").GetProperty("enableRbacAuthorization").GetBoolean());
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

        Assert.DoesNotContain("listKeys", ModuleTemplate("keyvault").GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("listKeys", ModuleTemplate("api").GetRawText(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("storageBlobDataOwner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b")]
    [InlineData("storageQueueDataContributor", "974c5e8b-45b9-4653-ba55-5f855dd0fb88")]
    [InlineData("storageTableDataContributor", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3")]
    public void App_identity_has_each_storage_data_role_it_needs_on_the_account(string role, string roleDefinitionId)
    {
        var api = ModuleTemplate("api");
        Assert.Equal(roleDefinitionId, api.GetProperty("variables").GetProperty("roles").GetProperty(role).GetString());
        Assert.Contains(Resources(api, "Microsoft.Authorization/roleAssignments"), a =>
            a.GetProperty("scope").GetString()!.Contains("Microsoft.Storage/storageAccounts", StringComparison.Ordinal)
            && a.GetProperty("properties").GetProperty("roleDefinitionId").GetString()!.Contains($"roles').{role}", StringComparison.Ordinal)
            && a.GetProperty("properties").GetProperty("principalId").GetString()!.Contains("identity.principalId", StringComparison.Ordinal));
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

        var firewall = Resource(template, "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules").GetProperty("properties");
        Assert.Equal("0.0.0.0", firewall.GetProperty("startIpAddress").GetString());
        Assert.Equal("0.0.0.0", firewall.GetProperty("endIpAddress").GetString());
    }

    [Fact]
    public void App_connects_through_pgbouncer_within_the_connection_budget()
    {
        var connectionString = Module("keyvault").GetProperty("properties").GetProperty("parameters")
            .GetProperty("postgresConnectionString").GetProperty("value").GetString()!;
        Assert.Contains("Port=6432;", connectionString, StringComparison.Ordinal);
        Assert.Contains("SSL Mode=Require;", connectionString, StringComparison.Ordinal);
        Assert.Contains("Maximum Pool Size={", connectionString, StringComparison.Ordinal);
        Assert.Contains("parameters('postgresMaxPoolSize')", connectionString, StringComparison.Ordinal);

        var parameters = Template.Value.GetProperty("parameters");
        int Default(string name) => parameters.GetProperty(name).GetProperty("defaultValue").GetInt32();
        var pool = Default("postgresMaxPoolSize");
        var slots = Default("postgresMaxConcurrentTransactions");
        var instances = Default("maximumInstanceCount");

        // README "Connection budget": a pool a little above the transaction slots, and every
        // instance's whole pool admitted by PgBouncer (whose own default limit is 5000).
        Assert.InRange(pool, slots + 1, slots * 4);
        Assert.Equal(
            "[add(mul(parameters('maximumInstanceCount'), parameters('postgresMaxPoolSize')), 100)]",
            Template.Value.GetProperty("variables").GetProperty("pgBouncerMaxClientConnections").GetString());
        Assert.True(instances * pool + 100 <= 5000, $"{instances} instances × {pool} connections exceed PgBouncer's default client limit");
        Assert.True(Default("pgBouncerDefaultPoolSize") < instances * pool, "PgBouncer should multiplex, not mirror, the client connections");
    }

    [Fact]
    public void Migration_hook_script_is_valid_shell()
    {
        var script = Path.Combine(RepositoryRoot, "infra", "scripts", "migrate.sh");
        var result = Run("sh", ["-n", script]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("Port=5432", File.ReadAllText(script), StringComparison.Ordinal);
        Assert.Contains("./infra/scripts/migrate.sh", File.ReadAllText(Path.Combine(RepositoryRoot, "azure.yaml")), StringComparison.Ordinal);
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

    private static List<JsonElement> Resources(JsonElement template, string type) =>
        template.GetProperty("resources").EnumerateArray().Where(r => r.GetProperty("type").GetString() == type).ToList();

    private static JsonElement Resource(JsonElement template, string type) => Assert.Single(Resources(template, type));

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
