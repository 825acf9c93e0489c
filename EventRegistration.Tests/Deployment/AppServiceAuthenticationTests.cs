using System.Text.Json;

namespace EventRegistration.Tests.Deployment;

/// <summary>
/// App Service Authentication (Entra ID) in front of the Function App (infra/app/api.bicep): off
/// unless an app registration's client id is given, and Admin__TrustAppServiceAuthentication true
/// exactly when it is on. The compiled template's conditions are evaluated for both cases by
/// <see cref="ArmExpression"/> (the few ARM functions they use), since nothing deploys here.
/// </summary>
public sealed class AppServiceAuthenticationTests
{
    private const string ClientId = "0b7f3c1e-2d4a-4e8b-9c6f-1a2b3c4d5e6f";

    [Fact]
    public void Off_by_default_no_authentication_and_principal_headers_not_trusted()
    {
        var parameters = Main.GetProperty("parameters");
        Assert.Equal("", parameters.GetProperty("entraClientId").GetProperty("defaultValue").GetString());
        Assert.Equal("securestring", parameters.GetProperty("entraClientSecret").GetProperty("type").GetString());
        Assert.Equal("", parameters.GetProperty("entraClientSecret").GetProperty("defaultValue").GetString());
        var file = File.ReadAllText(Path.Combine(BicepTests.Root, "infra", "main.parameters.json"));
        Assert.Contains("\"entraClientId\": { \"value\": \"${ENTRA_CLIENT_ID=}\" }", file, StringComparison.Ordinal);

        var deployment = Evaluate(clientId: "", secret: "");
        Assert.False(deployment.AuthenticationDeployed);
        Assert.Equal("false", deployment.TrustSetting);
        Assert.Equal("", deployment.SecretSetting);
    }

    [Fact]
    public void On_with_a_client_id_entra_sign_in_stays_anonymous_and_the_app_trusts_the_platform()
    {
        var deployment = Evaluate(ClientId, secret: "");
        Assert.True(deployment.AuthenticationDeployed);
        Assert.Equal("true", deployment.TrustSetting);

        var auth = AuthSettings().GetProperty("properties");
        Assert.True(auth.GetProperty("platform").GetProperty("enabled").GetBoolean());
        var validation = auth.GetProperty("globalValidation");
        Assert.Equal("AllowAnonymous", validation.GetProperty("unauthenticatedClientAction").GetString());
        Assert.False(validation.GetProperty("requireAuthentication").GetBoolean());
        Assert.False(validation.TryGetProperty("excludedPaths", out _));
        Assert.True(auth.GetProperty("login").GetProperty("tokenStore").GetProperty("enabled").GetBoolean());

        var entra = auth.GetProperty("identityProviders").GetProperty("azureActiveDirectory");
        Assert.True(entra.GetProperty("enabled").GetBoolean());
        var registration = entra.GetProperty("registration");
        Assert.Equal("[parameters('entraClientId')]", registration.GetProperty("clientId").GetString());
        Assert.Equal(ClientId, ArmExpression.Evaluate(registration.GetProperty("clientId").GetString()!, deployment.ApiParameters, new Dictionary<string, JsonElement>()));
        Assert.Equal("[format('{0}{1}/v2.0', environment().authentication.loginEndpoint, tenant().tenantId)]", registration.GetProperty("openIdIssuer").GetString());

        // Without a secret: no secret setting named, and none filled.
        Assert.Null(ArmExpression.Evaluate(registration.GetProperty("clientSecretSettingName").GetString()!, deployment.ApiParameters, new Dictionary<string, JsonElement>()));
        Assert.Equal("", deployment.SecretSetting);

        // The settings that turn trust on are written only after the authentication that strips forged headers.
        var settings = Resources(Api, "Microsoft.Web/sites/config").Single(r => r.GetProperty("name").GetString()!.Contains("'appsettings'", StringComparison.Ordinal));
        Assert.Contains(settings.GetProperty("dependsOn").EnumerateArray(), d => d.GetString()!.Contains("'authsettingsV2'", StringComparison.Ordinal));
    }

