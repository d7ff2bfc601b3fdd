using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Xunit.Abstractions;

namespace Cartrita.Tests.Reliability;

/// <summary>The repository the tests run from.</summary>
internal static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Cartrita.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"no Cartrita.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>
/// An extra orchestrator started by a test with uvicorn, as the AppHost starts it, but with settings of its own (a small
/// rate limit, its own API key and JWT secret) on the stack's PostgreSQL and a Redis database of its own.
/// </summary>
internal sealed class OrchestratorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private OrchestratorProcess(Process process, Uri baseUri, string apiKey, string jwtSecret)
    {
        _process = process;
        BaseUri = baseUri;
        ApiKey = apiKey;
        JwtSecret = jwtSecret;
    }

    public Uri BaseUri { get; }

    public string ApiKey { get; }

    public string JwtSecret { get; }

    /// <summary>The principal the orchestrator derives from the API key (the rate limiter counts per principal).</summary>
    public string Subject => "apikey-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ApiKey)))[..16];

    public static async Task<OrchestratorProcess> StartAsync(DistributedApplication app, int rateLimit, ITestOutputHelper output)
    {
        var model = app.Services.GetRequiredService<DistributedApplicationModel>();
        async Task<string> UriAsync(string resourceName) =>
            await model.Resources.OfType<IResourceWithConnectionString>().Single(r => r.Name == resourceName)
                .GetConnectionProperty("Uri").GetValueAsync(default) ?? throw new InvalidOperationException($"no Uri for {resourceName}");

        var appDirectory = Path.Combine(Repository.Root, "services", "ai-orchestrator");
        var venvPython = Path.Combine(appDirectory, ".venv", "bin", "python");
        var port = LoopbackPorts.Free();
        var start = new ProcessStartInfo(File.Exists(venvPython) ? venvPython : UvicornAppResourceBuilderExtensions.SystemPython,
            ["-m", "uvicorn", "cartrita.orchestrator.main:app", "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-access-log",
                .. UvicornAppResourceBuilderExtensions.HardeningArguments])
        {
            WorkingDirectory = appDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Only what the orchestrator reads, so no provider key from the developer's environment reaches it.
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        start.Environment.Clear();
        start.Environment["PATH"] = path;
        start.Environment["PYTHONUNBUFFERED"] = "1";
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        start.Environment["DATABASE_URL"] = await UriAsync("cartrita");
        start.Environment["REDIS_URL"] = await UriAsync("redis") + "/7";
        var apiKey = "rl" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var jwtSecret = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        start.Environment["CARTRITA_API_KEY"] = apiKey;
        start.Environment["JWT_SECRET_KEY"] = jwtSecret;
        start.Environment["RATE_LIMIT_REQUESTS"] = rateLimit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["RATE_LIMIT_WINDOW_SECONDS"] = "60";
        start.Environment["CARTRITA_ENV"] = "production";

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start uvicorn");
        var started = new OrchestratorProcess(process, new Uri($"http://127.0.0.1:{port}"), apiKey, jwtSecret);
        process.OutputDataReceived += (_, e) => started.Append(e.Data);
        process.ErrorDataReceived += (_, e) => started.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var client = new HttpClient { BaseAddress = started.BaseUri, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited)
            {
                break;
            }
            try
            {
                using var health = await client.GetAsync("/health");
                if (health.StatusCode == HttpStatusCode.OK)
                {
                    output.WriteLine($"extra orchestrator (rate limit {rateLimit}/60s) healthy on port {port} after {deadline.Elapsed.TotalSeconds:0.0}s");
                    return started;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(200);
        }
        var log = started.Output;
        await started.DisposeAsync();
        throw new Xunit.Sdk.XunitException($"the extra orchestrator did not become healthy:\n{log}");
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        _process.Dispose();
    }
}
