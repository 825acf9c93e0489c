using System.Security.Cryptography;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace EventRegistration.Tests.Checkins;

/// <summary>The app signs with a new key while the one before it is listed as previous (the README's rotation steps, mid-way).</summary>
public sealed class RotatedKeyApp : TestApp
{
    private static readonly ECDsa NewKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public static string NewPublicKeyPem { get; } = NewKey.ExportSubjectPublicKeyInfoPem();

    public static string NewPrivateKeyPem { get; } = NewKey.ExportPkcs8PrivateKeyPem();

    protected override void Configure(IDictionary<string, string?> settings)
    {
        settings["Tickets:SigningKeyPem"] = NewPrivateKeyPem;
        settings["Tickets:PreviousPublicKeyPem"] = TestTicketKey.PublicKeyPem;
    }
}

public sealed class KeyRotationTests(RotatedKeyApp app) : IClassFixture<RotatedKeyApp>
{
    [Fact]
    public async Task A_ticket_signed_with_the_previous_key_still_scans_while_that_key_is_listed_as_previous()
    {
        var eventId = await app.CreateEventAsync();
        var (_, key) = await app.ScannerKeyAsync(eventId);
        var oldTicket = await app.PaidRegistrationAsync(eventId, "Sent Before Rotation");
        var newTicket = await app.PaidRegistrationAsync(eventId, "Sent After Rotation");
        using var previousKey = ECDsa.Create();
        previousKey.ImportFromPem(TestTicketKey.PrivateKeyPem);
        var signedBefore = TicketToken.Create(oldTicket, eventId, previousKey);
        var signedAfter = app.TokenFor(newTicket, eventId);
        Assert.Null(TicketToken.Verify(signedAfter, TestTicketKey.PublicKeyPem));
        Assert.NotNull(TicketToken.Verify(signedAfter, RotatedKeyApp.NewPublicKeyPem));

        Assert.Equal(200, (await app.ScanAsync(key, signedBefore)).Status);
        Assert.Equal(200, (await app.ScanAsync(key, signedAfter)).Status);
        using var strangerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Equal("urn:eventregistration:problem:ticket-invalid",
            (await app.ScanAsync(key, TicketToken.Create(oldTicket, eventId, strangerKey))).ProblemType);

        // Scanners get both keys, each marked, and so does the public-key endpoint.
        var kit = (await app.OfflineKitAsync(eventId.ToString(), CheckinCalls.WithScannerKey(key))).Json.GetProperty("publicKeys");
        Assert.Equal([("current", RotatedKeyApp.NewPublicKeyPem), ("previous", TestTicketKey.PublicKeyPem)],
            kit.EnumerateArray().Select(k => (k.GetProperty("use").GetString()!, k.GetProperty("pem").GetString()!)));
        var request = CheckinCalls.Get(new Dictionary<string, string[]>());
        var published = await TestApp.ExecuteAsync(request, app.Function<TicketPublicKeyFunction>().TicketPublicKey(request));
        Assert.Equal(TestTicketKey.PublicKeyPem, published.Json.GetProperty("previousPublicKeyPem").GetString());
    }

    [Fact]
    public async Task Once_the_previous_key_is_no_longer_listed_its_tickets_are_refused_from_the_signature()
    {
        var settings = app.Settings();
        settings["Tickets:SigningKeyPem"] = RotatedKeyApp.NewPrivateKeyPem;
        settings["Tickets:PreviousPublicKeyPem"] = "";
        using var host = TestApp.BuildHost(settings);
        await host.StartAsync();
        var signer = host.Services.GetRequiredService<TicketSigner>();
        using var previousKey = ECDsa.Create();
        previousKey.ImportFromPem(TestTicketKey.PrivateKeyPem);

        Assert.Null(signer.Verify(TicketToken.Create(Guid.NewGuid(), Guid.NewGuid(), previousKey)));
        Assert.Null(signer.PreviousPublicKeyPem);
        await host.StopAsync();
    }

    [Theory]
    [InlineData("not a key")]
    [InlineData("private")]
    public async Task A_previous_key_that_is_not_a_P256_public_key_stops_start_up_naming_the_setting(string value)
    {
        var pem = value == "private" ? TestTicketKey.PrivateKeyPem : value;
        var failure = await app.StartUpFailureWithAsync("Tickets:PreviousPublicKeyPem", pem);
        Assert.Contains("Tickets__PreviousPublicKeyPem", failure);
        Assert.DoesNotContain(TestTicketKey.PrivateKeyPem.Split('\n')[1], failure);
        Assert.DoesNotContain("not a key", failure);
    }
}
