using Cartrita.Operations.Stack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>What the AppHost leaves in the data folder so that terminal commands can work against the running stack.</summary>
public static class StackStateExtensions
{
    /// <summary>
    /// While the AppHost runs, keeps <c>run/stack.json</c> in <paramref name="dataDirectory"/> (owner-only) with the
    /// connection strings of <paramref name="database"/> (as <paramref name="owner"/>, and as the superuser for a reset)
    /// and <paramref name="redis"/>, for <c>./cartrita backup</c>, <c>restore</c>, <c>reset</c> and
    /// <c>import-memories</c>; deleted on shutdown. Run mode only. The file's schema, and its readers, are
    /// <c>Cartrita.Operations/Stack/stack.schema.json</c>'s.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="dataDirectory">The AppHost's data folder.</param>
    /// <param name="database">The database the commands act on.</param>
    /// <param name="owner">The role that owns it: the commands act as it wherever they can.</param>
    /// <param name="redis">The Redis resource.</param>
    /// <returns>The builder.</returns>
    public static IDistributedApplicationBuilder PublishStackState(
        this IDistributedApplicationBuilder builder, string dataDirectory,
        IResourceBuilder<IResourceWithConnectionString> database, DatabaseRole owner, IResourceBuilder<IResourceWithConnectionString> redis)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(redis);
        if (!builder.ExecutionContext.IsRunMode)
        {
            return builder;
        }
        var environment = builder.Environment.EnvironmentName;
        var gate = new SemaphoreSlim(1, 1);
        var state = new StackState { Environment = environment, AppHostProcessId = Environment.ProcessId };

        async Task UpdateAsync(Func<StackState, StackState> change)
        {
            await gate.WaitAsync();
            try
            {
                state = change(state);
                state.Write(dataDirectory);
            }
            finally
            {
                gate.Release();
            }
        }

        var ownerConnection = database.ConnectionStringFor(owner);
        database.OnConnectionStringAvailable(async (resource, _, cancellationToken) =>
        {
            var admin = await resource.GetConnectionStringAsync(cancellationToken);
            var asOwner = await ownerConnection.GetValueAsync(cancellationToken);
            await UpdateAsync(current => current with { Database = asOwner, DatabaseAdmin = admin });
        });
        redis.OnConnectionStringAvailable(async (resource, _, cancellationToken) =>
        {
            var connectionString = await resource.GetConnectionStringAsync(cancellationToken);
            await UpdateAsync(current => current with { Redis = connectionString });
        });
        builder.Services.AddHostedService(services => new StackStateCleanup(dataDirectory));
        return builder;
    }

    /// <summary>Deletes the state file when the AppHost stops, so terminal commands never act on a stack that is gone.</summary>
    private sealed class StackStateCleanup(string dataDirectory) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            StackState.Delete(dataDirectory);
            return Task.CompletedTask;
        }
    }
}
