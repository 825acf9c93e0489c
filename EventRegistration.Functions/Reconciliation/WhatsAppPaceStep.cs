using EventRegistration.Functions.Tickets;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Reconciliation;

/// <summary>
/// The send pace's retention: a recipient's row (<c>whatsapp_recipient_pace</c>, one per member
/// written to) is dropped once its pair spacing is long past (<see cref="WhatsAppSendPace"/>). An
/// opening writes one row per ticket, so the step takes batches of Reconciliation__BatchSize until
/// none is full, up to <see cref="MostBatches"/> a run.
/// </summary>
public sealed class WhatsAppPaceStep(WhatsAppSendPace pace, IOptions<ReconciliationOptions> options) : IReconciliationStep
{
    /// <summary>2,000 rows a run at the default batch of 100: a 10,000-ticket opening is gone within five runs.</summary>
    public const int MostBatches = 20;

    public string Name => "whatsapp_pace";

    public async Task RunAsync(StepTally tally, CancellationToken cancellationToken)
    {
        var batch = options.Value.BatchSize;
        for (var i = 0; i < MostBatches; i++)
        {
            var purged = await pace.PurgeRecipientsAsync(batch, cancellationToken);
            if (purged > 0)
            {
                tally.Add("recipients_purged", purged);
            }

            if (purged < batch)
            {
                return;
            }
        }
    }
}
