using EventRegistration.Functions;
using EventRegistration.Functions.Health;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Reconciliation;
using EventRegistration.Tests.Tickets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Tests.Security;

/// <summary>
/// The app signed in as a login that is only a member of <c>evreg_app</c> (migration 0009), as
/// the Function App's identity is in Azure, made so by the <c>migrate</c> command's mapping step
/// (<see cref="EventRegistration.Functions.Infrastructure.Database.AppLogin"/>); the test's own
/// helpers keep the owner's connection.
/// </summary>
public sealed class AppRoleApp : TestApp
{
    private const string Password = "app-role-test";

    public string Login { get; } = "evreg_app_t" + Guid.NewGuid().ToString("N")[..12];
    public string AppConnectionString { get; private set; } = "";
    public CapturingLoggerProvider Logs { get; } = new();

    protected override void Configure(IDictionary<string, string?> settings)
    {
        using (var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString))
        {
            admin.Open();
            using var create = new NpgsqlCommand($"create role {Login} login password '{Password}'", admin);
            create.ExecuteNonQuery();
        }

        // Made a member of evreg_app the way every deploy does it: by the migrate command, after
        // the migrations, as the owner (in Azure, the migration identity). Only the creation of the
        // Entra principal is skipped: the login above stands in for it.
        var exitCode = Task.Run(() => CommandLine.RunAsync(["migrate"], new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Postgres:ConnectionString"] = ConnectionString,
            ["Migrate:AppLoginName"] = Login,
            ["Migrate:AppLoginExists"] = "true",
        }).Build())).GetAwaiter().GetResult();
        Assert.Equal(0, exitCode);

        AppConnectionString = new NpgsqlConnectionStringBuilder(ConnectionString) { Username = Login, Password = Password }.ConnectionString;
        settings["Postgres:ConnectionString"] = AppConnectionString;
    }

    protected override void ConfigureLogging(ILoggingBuilder logging) => logging.AddProvider(Logs);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await using var admin = new NpgsqlConnection(TestDatabase.AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"drop role if exists {Login}", admin);
        await drop.ExecuteNonQueryAsync();
    }
}

public sealed class AppRoleTests(AppRoleApp app) : IClassFixture<AppRoleApp>
{
    [Fact]
    public async Task Every_statement_of_an_order_checkout_webhook_refund_ticket_and_reconciliation_succeeds_as_the_app_role()
    {
        Assert.Equal(app.Login, await AsAppAsync<string>("select current_user"));

        // Order, checkout and the ticket it queues, delivered.
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        Assert.Equal("sent", (await app.DeliveryAsync(ticket.RegistrationId)).Status);

        // A payment for a full event: a refund requested by reconciliation and completed by its webhook.
        var (_, registrationId, paymentId) = await app.RefundDueAsync();
        const string refundId = "rfnd_TRole00000001";
        app.Razorpay.RefundAccepted(paymentId, refundId, 50_000);
        var run = await app.ReconcileAsync();
        Assert.Equal(("completed", 0), (run.Status, run.ErrorCount));
        Assert.Equal(1, run.Count("refunds", "requested"));
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Refund("refund.processed", refundId, paymentId, 50_000))).Status);
        Assert.Equal("refunded", await app.ScalarAsync<string>("select status from event_registrations where id = @registrationId", new { registrationId }));

        // A captured-payment webhook for an order whose checkout never came back, and a run that audits everything.
        var (_, orderId) = await app.OrderAsync(await app.CreateEventAsync(), await app.CreateMemberAsync());
        var lateRegistration = await app.ScalarAsync<Guid>("select id from event_registrations where order_id = @orderId", new { orderId });
        Assert.Equal(200, (await app.WebhookAsync(Webhook.Payment("payment.captured", TestApp.NewPaymentId(), orderId, 50_000, "captured"))).Status);
        app.AgeBeyondGrace();
        var audit = await app.ReconcileAsync();
        Assert.Equal(("completed", 0), (audit.Status, audit.ErrorCount));
        Assert.NotEqual("pending", await app.ScalarAsync<string>("select status from event_registrations where id = @lateRegistration", new { lateRegistration }));

        // The health probe reads DbUp's journal and the runs as the app role too.
        var probe = TestApp.Request([]);
        var health = await TestApp.ExecuteAsync(probe, await app.Function<HealthFunction>().Health(probe));
        Assert.Equal(200, health.Status);
        Assert.Equal("ok", health.Json.GetProperty("migrations").GetProperty("status").GetString());

        var refusals = app.Logs.Lines.Where(l => l.Texts.Any(t => t.Contains("42501", StringComparison.Ordinal) || t.Contains("permission denied", StringComparison.OrdinalIgnoreCase))).ToList();
        Assert.True(refusals.Count == 0, string.Join(Environment.NewLine, refusals.Select(l => l.Message)));
        await app.AssertAllAsync();
    }

    [Theory]
    [InlineData("alter table events add column nickname text")]
    [InlineData("drop table anomalies")]
    [InlineData("create table scratch (id int)")]
    [InlineData("truncate payments")]
    public async Task The_app_role_cannot_change_the_schema(string sql)
    {
        var refused = await Assert.ThrowsAsync<PostgresException>(() => AsAppAsync<object>(sql));
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, refused.SqlState);
    }

    [Fact]
    public async Task The_app_role_owns_nothing_and_cannot_log_in_by_itself()
    {
        Assert.False(await app.ScalarAsync<bool>("select rolcanlogin from pg_roles where rolname = 'evreg_app'"));
        Assert.Equal(0L, await app.ScalarAsync<long>(
            "select count(*) from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname in ('evreg_app', @login)", new { login = app.Login }));
        Assert.False(await app.ScalarAsync<bool>("select has_schema_privilege('evreg_app', 'public', 'CREATE')"));
    }

    private async Task<T?> AsAppAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(app.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is T typed ? typed : default;
    }
}
