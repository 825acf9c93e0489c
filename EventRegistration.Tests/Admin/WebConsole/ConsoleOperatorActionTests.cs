using EventRegistration.Tests.Infrastructure;
using EventRegistration.Tests.Infrastructure.Browser;
using EventRegistration.Tests.Tickets;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EventRegistration.Tests.Admin.WebConsole;

/// <summary>The operator's buttons that move money or tickets (cancel, refund, resend), each asking for a reason.</summary>
public sealed class ConsoleOperatorActionTests(BrowserApp app) : IClassFixture<BrowserApp>
{
    [SkippableFact]
    public async Task An_operator_resends_a_sent_ticket_with_a_reason_and_one_resend_is_recorded()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, _) = await app.PaidOverHttpAsync(eventId, "Deepa Nair");
        await app.DeliverAsync(await app.TakeQueueMessageAsync(registrationId));
        Assert.Equal("sent", (await app.DeliveryAsync(registrationId)).Status);

        await using var browser = await app.OpenSignedInAsync(nameof(An_operator_resends_a_sent_ticket_with_a_reason_and_one_resend_is_recorded), $"#/events/{eventId}/attendees");
        var page = browser.Page;
        var row = page.Locator($"#attendees tr[data-registration-id='{registrationId}']");
        await Expect(row).ToContainTextAsync("sent");
        await row.GetByRole(AriaRole.Button, new() { Name = "Resend ticket" }).ClickAsync();
        var dialog = page.Locator("dialog");

        // No reason, no request.
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Resend ticket" }).ClickAsync();
        await Expect(dialog).ToContainTextAsync("A reason is required.");
        await dialog.GetByLabel("Reason").FillAsync("Member changed phones");
        await browser.ScreenshotAsync("console-resend");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Resend ticket" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("Ticket resend queued.");
        await Expect(dialog).ToHaveCountAsync(0);

        var resends = await app.QueryAsync<(string Reason, string Actor)>(
            "select reason, actor from ticket_resends where registration_id = @registrationId", new { registrationId });
        var resend = Assert.Single(resends);
        Assert.Equal("Member changed phones", resend.Reason);
        Assert.StartsWith("key:", resend.Actor, StringComparison.Ordinal);
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
    }

    [SkippableFact]
    public async Task An_operator_cancels_an_event_and_sees_its_refunds_progress()
    {
        var eventId = await app.CreateEventAsync(capacity: 20);
        await app.PaidOverHttpAsync(eventId, "Arjun Reddy");
        await app.PaidOverHttpAsync(eventId, "Kavya Pillai");

        await using var browser = await app.OpenSignedInAsync(nameof(An_operator_cancels_an_event_and_sees_its_refunds_progress), "#/events");
        var page = browser.Page;
        var card = page.Locator($"#events li[data-event-id='{eventId}']");
        await card.GetByRole(AriaRole.Button, new() { Name = "Cancel event" }).ClickAsync();
        var dialog = page.Locator("dialog");
        await dialog.GetByLabel("Reason").FillAsync("Venue flooded");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Cancel the event" }).ClickAsync();

        await Expect(browser.Message()).ToContainTextAsync("is cancelled; its refunds are under way");
        await Expect(card).ToContainTextAsync("cancelled");
        await Expect(card).ToContainTextAsync("Venue flooded");
        await Expect(card.Locator(".refunds")).ToContainTextAsync("2 due");
        await Expect(card.GetByRole(AriaRole.Button, new() { Name = "Cancel event" })).ToHaveCountAsync(0);
        await browser.ScreenshotAsync("console-cancelled-event");
        Assert.Equal("cancelled", await app.ScalarAsync<string>("select status from events where id = @eventId", new { eventId }));
        browser.AssertNoErrors();
    }

    [SkippableFact]
    public async Task A_refund_under_way_or_failed_is_shown_beside_paid_and_offers_no_refund_button()
    {
        var eventId = await app.CreateEventAsync();
        var states = await AttendeeRefundStates.ArrangeAsync(app, eventId);
        // Tickets that still admit are sent; those whose money is on its way back are withheld, not sent.
        foreach (var id in new[] { states.NotRefunded, states.Due, states.Requested, states.Failed, states.Partial })
        {
            await app.DeliverAsync(new EventRegistration.Functions.Infrastructure.Storage.TicketDeliveryMessage(id).ToJson());
            Assert.Equal(id == states.NotRefunded || id == states.Partial ? "sent" : "withheld", (await app.DeliveryAsync(id)).Status);
        }

        await using var browser = await app.OpenSignedInAsync(nameof(A_refund_under_way_or_failed_is_shown_beside_paid_and_offers_no_refund_button),
            $"#/events/{eventId}/attendees");
        var page = browser.Page;
        var row = (Guid id) => page.Locator($"#attendees tr[data-registration-id='{id}']");
        var refundButton = (Guid id) => row(id).GetByRole(AriaRole.Button, new() { Name = "Refund" });
        var resendButton = (Guid id) => row(id).GetByRole(AriaRole.Button, new() { Name = "Resend ticket" });
        await Expect(page.Locator("#attendees tbody tr")).ToHaveCountAsync(6);

        // A ticket whose money is on its way back no longer admits at the door, so it is not offered for a resend.
        foreach (var id in new[] { states.Due, states.Requested, states.Failed })
        {
            await Expect(resendButton(id)).ToHaveCountAsync(0);
        }

        await Expect(resendButton(states.NotRefunded)).ToHaveCountAsync(1);
        await Expect(resendButton(states.Partial)).ToHaveCountAsync(1);

        // Owed or asked of Razorpay: the registration is still paid (its seat held), the money on its way.
        foreach (var id in new[] { states.Due, states.Requested })
        {
            await Expect(row(id).Locator(".status.paid")).ToHaveTextAsync("paid");
            await Expect(row(id).Locator(".refund")).ToHaveTextAsync("Refund under way");
            await Expect(refundButton(id)).ToHaveCountAsync(0);
        }

        // Failed at Razorpay: nothing retries it and the API would refuse a new one; an operator finishes it in the Dashboard.
        await Expect(row(states.Failed).Locator(".refund")).ToHaveTextAsync("Refund failed");
        await Expect(row(states.Failed)).ToContainTextAsync("an operator finishes it in the Razorpay Dashboard");
        await Expect(refundButton(states.Failed)).ToHaveCountAsync(0);

        // Part refunded from the Dashboard: the rest can still be refunded here.
        await Expect(row(states.Partial).Locator(".refund")).ToHaveTextAsync("₹100.00 refunded");
        await Expect(refundButton(states.Partial)).ToHaveCountAsync(1);

        await Expect(row(states.Processed).Locator(".status.refunded")).ToHaveTextAsync("refunded");
        await Expect(row(states.Processed).Locator(".refund")).ToHaveCountAsync(0);
        await Expect(refundButton(states.Processed)).ToHaveCountAsync(0);
        await Expect(row(states.NotRefunded).Locator(".refund")).ToHaveCountAsync(0);
        await browser.ScreenshotAsync("console-attendees-refunds");

        // Refunding from the attendees page: the row says so at once, and its button is gone.
        await refundButton(states.NotRefunded).ClickAsync();
        var dialog = page.Locator("dialog");
        await dialog.GetByLabel("Reason").FillAsync("Member cannot attend");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Refund" }).ClickAsync();
        await Expect(browser.Message()).ToContainTextAsync("Refund requested.");
        await Expect(row(states.NotRefunded).Locator(".refund")).ToHaveTextAsync("Refund under way");
        await Expect(refundButton(states.NotRefunded)).ToHaveCountAsync(0);
        await Expect(resendButton(states.NotRefunded)).ToHaveCountAsync(0);
        await Expect(row(states.NotRefunded).Locator(".status.paid")).ToHaveTextAsync("paid");

        // The look-up offers no Refund button for it either; a part refunded registration keeps one there too.
        await page.EvaluateAsync($"location.hash = '#/lookup?registrationId={states.NotRefunded}'");
        await Expect(page.Locator("#history li[data-what='refund_asked_by_operator']")).ToHaveCountAsync(1);
        await Expect(page.Locator("#lookup-result").GetByRole(AriaRole.Button, new() { Name = "Refund" })).ToHaveCountAsync(0);
        await page.EvaluateAsync($"location.hash = '#/lookup?registrationId={states.Partial}'");
        await Expect(page.Locator("#history li[data-what='payment']")).ToHaveCountAsync(1);
        await Expect(page.Locator("#lookup-result").GetByRole(AriaRole.Button, new() { Name = "Refund" })).ToHaveCountAsync(1);
        browser.AssertNoErrors();
        Assert.Empty(app.Http.Failures);
        await app.AssertAllAsync();
    }

    [SkippableFact]
    public async Task An_operator_refunds_a_registration_with_a_reason_from_its_history()
    {
        var eventId = await app.CreateEventAsync();
        var (registrationId, _, paymentId) = await app.PaidOverHttpAsync(eventId, "Sanjay Gupta");

        await using var browser = await app.OpenSignedInAsync(nameof(An_operator_refunds_a_registration_with_a_reason_from_its_history), $"#/lookup?registrationId={registrationId}");
        var page = browser.Page;
        await page.Locator("#lookup-result").GetByRole(AriaRole.Button, new() { Name = "Refund" }).ClickAsync();
        var dialog = page.Locator("dialog");
        await dialog.GetByLabel("Reason").FillAsync("Member cannot attend");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Refund" }).ClickAsync();

        await Expect(browser.Message()).ToContainTextAsync("Refund requested.");
        await Expect(page.Locator("#history li[data-what='refund_asked_by_operator']")).ToHaveCountAsync(1);
        await browser.ScreenshotAsync("console-refund");
        Assert.Equal("due", await app.ScalarAsync<string>("select refund_status from payments where payment_id = @paymentId", new { paymentId }));
        browser.AssertNoErrors();
    }
}
