using System.Text;
using System.Text.Json.Nodes;
using EventRegistration.Functions.WhatsAppWebhooks;
using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Tickets;
using Microsoft.AspNetCore.Http;

namespace EventRegistration.Tests.WhatsAppWebhooks;

/// <summary>A status as Meta puts it under entry[].changes[].value.statuses[].</summary>
public sealed record MetaStatus(string Wamid, string Status, long Timestamp, string Recipient = "919812345678", int? ErrorCode = null, string? ErrorTitle = null);

/// <summary>Meta's WhatsApp webhook called as the host calls it, with bodies shaped as Meta sends them.</summary>
public static class WhatsAppWebhookApi
{
    public static async Task<HttpAnswer> WhatsAppStatusesAsync(this TestApp app, string body, string? signature = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        return await app.WhatsAppWebhookRawAsync(bytes, new Dictionary<string, string[]>
        {
            ["X-Hub-Signature-256"] = [signature ?? MetaSignature.Compute(bytes, FakeWhatsApp.AppSecret)],
        });
    }

    public static async Task<HttpAnswer> WhatsAppWebhookRawAsync(this TestApp app, byte[] body, IDictionary<string, string[]> headers)
    {
        var request = TestApp.Request(body, headers, "/api/webhooks/whatsapp");
        var result = await app.Function<WhatsAppWebhookFunction>().WhatsAppWebhook(request);
        return await TestApp.ExecuteAsync(request, result);
    }

    public static async Task<HttpAnswer> WhatsAppVerifyAsync(this TestApp app, string query)
    {
        var request = TestApp.Request([], null, "/api/webhooks/whatsapp");
        request.Method = "GET";
        request.QueryString = new QueryString(query);
        var result = app.Function<WhatsAppWebhookFunction>().WhatsAppWebhookVerify(request);
        return await TestApp.ExecuteAsync(request, result);
    }

    /// <summary>A WhatsApp Business Account webhook: one entry, one change per group of statuses given.</summary>
    public static string Body(params MetaStatus[][] changes) => new JsonObject
    {
        ["object"] = "whatsapp_business_account",
        ["entry"] = new JsonArray(new JsonObject
        {
            ["id"] = "102290129340398",
            ["changes"] = new JsonArray(changes.Select(statuses => (JsonNode)new JsonObject
            {
                ["value"] = new JsonObject
                {
                    ["messaging_product"] = "whatsapp",
                    ["metadata"] = new JsonObject { ["display_phone_number"] = "15550783881", ["phone_number_id"] = FakeWhatsApp.PhoneNumberId },
                    ["statuses"] = new JsonArray(statuses.Select(s => (JsonNode)Status(s)).ToArray()),
                },
                ["field"] = "messages",
            }).ToArray()),
        }),
    }.ToJsonString();

    public static string Body(params MetaStatus[] statuses) => Body([statuses]);

    private static JsonObject Status(MetaStatus s)
    {
        var status = new JsonObject
        {
            ["id"] = s.Wamid,
            ["status"] = s.Status,
            ["timestamp"] = s.Timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["recipient_id"] = s.Recipient,
        };
        if (s.Status != "failed")
        {
            status["conversation"] = new JsonObject { ["id"] = "CONVERSATION_ID", ["origin"] = new JsonObject { ["type"] = "utility" } };
            status["pricing"] = new JsonObject { ["billable"] = true, ["pricing_model"] = "PMP", ["category"] = "utility" };
        }
        else
        {
            status["errors"] = new JsonArray(new JsonObject
            {
                ["code"] = s.ErrorCode,
                ["title"] = s.ErrorTitle ?? "Message undeliverable",
                ["message"] = s.ErrorTitle ?? "Message undeliverable",
                ["error_data"] = new JsonObject { ["details"] = "Message failed to send because of an unknown error." },
                ["href"] = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            });
        }

        return status;
    }

    /// <summary>A paid registration whose ticket went out through the real flow; returns it and the wamid WhatsApp gave.</summary>
    public static async Task<(PaidTicket Ticket, string Wamid)> SentTicketAsync(this TestApp app)
    {
        // A test before may have put sending on hold on purpose.
        await app.ReleaseSendingHoldsAsync();
        var ticket = await app.PaidTicketAsync();
        await app.DeliverAsync(ticket.QueueMessage);
        var wamid = (await app.DeliveryAsync(ticket.RegistrationId)).Wamid;
        Assert.NotNull(wamid);
        return (ticket, wamid!);
    }

    public static Task ReleaseSendingHoldsAsync(this TestApp app) =>
        app.ExecuteAsync("update whatsapp_sending_holds set released_at = now() where released_at is null");

    public static long Epoch(DateTime at) => new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)).ToUnixTimeSeconds();
}
