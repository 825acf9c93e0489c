using System.Text.Json.Serialization;

namespace EventRegistration.Functions.Infrastructure.Http;

/// <summary>An RFC 9457 problem document. <see cref="Type"/> values are stable; clients may switch on them.</summary>
public sealed record ProblemDocument(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("detail")] string Detail,
    [property: JsonPropertyName("field")] string? Field = null,
    [property: JsonPropertyName("registrationId")] Guid? RegistrationId = null)
{
    /// <summary>Members a problem carries beyond RFC 9457's (a check-in refusal's name and times), written beside them.</summary>
    [JsonExtensionData]
    public Dictionary<string, object?>? Extensions { get; init; }
}

/// <summary>The catalogue of problems the HTTP functions answer with; the README lists it.</summary>
public static class Problems
{
    public const string ContentType = "application/problem+json";
    private const string TypePrefix = "urn:eventregistration:problem:";

    public static ApiResult MalformedJson(string detail) => Make(400, "malformed-json", "Malformed JSON", detail);
    public static ApiResult InvalidField(string field, string detail) => Make(400, "invalid-field", "Invalid field", detail, field);

    /// <summary>An id in the route that is not a UUID: the field named as the route names it.</summary>
    public static ApiResult RouteIdNotUuid(string field) => InvalidField(field, $"'{field}' in the route must be a UUID.");
    public static ApiResult MissingField(string field) => Make(400, "missing-field", "Missing field", $"'{field}' is required.", field);
    public static ApiResult MissingHeader(string header) => Make(400, "missing-header", "Missing header", $"The header '{header}' is required.", header);
    public static ApiResult BodyTooLarge(int limit) => Make(413, "body-too-large", "Body too large", $"The request body is larger than {limit} bytes.");
    public static ApiResult SignatureMissing(string header) => Make(401, "signature-missing", "Signature missing", $"The '{header}' signature is required.", header);
    public static ApiResult SignatureInvalid(string field) => Make(401, "signature-invalid", "Signature invalid", "The signature does not match.", field);
    public static ApiResult VerifyTokenInvalid() => Make(403, "verify-token-invalid", "Verify token invalid", "The verify token does not match.", "hub.verify_token");
    public static ApiResult EventNotFound() => Make(404, "event-not-found", "Event not found", "No event has this id.", "eventId");
    public static ApiResult MemberNotFound() => Make(404, "member-not-found", "Member not found", "No member has this id.", "memberId");
    public static ApiResult OrderNotFound() => Make(404, "order-not-found", "Order not found", "No registration has this Razorpay order id.", "razorpay_order_id");
    public static ApiResult EventNotOpen(string status) => Make(409, "event-not-open", "Event not open", $"The event is {status}; it does not take registrations.", "eventId");
    public static ApiResult EventFull() => Make(409, "event-full", "Event full", "Every seat of this event is taken or held by an unpaid order.", "eventId");
    public static ApiResult AlreadyRegistered(Guid registrationId, string status) =>
        Make(409, "already-registered", "Already registered", $"The member already has a registration for this event ({status}).", "memberId", registrationId);
    public static ApiResult PaymentAlreadyUsed() =>
        Make(409, "payment-already-used", "Payment already used", "This payment id belongs to another registration.", "razorpay_payment_id");
    public static ApiResult MemberAlreadyPaid(Guid registrationId) =>
        Make(409, "member-already-paid", "Member already paid", "The member already paid for this event with another payment; this payment is recorded and will be refunded.", "razorpay_payment_id", registrationId);
    public static ApiResult AmountMismatch(Guid registrationId) =>
        Make(409, "amount-mismatch", "Amount mismatch", "The payment's amount or currency differs from the order's; it is not counted as paid, is refunded, and an operator is told.", "razorpay_payment_id", registrationId);
    public static ApiResult PaymentRefunded(Guid registrationId) =>
        Make(409, "payment-refunded", "Payment refunded", "This payment was refunded before it was confirmed; it does not pay for the registration, and an operator is told.", "razorpay_payment_id", registrationId);
    public static ApiResult PaymentForCancelledEvent(Guid registrationId) =>
        Make(409, "event-cancelled", "Event cancelled", "The event was cancelled; this payment is recorded and will be refunded.", "razorpay_payment_id", registrationId);
    public static ApiResult ValueRefused() =>
        Make(422, "value-refused", "Value refused", "The request is well formed, but the database refuses a value it carries or led to; sending it again will not help.");
    public static ApiResult PaymentProviderFailed(string detail) => Make(502, "payment-provider-failed", "Payment provider failed", detail);

