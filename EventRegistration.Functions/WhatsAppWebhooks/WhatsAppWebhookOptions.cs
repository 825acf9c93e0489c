using System.ComponentModel.DataAnnotations;

namespace EventRegistration.Functions.WhatsAppWebhooks;

/// <summary>App settings <c>WhatsAppWebhook__*</c>: the Meta app's webhook (delivery statuses of ticket messages).</summary>
public sealed class WhatsAppWebhookOptions
{
    public const string Section = "WhatsAppWebhook";

    /// <summary>The "Verify token" typed into the Meta app dashboard; Meta sends it back on the GET handshake.</summary>
    [Required(ErrorMessage = "WhatsAppWebhook__VerifyToken is required: the verify token set for the callback URL in the Meta app dashboard.")]
    [StringLength(256, MinimumLength = 16, ErrorMessage = "WhatsAppWebhook__VerifyToken must be 16 to 256 characters (a random string of your own).")]
    public string VerifyToken { get; set; } = "";

    /// <summary>The Meta app secret (App settings → Basic): the key of X-Hub-Signature-256.</summary>
    [Required(ErrorMessage = "WhatsAppWebhook__AppSecret is required: the Meta app secret that signs webhook bodies (X-Hub-Signature-256).")]
    public string AppSecret { get; set; } = "";

    /// <summary>A ticket accepted by WhatsApp with no 'delivered' or 'read' after this long is listed for an operator (never resent: a resend can duplicate).</summary>
    [Range(5, 7 * 24 * 60, ErrorMessage = "WhatsAppWebhook__UndeliveredAfterMinutes must be between 5 and 10080.")]
    public int UndeliveredAfterMinutes { get; set; } = 60;

    /// <summary>Days a processed webhook body, and a status's recipient number, are kept before the timer purges them.</summary>
    [Range(1, 3650, ErrorMessage = "WhatsAppWebhook__InboxRetentionDays must be between 1 and 3650.")]
    public int InboxRetentionDays { get; set; } = 30;
}
