using System.Collections.Concurrent;

namespace EventRegistration.Functions.Infrastructure.Database;

/// <summary>
/// Work that arrives while earlier work is running is taken together: a runner takes every item
/// waiting (up to <c>maxBatch</c>) and hands them to one call of the batch function, which runs
/// them in one transaction. At most <c>maxRunners</c> runners at once, so with callers to spare
/// each runner's batch grows instead of the number of transactions; with none to spare, an item
/// runs alone as soon as it arrives (a batch of one), after one hop to the thread pool.
/// </summary>
/// <remarks>
/// Runners start with the execution context suppressed: a batch carries items from many callers,
/// so it must not run under one caller's logging scope or <see cref="Database.WithDeadline"/>.
/// A caller that cancels before a runner takes its item leaves it out of every batch; once taken,
/// the item runs to its end and the caller who left is not told.
/// </remarks>
public sealed class GroupCommit<TItem, TResult>
{
    private readonly ConcurrentQueue<Entry> _waiting = new();
    private readonly Func<IReadOnlyList<TItem>, Task<TResult[]>> _runBatch;
    private readonly int _maxRunners;
    private readonly int _maxBatch;
    private int _runners;

    public GroupCommit(int maxRunners, int maxBatch, Func<IReadOnlyList<TItem>, Task<TResult[]>> runBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRunners, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _maxRunners = maxRunners;
        _maxBatch = maxBatch;
        _runBatch = runBatch;
    }

    /// <summary>Items waiting for a runner (those whose callers left included, until a runner passes them).</summary>
    public int Waiting => _waiting.Count;

    /// <summary>The item's result, or the exception its batch ended with.</summary>
    public async Task<TResult> RunAsync(TItem item, CancellationToken cancellationToken)
    {
        var entry = new Entry(item);
        _waiting.Enqueue(entry);
        StartRunnerIfRoom();
        await using var leave = cancellationToken.Register(() => entry.TryLeave(cancellationToken));
        return await entry.Result;
    }

    private void StartRunnerIfRoom()
    {
        if (!TryAddRunner())
        {
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(RunnerAsync);
        }
    }

    private bool TryAddRunner()
    {
        while (true)
        {
            var running = Volatile.Read(ref _runners);
            if (running >= _maxRunners)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _runners, running + 1, running) == running)
            {
                return true;
            }
        }
    }

    private async Task RunnerAsync()
    {
        var batch = new List<Entry>(_maxBatch);
        while (true)
        {
            batch.Clear();
            while (batch.Count < _maxBatch && _waiting.TryDequeue(out var entry))
            {
                if (entry.TryTake())
                {
                    batch.Add(entry);
                }
            }

            if (batch.Count == 0)
            {
                // An item enqueued after the queue looked empty, whose caller found every runner
                // busy, is this runner's to take: look again once no longer counted.
                Interlocked.Decrement(ref _runners);
                if (_waiting.IsEmpty || !TryAddRunner())
                {
                    return;
                }

                continue;
            }

            try
            {
                var results = await _runBatch(batch.ConvertAll(e => e.Item));
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Complete(results[i]);
                }
            }
            catch (Exception e)
            {
                foreach (var entry in batch)
                {
                    entry.Fail(e);
                }
            }
        }
    }

    private sealed class Entry(TItem item)
    {
        private const int Waiting = 0, Taken = 1, Left = 2;
        private readonly TaskCompletionSource<TResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _state = Waiting;

        public TItem Item => item;

        public Task<TResult> Result => _result.Task;

        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Waiting) == Waiting;

        public void TryLeave(CancellationToken cancellationToken)
        {
            if (Interlocked.CompareExchange(ref _state, Left, Waiting) == Waiting)
            {
                _result.TrySetCanceled(cancellationToken);
            }
        }

        public void Complete(TResult result) => _result.TrySetResult(result);

        public void Fail(Exception e) => _result.TrySetException(e);
    }
}
