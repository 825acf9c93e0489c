using Azure.Core;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>Stands in for the managed identity's token source: hands out <see cref="Current"/> and counts the requests.</summary>
public sealed class FakeTokenSource(string first) : TokenCredential
{
    private int _calls;

    public volatile string Current = first;

    public int Calls => Volatile.Read(ref _calls);

    public System.Collections.Concurrent.ConcurrentQueue<string> Scopes { get; } = new();

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        foreach (var scope in requestContext.Scopes)
        {
            Scopes.Enqueue(scope);
        }

        Interlocked.Increment(ref _calls);
        return new AccessToken(Current, DateTimeOffset.UtcNow.AddHours(1));
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}
