using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cartrita.Tests;

/// <summary>
/// One real Cartrita stack for every test in the "stack" collection: the AppHost in processes mode (local PostgreSQL +
/// pgvector, redis-server, uvicorn, next start), on ports the orchestrator picks, with its data in a fresh folder.
/// </summary>
public sealed class StackFixture : IAsyncLifetime
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(6);

    private readonly string _dataDirectory = TestStack.CreateDataDirectory();

    public DistributedApplication App { get; private set; } = null!;

    public string DataDirectory => _dataDirectory;

    public TimeSpan TimeToHealthy { get; private set; }

    public async Task InitializeAsync()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Cartrita_AppHost>(
            TestStack.ProcessesModeArgs(_dataDirectory));
        // Resource console output goes to the test log; CARTRITA_TEST_LOGS=1 shows it on the console too.
        builder.Services.AddLogging(logging =>
        {
            logging.SetMinimumLevel(LogLevel.Information);
            if (Environment.GetEnvironmentVariable("CARTRITA_TEST_LOGS") == "1")
            {
                logging.AddSimpleConsole(console => console.SingleLine = true);
            }
        });
        App = await builder.BuildAsync();

        using var timeout = new CancellationTokenSource(StartTimeout);
        // StartAsync returns only once every resource is past its WaitFor gates; watch states alongside it so that a
        // resource that fails is reported at once instead of after the timeout.
        var starting = App.StartAsync(timeout.Token);
        await TestStack.WaitForAllAsync(App, timeout.Token);
        await starting;
        TimeToHealthy = started.Elapsed;
    }

    public async Task DisposeAsync()
    {
        if (App is not null)
        {
            await App.DisposeAsync();
        }
        TestStack.DeleteDataDirectory(_dataDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class StackCollection : ICollectionFixture<StackFixture>
{
    public const string Name = "stack";
}
