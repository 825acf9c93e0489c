using System.Globalization;
using System.Text;

namespace EventRegistration.Tests.Soak;

/// <summary>The soak's figures as the markdown <c>./dev soak</c> writes to docs/soak.md.</summary>
public static class SoakReport
{
    public sealed record Check(string Name, bool Passed, string Detail);

    public static string Markdown(ChaosSoak.Report report, IReadOnlyList<Check> checks)
    {
        var o = report.Options;
        var text = new StringBuilder();
        text.AppendLine("# Chaos soak");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Written by `./dev soak --operations {o.Operations} --faults {o.Faults} --seed {o.Seed}{(o.RefundShapes ? " --refund-shapes" : "")}` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; the same command with the same seed plans the same operations (their interleaving and the faults' timing differ from run to run).");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"**{(checks.All(c => c.Passed) ? "Passed" : "FAILED")}**: {report.Operations:N0} operations ({report.Journeys:N0} member journeys over three events) with {report.FaultsInjected:N0} injected faults in {report.Duration.TotalSeconds:F0} s, {Environment.ProcessorCount} cores shared with the database and Azurite; 503 answers retried (as Razorpay or a browser would): {report.Retries:N0}.");
        text.AppendLine();
        text.AppendLine("## Checks");
        text.AppendLine();
        text.AppendLine("| check | result | detail |");
        text.AppendLine("|---|---|---|");
        foreach (var c in checks)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {c.Name} | {(c.Passed ? "passed" : "**failed**")} | {Cell(c.Detail)} |");
        }

        Table(text, "Operations by kind", "operation", report.OperationsByKind.Select(kv => (kv.Key, (long)kv.Value)));
        Table(text, "Faults by kind", "fault", report.FaultsByKind.Select(kv => (kv.Key, (long)kv.Value)));
        Table(text, "Answers by operation and status", "operation → HTTP status", report.AnswersByKind.Select(kv => (kv.Key, (long)kv.Value)));
        Table(text, "Registrations at the end, by status", "status", report.RegistrationsByStatus.Select(kv => (kv.Key, kv.Value)));
        Table(text, "Confirmation transactions, by confirmations committed together", "confirmations in the transaction",
            report.ConfirmationsPerTransaction.Select(kv => (kv.Key.ToString(CultureInfo.InvariantCulture), (long)kv.Value)));
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Webhooks run alone under their time budget and are not in this table. Confirmations whose batch could not commit together (a held row past the lock timeout; a session killed on both attempts answers its callers 503 instead) and that each ran again alone: {report.RunAgainAlone:N0}.");
        if (o.RefundShapes)
        {
            Table(text, "Refund shapes: journeys", "shape", report.JourneysByShape.Select(kv => (kv.Key.ToString(), (long)kv.Value)));
            Table(text, "Refund shapes: how they ended", "shape: outcome", report.ShapeOutcomes.Select(kv => (kv.Key, (long)kv.Value)));
        }
        else
        {
            text.AppendLine();
            text.AppendLine("Refund shapes (full, two halves, refund before capture, duplicate refund webhooks, a mismatching capture racing the checkout) were off in this run; `--refund-shapes` adds them.");
        }

        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Payments recorded: {report.PaymentsRecorded:N0}; anomalies recorded for operators: {report.Anomalies:N0}.");
        text.AppendLine();
        text.AppendLine("## Reading the figures");
        text.AppendLine();
        text.AppendLine("An operation is one request as a browser or Razorpay sends it (an order, a checkout callback, one webhook delivery); the mismatching capture racing the checkout is one operation of two requests. Orders come first (no faults), then the payment phases with a fault beside every n-th operation: a killed session is rolled back and rerun by the app or answered 503 and retried by the soak, so the count of 503 answers retried is what a caller would have seen, and 0 means the app's own rerun absorbed every kill. An event row held by another session makes confirmations of that event wait (up to the lock timeout). Orders answered 409 are the tight event refusing orders once its seats are held. The checks are the soak's own expectations followed by every invariant in `Invariants.cs`, checked by SQL on the final state.");
        return text.ToString();
    }

    private static void Table(StringBuilder text, string title, string column, IEnumerable<(string Key, long Count)> rows)
    {
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"## {title}");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"| {column} | count |");
        text.AppendLine("|---|---:|");
        foreach (var (key, count) in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {Cell(key)} | {count:N0} |");
        }
    }

    private static string Cell(string value) => value.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