    public static ApiResult AdminUnauthenticated(string detail) => Make(401, "admin-unauthenticated", "Not signed in", detail);
    public static ApiResult AdminForbidden(string required) =>
        Make(403, "admin-forbidden", "Not allowed", $"This action needs the {required} role.");
    public static ApiResult EventCancelled() => Make(409, "event-cancelled", "Event cancelled", "The event is cancelled; it can no longer be changed.", "eventId");
    public static ApiResult CapacityBelowTaken(int paid, long held) =>
        Make(409, "capacity-below-taken", "Capacity below seats taken",
            $"The capacity cannot be lower than the {paid + held} seats taken: {paid} paid and {held} held by unpaid orders.", "capacity");

    public static ApiResult AnomalyNotFound() => Make(404, "anomaly-not-found", "Anomaly not found", "No anomaly has this id.", "anomalyId");
    public static ApiResult AnomalyAlreadyResolved(string? by) =>
        Make(409, "anomaly-already-resolved", "Anomaly already resolved", $"The anomaly was already resolved{(by is null ? "" : " by " + by)}; it is left as it was.", "anomalyId");

    public static ApiResult UnsupportedMediaType(string detail) => Make(415, "unsupported-media-type", "Unsupported media type", detail, "Content-Type");
    public static ApiResult MalformedImport(string detail) => Make(400, "malformed-import", "Malformed import file", detail);
    public static ApiResult ImportTooManyRows(int limit) =>
        Make(413, "import-too-many-rows", "Too many rows", $"The file holds more than {limit} members; split it into files of at most {limit} rows. Nothing was imported.");
    public static ApiResult SendingNotHeld() =>
        Make(409, "sending-not-held", "Sending not on hold", "WhatsApp ticket sending is not on hold; nothing was released.");
    public static ApiResult RegistrationNotRefundable(string status, string why) =>
        Make(409, "registration-not-refundable", "Registration not refundable", $"This registration ({status}) cannot be refunded: {why}.", "registrationId");

    public static ApiResult TicketNotResendable(string why) =>
        Make(409, "ticket-not-resendable", "Ticket not resendable", $"The ticket cannot be sent again: {why}.", "registrationId");
    public static ApiResult IdempotencyKeyReused(string header) =>
        Make(409, "idempotency-key-reused", "Idempotency key reused", $"This '{header}' was used for another request on this registration; use a new key for a new request.", header);

    public static ApiResult RegistrationNotFound(string field) => Make(404, "registration-not-found", "Registration not found", "No registration matches this id.", field);

    // Door check-in (Checkins/): who may scan, then what a signed ticket is worth at the door.
    public static ApiResult ScannerUnauthenticated(string detail) => Make(401, "scanner-unauthenticated", "Scanner not recognised", detail);
    public static ApiResult ScannerKeyRevoked() => Make(403, "scanner-key-revoked", "Scanner key revoked", "This scanner key was revoked by an organiser; ask for a new one.");
    public static ApiResult ScannerKeyOtherEvent() => Make(403, "scanner-key-other-event", "Scanner key of another event", "This scanner key belongs to another event.", "eventId");
    public static ApiResult ScannerKeyNotFound() => Make(404, "scanner-key-not-found", "Scanner key not found", "No scanner key has this id.", "keyId");
    public static ApiResult TicketInvalid() => Make(400, "ticket-invalid", "Not a ticket", "The token is not a ticket this app signed (altered, malformed or signed with another key).", "token");
    public static ApiResult NonceReused() =>
        Make(409, "nonce-reused", "Nonce reused", "This nonce was already used for another scan; each scan needs a new UUID, and a retry the same one with the same ticket.", "nonce");

    /// <summary>A signed ticket that does not admit: the type says why, the extensions carry what the door shows.</summary>
    public static ApiResult TicketRefused(string slug, string title, string detail, Guid registrationId, Dictionary<string, object?> extensions)
    {
        var result = Make(409, slug, title, detail, "token", registrationId);
        return new ApiResult(result.StatusCode, (ProblemDocument)result.Body with { Extensions = extensions }, result.ContentType);
    }

    public static ApiResult Unavailable(string detail, int retryAfterSeconds)
    {
        var result = Make(503, "service-unavailable", "Service unavailable", detail);
        result.Headers["Retry-After"] = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return result;
    }

    public static ApiResult TooManyRequests(string detail, int retryAfterSeconds)
    {
        var result = Make(429, "too-many-requests", "Too many requests", detail);
        result.Headers["Retry-After"] = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return result;
    }

    private static ApiResult Make(int status, string slug, string title, string detail, string? field = null, Guid? registrationId = null) =>
        new(status, new ProblemDocument(TypePrefix + slug, title, status, detail, field, registrationId), ContentType);
}
