using System.Net.Sockets;
using EventRegistration.Functions.Infrastructure.Telemetry;
using EventRegistration.Functions.Tickets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace EventRegistration.Functions.EmailFallback;

/// <summary>An SMTP exchange that failed, classified where it failed (<see cref="DeliveryRetryPolicy.ClassifySmtp"/>).</summary>
public sealed class TicketEmailException(DeliveryFailure failure, Exception inner) : Exception($"{failure.Category}: {failure.Reason}", inner)
{
    public DeliveryFailure Failure { get; } = failure;
}

/// <summary>
/// Sends one message over SMTP submission with MailKit: connect, sign in when a user name is set,
/// send, disconnect. Every failure leaves here as a <see cref="TicketEmailException"/> whose class
/// depends on how far the exchange got: before the recipients were accepted nothing can have been
/// taken; after, a silence means the outcome is unknown. The server's words are scrubbed of
/// addresses before they are kept (they often echo the recipient).
/// </summary>
public sealed class TicketMailer(IOptions<EmailFallbackOptions> options)
{
    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        using var whole = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        whole.CancelAfter(TimeSpan.FromSeconds(settings.TimeoutSeconds));
        using var client = new StagedSmtpClient { Timeout = settings.TimeoutSeconds * 1000 };
        var stage = SmtpStage.Connect;
        try
        {
            await client.ConnectAsync(settings.Host.Trim(), settings.Port, settings.SecureSocket, whole.Token);
            if (settings.UserName.Length > 0)
            {
                stage = SmtpStage.SignIn;
                await client.AuthenticateAsync(settings.UserName, settings.Password, whole.Token);
            }

            stage = SmtpStage.Envelope;
            client.RecipientsAccepted = false;
            await client.SendAsync(message, whole.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (client.RecipientsAccepted && stage == SmtpStage.Envelope)
            {
                stage = SmtpStage.Message;
            }

            var code = e switch
            {
                SmtpCommandException command => (int)command.StatusCode,
                // MailKit's refusal of the credentials, whatever the mechanism.
                AuthenticationException => 535,
                // The server offers no sign-in at all: the settings are wrong, not the moment.
                NotSupportedException when stage == SmtpStage.SignIn => 504,
                _ => (int?)null,
            };
            if (code is null && !IsNoAnswer(e))
            {
                throw;
            }

            var (failureClass, category) = DeliveryRetryPolicy.ClassifySmtp(stage, code);
            throw new TicketEmailException(new DeliveryFailure(failureClass, category, Redaction.Scrub($"{stage}: {Describe(e)}"), code), e);
        }

        try
        {
            await client.DisconnectAsync(quit: true, CancellationToken.None);
        }
        catch (Exception e) when (IsNoAnswer(e))
        {
            // The message was accepted; a QUIT that fails changes nothing.
        }
    }

    /// <summary>A failure of the connection or of the server's protocol, as opposed to a defect here.</summary>
    private static bool IsNoAnswer(Exception e) =>
        e is SocketException or IOException or TimeoutException or OperationCanceledException or SmtpProtocolException
            or SslHandshakeException or ServiceNotConnectedException or ServiceNotAuthenticatedException or ProtocolException;

    private static string Describe(Exception e) => e switch
    {
        SmtpCommandException command => $"{(int)command.StatusCode} {command.Message}",
        SocketException socket => $"{socket.SocketErrorCode}",
        OperationCanceledException => "no answer in time",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>Notes when the server accepted a recipient: from then on the message itself is on its way.</summary>
    private sealed class StagedSmtpClient : SmtpClient
    {
        public bool RecipientsAccepted { get; set; }

        protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            RecipientsAccepted = true;
            base.OnRecipientAccepted(message, mailbox, response);
        }
    }
}
