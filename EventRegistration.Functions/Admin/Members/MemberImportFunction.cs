using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace EventRegistration.Functions.Admin.Members;

/// <summary>
/// POST /api/admin/members/import: many members in one request, as CSV (<c>text/csv</c>, with a
/// header line) or JSON lines (<c>application/x-ndjson</c>), read as the body arrives. Organisers.
/// </summary>
public sealed class MemberImportFunction(
    AdminAccess access, MemberImportHandler handler, IOptions<AdminOptions> options, ILogger<MemberImportFunction> logger)
{
    [Function(nameof(AdminImportMembers))]
    public async Task<IActionResult> AdminImportMembers(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "admin/members/import")] HttpRequest request)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (FormatOf(request.ContentType) is not { } format)
        {
            return Problems.UnsupportedMediaType(
                "Send the file as 'text/csv' (a header line memberId,name,whatsApp,email, then one member per line) or 'application/x-ndjson' (one JSON object per line), in UTF-8.");
        }

        var settings = options.Value;
        if (request.ContentLength > settings.ImportMaxBodyBytes)
        {
            return Problems.BodyTooLarge(settings.ImportMaxBodyBytes);
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var body = new BoundedRequestStream(request.Body, settings.ImportMaxBodyBytes);
        // One row may be as large as the single upsert's whole body.
        var rows = MemberImportReader.ReadAsync(body, format, settings.MaxBodyBytes, cancellationToken);
        try
        {
            return await HttpFailures.GuardAsync(logger, nameof(AdminImportMembers), async () =>
                ApiResult.Ok(await handler.ImportAsync(actor, rows, format, settings.ImportMaxRows, cancellationToken)));
        }
        catch (MemberImportRefusedException e)
        {
            return e.Problem;
        }
        catch (MalformedImportException e)
        {
            return Problems.MalformedImport(e.Message + " Nothing was imported.");
        }
        catch (RequestBodyTooLargeException e)
        {
            return Problems.BodyTooLarge(e.Limit);
        }
        catch (RequestBodyInterruptedException e)
        {
            logger.LogWarning(e, "{Operation}: the request body ended early after {Bytes} bytes", nameof(AdminImportMembers), body.BytesRead);
            return Problems.MalformedImport("The file did not arrive whole (the upload was interrupted). Nothing was imported; send it again.");
        }
    }

    /// <returns>The format the content type names, or null: another type, or a charset other than UTF-8.</returns>
    private static ImportFormat? FormatOf(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var type))
        {
            return null;
        }

        if (type.Charset.HasValue && !type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return type.MediaType.Value?.ToLowerInvariant() switch
        {
            "text/csv" => ImportFormat.Csv,
            "application/x-ndjson" or "application/jsonl" or "application/jsonlines" => ImportFormat.JsonLines,
            _ => null,
        };
    }
}
