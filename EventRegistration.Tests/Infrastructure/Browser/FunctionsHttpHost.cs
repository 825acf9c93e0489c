using System.Collections.Concurrent;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EventRegistration.Tests.Infrastructure.Browser;

/// <summary>
/// The app's HTTP functions served on a real port of 127.0.0.1, for a browser. It plays the part
/// of the Functions host (which cannot run here): it reads the build's <c>functions.metadata</c>
/// and <c>host.json</c>, maps each HTTP trigger's route, methods and auth level under the route
/// prefix, and invokes the function's entry point on an instance created, per request, in a DI
/// scope of the app's own services (the same AddEventRegistration call as Program.cs). A function
/// that is not in functions.metadata, or whose route or method differs there, is not reachable:
/// the browser gets 404 or 405, as it would from Azure.
/// </summary>
public sealed class FunctionsHttpHost : IAsyncDisposable
{
    private readonly WebApplication _web;
    private readonly ConcurrentQueue<Exception> _failures = new();

    private FunctionsHttpHost(WebApplication web, string functionKey, IReadOnlyList<HttpFunction> functions)
    {
        _web = web;
        FunctionKey = functionKey;
        Functions = functions;
    }

    /// <summary>http://127.0.0.1:port, without a trailing slash.</summary>
    public string BaseUrl { get; private set; } = "";

    /// <summary>The key a <c>Function</c>- or <c>Admin</c>-level route asks for (<c>x-functions-key</c> or <c>?code=</c>).</summary>
    public string FunctionKey { get; }

    /// <summary>Every HTTP function read from functions.metadata and served.</summary>
    public IReadOnlyList<HttpFunction> Functions { get; }

    /// <summary>Exceptions functions threw (answered 500, as the host does). A browser test asserts there were none.</summary>
    public IReadOnlyCollection<Exception> Failures => _failures;

    /// <summary>Starts serving the functions of <paramref name="appServices"/> on a free port of 127.0.0.1.</summary>
    public static async Task<FunctionsHttpHost> StartAsync(IServiceProvider appServices)
    {
        var metadata = FunctionsMetadata.Load();
        var functionKey = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = Environments.Development });
        builder.WebHost.UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        // Executors for MVC results (ContentResult, FileContentResult…), as the host's ASP.NET Core integration has them.
        builder.Services.AddMvcCore();
        var web = builder.Build();

        var host = new FunctionsHttpHost(web, functionKey, metadata.Functions);
        foreach (var function in metadata.Functions)
        {
            var pattern = "/" + string.Join('/', new[] { metadata.RoutePrefix, function.Route }.Where(s => s.Length > 0));
            web.MapMethods(pattern, function.Methods.Select(m => m.ToUpperInvariant()), context => host.InvokeAsync(context, function, appServices))
                .WithDisplayName(function.Name);
        }

        await web.StartAsync();
        var address = web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        host.BaseUrl = address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
        return host;
    }

    private async Task InvokeAsync(HttpContext context, HttpFunction function, IServiceProvider appServices)
    {
        if (function.AuthLevel is not "anonymous" && !HasKey(context.Request))
        {
            // What the Functions host answers for a keyed route without its key: 401, no body.
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        try
        {
            await using var scope = appServices.CreateAsyncScope();
            var instance = ActivatorUtilities.CreateInstance(scope.ServiceProvider, function.Method.DeclaringType!);
            var arguments = function.Method.GetParameters().Select(p => Bind(p, context)).ToArray();
            var returned = function.Method.Invoke(instance, arguments);
            var result = await Unwrap(returned);
            switch (result)
            {
                case IActionResult action:
                    await action.ExecuteResultAsync(new ActionContext(context, context.GetRouteData(), new Microsoft.AspNetCore.Mvc.Abstractions.ActionDescriptor()));
                    break;
                case null:
                    context.Response.StatusCode = StatusCodes.Status204NoContent;
                    break;
                default:
                    throw new NotSupportedException($"{function.Name} returned {result.GetType().Name}; this host serves IActionResult answers.");
            }
        }
        catch (Exception exception)
        {
            var thrown = exception is TargetInvocationException { InnerException: { } inner } ? inner : exception;
            _failures.Enqueue(thrown);
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            }
        }
    }

    private bool HasKey(HttpRequest request)
    {
        var presented = request.Headers["x-functions-key"].FirstOrDefault() ?? request.Query["code"].FirstOrDefault();
        return presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(FunctionKey));
    }

    /// <summary>The worker's binding for the parameter kinds this app's HTTP functions take.</summary>
    private static object? Bind(ParameterInfo parameter, HttpContext context)
    {
        if (parameter.ParameterType == typeof(HttpRequest))
        {
            return context.Request;
        }

        if (parameter.ParameterType == typeof(CancellationToken))
        {
            return context.RequestAborted;
        }

        if (parameter.ParameterType == typeof(string))
        {
            // Route values first, then the query string: the worker's binding data holds both.
            return context.GetRouteValue(parameter.Name!)?.ToString() ?? context.Request.Query[parameter.Name!].FirstOrDefault();
        }

        throw new NotSupportedException(
            $"Parameter '{parameter.Name}' of {parameter.Member.Name} is a {parameter.ParameterType.Name}; teach FunctionsHttpHost.Bind to bind it as the worker does.");
    }

    private static async Task<object?> Unwrap(object? returned)
    {
        switch (returned)
        {
            case Task task:
                await task;
                var type = task.GetType();
                return type.IsGenericType ? type.GetProperty(nameof(Task<object>.Result))!.GetValue(task) : null;
            default:
                var valueTaskType = returned?.GetType();
                if (valueTaskType is { IsGenericType: true } && valueTaskType.GetGenericTypeDefinition() == typeof(ValueTask<>))
                {
                    var asTask = (Task)valueTaskType.GetMethod(nameof(ValueTask<object>.AsTask))!.Invoke(returned, null)!;
                    return await Unwrap(asTask);
                }

                return returned;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _web.StopAsync();
        await _web.DisposeAsync();
    }
}

