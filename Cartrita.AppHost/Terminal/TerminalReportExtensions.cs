using Cartrita.AppHost.Hosting;
using Cartrita.AppHost.Hosting.LocalProcesses;
using Cartrita.AppHost.Parameters;
using Cartrita.AppHost.Infrastructure;
using Cartrita.AppHost.Terminal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Aspire.Hosting;

/// <summary>The AppHost's terminal: what a user of <c>./cartrita up</c> (or F5) reads while the stack starts.</summary>
public static class TerminalReportExtensions
{
    /// <summary>
    /// From the moment the AppHost starts (run mode), prints each resource's state changes, then the URLs once every
    /// resource is healthy or finished; a resource that fails while the stack starts is reported with the reason, its
    /// last log lines and the fix, and the AppHost stops with exit code 1 (unless
    /// <see cref="CartritaOptions.StartupOptions.KeepOpenOnFailure"/>, or an IDE or the Aspire CLI runs it). Subscribe after the preflight checks: a refusal prints alone.
    /// Only in the AppHost's own process: a test host running the AppHost waits for its resources itself.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="options">The resolved options.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder ReportStartupInTerminal(this IDistributedApplicationBuilder builder, CartritaOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if (!builder.ExecutionContext.IsRunMode || !AppHostProcess.OwnsTheTerminal)
        {
            return builder;
        }
        if (options.Startup.TimeoutSeconds <= 0)
        {
            throw new DistributedApplicationException(
                $"Cartrita:Startup:TimeoutSeconds is {options.Startup.TimeoutSeconds}: give the seconds a resource may take to be ready, for example 180 (the default).");
        }
        var keepOpen = options.Startup.KeepOpenOnFailure ?? LaunchedByATool(builder.Configuration);
        // A start cancelled on purpose (a failure reported here, or Ctrl+C while starting) makes the host log "Hosting
        // failed to start" with the cancellation's stack trace; the terminal has said why already. Real host errors stay.
        var stopping = CancellationToken.None;
        builder.Services.AddLogging(logging => logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level => level >= LogLevel.Warning && !stopping.IsCancellationRequested));

        builder.Services.TryAddSingleton<ResourceConsoles>();
        builder.Services.TryAddSingleton<SecretMask>();
        builder.Eventing.Subscribe<BeforeStartEvent>((@event, _) =>
        {
            var services = @event.Services;
            stopping = services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
            var terminal = new StartupTerminal(Console.Out, DashboardLoginUrl(builder.Configuration));
            terminal.Header(options.Infrastructure == InfrastructureMode.Containers
                ? $"PostgreSQL and Redis as {options.ContainerRuntime} containers"
                : "PostgreSQL and Redis as local processes");
            // Started here rather than as a hosted service: hosted services start only after every resource has been
            // created, and a resource can wait for its dependencies (or an image pull) for as long as they take.
            new StartupMonitor(
                @event.Model,
                services.GetRequiredService<ResourceNotificationService>(),
                services.GetRequiredService<ResourceConsoles>(),
                services.GetRequiredService<SecretMask>(),
                services.GetRequiredService<IHostApplicationLifetime>(),
                options.Startup,
                keepOpen,
                new FailureContext(options.ContainerRuntime, Path.Combine(options.DataDirectory, "logs"), CurrentUser.IsRoot ? "" : "sudo "),
                terminal).Start();
            return Task.CompletedTask;
        });
        return builder;
    }

    // Visual Studio, VS Code (a debug session) and the Aspire CLI show the dashboard themselves: a failure should leave it
    // up for the user to look at, not close it under them.
    private static bool LaunchedByATool(IConfiguration configuration) =>
        System.Diagnostics.Debugger.IsAttached
        || !string.IsNullOrEmpty(configuration["DEBUG_SESSION_PORT"])
        || !string.IsNullOrEmpty(configuration["ASPIRE_BACKCHANNEL_PATH"]);

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
