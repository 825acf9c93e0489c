using System.ComponentModel.DataAnnotations;

namespace EventRegistration.Functions.Tickets;

/// <summary>App settings <c>Tickets__*</c>.</summary>
public sealed class TicketOptions
{
    public const string Section = "Tickets";

    /// <summary>
    /// ECDSA P-256 private key (PEM, PKCS#8 or SEC1) that signs the ticket tokens in the QR codes.
    /// From Key Vault in Azure; the sample value is a throwaway for local use only.
    /// </summary>
    [Required(ErrorMessage = "Tickets__SigningKeyPem is required: an ECDSA P-256 private key in PEM.")]
    public string SigningKeyPem { get; set; } = "";

    /// <summary>
    /// The public key (SubjectPublicKeyInfo PEM) of the signing key used before the current one,
    /// during a rotation: tickets it signed still verify, at the door and in the offline kit, while
    /// it is listed here. Empty: only the current key verifies.
    /// </summary>
    public string PreviousPublicKeyPem { get; set; } = "";

    /// <summary>Blob lease on ticket-locks/{registrationId}; renewed every third of it.</summary>
    [Range(15, 60, ErrorMessage = "Tickets__LeaseSeconds must be between 15 and 60 (the blob lease limits).")]
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>
    /// A delivery found in <c>sending</c> is an attempt whose outcome was never recorded, or a send
    /// WhatsApp answered with a gateway error or not at all. It is sent again only once it is older
    /// than this, so an attempt that may still be in flight (a paused worker outliving its lease) has
    /// certainly ended. Keep it above the lease plus both WhatsApp timeouts.
    /// </summary>
    [Range(30, 3600, ErrorMessage = "Tickets__ResendUnfinishedAfterSeconds must be between 30 and 3600.")]
    public int ResendUnfinishedAfterSeconds { get; set; } = 60;

    /// <summary>
    /// Send attempts after which a delivery is given up as failed. With the default backoff
    /// (30 s doubling, capped at 30 min) the 12th attempt comes about three hours after the first.
    /// </summary>
    [Range(1, 50, ErrorMessage = "Tickets__MaxAttempts must be between 1 and 50.")]
    public int MaxAttempts { get; set; } = 12;

    /// <summary>The pause after the first failed attempt; it doubles with each attempt (see DeliveryRetryPolicy).</summary>
    [Range(5, 600, ErrorMessage = "Tickets__RetryBaseSeconds must be between 5 and 600.")]
    public int RetryBaseSeconds { get; set; } = 30;

    /// <summary>The longest pause the doubling reaches; a Retry-After from WhatsApp may ask for more (up to a day).</summary>
    [Range(60, 86400, ErrorMessage = "Tickets__RetryMaxDelaySeconds must be between 60 and 86400.")]
    public int RetryMaxDelaySeconds { get; set; } = 1800;

    /// <summary>IANA time zone in which the event date is written in the message.</summary>
    [Required(ErrorMessage = "Tickets__EventTimeZone is required (IANA id such as Asia/Kolkata).")]
    public string EventTimeZone { get; set; } = "Asia/Kolkata";
}
