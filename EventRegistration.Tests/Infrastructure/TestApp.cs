using System.Text;
using System.Text.Json;
using Azure.Storage.Queues;
using Dapper;
using EventRegistration.Functions;
using EventRegistration.Functions.Infrastructure.Razorpay;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Tests.Admin;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// One test class's world: its own migrated database, its own queue on Azurite, a fake
/// Razorpay on 127.0.0.1, and the app's services built by the same AddEventRegistration call
/// Program.cs makes. Functions are created as the host creates them and called with real
/// HttpRequests.
/// </summary>
public class TestApp : IAsyncLifetime
{
    public const string AzuriteConnectionString =
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;";

    private IHost? _host;

    public string ConnectionString { get; private set; } = "";
    public string QueueName { get; } = "t-" + Guid.NewGuid().ToString("N")[..20];
    public FakeRazorpay Razorpay { get; } = new();
    public FakeWhatsApp WhatsApp { get; } = new();
    public ShiftableClock Clock { get; } = new();
    public IServiceProvider Services => _host!.Services;

    /// <summary>Settings a test class may change before the host is built.</summary>
    protected virtual void Configure(IDictionary<string, string?> settings)
    {
    }

    /// <summary>Logging a test class adds to the host (a capturing provider, its own level filter).</summary>
    protected virtual void ConfigureLogging(ILoggingBuilder logging)
    {
    }

    public Dictionary<string, string?> Settings() => new()
    {
        ["AzureWebJobsStorage"] = AzuriteConnectionString,
        ["Storage:TicketQueueName"] = QueueName,
        ["Postgres:ConnectionString"] = ConnectionString,
        ["Postgres:MaxConcurrentTransactions"] = "8",
        ["Postgres:SlotWaitMilliseconds"] = "20000",
        // Like the slot wait: races of hundreds of requests on a shared machine must not meet the
        // webhook's production budget (4 s); WebhookTimeBudgetTests sets its own.
        ["Webhooks:TimeBudgetMilliseconds"] = "20000",
        ["Razorpay:KeyId"] = FakeRazorpay.KeyId,
        ["Razorpay:KeySecret"] = FakeRazorpay.KeySecret,
        ["Razorpay:WebhookSecrets:0"] = FakeRazorpay.WebhookSecret,
        ["Razorpay:WebhookSecrets:1"] = FakeRazorpay.PreviousWebhookSecret,
        ["Razorpay:BaseUrl"] = Razorpay.BaseUrl,
        ["Orders:SeatHoldMinutes"] = "15",
        ["WhatsApp:BaseUrl"] = WhatsApp.BaseUrl,
        ["WhatsApp:PhoneNumberId"] = FakeWhatsApp.PhoneNumberId,
        ["WhatsApp:AccessToken"] = FakeWhatsApp.AccessToken,
        ["WhatsApp:TemplateName"] = FakeWhatsApp.TemplateName,
        ["Tickets:SigningKeyPem"] = TestTicketKey.PrivateKeyPem,
        ["WhatsAppWebhook:VerifyToken"] = FakeWhatsApp.VerifyToken,
        ["WhatsAppWebhook:AppSecret"] = FakeWhatsApp.AppSecret,
        ["ReconciliationSchedule"] = "0 */5 * * * *",
        ["Admin:KeyHashes"] = AdminKeys.Setting,
    };

    public virtual async Task InitializeAsync()
    {
        ConnectionString = await TestDatabase.CreateAsync();
        var settings = Settings();
        Configure(settings);
        _host = BuildHost(settings, Clock, ConfigureLogging);
        await _host.StartAsync();
    }

    /// <summary>The app's services as Program.cs registers them, with DI validated on build.</summary>
    public static IHost BuildHost(IDictionary<string, string?> settings, TimeProvider? clock = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.ConfigureContainer(new DefaultServiceProviderFactory(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));
        builder.Logging.AddFilter(level => level >= LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.Services.AddEventRegistration(builder.Configuration);
        if (clock is not null)
        {
            builder.Services.AddSingleton(clock);
        }

        return builder.Build();
    }

    /// <summary>Builds the app with one setting changed and returns the start-up failure's messages.</summary>
    public async Task<string> StartUpFailureWithAsync(string key, string value)
    {
        var settings = Settings();
        settings[key] = value;
        using var host = BuildHost(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        return error is AggregateException aggregate ? string.Join(" ", aggregate.InnerExceptions.Select(e => e.Message)) : error.Message;
    }

    public virtual async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
        }

        Razorpay.Dispose();
        WhatsApp.Dispose();
        await TestDatabase.DropAsync(ConnectionString);
        try
        {
            await new QueueClient(AzuriteConnectionString, QueueName).DeleteIfExistsAsync();
            await new QueueClient(AzuriteConnectionString, QueueName + "-poison").DeleteIfExistsAsync();
        }
        catch (Azure.RequestFailedException)
        {
        }
    }

