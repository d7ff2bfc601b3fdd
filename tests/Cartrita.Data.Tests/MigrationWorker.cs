using System.Diagnostics;
using System.Text;

namespace Cartrita.Data.Tests;

/// <summary>The outcome of one run of the real migration worker process.</summary>
public sealed record WorkerRun(int ExitCode, string Output, TimeSpan Elapsed)
{
    public override string ToString() => $"exit code {ExitCode} after {Elapsed.TotalSeconds:F1} s; output:\n{Output}";
}

/// <summary>
/// Runs the real worker, <c>dotnet Cartrita.MigrationService.dll</c>, as a separate process. The project reference
/// copies the dll with its runtimeconfig and deps files next to the test assembly, so the build under test is the one
/// that runs.
/// </summary>
public static class MigrationWorker
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    public static string WorkerDll { get; } = Path.Combine(AppContext.BaseDirectory, "Cartrita.MigrationService.dll");

    public static Task<WorkerRun> RunAsync(string connectionString, TimeSpan? timeout = null) =>
        RunAsync(connectionString, new Dictionary<string, string>(), timeout);

    /// <summary>Runs the worker with <paramref name="environment"/> added (the role bootstrap's settings, for instance).</summary>
    public static async Task<WorkerRun> RunAsync(string connectionString, IReadOnlyDictionary<string, string> environment, TimeSpan? timeout = null)
    {
        Assert.True(File.Exists(WorkerDll), $"worker not found at {WorkerDll}");
        Assert.True(File.Exists(Path.ChangeExtension(WorkerDll, ".runtimeconfig.json")), "worker runtimeconfig.json not found");

        var startInfo = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        startInfo.ArgumentList.Add("exec");
        startInfo.ArgumentList.Add(WorkerDll);
        startInfo.Environment["ConnectionStrings__cartrita"] = connectionString;
        startInfo.Environment["DOTNET_ENVIRONMENT"] = "Development";
        startInfo.Environment["Logging__Console__ColorBehavior"] = "Disabled";
        foreach (var (name, value) in environment)
        {
            startInfo.Environment[name] = value;
        }
        // Nothing exported from tests, whatever the surrounding environment says.
        foreach (var name in startInfo.Environment.Keys.Where(key => key.StartsWith("OTEL_", StringComparison.Ordinal)).ToList())
        {
            startInfo.Environment.Remove(name);
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };

        var stopwatch = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var limit = timeout ?? DefaultTimeout;
        using var cancellation = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            lock (output)
            {
                Assert.Fail($"the worker did not exit within {limit}; output:\n{output}");
            }
        }

        stopwatch.Stop();
        // WaitForExitAsync returns once the streams are drained, so the output is complete here.
        lock (output)
        {
            return new WorkerRun(process.ExitCode, output.ToString(), stopwatch.Elapsed);
        }
    }

    // `dotnet test` sets DOTNET_HOST_PATH; the test host itself runs under the muxer otherwise.
    private static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath ? hostPath
        : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath!
        : "dotnet";
}
