using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// A TCP relay on 127.0.0.1 in front of a real server (PostgreSQL, Azurite), so a test can make
/// that server vanish for the app alone: cut every open connection, refuse new ones, then come
/// back — without stopping the server other test classes share.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<int, (TcpClient Client, TcpClient Upstream)> _open = new();
    private readonly Task _acceptLoop;
    private int _next;
    private volatile bool _refusing;

    public TcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int OpenConnections => _open.Count;

    /// <summary>Closes every relayed connection and refuses new ones until <see cref="Restore"/>.</summary>
    public void GoDown()
    {
        _refusing = true;
        CutAll();
    }

    public void Restore() => _refusing = false;

    /// <summary>Closes every relayed connection, as a network failure or a server crash would.</summary>
    public void CutAll()
    {
        foreach (var (key, pair) in _open)
        {
            try
            {
                // A relay that already closed its side leaves no socket behind (Client is null then).
                if (pair.Client.Client is { } socket)
                {
                    socket.LingerState = new LingerOption(true, 0);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already closed from the other side.
            }

            pair.Client.Close();
            pair.Upstream.Close();
            _open.TryRemove(key, out _);
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            if (_refusing)
            {
                try
                {
                    client.Client.LingerState = new LingerOption(true, 0);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // The caller gave up already.
                }

                client.Close();
                continue;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        var upstream = new TcpClient();
        var id = Interlocked.Increment(ref _next);
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, _targetPort);
            _open[id] = (client, upstream);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var up = client.GetStream().CopyToAsync(upstream.GetStream(), both.Token);
            var down = upstream.GetStream().CopyToAsync(client.GetStream(), both.Token);
            await Task.WhenAny(up, down);
            await both.CancelAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // A cut connection ends here; that is the point.
        }
        finally
        {
            _open.TryRemove(id, out _);
            client.Close();
            upstream.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        CutAll();
        await _acceptLoop;
        _stop.Dispose();
    }
}
