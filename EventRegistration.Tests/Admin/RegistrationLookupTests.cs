using EventRegistration.Functions.Admin.Lookup;
using EventRegistration.Tests.Infrastructure;

namespace EventRegistration.Tests.Admin;

public sealed class RegistrationLookupTests(TestApp app) : IClassFixture<TestApp>
{
    private async Task<HttpAnswer> LookupAsync(string query, string? key = AdminKeys.Operator)
    {
        var request = TestApp.Request("", AdminKeys.With(key));
        request.Method = "GET";
        request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query);
        return await TestApp.ExecuteAsync(request, await app.Function<RegistrationLookupFunction>().AdminLookupRegistration(request));
    }

    [Fact]
    public async Task A_paid_registration_is_found_by_each_id_with_its_history_in_time_order()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, orderId) = await app.OrderAsync(eventId, await app.CreateMemberAsync());
        var paymentId = TestApp.NewPaymentId();
        Assert.Equal(200, (await app.ConfirmAsync(orderId, paymentId)).Status);
        var refundId = "rfnd_T" + Guid.NewGuid().ToString("N")[..14];
        await app.ExecuteAsync("""
            insert into refunds (refund_id, payment_id, amount_paise, status, source, first_seen_at)
            values (@refundId, @paymentId, 100, 'failed', 'webhook', now() + interval '1 minute')
            """, new { refundId, paymentId });
        await app.ExecuteAsync("""
            insert into anomalies (kind, registration_id, payment_id, detail, created_at)
            values ('refund_failed', @registrationId, @paymentId, 'refund failed', now() + interval '2 minutes')
            """, new { registrationId, paymentId });

        foreach (var query in new[] { $"?registrationId={registrationId}", $"?orderId={orderId}", $"?paymentId={paymentId}" })
        {
            var answer = await LookupAsync(query);

            Assert.Equal(200, answer.Status);
            Assert.Equal(registrationId, answer.Json.GetProperty("registrationId").GetGuid());
            Assert.Equal("paid", answer.Json.GetProperty("status").GetString());
            var history = answer.Json.GetProperty("history").EnumerateArray().ToList();
            var whats = history.Select(h => h.GetProperty("what").GetString()).ToList();
            Assert.Equal("order_created", whats[0]);
            Assert.Contains("payment", whats);
            Assert.Contains("paid", whats);
            Assert.Contains("ticket_queued", whats);
            Assert.Equal(["refund", "anomaly"], whats.TakeLast(2));
            var payment = history.Single(h => h.GetProperty("what").GetString() == "payment").GetProperty("detail");
            Assert.Equal("applied", payment.GetProperty("disposition").GetString());
            Assert.Equal(refundId, history[^2].GetProperty("detail").GetProperty("refundId").GetString());
            var times = history.Select(h => h.GetProperty("at").GetDateTime()).ToList();
            Assert.Equal(times.Order(), times);
        }
    }

    [Theory]
    [InlineData("", "registrationId")]
    [InlineData("?registrationId=abc", "registrationId")]
    [InlineData("?orderId=pay_123", "orderId")]
    [InlineData("?paymentId=order_123", "paymentId")]
    [InlineData("?orderId=order_1&paymentId=pay_1", "registrationId")]
    public async Task Bad_look_ups_are_400_naming_the_field(string query, string field)
    {
        var answer = await LookupAsync(query);

        Assert.Equal(400, answer.Status);
        Assert.Equal(field, answer.Json.GetProperty("field").GetString());
    }

    [Fact]
    public async Task Unknown_ids_are_404_and_callers_without_the_operator_role_are_refused()
    {
        Assert.Equal(404, (await LookupAsync($"?registrationId={Guid.NewGuid()}")).Status);
        Assert.Equal(404, (await LookupAsync("?paymentId=pay_Unknown123")).Status);
        Assert.Equal(401, (await LookupAsync($"?registrationId={Guid.NewGuid()}", key: null)).Status);
        Assert.Equal(403, (await LookupAsync($"?registrationId={Guid.NewGuid()}", key: AdminKeys.Organiser)).Status);
    }
}
