using System.ComponentModel.DataAnnotations;
using MailKit.Security;
using MimeKit;

namespace EventRegistration.Functions.EmailFallback;

/// <summary>
/// App settings <c>EmailFallback__*</c>: the SMTP submission server that sends a ticket by e-mail
/// when WhatsApp reports the member's number undeliverable. Without <see cref="Host"/> there is no
/// fallback (the anomaly says so). The password is a secret (Key Vault in Azure) and is never logged.
/// </summary>
public sealed class EmailFallbackOptions
{
    public const string Section = "EmailFallback";

    /// <summary>The SMTP submission host (e.g. smtp.azurecomm.net, smtp.office365.com, smtp.sendgrid.net); empty turns the fallback off.</summary>
    public string Host { get; set; } = "";

    [Range(1, 65535, ErrorMessage = "EmailFallback__Port must be between 1 and 65535 (587 for STARTTLS submission, 465 for TLS on connect).")]
    public int Port { get; set; } = 587;

    /// <summary>StartTls (required, the default), SslOnConnect (port 465), StartTlsWhenAvailable, or None (a local test server only).</summary>
    public string Security { get; set; } = nameof(SecureSocketOptions.StartTls);

    /// <summary>Sign-in name; empty means the server takes mail without signing in.</summary>
    public string UserName { get; set; } = "";

    public string Password { get; set; } = "";

    /// <summary>The sender, as the provider allows it (a verified domain or mailbox): <c>tickets@example.org</c> or <c>Tickets &lt;tickets@example.org&gt;</c>.</summary>
    public string From { get; set; } = "";

    /// <summary>
    /// The whole SMTP exchange of one e-mail (connect, sign-in, send) is cut off after this long.
    /// Kept below Tickets__ResendUnfinishedAfterSeconds' least value (30), so an attempt whose outcome
    /// is unknown has certainly ended before it may be repeated.
    /// </summary>
    [Range(5, 25, ErrorMessage = "EmailFallback__TimeoutSeconds must be between 5 and 25.")]
    public int TimeoutSeconds { get; set; } = 20;

    public bool IsConfigured => Host.Trim().Length > 0;

    public SecureSocketOptions SecureSocket => Enum.Parse<SecureSocketOptions>(Security, ignoreCase: true);

    public MailboxAddress Sender => MailboxAddress.Parse(From);

    /// <summary>Problems with the settings as a whole, each naming its setting; none when the fallback is off.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (!IsConfigured)
        {
            return problems;
        }

        if (Host.Any(char.IsWhiteSpace) || Uri.CheckHostName(Host) == UriHostNameType.Unknown)
        {
            problems.Add("EmailFallback__Host must be a host name or IP address.");
        }

        if (!Enum.TryParse<SecureSocketOptions>(Security, ignoreCase: true, out var security) || security == SecureSocketOptions.Auto
            || !Enum.IsDefined(security) || int.TryParse(Security, out _))
        {
            problems.Add("EmailFallback__Security must be StartTls, SslOnConnect, StartTlsWhenAvailable or None.");
        }

        if (!MailboxAddress.TryParse(From, out var from) || !from.Address.Contains('@'))
        {
            problems.Add("EmailFallback__From is required when EmailFallback__Host is set: the sender address, e.g. tickets@example.org.");
        }

        if (UserName.Length > 0 != Password.Length > 0)
        {
            problems.Add("EmailFallback__UserName and EmailFallback__Password go together: set both, or neither for a server that takes mail without signing in.");
        }

        return problems;
    }
}
