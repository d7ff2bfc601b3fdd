using Cartrita.AppHost.Terminal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>How the AppHost ends: with a refusal's message rather than a stack trace, and only once what it started has stopped.</summary>
public static class CleanExitExtensions
{
    /// <summary>
    /// Runs the application until it stops. A refusal raised while it starts (a taken port, a missing prerequisite, an
    /// image that cannot be pulled) is printed as its message alone, with exit code 2. Either way the host is stopped
    /// before the process ends: a start cancelled by a failure returns from <c>Run</c> without stopping it, and DCP then
    /// cleaned up only after the process had gone, so an immediate <c>./cartrita up</c> found its own Redis still on the
    /// port. With <c>DcpPublisher:WaitForResourceCleanup</c> (appsettings.json) the stop waits until DCP reports every
    /// process and container gone. Only in the AppHost's own process.
    /// </summary>
    /// <param name="app">The built application.</param>
    public static void RunAndWaitForCleanup(this DistributedApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // Under Aspire.Hosting.Testing this Run is the test's own run of the application: its exceptions and its stop
        // belong to the test.
        if (!AppHostProcess.OwnsTheTerminal)
        {
            app.Run();
            return;
        }
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        try
        {
            app.Run();
        }
        catch (Exception ex) when (Refusals.TryPrint(ex))
        {
            Environment.ExitCode = Refusals.ExitCode;
        }
        finally
        {
            if (!lifetime.ApplicationStopped.IsCancellationRequested)
            {
                app.StopAsync().GetAwaiter().GetResult();
            }
            app.Dispose();
        }
    }
}
