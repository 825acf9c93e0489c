using System.Diagnostics;
using System.Text;
using Dapper;
using EventRegistration.Functions.Infrastructure.Storage;
using EventRegistration.Functions.Tickets;
using EventRegistration.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace EventRegistration.Benchmarks;

public sealed record TicketPipelineResult(string Summary, string Markdown, IReadOnlyList<string> ConsoleLines);

/// <summary>
/// Tickets per second through the real DeliverTicket function (lease on Azurite, state machine in
/// PostgreSQL, QR render, PNG to blob storage, media upload and template send to a WhatsApp fake
/// on 127.0.0.1), against signing and rendering the QR alone as the ceiling.
/// </summary>
public static class TicketPipelineBenchmark
{
    private static readonly int[] Levels = [1, 4, 8, 16];

    public static async Task<TicketPipelineResult> RunAsync(TestApp app, bool quick)
    {
        var perRun = quick ? 60 : 300;
        var function = app.Function<DeliverTicketFunction>();
        var signer = app.Services.GetRequiredService<TicketSigner>();
        var rows = new List<(int Level, Measurement Pipeline, Measurement Ceiling)>();
        await PrepareAsync(app, 20).ContinueWith(async t => await RunPipelineAsync(function, await t, 4)).Unwrap();

        foreach (var level in Levels)
        {
            var pipeline = await RunPipelineAsync(function, await PrepareAsync(app, perRun), level);
            var ceiling = await RunCeilingAsync(signer, perRun * 4, level);
            rows.Add((level, pipeline, ceiling));
        }

        var markdown = new StringBuilder();
        markdown.AppendLine($"{perRun} deliveries per row, each a paid registration with a `queued` delivery; the ceiling signs a token and renders its QR PNG, nothing else.");
        markdown.AppendLine();
        markdown.AppendLine("| concurrent deliveries | tickets /s | p50 ms | p99 ms | QR alone /s | pipeline ÷ QR | sends failed |");
        markdown.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        var lines = new List<string>();
        foreach (var (level, pipeline, ceiling) in rows)
        {
            markdown.AppendLine($"| {level} | {pipeline.PerSecond:F0} | {pipeline.P(50):F1} | {pipeline.P(99):F1} | {ceiling.PerSecond:F0} | {pipeline.PerSecond / ceiling.PerSecond:P1} | {pipeline.Failures} |");
            lines.Add($"tickets {level,3}: pipeline {pipeline.PerSecond,6:F0}/s p99 {pipeline.P(99),6:F1} ms | QR alone {ceiling.PerSecond,6:F0}/s | failures {pipeline.Failures}");
        }

        var best = rows.MaxBy(r => r.Pipeline.PerSecond / r.Ceiling.PerSecond);
        var bestRatio = best.Pipeline.PerSecond / best.Ceiling.PerSecond;
        var summary = $"best {best.Pipeline.PerSecond:F0} tickets/s at {best.Level} concurrent, {bestRatio:P1} of QR rendering alone (target ≥ 50%): **{(bestRatio >= 0.5 ? "met" : "missed")}**.";
        return new TicketPipelineResult(summary, markdown.ToString(), lines);
    }

    private static async Task<List<string>> PrepareAsync(TestApp app, int count)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        var eventId = Guid.NewGuid();
        await connection.ExecuteAsync("""
            insert into events (id, title, starts_at, capacity, price_paise, currency, status, attendee_count)
            values (@eventId, 'Bench ticket event', now() + interval '30 days', null, 10000, 'INR', 'open', @count);
            with m as (
                insert into members (id, name, phone_e164)
                select gen_random_uuid(), 'Bench member ' || n, '+9198' || (10000000 + n)::text from generate_series(1, @count) n
                returning id
            ), r as (
                insert into event_registrations (id, event_id, member_id, status, order_id, payment_id, amount_paise, currency, paid_at, confirmed_by)
                select gen_random_uuid(), @eventId, id, 'paid', 'order_K' || replace(id::text, '-', ''), 'pay_K' || replace(id::text, '-', ''), 10000, 'INR', now(), 'checkout'
                  from m
                returning id
            )
            insert into ticket_deliveries (registration_id, status) select id, 'queued' from r;
            """, new { eventId, count });
        var ids = await connection.QueryAsync<Guid>("select id from event_registrations where event_id = @eventId", new { eventId });
        return ids.Select(id => new TicketDeliveryMessage(id).ToJson()).ToList();
    }

    private static async Task<Measurement> RunPipelineAsync(DeliverTicketFunction function, IReadOnlyList<string> messages, int concurrency)
    {
        var latencies = new double[messages.Count];
        var failures = 0;
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < messages.Count)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await function.DeliverTicket(messages[i], CancellationToken.None);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref failures);
                }

                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        })));
        wall.Stop();
        return new Measurement(messages.Count, wall.Elapsed, latencies, failures);
    }

    private static async Task<Measurement> RunCeilingAsync(TicketSigner signer, int count, int concurrency)
    {
        var latencies = new double[count];
        var next = -1;
        var eventId = Guid.NewGuid();
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(() =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var started = Stopwatch.GetTimestamp();
                _ = TicketQrCode.RenderPng(signer.CreateToken(Guid.NewGuid(), eventId));
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        })));
        wall.Stop();
        return new Measurement(count, wall.Elapsed, latencies, 0);
    }
}
