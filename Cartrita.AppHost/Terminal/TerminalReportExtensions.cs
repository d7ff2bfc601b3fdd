using Cartrita.AppHost.Hosting.LocalProcesses;
using Cartrita.AppHost.Infrastructure;
using Cartrita.AppHost.Terminal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>The AppHost's terminal: what a user of <c>./cartrita up</c> (or F5) reads while the stack starts.</summary>
public static class TerminalReportExtensions
{
    /// <summary>
    /// From the moment the AppHost starts (run mode), prints each resource's state changes, then the URLs once every
    /// resource is healthy or finished; a resource that fails while the stack starts is reported with the reason, its
    /// last log lines and the fix, and the AppHost stops with exit code 1 (unless
    /// <see cref="StartupOptions.KeepOpenOnFailure"/>). Subscribe after the preflight checks: a refusal prints alone.
    /// Only in the AppHost's own process: a test host running the AppHost waits for its resources itself.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="options">The resolved options.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder ReportStartupInTerminal(this IDistributedApplicationBuilder builder, CartritaOptions options)
    {
        if (!builder.ExecutionContext.IsRunMode || !AppHostProcess.OwnsTheTerminal)
        {
            return builder;
        }
        builder.Eventing.Subscribe<BeforeStartEvent>((@event, _) =>
        {
            var services = @event.Services;
            var terminal = new StartupTerminal(Console.Out, DashboardLoginUrl(builder.Configuration));
            terminal.Header(options.Infrastructure == InfrastructureMode.Containers
                ? $"PostgreSQL and Redis as {options.ContainerRuntime} containers"
                : "PostgreSQL and Redis as local processes");
            // Started here rather than as a hosted service: hosted services start only after every resource has been
            // created, and a resource can wait for its dependencies (or an image pull) for as long as they take.
            new StartupMonitor(
                @event.Model,
                services.GetRequiredService<ResourceNotificationService>(),
                services.GetRequiredService<ResourceLoggerService>(),
                services.GetRequiredService<IHostApplicationLifetime>(),
                options.Startup,
                new FailureContext(options.ContainerRuntime, Path.Combine(options.DataDirectory, "logs"), ServiceAccount.IsRoot ? "" : "sudo "),
                terminal).Start();
            return Task.CompletedTask;
        });
        return builder;
    }

    // The dashboard's first URL with its browser token, as Aspire's own startup summary prints it.
    private static string? DashboardLoginUrl(IConfiguration configuration)
    {
        var first = configuration["ASPNETCORE_URLS"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is null || !Uri.TryCreate(first, UriKind.Absolute, out var url))
        {
            return null;
        }
        var token = configuration["AppHost:BrowserToken"];
        var root = url.GetLeftPart(UriPartial.Authority);
        return string.IsNullOrEmpty(token) ? root : $"{root}/login?t={token}";
    }
}
