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

    /// <summary>Blob lease on ticket-locks/{registrationId}; renewed every third of it.</summary>
    [Range(15, 60, ErrorMessage = "Tickets__LeaseSeconds must be between 15 and 60 (the blob lease limits).")]
    public int LeaseSeconds { get; set; } = 30;

    /// <summary>
    /// A delivery found in <c>sending</c> is an attempt whose outcome was never recorded. It is
    /// sent again only once it is older than this, so an attempt that may still be in flight
    /// (a paused worker outliving its lease) has certainly ended. Keep it above the lease plus
    /// both WhatsApp timeouts, and below the queue's retry window (maxDequeueCount × visibilityTimeout).
    /// </summary>
    [Range(30, 3600, ErrorMessage = "Tickets__ResendUnfinishedAfterSeconds must be between 30 and 3600.")]
    public int ResendUnfinishedAfterSeconds { get; set; } = 60;

    /// <summary>Send attempts after which a delivery is given up as failed, whatever the queue still holds.</summary>
    [Range(1, 50, ErrorMessage = "Tickets__MaxAttempts must be between 1 and 50.")]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>IANA time zone in which the event date is written in the message.</summary>
    [Required(ErrorMessage = "Tickets__EventTimeZone is required (IANA id such as Asia/Kolkata).")]
    public string EventTimeZone { get; set; } = "Asia/Kolkata";
}
