using EventRegistration.Functions;
using EventRegistration.Functions.Infrastructure.Telemetry;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

if (CommandLine.Handles(args))
{
    return await CommandLine.RunAsync(args);
}

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddApplicationInsightsTelemetryWorkerService().ConfigureFunctionsApplicationInsights();
builder.Services.AddEventRegistrationMetricsExport(builder.Configuration);
builder.Services.AddEventRegistration(builder.Configuration);
builder.Build().Run();
return 0;
