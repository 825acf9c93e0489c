using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PhoneNumbers;

namespace EventRegistration.Functions.Admin.Members;

/// <summary>PUT /api/admin/members/{memberId} <c>{"name","whatsApp","email"}</c>: create or replace one member. Organisers.</summary>
public sealed class MemberUpsertFunction(
    AdminAccess access, MemberUpsertHandler handler, IOptions<AdminOptions> options, ILogger<MemberUpsertFunction> logger)
{
    private static readonly PhoneNumberUtil Phones = PhoneNumberUtil.GetInstance();

    [Function(nameof(AdminUpsertMember))]
    public async Task<IActionResult> AdminUpsertMember(
        [HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = "admin/members/{memberId}")] HttpRequest request,
        string memberId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (!Guid.TryParse(memberId, out var id))
        {
            return Problems.InvalidField("memberId", "'memberId' in the route must be a UUID.");
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (json, problem) = await JsonRequest.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;

        var name = json.RequiredString("name", out problem);
        if (name is null)
        {
            return problem!;
        }

        if (name.Trim().Length == 0 || name.Length > 200)
        {
            return Problems.InvalidField("name", "'name' must hold 1 to 200 characters.");
        }

        var phone = json.RequiredString("whatsApp", out problem);
        if (phone is null)
        {
            return problem!;
        }

        if (ToE164(phone) is not { } e164)
        {
            return Problems.InvalidField("whatsApp", "'whatsApp' must be a valid phone number in international form, e.g. +919812345678.");
        }

        string? email = null;
        if (json.Root.TryGetProperty("email", out var emailValue) && emailValue.ValueKind != System.Text.Json.JsonValueKind.Null)
        {
            email = emailValue.ValueKind == System.Text.Json.JsonValueKind.String ? emailValue.GetString() : null;
            if (email is null || email.Length > 320 || email.IndexOf('@') is < 1 || email.IndexOf('@') == email.Length - 1)
            {
                return Problems.InvalidField("email", "'email' must be an email address (at most 320 characters), or null.");
            }
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminUpsertMember), async () =>
        {
            var upserted = await handler.UpsertAsync(actor, id, new MemberInput(name, e164, email), cancellationToken);
            return upserted.Created ? ApiResult.Created(upserted.Member) : ApiResult.Ok(upserted.Member);
        });
    }

    /// <summary>The number in E.164, or null: it must start with + and be a valid number of its country.</summary>
    private static string? ToE164(string text)
    {
        if (!text.StartsWith('+') || text.Length > 32)
        {
            return null;
        }

        try
        {
            var number = Phones.Parse(text, null);
            return Phones.IsValidNumber(number) ? Phones.Format(number, PhoneNumberFormat.E164) : null;
        }
        catch (NumberParseException)
        {
            return null;
        }
    }
}
