using System.Text.Json;
using EventRegistration.Functions.Admin.ScannerKeys;
using EventRegistration.Functions.Checkins;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Admin;
using EventRegistration.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Checkins;

/// <summary>The check-in and scanner-key functions, called as the host calls them.</summary>
public static class CheckinCalls
{
    public static async Task<HttpAnswer> CreateScannerKeyRawAsync(this TestApp app, string eventId, string body, string? adminKey = AdminKeys.Organiser)
    {
        var request = TestApp.Request(body, AdminKeys.With(adminKey));
        return await TestApp.ExecuteAsync(request, await app.Function<ScannerKeysFunction>().AdminCreateScannerKey(request, eventId));
    }

    /// <summary>A new scanner key for the event: (key id, the key itself).</summary>
    public static async Task<(Guid Id, string Key)> ScannerKeyAsync(this TestApp app, Guid eventId, string name = "North door")
    {
        var answer = await app.CreateScannerKeyRawAsync(eventId.ToString(), JsonSerializer.Serialize(new { name }));
        Assert.True(answer.Status == 201, answer.ToString());
        return (answer.Json.GetProperty("id").GetGuid(), answer.Json.GetProperty("key").GetString()!);
    }

    public static async Task<HttpAnswer> RevokeScannerKeyAsync(this TestApp app, string keyId, string? adminKey = AdminKeys.Organiser)
    {
        var request = TestApp.Request("", AdminKeys.With(adminKey));
        return await TestApp.ExecuteAsync(request, await app.Function<ScannerKeysFunction>().AdminRevokeScannerKey(request, keyId));
    }

    public static async Task<HttpAnswer> ListScannerKeysAsync(this TestApp app, string eventId, string? adminKey = AdminKeys.Organiser)
    {
        var request = TestApp.Request("", AdminKeys.With(adminKey));
        request.Method = "GET";
        return await TestApp.ExecuteAsync(request, await app.Function<ScannerKeysFunction>().AdminListScannerKeys(request, eventId));
    }

    public static Dictionary<string, string[]> WithScannerKey(string key) => new() { [ScannerKeys.Header] = [key] };

    public static async Task<HttpAnswer> CheckinRawAsync(this TestApp app, string body, IDictionary<string, string[]> headers)
    {
        var request = TestApp.Request(body, headers);
        return await TestApp.ExecuteAsync(request, await app.Function<CheckinFunction>().Checkin(request));
    }

    public static Task<HttpAnswer> ScanAsync(this TestApp app, string scannerKey, string token, Guid? nonce = null, string scannerId = "door-1") =>
        app.CheckinRawAsync(JsonSerializer.Serialize(new { token, scannerId, nonce = nonce ?? Guid.NewGuid() }), WithScannerKey(scannerKey));

    public static string TokenFor(this TestApp app, Guid registrationId, Guid eventId) =>
        app.Services.GetRequiredService<TicketSigner>().CreateToken(registrationId, eventId);

    /// <summary>A member who ordered and paid for the event through the real order and checkout functions.</summary>
    public static async Task<Guid> PaidRegistrationAsync(this TestApp app, Guid eventId, string name = "Asha Menon")
    {
        var memberId = await app.CreateMemberAsync("+9198" + System.Security.Cryptography.RandomNumberGenerator.GetInt32(10_000_000, 99_999_999), name);
        var (registrationId, orderId) = await app.OrderAsync(eventId, memberId);
        var confirmed = await app.ConfirmAsync(orderId, TestApp.NewPaymentId());
        Assert.True(confirmed.Status == 200, confirmed.ToString());
        return registrationId;
    }

    /// <summary>A whole refund reported by Razorpay, through the ledger: the registration becomes refunded and its seat is released.</summary>
    public static async Task RefundThroughLedgerAsync(this TestApp app, Guid registrationId)
    {
        var (paymentId, amount) = (await app.QueryAsync<(string, long)>(
            "select payment_id, amount_paise from event_registrations where id = @registrationId", new { registrationId })).Single();
        var outcome = await app.Services.GetRequiredService<EventRegistration.Functions.Confirmation.PaymentLedger>().RecordRefundProcessedAsync(
            new EventRegistration.Functions.Infrastructure.Razorpay.RazorpayRefund
            {
                Id = "rfnd_T" + Guid.NewGuid().ToString("N")[..14], PaymentId = paymentId, Amount = amount, Currency = "INR", Status = "processed",
            }, "webhook", CancellationToken.None);
        Assert.Equal("refunded_seat_released", outcome);
    }

    /// <summary>The state a paid registration is left in when its payment turns out not to be the order's: seat released, refund due.</summary>
    public static Task MakeRefundDueAsync(this TestApp app, Guid registrationId, Guid eventId) =>
        app.ExecuteAsync("""
            update event_registrations set status = 'refund_due', refund_reason = 'amount_mismatch' where id = @registrationId;
            update payments set disposition = 'amount_mismatch', refund_status = 'due' where registration_id = @registrationId;
            update events set attendee_count = attendee_count - 1 where id = @eventId;
            """, new { registrationId, eventId });

    public static HttpRequest Get(IDictionary<string, string[]> headers, string query = "")
    {
        var request = TestApp.Request("", headers);
        request.Method = "GET";
        request.QueryString = new QueryString(query);
        return request;
    }
}

public static class OfflineCalls
{
    public static async Task<HttpAnswer> OfflineKitAsync(this TestApp app, string eventId, IDictionary<string, string[]> headers, string query = "")
    {
        var request = CheckinCalls.Get(headers, query);
        return await TestApp.ExecuteAsync(request, await app.Function<EventRegistration.Functions.Checkins.OfflineFunctions>().CheckinOfflineKit(request, eventId));
    }

    public static async Task<HttpAnswer> BatchRawAsync(this TestApp app, string body, IDictionary<string, string[]> headers)
    {
        var request = TestApp.Request(body, headers);
        return await TestApp.ExecuteAsync(request, await app.Function<EventRegistration.Functions.Checkins.OfflineFunctions>().CheckinBatch(request));
    }

    public static object OfflineScan(string token, string scannerId, DateTimeOffset scannedAt, Guid? nonce = null) =>
        new { token, scannerId, nonce = nonce ?? Guid.NewGuid(), scannedAt = scannedAt.ToString("O") };

    public static Task<HttpAnswer> BatchAsync(this TestApp app, string scannerKey, params object[] scans) =>
        app.BatchRawAsync(JsonSerializer.Serialize(new { scans }), CheckinCalls.WithScannerKey(scannerKey));
}
