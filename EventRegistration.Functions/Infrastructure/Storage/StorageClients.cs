using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using EventRegistration.Functions.Infrastructure.Configuration;
using Microsoft.Extensions.Azure;
using Microsoft.Extensions.Configuration;

namespace EventRegistration.Functions.Infrastructure.Storage;

/// <summary>
/// The app's own queue and blob clients, made by the Azure SDK's client factory from the same
/// <c>AzureWebJobsStorage</c> setting the Functions host reads, in either of its forms: a
/// connection string (Azurite locally), or the identity-based form — <c>AzureWebJobsStorage__accountName</c>
/// (or <c>__queueServiceUri</c> / <c>__blobServiceUri</c>), with <c>__credential</c> / <c>__clientId</c>
/// for a user-assigned identity — where the factory signs in with DefaultAzureCredential (the
/// Function App's managed identity) and no account key exists anywhere.
/// </summary>
public sealed class StorageClients(AzureComponentFactory factory, IConfiguration configuration)
{
    public QueueServiceClient Queues(QueueClientOptions options) => (QueueServiceClient)Create(typeof(QueueServiceClient), "queue", options);

    public BlobServiceClient Blobs(BlobClientOptions options) => (BlobServiceClient)Create(typeof(BlobServiceClient), "blob", options);

    /// <summary>Whether the setting names an account at all, in either form (the start-up check).</summary>
    public static bool IsConfigured(IConfiguration configuration)
    {
        var section = configuration.GetSection(StorageOptions.ConnectionSetting);
        return !string.IsNullOrWhiteSpace(section.Value)
            || !string.IsNullOrWhiteSpace(section["accountName"])
            || (!string.IsNullOrWhiteSpace(section["queueServiceUri"]) && !string.IsNullOrWhiteSpace(section["blobServiceUri"]));
    }

    private object Create(Type client, string service, object options)
    {
        var section = configuration.GetSection(StorageOptions.ConnectionSetting);
        if (!string.IsNullOrWhiteSpace(section.Value))
        {
            return factory.CreateClient(client, section, credential: null!, options);
        }

        // The host's convention: an explicit service URI wins; otherwise the public cloud's from the account name.
        var serviceUri = section[service + "ServiceUri"] is { Length: > 0 } explicitUri
            ? explicitUri
            : $"https://{section["accountName"]}.{service}.core.windows.net";
        var clientSection = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["serviceUri"] = serviceUri })
            .Build();
        return factory.CreateClient(client, clientSection, factory.CreateTokenCredential(section), options);
    }
}
