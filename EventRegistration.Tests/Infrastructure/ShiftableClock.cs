namespace EventRegistration.Tests.Infrastructure;

/// <summary>
/// Real time plus an offset a test can move forward (seat holds expiring, grace periods
/// passing). Timers stay real, so timeouts and retry delays in the app behave as in production.
/// </summary>
public sealed class ShiftableClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}
