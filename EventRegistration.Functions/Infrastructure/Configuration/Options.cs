using System.ComponentModel.DataAnnotations;

namespace EventRegistration.Functions.Infrastructure.Configuration;

/// <summary>App settings <c>Postgres__*</c>.</summary>
public sealed class PostgresOptions
{
    public const string Section = "Postgres";

    [Required(ErrorMessage = "Postgres__ConnectionString is required (an Npgsql connection string).")]
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// Database transactions this instance runs at once. Every confirmation for one event queues
    /// on that event's row lock; past about 8 sessions the server spends its time on lock
    /// handoffs, so callers wait here instead of inside PostgreSQL.
    /// </summary>
    [Range(1, 256, ErrorMessage = "Postgres__MaxConcurrentTransactions must be between 1 and 256.")]
    public int MaxConcurrentTransactions { get; set; } = 8;

    /// <summary>
    /// Payment confirmations that may commit in one transaction. Confirmations that arrive while
    /// this instance's two confirmation runners are busy wait together and then run in one
    /// transaction, one after the other under the same locks, with one commit: a hot event's row is
    /// taken once for all of them.
    /// 1 runs every confirmation in a transaction of its own.
    /// </summary>
    [Range(1, 64, ErrorMessage = "Postgres__ConfirmationsPerTransaction must be between 1 and 64.")]
    public int ConfirmationsPerTransaction { get; set; } = 8;

    /// <summary>How long a caller may wait for a transaction slot before it gets a 503.</summary>
    [Range(100, 60_000, ErrorMessage = "Postgres__SlotWaitMilliseconds must be between 100 and 60000.")]
    public int SlotWaitMilliseconds { get; set; } = 4_000;

    /// <summary>PostgreSQL lock_timeout inside a transaction; exceeding it answers 503 + Retry-After.</summary>
    [Range(50, 60_000, ErrorMessage = "Postgres__LockTimeoutMilliseconds must be between 50 and 60000.")]
    public int LockTimeoutMilliseconds { get; set; } = 3_000;

    /// <summary>Sign in with a Microsoft Entra token of the app's identity instead of a password (see PostgresSignIn).</summary>
    public bool EntraAuthentication { get; set; }

    /// <summary>How often a fresh token is fetched; Entra tokens live 60–90 minutes.</summary>
    [Range(1, 3_600, ErrorMessage = "Postgres__TokenRefreshSeconds must be between 1 and 3600.")]
    public int TokenRefreshSeconds { get; set; } = 1_800;
}

/// <summary>Storage queue and blob settings. The connection is <c>AzureWebJobsStorage</c>, shared with the triggers.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";
    public const string ConnectionSetting = "AzureWebJobsStorage";

    /// <summary>The connection-string form of <c>AzureWebJobsStorage</c>, if that is the form given (see StorageClients).</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Must equal the queue the DeliverTicket trigger listens on; tests give each class its own.</summary>
    [RegularExpression("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", ErrorMessage = "Storage__TicketQueueName must be a valid queue name.")]
    public string TicketQueueName { get; set; } = "ticket-deliveries";

    [RegularExpression("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", ErrorMessage = "Storage__TicketLocksContainer must be a valid container name.")]
    public string TicketLocksContainer { get; set; } = "ticket-locks";

    [RegularExpression("^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", ErrorMessage = "Storage__TicketsContainer must be a valid container name.")]
    public string TicketsContainer { get; set; } = "tickets";
}

/// <summary>App settings <c>Razorpay__*</c>.</summary>
public sealed class RazorpayOptions
{
    public const string Section = "Razorpay";

    [Required(ErrorMessage = "Razorpay__KeyId is required.")]
    [RegularExpression("^rzp_(test|live)_[A-Za-z0-9]+$", ErrorMessage = "Razorpay__KeyId must look like rzp_test_… or rzp_live_….")]
    public string KeyId { get; set; } = "";

    [Required(ErrorMessage = "Razorpay__KeySecret is required.")]
    public string KeySecret { get; set; } = "";

    /// <summary>
    /// The webhook secrets, current first, previous ones during a rotation: read by
    /// <see cref="WebhookSecretSettings"/> from <c>Razorpay__WebhookSecrets__0</c>, <c>__1</c>, …
    /// </summary>
    public IReadOnlyList<string> WebhookSecrets { get; set; } = [];

    [Required(ErrorMessage = "Razorpay__BaseUrl is required.")]
    [Url(ErrorMessage = "Razorpay__BaseUrl must be an absolute URL.")]
    public string BaseUrl { get; set; } = "https://api.razorpay.com/";

    /// <summary>Per attempt; a request (with retries of GETs) gets three times this.</summary>
    [Range(1, 60, ErrorMessage = "Razorpay__TimeoutSeconds must be between 1 and 60.")]
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>Body size limit of the HTTP functions, in bytes.</summary>
    [Range(1024, 4 * 1024 * 1024, ErrorMessage = "Razorpay__MaxBodyBytes must be between 1024 and 4194304.")]
    public int MaxBodyBytes { get; set; } = 256 * 1024;

    public IReadOnlyList<string> WebhookSecretList => WebhookSecrets;
}

/// <summary>App settings <c>Orders__*</c>.</summary>
public sealed class OrderOptions
{
    public const string Section = "Orders";

    /// <summary>How long an unpaid order keeps its seat.</summary>
    [Range(1, 24 * 60, ErrorMessage = "Orders__SeatHoldMinutes must be between 1 and 1440.")]
    public int SeatHoldMinutes { get; set; } = 15;
}
