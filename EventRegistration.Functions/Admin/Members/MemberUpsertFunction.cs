using EventRegistration.Functions.Admin.Access;
using EventRegistration.Functions.Infrastructure.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Admin.Members;

/// <summary>PUT /api/admin/members/{memberId} <c>{"name","whatsApp","email"}</c>: create or replace one member. Organisers.</summary>
public sealed class MemberUpsertFunction(
    AdminAccess access, MemberUpsertHandler handler, IOptions<AdminOptions> options, ILogger<MemberUpsertFunction> logger)
{
    [Function(nameof(AdminUpsertMember))]
    public async Task<IActionResult> AdminUpsertMember(
        [HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = "admin/members/{memberId}")] HttpRequest request,
        string memberId)
    {
        if (AdminHttp.Refusal(access, request, AdminRole.Organiser, out var actor) is { } refusal)
        {
            return refusal;
        }

        if (MemberRules.ParseId(memberId) is not { } id)
        {
            return Problems.RouteIdNotUuid(MemberRules.IdField);
        }

        var cancellationToken = request.HttpContext.RequestAborted;
        var (json, problem) = await JsonRequest.ReadAsync(request, options.Value.MaxBodyBytes, cancellationToken);
        if (json is null)
        {
            return problem!;
        }

        using var parsed = json;
        if (MemberRules.FromJson(json.Root, out var error) is not { } member)
        {
            return error!.Missing ? Problems.MissingField(error.Field) : Problems.InvalidField(error.Field, error.Reason);
        }

        return await HttpFailures.GuardAsync(logger, nameof(AdminUpsertMember), async () =>
        {
            var upserted = await handler.UpsertAsync(actor, id, member, cancellationToken);
            return upserted.Created ? ApiResult.Created(upserted.Member) : ApiResult.Ok(upserted.Member);
        });
    }
}
