using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EventRegistration.Functions.Infrastructure.Configuration;

/// <summary>
/// How app settings become options, and how start-up reports the broken ones: every section is
/// bound leniently (a value that does not convert is left at its default and reported, instead of
/// the configuration binder throwing at the first one and hiding the rest), validated by its data
/// annotations and its own rules, and checked at start-up by ONE validator that names every broken
/// setting of every section in one message, each once. Register options only through
/// <see cref="AddAppSettings{T}"/>; a <c>ValidateOnStart</c> of its own would report its failures a
/// second time, in a second exception.
/// </summary>
public static class AppSettings
{
    /// <summary>Binds <typeparamref name="T"/> from <paramref name="section"/> and enrols it in the start-up check. Add rules with <c>Validate</c>.</summary>
    public static OptionsBuilder<T> AddAppSettings<T>(this IServiceCollection services, IConfiguration configuration, string section) where T : class
    {
        if (!services.Any(d => d.ServiceType == typeof(IValidateOptions<StartupSettings>)))
        {
            services.AddSingleton<IValidateOptions<StartupSettings>, StartupSettingsValidator>();
            services.AddOptions<StartupSettings>().ValidateOnStart();
        }

        services.AddSingleton(new EnrolledSection(section, provider => provider.GetRequiredService<IOptionsFactory<T>>().Create(Options.DefaultName)));
        services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(configuration, section));
        return services.AddOptions<T>().Configure(options => BindLeniently(configuration.GetSection(section), options));
    }

    /// <summary>
    /// The section bound but not validated, for wiring that other libraries validate at start-up
    /// (a resilience pipeline's timeouts): reading the validated options there would report a
    /// broken setting a second time, in a second exception. Clamp what is read to what the wiring
    /// accepts; the start-up check names the setting.
    /// </summary>
    public static T Unvalidated<T>(IConfiguration configuration, string section) where T : class, new()
    {
        var options = new T();
        BindLeniently(configuration.GetSection(section), options);
        return options;
    }

    /// <summary>A rule that can name several problems at once, each a message of its own.</summary>
    public static OptionsBuilder<T> ValidateAll<T>(this OptionsBuilder<T> builder, Func<T, IReadOnlyList<string>> problems) where T : class
    {
        builder.Services.AddSingleton<IValidateOptions<T>>(new RuleValidator<T>(problems));
        return builder;
    }

    /// <summary>The name an operator sets: <c>Section__Key</c> (environment and app-setting form).</summary>
    public static string SettingName(string section, string key) => section.Length == 0 ? key : section + "__" + key;

    private static IEnumerable<PropertyInfo> ScalarProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && IsScalar(p.PropertyType));

    private static bool IsScalar(Type type) =>
        type == typeof(string) || type == typeof(int) || type == typeof(long) || type == typeof(bool) || type == typeof(TimeSpan);

    private static void BindLeniently(IConfigurationSection section, object options)
    {
        foreach (var property in ScalarProperties(options.GetType()))
        {
            var value = section[property.Name];
            if (value is not null && TryConvert(value, property.PropertyType, out var converted))
            {
                property.SetValue(options, converted);
            }
        }
    }

    private static bool TryConvert(string value, Type type, out object? converted)
    {
        converted = null;
        if (type == typeof(string))
        {
            converted = value;
            return true;
        }

        var text = value.Trim();
        bool ok;
        if (type == typeof(int))
        {
            ok = int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n);
            converted = n;
        }
        else if (type == typeof(long))
        {
            ok = long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n);
            converted = n;
        }
        else if (type == typeof(bool))
        {
            ok = bool.TryParse(text, out var b);
            converted = b;
        }
        else
        {
            ok = TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var t);
            converted = t;
        }

        return ok;
    }

    private static string Expected(Type type) =>
        type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(bool) ? "true or false"
        : "a time span such as 00:05:00";

    /// <summary>Conversion failures (named, the value never echoed: it may be a secret), then data annotations of the properties that did convert.</summary>
    private sealed class SectionValidator<T>(IConfiguration configuration, string section) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var failures = new List<string>();
            var unconverted = new HashSet<string>(StringComparer.Ordinal);
            var values = configuration.GetSection(section);
            foreach (var property in ScalarProperties(typeof(T)))
            {
                var value = values[property.Name];
                if (value is not null && !TryConvert(value, property.PropertyType, out _))
                {
                    unconverted.Add(property.Name);
                    failures.Add($"{SettingName(section, property.Name)} must be {Expected(property.PropertyType)}.");
                }
            }

            var results = new List<ValidationResult>();
            Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
            failures.AddRange(results
                .Where(r => !r.MemberNames.Any(unconverted.Contains))
                .Select(r => r.ErrorMessage ?? $"{SettingName(section, string.Join(", ", r.MemberNames))} is invalid."));
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }

    private sealed class RuleValidator<T>(Func<T, IReadOnlyList<string>> problems) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            problems(options) is { Count: > 0 } found ? ValidateOptionsResult.Fail(found) : ValidateOptionsResult.Success;
    }

    private sealed record EnrolledSection(string Section, Func<IServiceProvider, object> Create);

    /// <summary>Marker: the options whose start-up validation checks every enrolled section.</summary>
    internal sealed class StartupSettings;

    private sealed class StartupSettingsValidator(IServiceProvider provider) : IValidateOptions<StartupSettings>
    {
        public ValidateOptionsResult Validate(string? name, StartupSettings options)
        {
            var failures = new List<string>();
            foreach (var section in provider.GetServices<EnrolledSection>())
            {
                try
                {
                    section.Create(provider);
                }
                catch (OptionsValidationException e)
                {
                    failures.AddRange(e.Failures);
                }
            }

            failures = failures.Distinct(StringComparer.Ordinal).ToList();
            if (failures.Count == 0)
            {
                return ValidateOptionsResult.Success;
            }

            // One failure, one message: the host prints a single exception, so every broken setting is in it once.
            return ValidateOptionsResult.Fail(
                $"The app cannot start: {failures.Count} app setting{(failures.Count == 1 ? " is" : "s are")} missing or malformed."
                + string.Concat(failures.Select(f => Environment.NewLine + " - " + f)));
        }
    }
}
