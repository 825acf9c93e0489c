using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Security;

/// <summary>
/// Both forms of AzureWebJobsStorage through the one client-factory path: the connection string
/// (what every other test runs on, against Azurite) and the identity-based form the deployment
/// uses, whose clients hold a token credential and no account key. The identity form is only
/// built here, never signed in: Azurite accepts tokens only over HTTPS.
/// </summary>
public sealed class StorageIdentityTests(TestApp app) : IClassFixture<TestApp>
{
    [Fact]
    public async Task The_connection_string_form_builds_key_holding_clients_for_the_local_emulator()
    {
        using var host = TestApp.BuildHost(app.Settings());
        var queue = host.Services.GetRequiredService<TicketQueue>();
        var blobs = host.Services.GetRequiredService<TicketBlobs>();

        Assert.Equal(new Uri($"http://127.0.0.1:10001/devstoreaccount1/{app.QueueName}"), queue.Client.Uri);
        Assert.True(queue.Client.CanGenerateSasUri);
        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1/ticket-locks"), blobs.Locks.Uri);
        await queue.Client.CreateIfNotExistsAsync();
        Assert.True((await queue.Client.ExistsAsync()).Value);
    }

    [Fact]
    public void The_account_name_form_builds_clients_for_the_accounts_endpoints_with_no_key()
    {
        var settings = app.Settings();
        settings.Remove("AzureWebJobsStorage");
        settings["AzureWebJobsStorage:accountName"] = "evregstore";
        using var host = TestApp.BuildHost(settings);
        var queue = host.Services.GetRequiredService<TicketQueue>();
        var blobs = host.Services.GetRequiredService<TicketBlobs>();

        Assert.Equal(new Uri($"https://evregstore.queue.core.windows.net/{app.QueueName}"), queue.Client.Uri);
        Assert.Equal(new Uri($"https://evregstore.queue.core.windows.net/{app.QueueName}-poison"), queue.PoisonClient.Uri);
        Assert.Equal(new Uri("https://evregstore.blob.core.windows.net/ticket-locks"), blobs.Locks.Uri);
        Assert.False(queue.Client.CanGenerateSasUri, "an identity-based client holds no account key");
        Assert.False(blobs.Locks.CanGenerateSasUri, "an identity-based client holds no account key");
    }

    [Fact]
    public void Explicit_service_uris_win_over_the_account_name()
    {
        var settings = app.Settings();
        settings.Remove("AzureWebJobsStorage");
        settings["AzureWebJobsStorage:queueServiceUri"] = "https://queues.example.test/acct";
        settings["AzureWebJobsStorage:blobServiceUri"] = "https://blobs.example.test/acct";
        settings["AzureWebJobsStorage:credential"] = "managedidentity";
        settings["AzureWebJobsStorage:clientId"] = Guid.NewGuid().ToString();
        using var host = TestApp.BuildHost(settings);

        Assert.Equal(new Uri($"https://queues.example.test/acct/{app.QueueName}"), host.Services.GetRequiredService<TicketQueue>().Client.Uri);
        Assert.Equal(new Uri("https://blobs.example.test/acct/tickets"),
            host.Services.GetRequiredService<StorageClients>().Blobs(new Azure.Storage.Blobs.BlobClientOptions()).GetBlobContainerClient("tickets").Uri);
    }

    [Fact]
    public async Task Neither_form_fails_start_up_naming_the_setting()
    {
        var settings = app.Settings();
        settings.Remove("AzureWebJobsStorage");
        using var host = TestApp.BuildHost(settings);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
        Assert.Contains("AzureWebJobsStorage__accountName", error.ToString(), StringComparison.Ordinal);
    }
}
