using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cartrita.Tests;

/// <summary>Shared arguments and waits for tests that run the AppHost.</summary>
internal static class TestStack
{
    public static readonly string[] ResourceNames = ["postgres", "cartrita", "redis", "ai-orchestrator", "frontend"];

    public const int BackupsKept = 3;

    private static readonly string[] FailedStates = [KnownResourceStates.FailedToStart, KnownResourceStates.Exited, KnownResourceStates.RuntimeUnhealthy];

    /// <summary>Processes mode on free ports with data in <paramref name="dataDirectory"/>, so tests never clash with `./cartrita up`.</summary>
    public static string[] ProcessesModeArgs(string dataDirectory, params string[] extra) =>
    [
        "--Cartrita:Infrastructure=processes",
        $"--Cartrita:DataDirectory={dataDirectory}",
        "--Cartrita:Ports:Postgres=0",
        "--Cartrita:Ports:Redis=0",
        "--Cartrita:Ports:Orchestrator=0",
        "--Cartrita:Ports:Frontend=0",
        "--Cartrita:Orchestrator:Reload=false",
        // Load tests send thousands of requests as one client: effectively no limit (the limiter still counts in Redis).
        // Reliability/HostileInputTests checks that the limit holds on an orchestrator of its own with a small one.
        "--Cartrita:Orchestrator:RateLimitRequests=1000000",
        "--Cartrita:Testing=true",
        $"--Cartrita:Backups:Directory={Path.Combine(dataDirectory, "backups")}",
        $"--Cartrita:Backups:Keep={BackupsKept}",
        "--DcpPublisher:ContainerRuntimeInitializationTimeout=00:00:00",
        .. extra,
    ];

    /// <summary>A fresh data folder the postgres OS user can reach (temp subfolders are created 0700).</summary>
    public static string CreateDataDirectory()
    {
        var path = Directory.CreateTempSubdirectory("cartrita-test-").FullName;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        }
        return path;
    }

    /// <summary>
    /// Waits until the migration worker has finished and every long-running resource is healthy; fails as soon as any of
    /// them fails, naming it, instead of waiting out the timeout.
    /// </summary>
    public static async Task WaitForAllAsync(DistributedApplication app, CancellationToken cancellationToken)
    {
        var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
        var waits = ResourceNames.Select(name => WaitHealthyAsync(notifications, name, cancellationToken))
            .Append(WaitFinishedAsync(notifications, "migrations", cancellationToken))
            .ToList();
        while (waits.Count > 0)
        {
            var done = await Task.WhenAny(waits);
            if (done.IsFaulted && done.Exception?.InnerException is Xunit.Sdk.XunitException failure)
            {
                // Say why: the failing resource's last console lines (the dashboard would show them).
                var name = failure.Message.Split(' ')[0];
                throw new Xunit.Sdk.XunitException($"{failure.Message}\n--- last lines of {name}'s console ---\n{await TailAsync(app, name)}");
            }
            await done;
            waits.Remove(done);
        }
    }

    private static async Task<string> TailAsync(DistributedApplication app, string resourceName, int lines = 40)
    {
        var collected = new List<string>();
        using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await foreach (var batch in app.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(resourceName).WithCancellation(quiet.Token))
            {
                collected.AddRange(batch.Select(line => line.Content));
            }
        }
        catch (OperationCanceledException)
        {
        }
        return string.Join('\n', collected.TakeLast(lines));
    }

    private static async Task WaitHealthyAsync(ResourceNotificationService notifications, string name, CancellationToken cancellationToken)
    {
        var resource = await notifications.WaitForResourceAsync(name,
            e => e.Snapshot.HealthStatus == HealthStatus.Healthy || FailedStates.Contains(e.Snapshot.State?.Text),
            cancellationToken);
        Assert.True(resource.Snapshot.HealthStatus == HealthStatus.Healthy,
            $"{name} ended as {resource.Snapshot.State?.Text} (exit {resource.Snapshot.ExitCode}) instead of healthy");
    }

    private static async Task WaitFinishedAsync(ResourceNotificationService notifications, string name, CancellationToken cancellationToken)
    {
        var resource = await notifications.WaitForResourceAsync(name,
            e => e.Snapshot.State?.Text is { } state && (state == KnownResourceStates.Finished || FailedStates.Contains(state)),
            cancellationToken);
        Assert.True(resource.Snapshot.State?.Text == KnownResourceStates.Finished && resource.Snapshot.ExitCode == 0,
            $"{name} ended as {resource.Snapshot.State?.Text} (exit {resource.Snapshot.ExitCode}) instead of finished");
    }

    public static void DeleteDataDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A server may still be flushing; the OS cleans temp folders eventually.
        }
    }
}