/// <summary>One HTTP trigger as functions.metadata declares it, with the method the worker would call.</summary>
public sealed record HttpFunction(string Name, string Route, IReadOnlyList<string> Methods, string AuthLevel, MethodInfo Method);

/// <summary>The build output's functions.metadata and host.json's route prefix: what the Functions host binds.</summary>
public sealed record FunctionsMetadata(string RoutePrefix, IReadOnlyList<HttpFunction> Functions)
{
    public static FunctionsMetadata Load()
    {
        var directory = AppContext.BaseDirectory;
        var metadataPath = Path.Combine(directory, "functions.metadata");
        if (!File.Exists(metadataPath))
        {
            throw new InvalidOperationException($"{metadataPath} is missing: the Functions project's build writes it (Microsoft.Azure.Functions.Worker.Sdk).");
        }

        var assembly = typeof(EventRegistration.Functions.EventRegistrationServices).Assembly;
        var functions = new List<HttpFunction>();
        using var document = JsonDocument.Parse(File.ReadAllText(metadataPath));
        foreach (var function in document.RootElement.EnumerateArray())
        {
            var trigger = function.GetProperty("bindings").EnumerateArray()
                .SingleOrDefault(b => b.GetProperty("type").GetString() == "httpTrigger");
            if (trigger.ValueKind == JsonValueKind.Undefined)
            {
                continue;
            }

            var name = function.GetProperty("name").GetString()!;
            var entryPoint = function.GetProperty("entryPoint").GetString()!;
            var split = entryPoint.LastIndexOf('.');
            var type = assembly.GetType(entryPoint[..split], throwOnError: true)!;
            var method = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)
                .Single(m => m.Name == entryPoint[(split + 1)..] && m.GetCustomAttribute<FunctionAttribute>()?.Name == name);
            var route = trigger.TryGetProperty("route", out var r) && r.GetString() is { } routeText ? routeText : name;
            var methods = trigger.TryGetProperty("methods", out var m) && m.ValueKind == JsonValueKind.Array
                ? m.EnumerateArray().Select(x => x.GetString()!).ToList()
                : ["get", "post", "put", "delete", "patch", "head", "options"];
            var authLevel = trigger.TryGetProperty("authLevel", out var a) ? a.GetString()!.ToLowerInvariant() : "function";
            functions.Add(new HttpFunction(name, route.Trim('/'), methods, authLevel, method));
        }

        return new FunctionsMetadata(ReadRoutePrefix(Path.Combine(directory, "host.json")), functions);
    }

    private static string ReadRoutePrefix(string hostJsonPath)
    {
        if (!File.Exists(hostJsonPath))
        {
            return "api";
        }

        using var hostJson = JsonDocument.Parse(File.ReadAllText(hostJsonPath));
        return hostJson.RootElement.TryGetProperty("extensions", out var extensions)
               && extensions.TryGetProperty("http", out var http)
               && http.TryGetProperty("routePrefix", out var prefix)
            ? prefix.GetString()!.Trim('/')
            : "api";
    }
}
