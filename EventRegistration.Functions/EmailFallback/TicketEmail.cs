using System.Text;
using EventRegistration.Functions.Tickets;
using MimeKit;

namespace EventRegistration.Functions.EmailFallback;

/// <summary>The fallback e-mail: a short text and the ticket's QR code as a PNG attachment, the same image WhatsApp would have carried.</summary>
public static class TicketEmail
{
    public const string AttachmentName = "ticket.png";

    public static MimeMessage Compose(TicketEmailFallback fallback, MailboxAddress from, string to, byte[] qrPng, string eventDate)
    {
        var message = new MimeMessage();
        message.From.Add(from);
        message.To.Add(new MailboxAddress(OneLine(fallback.MemberName), to));
        message.Subject = $"Your ticket: {OneLine(fallback.EventTitle)}";
        // Fixed per ticket at the claim: a resend after an unknown outcome is the same message to a mail client.
        message.MessageId = fallback.MessageId;

        var text = new StringBuilder()
            .AppendLine($"Dear {OneLine(fallback.MemberName)},")
            .AppendLine()
            .AppendLine("We could not deliver your ticket on WhatsApp, so here it is by e-mail.")
            .AppendLine()
            .AppendLine($"Event: {OneLine(fallback.EventTitle)}")
            .AppendLine($"When:  {eventDate}")
            .AppendLine(fallback.Venue is { Length: > 0 } venue ? $"Where: {OneLine(venue)}" : "")
            .AppendLine()
            .AppendLine($"Your ticket is the QR code in the attached image ({AttachmentName}). Show it at the entrance, on your phone or printed.")
            .AppendLine("It admits one person once; please do not share it.")
            .ToString();

        var body = new BodyBuilder { TextBody = text };
        body.Attachments.Add(AttachmentName, qrPng, new ContentType("image", "png"));
        message.Body = body.ToMessageBody();
        return message;
    }

    /// <summary>The date as the WhatsApp template writes it, in the event's own time zone.</summary>
    public static string EventDate(DateTime startsAtUtc, string timeZone, string fallbackTimeZone)
    {
        var zone = TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out var own) ? own : TimeZoneInfo.FindSystemTimeZoneById(fallbackTimeZone);
        return TicketDeliveryHandler.FormatEventDate(TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(startsAtUtc, DateTimeKind.Utc), zone));
    }

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries));
}
