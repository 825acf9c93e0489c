using System.Globalization;
using CsvHelper;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace EventRegistration.Functions.Admin.Attendees;

/// <summary>
/// An event's attendees as a CSV download that a spreadsheet opens as it should: UTF-8 with a byte
/// order mark (else Excel reads Devanagari and Tamil as Windows-1252), RFC 4180 quoting, and every
/// text cell that a spreadsheet would run as a formula (starting with = + - @, a tab or a CR) prefixed
/// with an apostrophe, so a phone number is written <c>'+919812345678</c> and stays text with its +.
/// The rows are written page by page as they are read (keyset on the registration id, each page on a
/// pooled connection held only for its query), so a slow download pins neither memory nor a
/// connection; it is not one snapshot: a registration that changes during the download appears
/// once, as its page saw it.
/// </summary>
public sealed class AttendeesCsv(AttendeesHandler handler, Guid eventId, string? status, AttendeePage firstPage, ILogger logger) : IActionResult
{
    public const int PageSize = 1000;
    public const string ContentType = "text/csv; charset=utf-8";

    public static readonly string[] Columns =
        ["registrationId", "memberId", "name", "whatsApp", "status", "paymentId", "paidAtUtc", "ticketStatus", "admittedAtUtc", "admittedBy",
         "refundStatus", "amountRefundedPaise"];

    private static readonly CsvWriterOptions Options = new()
    {
        Separator = ',',
        NewLine = "\r\n",
        WriteByteOrderMark = true,
        Injection = CsvInjection.Escape,
    };

    /// <summary>Whether the caller asked for CSV: <c>text/csv</c> is in Accept and not outranked by JSON.</summary>
    public static bool IsWanted(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var accepted))
        {
            return false;
        }

        double Quality(string type) => accepted.Where(a => a.MediaType.Equals(type, StringComparison.OrdinalIgnoreCase))
            .Select(a => a.Quality ?? 1.0).DefaultIfEmpty(0).Max();

        var csv = Quality("text/csv");
        return csv > 0 && csv >= Quality("application/json");
    }

    public async Task ExecuteResultAsync(ActionContext context)
    {
        var http = context.HttpContext;
        var cancellationToken = http.RequestAborted;
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = ContentType;
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"attendees-{eventId}{(status is null ? "" : "-" + status)}.csv\"";
        http.Response.Headers.CacheControl = "no-store";

        // The writer fills this buffer; each page is then copied to the response asynchronously
        // (Kestrel refuses synchronous writes), and the buffer emptied for the next page.
        using var buffer = new MemoryStream();
        await using var csv = CsvWriter.Create(buffer, Options, leaveOpen: true);
        csv.WriteHeader(Columns);
        var page = firstPage;
        long written = 0;
        while (true)
        {
            foreach (var a in page.Attendees)
            {
                csv.WriteField(a.RegistrationId.ToString());
                csv.WriteField(a.MemberId.ToString());
                csv.WriteField(a.Name);
                csv.WriteField(a.PhoneE164);
                csv.WriteField(a.Status);
                csv.WriteField(a.PaymentId);
                csv.WriteField(a.PaidAt?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
                csv.WriteField(a.TicketStatus);
                csv.WriteField(a.AdmittedAt?.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
                csv.WriteField(a.AdmittedBy);
                csv.WriteField(a.Refund?.Status);
                csv.WriteField(a.Refund?.AmountRefundedPaise.ToString(CultureInfo.InvariantCulture));
                csv.EndRecord();
            }

            written += page.Attendees.Count;
            await csv.FlushAsync(cancellationToken);
            await http.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken);
            buffer.SetLength(0);
            if (page.NextAfter is not { } after)
            {
                return;
            }

            try
            {
                page = await handler.NextPageAsync(eventId, status, after, PageSize, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // The status line is sent: the only honest way left to say "incomplete" is to break
                // the response, so the client sees a failed download, never a file that looks whole.
                logger.LogError(e, "Attendees CSV of {EventId} broken off after {Rows} rows", eventId, written);
                http.Abort();
                return;
            }
        }
    }
}
