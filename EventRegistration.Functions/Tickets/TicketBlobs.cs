using Azure;
using Azure.Core;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using EventRegistration.Functions.Infrastructure.Configuration;
using EventRegistration.Functions.Infrastructure.Storage;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Tickets;

/// <summary>The two blob containers of ticket delivery: <c>ticket-locks</c> (leases) and <c>tickets</c> (QR images).</summary>
public sealed class TicketBlobs
{
    private readonly Container _locks;
    private readonly Container _tickets;

    public TicketBlobs(IOptions<StorageOptions> options, StorageClients storage)
    {
        var clientOptions = new BlobClientOptions();
        clientOptions.Retry.MaxRetries = 2;
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(200);
        clientOptions.Retry.NetworkTimeout = TimeSpan.FromSeconds(5);
        var service = storage.Blobs(clientOptions);
        _locks = new Container(service.GetBlobContainerClient(options.Value.TicketLocksContainer));
        _tickets = new Container(service.GetBlobContainerClient(options.Value.TicketsContainer));
    }

    public BlobContainerClient Locks => _locks.Client;

    public BlobClient LockBlob(Guid registrationId) => _locks.Client.GetBlobClient(registrationId.ToString());

    /// <summary>Creates the (empty) lock blob; another worker creating it at the same time is fine.</summary>
    public async Task CreateLockBlobAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        await _locks.EnsureAsync(cancellationToken);
        try
        {
            await LockBlob(registrationId).UploadAsync(BinaryData.Empty, overwrite: false, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // BlobAlreadyExists, or it exists under someone's lease already: either way it is there.
        }
    }

    /// <returns>The blob name, as recorded in ticket_deliveries.ticket_blob.</returns>
    public async Task<string> SaveTicketAsync(Guid registrationId, byte[] png, CancellationToken cancellationToken)
    {
        await _tickets.EnsureAsync(cancellationToken);
        var name = $"{registrationId}.png";
        await _tickets.Client.GetBlobClient(name).UploadAsync(BinaryData.FromBytes(png),
            new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "image/png" } }, cancellationToken);
        return $"{_tickets.Client.Name}/{name}";
    }

    public async Task<byte[]> ReadTicketAsync(Guid registrationId, CancellationToken cancellationToken)
    {
        var content = await _tickets.Client.GetBlobClient($"{registrationId}.png").DownloadContentAsync(cancellationToken);
        return content.Value.Content.ToArray();
    }

    private sealed class Container(BlobContainerClient client)
    {
        private int _created;

        public BlobContainerClient Client => client;

        public async Task EnsureAsync(CancellationToken cancellationToken)
        {
            if (Volatile.Read(ref _created) == 1)
            {
                return;
            }

            await client.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            Volatile.Write(ref _created, 1);
        }
    }
}
