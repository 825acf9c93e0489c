using System.ComponentModel.DataAnnotations;

namespace EventRegistration.Functions.Infrastructure.WhatsApp;

/// <summary>App settings <c>WhatsApp__*</c>: the Cloud API (Meta Graph) number that sends tickets.</summary>
public sealed class WhatsAppOptions
{
    public const string Section = "WhatsApp";

    [Required(ErrorMessage = "WhatsApp__BaseUrl is required.")]
    [Url(ErrorMessage = "WhatsApp__BaseUrl must be an absolute URL.")]
    public string BaseUrl { get; set; } = "https://graph.facebook.com/";

    [Required(ErrorMessage = "WhatsApp__ApiVersion is required.")]
    [RegularExpression(@"^v[0-9]{1,3}\.[0-9]{1,3}$", ErrorMessage = "WhatsApp__ApiVersion must look like v21.0.")]
    public string ApiVersion { get; set; } = "v21.0";

    [Required(ErrorMessage = "WhatsApp__PhoneNumberId is required (the sending number's id, not the number).")]
    [RegularExpression("^[0-9]{5,30}$", ErrorMessage = "WhatsApp__PhoneNumberId must be the numeric phone-number id.")]
    public string PhoneNumberId { get; set; } = "";

    [Required(ErrorMessage = "WhatsApp__AccessToken is required.")]
    public string AccessToken { get; set; } = "";

    [Required(ErrorMessage = "WhatsApp__TemplateName is required.")]
    [RegularExpression("^[a-z0-9_]{1,512}$", ErrorMessage = "WhatsApp__TemplateName must be a template name (lowercase letters, digits, underscores).")]
    public string TemplateName { get; set; } = "";

    [Required(ErrorMessage = "WhatsApp__TemplateLanguage is required.")]
    [RegularExpression("^[a-z]{2,3}(_[A-Z]{2})?$", ErrorMessage = "WhatsApp__TemplateLanguage must be a language code such as en or en_US.")]
    public string TemplateLanguage { get; set; } = "en";

    /// <summary>Per request. Neither call is retried by the pipeline, so this bounds one attempt.</summary>
    [Range(1, 60, ErrorMessage = "WhatsApp__TimeoutSeconds must be between 1 and 60.")]
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// The number's throughput at WhatsApp (80 by default, 1,000 after Meta's automatic upgrade):
    /// every instance together stays under it (Tickets/WhatsAppSendPace.cs).
    /// </summary>
    [Range(1, 1000, ErrorMessage = "WhatsApp__MessagesPerSecond must be between 1 and 1000.")]
    public int MessagesPerSecond { get; set; } = 80;
}
