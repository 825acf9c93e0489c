using Microsoft.Extensions.Configuration;

namespace EventRegistration.Functions.Infrastructure.Configuration;

/// <summary>
/// Razorpay's webhook secrets are any text the Dashboard accepts, commas included, so a list of
/// them cannot live in one comma-separated setting. Each secret is its own setting, a
/// configuration array: <c>Razorpay__WebhookSecrets__0</c> (current), <c>__1</c> (the previous one
/// during a rotation), … The old single setting <c>Razorpay__WebhookSecrets</c> is still read when
/// it holds one secret without a comma; a comma in it is refused at start-up, because it cannot be
/// told apart from the old list form. An empty numbered entry is skipped.
/// </summary>
public static class WebhookSecretSettings
{
    public const string Key = RazorpayOptions.Section + ":WebhookSecrets";
    public static readonly string Setting = AppSettings.SettingName(RazorpayOptions.Section, "WebhookSecrets");

    public static IReadOnlyList<string> Read(IConfiguration configuration) => Parse(configuration).Secrets;

    /// <summary>What is wrong with the setting, each naming the setting and never showing a secret.</summary>
    public static IReadOnlyList<string> Problems(IConfiguration configuration) => Parse(configuration).Problems;

    private static (IReadOnlyList<string> Secrets, IReadOnlyList<string> Problems) Parse(IConfiguration configuration)
    {
        var section = configuration.GetSection(Key);
        var single = string.IsNullOrEmpty(section.Value) ? null : section.Value;
        var items = section.GetChildren().ToList();
        var problems = new List<string>();
        if (single is not null && items.Count > 0)
        {
            return ([], [$"{Setting} is set both as one value and as {Setting}__0, __1, …: keep only the numbered settings."]);
        }

        if (single is not null)
        {
            if (single.Contains(',', StringComparison.Ordinal))
            {
                return ([], [$"{Setting} holds a comma. A secret may contain commas, so a list is no longer read from one setting: set each secret as its own setting, {Setting}__0 (current) and {Setting}__1 (previous, during a rotation)."]);
            }

            return WhitespaceProblem(Setting, single) is { } problem ? ([], [problem]) : ([single], []);
        }

        var secrets = new List<(int Index, string Secret)>();
        foreach (var item in items)
        {
            var name = $"{Setting}__{item.Key}";
            if (!int.TryParse(item.Key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
            {
                problems.Add($"{name} is not a setting the app reads: number the secrets {Setting}__0, __1, ….");
            }
            else if (string.IsNullOrEmpty(item.Value))
            {
                // An empty slot is no secret, so skipping it is unambiguous: a deployment keeps the
                // rotation slot (__1) set to nothing outside a rotation.
            }
            else if (WhitespaceProblem(name, item.Value) is { } problem)
            {
                problems.Add(problem);
            }
            else
            {
                secrets.Add((index, item.Value));
            }
        }

        if (problems.Count == 0 && secrets.Count == 0)
        {
            problems.Add($"{Setting}__0 is required: the webhook secret set in the Razorpay Dashboard.");
        }

        return (problems.Count > 0 ? [] : secrets.OrderBy(s => s.Index).Select(s => s.Secret).ToList(), problems);
    }

    /// <summary>A space or line break at either end is a copy-paste accident far more often than part of the secret: every signature would fail.</summary>
    private static string? WhitespaceProblem(string name, string secret) =>
        secret.Length > 0 && (char.IsWhiteSpace(secret[0]) || char.IsWhiteSpace(secret[^1]))
            ? $"{name} begins or ends with white space (a line break copied with it?); set the secret exactly."
            : null;
}
