namespace EventRegistration.Functions.Infrastructure.Http;

/// <summary>Thrown by <see cref="BoundedRequestStream"/> when the body goes past its limit.</summary>
public sealed class RequestBodyTooLargeException(int limit) : Exception($"The request body is larger than {limit} bytes.")
{
    public int Limit { get; } = limit;
}

/// <summary>Thrown by <see cref="BoundedRequestStream"/> when reading the body fails: the client went away or sent less than it said.</summary>
public sealed class RequestBodyInterruptedException(Exception inner) : Exception("The request body could not be read to its end.", inner);

/// <summary>
/// A request body read as it arrives, never held whole: it stops with <see cref="RequestBodyTooLargeException"/>
/// at the first byte past the limit (a body without a Content-Length, or one that lies about it, is
/// caught as well), and names a failed read as the client's, so it is never taken for a database outage.
/// </summary>
public sealed class BoundedRequestStream(Stream inner, int limit) : Stream
{
    public long BytesRead { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read;
        try
        {
            read = inner.Read(buffer);
        }
        catch (IOException e)
        {
            throw new RequestBodyInterruptedException(e);
        }

        return Count(read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try
        {
            read = await inner.ReadAsync(buffer, cancellationToken);
        }
        catch (IOException e)
        {
            throw new RequestBodyInterruptedException(e);
        }

        return Count(read);
    }

    private int Count(int read)
    {
        BytesRead += read;
        return BytesRead > limit ? throw new RequestBodyTooLargeException(limit) : read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
