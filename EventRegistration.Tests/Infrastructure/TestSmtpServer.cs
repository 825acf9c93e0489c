using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MimeKit;
using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.ComponentModel;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>One message the test SMTP server took: who signed in, the envelope, and the message as parsed by MimeKit.</summary>
public sealed record ReceivedMail(string? User, IReadOnlyList<string> Recipients, MimeMessage Message);

/// <summary>
/// A real SMTP server (the SmtpServer package) inside the test process on 127.0.0.1: it asks for
/// sign-in (plain, as a local submission port may), keeps every message it takes, and can be
/// stopped (connections refused) or told to refuse the next messages with a reply code.
/// </summary>
public sealed class TestSmtpServer : IAsyncDisposable
{
    public const string UserName = "tickets-smtp-user";
    public const string Password = "smtp-pass-Vq7#not-for-logs";

    private readonly ConcurrentQueue<ReceivedMail> _received = new();
    private readonly ConcurrentQueue<SmtpResponse> _refusals = new();
    private CancellationTokenSource? _running;
    private Task? _server;

    public int Port { get; } = FreePort();

    public IReadOnlyCollection<ReceivedMail> Received => _received;

    public IEnumerable<ReceivedMail> To(string address) =>
        _received.Where(m => m.Recipients.Contains(address, StringComparer.OrdinalIgnoreCase));

    public void Start()
    {
        if (_running is not null)
        {
            return;
        }

        var options = new SmtpServerOptionsBuilder()
            .ServerName("localhost")
            .Endpoint(builder => builder
                .Endpoint(new IPEndPoint(IPAddress.Loopback, Port))
                .AllowUnsecureAuthentication(true)
                .AuthenticationRequired(true))
            .Build();
        var services = new ServiceProvider();
        services.Add(new Store(this));
        services.Add(new DelegatingUserAuthenticator((user, password) => user == UserName && password == Password));
        _running = new CancellationTokenSource();
        _server = new SmtpServer.SmtpServer(options, services).StartAsync(_running.Token);
    }

    public async Task StopAsync()
    {
        if (_running is null)
        {
            return;
        }

        await _running.CancelAsync();
        try
        {
            await _server!;
        }
        catch (OperationCanceledException)
        {
        }

        _running.Dispose();
        _running = null;
    }

    /// <summary>The next <paramref name="count"/> messages are answered with this reply instead of being kept.</summary>
    public void RefuseNext(int count, SmtpReplyCode code, string text)
    {
        for (var i = 0; i < count; i++)
        {
            _refusals.Enqueue(new SmtpResponse(code, text));
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private sealed class Store(TestSmtpServer owner) : MessageStore
    {
        public override Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            if (owner._refusals.TryDequeue(out var refusal))
            {
                return Task.FromResult(refusal);
            }

            using var stream = new MemoryStream(buffer.ToArray());
            var message = MimeMessage.Load(stream, cancellationToken);
            var user = context.Authentication.IsAuthenticated ? context.Authentication.User : null;
            owner._received.Enqueue(new ReceivedMail(user, transaction.To.Select(m => m.User + "@" + m.Host).ToList(), message));
            return Task.FromResult(SmtpResponse.Ok);
        }
    }
}
