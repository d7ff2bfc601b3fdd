using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Aspire.Hosting;

/// <summary>Dashboard commands on Redis.</summary>
public static class RedisCommandExtensions
{
    /// <summary>Adds "Flush" (FLUSHALL: sessions, caches, rate-limit counters) to Redis's dashboard menu, in Development only.</summary>
    /// <param name="builder">The Redis resource.</param>
    /// <returns>The builder.</returns>
    public static IResourceBuilder<IResourceWithConnectionString> WithFlushCommand(this IResourceBuilder<IResourceWithConnectionString> builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var isDevelopment = builder.ApplicationBuilder.Environment.IsDevelopment();
        var redis = builder.Resource;
        return builder.WithCommand("flush", "Flush",
            async context =>
            {
                if (!isDevelopment)
                {
                    return CommandResults.Failure("Refused: Redis is flushed only when the AppHost environment is Development.");
                }
                var options = ConfigurationOptions.Parse(await redis.GetConnectionStringAsync(context.CancellationToken) ?? "");
                options.AllowAdmin = true;
                await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
                foreach (var endpoint in connection.GetEndPoints())
                {
                    await connection.GetServer(endpoint).FlushAllDatabasesAsync();
                }
                return CommandResults.Success("Redis flushed");
            },
            new CommandOptions
            {
                Description = "Delete every key: sessions, caches and rate-limit counters (Development only).",
                ConfirmationMessage = "Delete every key in Redis?",
                IconName = "Delete",
                UpdateState = context => isDevelopment && context.ResourceSnapshot.State?.Text == KnownResourceStates.Running
                    ? ResourceCommandState.Enabled
                    : ResourceCommandState.Disabled,
            });
    }
}
