using Cartrita.AppHost.Hosting;
using Cartrita.AppHost.Parameters;
using Cartrita.Operations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>Copies every resource's console log to a file, for <c>./cartrita logs</c> and for reading after a crash.</summary>
public static class ResourceLogFilesExtensions
{
    /// <summary>
    /// While the AppHost runs, appends each resource's console output (what the dashboard shows: the AppHost's words about
    /// it and its process's or container's own output) to <c>logs/&lt;resource&gt;.log</c> in
    /// <paramref name="dataDirectory"/>; the files are started afresh on each run. From the very start, so that a stack
    /// that failed to start leaves its logs behind too. Run mode only.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="dataDirectory">The AppHost's data folder.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder WriteResourceLogs(this IDistributedApplicationBuilder builder, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.ExecutionContext.IsRunMode)
        {
            return builder;
        }
        builder.Services.TryAddSingleton<ResourceConsoles>();
        builder.Services.TryAddSingleton<SecretMask>();
        builder.Eventing.Subscribe<BeforeStartEvent>((@event, _) =>
        {
            var directory = Path.Combine(dataDirectory, "logs");
            PrivateFiles.CreateDirectory(directory);
            foreach (var stale in Directory.EnumerateFiles(directory, "*.log"))
            {
                File.Delete(stale);
            }
            var lifetime = @event.Services.GetRequiredService<IHostApplicationLifetime>();
            // Until the AppHost has stopped, not merely begun to: the servers' last words (Redis saving, PostgreSQL
            // shutting down) come while it stops.
            var stopped = lifetime.ApplicationStopped;
            var mask = @event.Services.GetRequiredService<SecretMask>();
            var files = new Dictionary<string, StreamWriter>();
            @event.Services.GetRequiredService<ResourceConsoles>()
                .Subscribe((resource, batch) =>
                {
                    lock (files)
                    {
                        if (stopped.IsCancellationRequested)
                        {
                            return;
                        }
                        if (!files.TryGetValue(resource.Name, out var file))
                        {
                            // Owner-only: a resource's console can say more than it should.
                            var create = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
                            if (!OperatingSystem.IsWindows())
                            {
                                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                            }
                            var stream = new FileStream(Path.Combine(directory, $"{resource.Name}.log"), create);
                            files[resource.Name] = file = new StreamWriter(stream) { AutoFlush = true };
                        }
                        foreach (var line in batch)
                        {
                            file.WriteLine($"{(line.IsErrorMessage ? "ERR" : "OUT")} {mask.Apply(line.Content)}");
                        }
                    }
                });
            stopped.Register(() =>
            {
                lock (files)
                {
                    foreach (var file in files.Values)
                    {
                        file.Dispose();
                    }
                    files.Clear();
                }
            });
            return Task.CompletedTask;
        });
        return builder;
    }
}
