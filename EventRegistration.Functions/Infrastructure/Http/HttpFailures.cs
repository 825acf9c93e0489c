using EventRegistration.Functions.Infrastructure.Database;
using EventRegistration.Functions.Infrastructure.Razorpay;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Functions.Infrastructure.Http;

/// <summary>The one place that turns a dependency's failure into the problem a caller sees.</summary>
public static class HttpFailures
{
    public static async Task<ApiResult> GuardAsync(ILogger logger, string operation, Func<Task<ApiResult>> handle)
    {
        try
        {
            return await handle();
        }
        catch (DependencyUnavailableException e)
        {
            logger.LogWarning(e, "{Operation} answered 503: {Reason}", operation, e.Message);
            return Problems.Unavailable(e.Message, e.RetryAfterSeconds);
        }
        catch (DatabaseRefusedException e)
        {
            // Validation lets nothing through that the schema refuses, so this is a gap between the
            // two (or a provider's answer nobody validated): not an outage, and a retry gets the same answer.
            logger.LogError(e, "{Operation}: the database refused the request's data ({SqlState})", operation, e.SqlState);
            return Problems.ValueRefused();
        }
        catch (RazorpayException e) when (e.Transient)
        {
            var retryAfter = (int)Math.Clamp(e.RetryAfter?.TotalSeconds ?? 5, 1, 60);
            return Problems.Unavailable("Razorpay is unavailable; try again shortly.", retryAfter);
        }
        catch (RazorpayException e)
        {
            logger.LogError(e, "{Operation}: Razorpay refused the request", operation);
            return Problems.PaymentProviderFailed($"Razorpay refused the request ({e.Code}).");
        }
    }
}
