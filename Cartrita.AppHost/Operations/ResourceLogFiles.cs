using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>Copies every resource's console log to a file, for <c>./cartrita logs</c> and for reading after a crash.</summary>
public static class ResourceLogFilesExtensions
{
    /// <summary>
    /// While the AppHost runs, appends each resource's console output (what the dashboard shows) to
    /// <c>logs/&lt;resource&gt;.log</c> in <paramref name="dataDirectory"/>; the files are started afresh on each run.
    /// Run mode only.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="dataDirectory">The AppHost's data folder.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder WriteResourceLogs(this IDistributedApplicationBuilder builder, string dataDirectory)
    {
        if (builder.ExecutionContext.IsRunMode)
        {
            builder.Services.AddHostedService(services => new ResourceLogWriter(
                services.GetRequiredService<DistributedApplicationModel>(),
                services.GetRequiredService<ResourceLoggerService>(),
                Path.Combine(dataDirectory, "logs")));
        }
        return builder;
    }

    private sealed class ResourceLogWriter(DistributedApplicationModel model, ResourceLoggerService logs, string directory) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            Directory.CreateDirectory(directory);
            foreach (var stale in Directory.EnumerateFiles(directory, "*.log"))
            {
                File.Delete(stale);
            }
            await Task.WhenAll(model.Resources.Select(resource => CopyAsync(resource.Name, stoppingToken)));
        }

        private async Task CopyAsync(string resourceName, CancellationToken stoppingToken)
        {
            try
            {
                await using var file = new StreamWriter(Path.Combine(directory, $"{resourceName}.log"), append: true) { AutoFlush = true };
                await foreach (var batch in logs.WatchAsync(resourceName).WithCancellation(stoppingToken))
                {
                    foreach (var line in batch)
                    {
                        await file.WriteLineAsync($"{(line.IsErrorMessage ? "ERR" : "OUT")} {line.Content}");
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
