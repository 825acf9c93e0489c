using Azure;
using Azure.Storage.Blobs.Specialized;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Tickets;

/// <summary>
/// The cross-instance lock of one ticket: a blob lease on <c>ticket-locks/{registrationId}</c>.
/// A lease is a liveness lock, not a fencing token; the delivery state machine in PostgreSQL
/// is what makes a second worker see "sent" and stop.
/// </summary>
public sealed class TicketLocks(TicketBlobs blobs, IOptions<TicketOptions> options, TimeProvider clock, ILogger<TicketLocks> logger)
{
    /// <param name="firstDelivery">
    /// True when no attempt was ever made (the delivery has no <c>last_attempt_at</c>): its lock blob
    /// most likely does not exist yet, so it is created first (<c>If-None-Match: *</c>, never
    /// touching a blob someone holds) and then leased, two requests; acquiring first would cost a
    /// 404, the create and the acquire again. Otherwise the blob is there and one acquire does.
    /// Either order is only a cost guess: the lease itself is the lock.
    /// </param>
    /// <returns>The held lease, or null when another worker holds it.</returns>
    public async Task<TicketLease?> TryAcquireAsync(Guid registrationId, bool firstDelivery, CancellationToken cancellationToken)
    {
        var leaseClient = blobs.LockBlob(registrationId).GetBlobLeaseClient();
        var duration = TimeSpan.FromSeconds(options.Value.LeaseSeconds);
        if (firstDelivery)
        {
            await blobs.CreateLockBlobAsync(registrationId, cancellationToken);
        }

        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await leaseClient.AcquireAsync(duration, cancellationToken: cancellationToken);
                return new TicketLease(leaseClient, duration, registrationId, clock, logger);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                // LeaseAlreadyPresent.
                return null;
            }
            catch (RequestFailedException e) when (e.Status == 404 && attempt == 1)
            {
                // The lock blob (or its container) does not exist yet: an attempt was made before,
                // but not by this storage account's blob (it was deleted), or the guess was wrong.
                await blobs.CreateLockBlobAsync(registrationId, cancellationToken);
            }
        }
    }
}

/// <summary>
/// A held ticket lease, renewed in the background every third of its duration. A failed renewal
/// cancels <see cref="Lost"/>: the holder must stop before its next step. Disposing releases it.
/// </summary>
public sealed class TicketLease : IAsyncDisposable
{
    private readonly BlobLeaseClient _client;
    private readonly Guid _registrationId;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewals;

    internal TicketLease(BlobLeaseClient client, TimeSpan duration, Guid registrationId, TimeProvider clock, ILogger logger)
    {
        _client = client;
        _registrationId = registrationId;
        _logger = logger;
        _renewals = RenewAsync(duration / 3, clock);
    }

    public CancellationToken Lost => _lost.Token;

    public void ThrowIfLost()
    {
        if (_lost.IsCancellationRequested)
        {
            throw new TicketRetryLaterException($"The ticket lease of {_registrationId} could not be renewed; stopped before the next step.");
        }
    }

    private async Task RenewAsync(TimeSpan interval, TimeProvider clock)
    {
        try
        {
            while (true)
            {
                await Task.Delay(interval, clock, _stop.Token);
                await _client.RenewAsync(cancellationToken: _stop.Token);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Ticket lease of {RegistrationId} could not be renewed; stopping work", _registrationId);
            await _lost.CancelAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewals;
        if (!_lost.IsCancellationRequested)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _client.ReleaseAsync(cancellationToken: timeout.Token);
            }
            catch (Exception e) when (e is RequestFailedException or OperationCanceledException)
            {
                // It expires by itself within the lease duration.
                _logger.LogWarning(e, "Ticket lease of {RegistrationId} not released; it will expire", _registrationId);
            }
        }

        _lost.Dispose();
        _stop.Dispose();
    }
}