    [Fact]
    public void Client_secret_reaches_the_platform_only_as_a_key_vault_reference_named_by_its_setting()
    {
        const string secret = "not-a-real-secret~value";
        var deployment = Evaluate(ClientId, secret);
        Assert.True(deployment.AuthenticationDeployed);
        var registration = AuthSettings().GetProperty("properties").GetProperty("identityProviders").GetProperty("azureActiveDirectory").GetProperty("registration");
        Assert.Equal("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET",
            ArmExpression.Evaluate(registration.GetProperty("clientSecretSettingName").GetString()!, deployment.ApiParameters, new Dictionary<string, JsonElement>()));
        Assert.False(registration.TryGetProperty("clientSecret", out _));

        var reference = Assert.IsType<ArmExpression.Opaque>(deployment.SecretSettingRaw);
        Assert.StartsWith("format('@Microsoft.KeyVault(SecretUri={0})', reference(", reference.Text, StringComparison.Ordinal);
        Assert.Contains(".outputs.entraClientSecretUri.value", reference.Text, StringComparison.Ordinal);

        // The secret itself goes only into the vault.
        var vaultSecret = Resources(BicepTests.CompiledModule("keyvault"), "Microsoft.KeyVault/vaults/secrets")
            .Single(r => r.GetProperty("name").GetString()!.EndsWith("'entra-auth-client-secret')]", StringComparison.Ordinal));
        Assert.Equal("[parameters('entraClientSecret')]", vaultSecret.GetProperty("properties").GetProperty("value").GetString());
        Assert.Equal("[parameters('entraClientSecret')]", ModuleParameterText("keyvault", "entraClientSecret"));
        Assert.DoesNotContain("entraClientSecret'", Api.GetRawText(), StringComparison.Ordinal);
        // The app settings only ask whether a secret was given.
        Assert.DoesNotContain("parameters('entraClientSecret')",
            ModuleParameterText("api", "appSettings").Replace("empty(parameters('entraClientSecret'))", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void A_secret_without_a_client_id_turns_nothing_on()
    {
        var deployment = Evaluate(clientId: "", secret: "left-over");
        Assert.False(deployment.AuthenticationDeployed);
        Assert.Equal("false", deployment.TrustSetting);
        Assert.Equal("", deployment.SecretSetting);
    }

    [Fact]
    public void Readmes_say_how_to_set_it_up_with_the_roles_the_app_reads()
    {
        var infra = File.ReadAllText(Path.Combine(BicepTests.Root, "infra", "README.md"));
        var readme = File.ReadAllText(Path.Combine(BicepTests.Root, "README.md"));
        foreach (var text in new[] { infra, readme })
        {
            Assert.Contains("ENTRA_CLIENT_ID", text, StringComparison.Ordinal);
        }

        Assert.Contains("\"value\": \"organiser\"", infra, StringComparison.Ordinal);
        Assert.Contains("\"value\": \"operator\"", infra, StringComparison.Ordinal);
        Assert.Equal("organiser", EventRegistration.Functions.Admin.Access.AdminRoles.Name(EventRegistration.Functions.Admin.Access.AdminRole.Organiser));
        Assert.Equal("operator", EventRegistration.Functions.Admin.Access.AdminRoles.Name(EventRegistration.Functions.Admin.Access.AdminRole.Operator));
        Assert.Contains("never deployed", infra, StringComparison.Ordinal);
    }

    private static JsonElement Main => BicepTests.CompiledTemplate;

    private static JsonElement Api => BicepTests.CompiledModule("api");

    private static JsonElement AuthSettings() =>
        Resources(Api, "Microsoft.Web/sites/config").Single(r => r.GetProperty("name").GetString()!.Contains("'authsettingsV2'", StringComparison.Ordinal));

    private static List<JsonElement> Resources(JsonElement template, string type) =>
        template.GetProperty("resources").EnumerateArray().Where(r => r.GetProperty("type").GetString() == type).ToList();

    private static JsonElement ModuleParameters(string module) =>
        Main.GetProperty("resources").EnumerateArray()
            .Single(r => r.GetProperty("type").GetString() == "Microsoft.Resources/deployments" && r.GetProperty("name").GetString() == module)
            .GetProperty("properties").GetProperty("parameters");

    private static string ModuleParameterText(string module, string name)
    {
        var parameter = ModuleParameters(module).GetProperty(name);
        if (parameter.ValueKind == JsonValueKind.String)
        {
            return parameter.GetString()!;
        }

        var value = parameter.GetProperty("value");
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
    }

    private sealed record Deployment(bool AuthenticationDeployed, string? TrustSetting, object? SecretSettingRaw, Dictionary<string, object?> ApiParameters)
    {
        public string? SecretSetting => SecretSettingRaw as string;
    }

    /// <summary>main.bicep's settings and the api module's authsettingsV2 condition for the given parameter values.</summary>
    private static Deployment Evaluate(string clientId, string secret)
    {
        var mainParameters = new Dictionary<string, object?> { ["entraClientId"] = clientId, ["entraClientSecret"] = secret };
        var variables = Main.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        object? InMain(string expression) => ArmExpression.Evaluate(expression, mainParameters, variables);

        var settings = ModuleParameters("api").GetProperty("appSettings").GetProperty("value");
        var trust = InMain(settings.GetProperty("Admin__TrustAppServiceAuthentication").GetString()!);
        var secretSetting = InMain(settings.GetProperty("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET").GetString()!);

        var apiParameters = new Dictionary<string, object?>();
        foreach (var name in new[] { "entraClientId", "entraCredentialSettingName" })
        {
            var parameter = ModuleParameters("api").GetProperty(name);
            // A conditional module parameter compiles to if(…, createObject('value', a), createObject('value', b)).
            apiParameters[name] = parameter.ValueKind == JsonValueKind.String
                ? ((Dictionary<string, object?>)InMain(parameter.GetString()!)!)["value"]
                : InMain(parameter.GetProperty("value").GetString()!);
        }

        var condition = ArmExpression.Evaluate(AuthSettings().GetProperty("condition").GetString()!, apiParameters, new Dictionary<string, JsonElement>());
        return new Deployment(Assert.IsType<bool>(condition), trust as string, secretSetting, apiParameters);
    }
}

/// <summary>
/// Just enough of ARM's template expression language to evaluate the conditions above: literals,
/// parameters(), variables(), if/not/and/or/empty/equals/createObject. Any other function (reference,
/// format, environment…) is kept as <see cref="Opaque"/> text, evaluated only where a test looks at it.
/// </summary>
internal sealed class ArmExpression
{
    public sealed record Opaque(string Text);

    private readonly string _text;
    private readonly IReadOnlyDictionary<string, object?> _parameters;
    private readonly IReadOnlyDictionary<string, JsonElement> _variables;
    private int _position;

    private ArmExpression(string text, IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, JsonElement> variables)
    {
        _text = text;
        _parameters = parameters;
        _variables = variables;
    }

    public static object? Evaluate(string value, IReadOnlyDictionary<string, object?> parameters, IReadOnlyDictionary<string, JsonElement> variables)
    {
        if (!value.StartsWith('[') || !value.EndsWith(']'))
        {
            return value;
        }

        var expression = new ArmExpression(value[1..^1], parameters, variables);
        var result = expression.Parse();
        Assert.True(expression._position == expression._text.Length, $"unparsed rest of {value}");
        return result;
    }

    private object? Parse()
    {
        SkipSpaces();
        if (_text[_position] == '\'')
        {
            var end = _position + 1;
            var literal = new System.Text.StringBuilder();
            while (true)
            {
                if (_text[end] == '\'' && end + 1 < _text.Length && _text[end + 1] == '\'')
                {
                    literal.Append('\'');
                    end += 2;
                }
                else if (_text[end] == '\'')
                {
                    break;
                }
                else
                {
                    literal.Append(_text[end++]);
                }
            }

            _position = end + 1;
            return literal.ToString();
        }

        var start = _position;
        while (_position < _text.Length && (char.IsLetterOrDigit(_text[_position]) || _text[_position] == '_'))
        {
            _position++;
        }

        var name = _text[start.._position];
        if (name is "true" or "false")
        {
            return name == "true";
        }

        Assert.True(_position < _text.Length && _text[_position] == '(', $"unexpected token at {start} in {_text}");
        _position++;
        var arguments = new List<(int Start, object? Value)>();
        SkipSpaces();
        while (_text[_position] != ')')
        {
            var argumentStart = _position;
            arguments.Add((argumentStart, Parse()));
            SkipSpaces();
            if (_text[_position] == ',')
            {
                _position++;
            }
        }

        _position++;
        var hasAccessor = _position < _text.Length && _text[_position] is '.' or '[';
        while (_position < _text.Length && _text[_position] == '.')
        {
            _position++;
            while (_position < _text.Length && (char.IsLetterOrDigit(_text[_position]) || _text[_position] == '_'))
            {
                _position++;
            }
        }

        if (hasAccessor)
        {
            return new Opaque(_text[start.._position]);
        }

        var values = arguments.Select(a => a.Value).ToList();
        return name switch
        {
            "parameters" => _parameters.TryGetValue((string)values[0]!, out var parameter) ? parameter : new Opaque(_text[start.._position]),
            "variables" => Evaluate(Variable((string)values[0]!), _parameters, _variables),
            "if" => values[0] is true ? values[1] : values[0] is false ? values[2] : new Opaque(_text[start.._position]),
            "not" => values[0] is bool b ? !b : new Opaque(_text[start.._position]),
            "and" => values.All(v => v is true),
            "or" => values.Any(v => v is true),
            "empty" => values[0] switch
            {
                string s => s.Length == 0,
                null => true,
                _ => new Opaque(_text[start.._position]),
            },
            "equals" => Equals(values[0], values[1]),
            "null" => null,
            "createObject" => Enumerable.Range(0, values.Count / 2).ToDictionary(i => (string)values[2 * i]!, i => values[2 * i + 1]),
            _ => new Opaque(_text[start.._position]),
        };
    }

    private string Variable(string name)
    {
        var variable = _variables[name];
        return variable.ValueKind switch
        {
            JsonValueKind.String => variable.GetString()!,
            JsonValueKind.True => "[true]",
            JsonValueKind.False => "[false]",
            _ => throw new InvalidOperationException($"variable {name} is not a scalar"),
        };
    }

    private void SkipSpaces()
    {
        while (_position < _text.Length && _text[_position] == ' ')
        {
            _position++;
        }
    }
}