    /// <summary>A function class created as the Functions host creates it: constructor injection from the app's services.</summary>
    public T Function<T>() where T : class => ActivatorUtilities.CreateInstance<T>(Services);

    public NpgsqlConnection OpenConnection()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        return connection;
    }

    public async Task<T> ScalarAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = OpenConnection();
        return await connection.ExecuteScalarAsync<T>(sql, parameters) ?? throw new InvalidOperationException($"No value for: {sql}");
    }

    public async Task<List<T>> QueryAsync<T>(string sql, object? parameters = null)
    {
        await using var connection = OpenConnection();
        return (await connection.QueryAsync<T>(sql, parameters)).ToList();
    }

    public async Task ExecuteAsync(string sql, object? parameters = null)
    {
        await using var connection = OpenConnection();
        await connection.ExecuteAsync(sql, parameters);
    }

    public QueueClient TicketQueueClient() =>
        new(AzuriteConnectionString, QueueName, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 });

    // ---- data -------------------------------------------------------------------------------

    public async Task<Guid> CreateEventAsync(int? capacity = 100, long pricePaise = 50_000, string status = "open", string currency = "INR")
    {
        var id = Guid.NewGuid();
        await ExecuteAsync("""
            insert into events (id, title, starts_at, venue, capacity, price_paise, currency, status)
            values (@id, 'Test event', now() + interval '10 days', 'Hall', @capacity, @pricePaise, @currency, @status)
            """, new { id, capacity, pricePaise, currency, status });
        return id;
    }

    public async Task<Guid> CreateMemberAsync(string phone = "+919812345678", string name = "Test Member")
    {
        var id = Guid.NewGuid();
        await ExecuteAsync("insert into members (id, name, phone_e164, email) values (@id, @name, @phone, 'member@example.org')",
            new { id, name, phone });
        return id;
    }

    // ---- HTTP -------------------------------------------------------------------------------

    public static HttpRequest Request(byte[] body, IDictionary<string, string[]>? headers = null, string path = "/")
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Path = path;
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(body);
        context.Request.ContentLength = body.Length;
        foreach (var (name, values) in headers ?? new Dictionary<string, string[]>())
        {
            context.Request.Headers[name] = values;
        }

        context.Response.Body = new MemoryStream();
        return context.Request;
    }

    public static HttpRequest Request(string body, IDictionary<string, string[]>? headers = null) => Request(Encoding.UTF8.GetBytes(body), headers);

    /// <summary>Executes the function's result on the request's own HttpContext, as the host would, and reads what was written.</summary>
    public static async Task<HttpAnswer> ExecuteAsync(HttpRequest request, IActionResult result)
    {
        var context = request.HttpContext;
        await result.ExecuteResultAsync(new ActionContext { HttpContext = context });
        context.Response.Body.Position = 0;
        var text = await new StreamReader(context.Response.Body).ReadToEndAsync();
        return new HttpAnswer(context.Response.StatusCode, context.Response.ContentType ?? "", text,
            context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
    }

    public static string CheckoutSignature(string orderId, string paymentId, string secret = FakeRazorpay.KeySecret) =>
        RazorpaySignatures.Compute(Encoding.UTF8.GetBytes(orderId + "|" + paymentId), secret);

    public static string WebhookSignature(byte[] body, string secret = FakeRazorpay.WebhookSecret) => RazorpaySignatures.Compute(body, secret);

    public static string NewPaymentId() => "pay_T" + Guid.NewGuid().ToString("N")[..14];

    public static TicketDeliveryMessage? ParseQueueMessage(string text) => TicketDeliveryMessage.TryParse(text);
}

public sealed record HttpAnswer(int Status, string ContentType, string Body, IReadOnlyDictionary<string, string> Headers)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string ProblemType => Json.GetProperty("type").GetString()!;

    public override string ToString() => $"{Status} {ContentType} {Body}";
}
