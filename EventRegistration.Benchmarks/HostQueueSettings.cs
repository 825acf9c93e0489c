using System.Text.Json;

namespace EventRegistration.Benchmarks;

/// <summary>host.json's <c>extensions.queues</c> batch settings, read from the file the app deploys, so the simulated host pulls as the real one would.</summary>
public sealed record HostQueueSettings(int BatchSize, int NewBatchThreshold)
{
    public static HostQueueSettings Load()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "host.json")))
        {
            directory = directory.Parent;
        }

        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory.FullName, "host.json")));
        var queues = host.RootElement.GetProperty("extensions").GetProperty("queues");
        return new HostQueueSettings(queues.GetProperty("batchSize").GetInt32(), queues.GetProperty("newBatchThreshold").GetInt32());
    }
}
