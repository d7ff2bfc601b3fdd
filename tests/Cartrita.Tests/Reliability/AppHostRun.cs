using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Cartrita.Operations.Backups;
using Cartrita.Operations.Stack;

namespace Cartrita.Tests.Reliability;

/// <summary>Fixed loopback ports for a whole stack, chosen free once and reused across runs (as `./cartrita up` does).</summary>
public sealed record StackPorts(int Postgres, int Redis, int Orchestrator, int Frontend, int Dashboard, int Otlp, int ResourceService)
{
    public static StackPorts Pick()
    {
        var ports = new HashSet<int>();
        while (ports.Count < 7)
        {
            ports.Add(LoopbackPorts.Free());
        }
        var p = ports.ToArray();
        return new StackPorts(p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
    }

    public IEnumerable<(string Name, int Port)> Resources =>
        [("postgres", Postgres), ("redis", Redis), ("ai-orchestrator", Orchestrator), ("frontend", Frontend)];

    public IEnumerable<int> All => [Postgres, Redis, Orchestrator, Frontend, Dashboard, Otlp, ResourceService];
}

/// <summary>
/// The AppHost as a developer runs it: a real <c>dotnet run --no-build --project Cartrita.AppHost</c> child process
/// (dashboard included) in processes mode, on fixed ports, with its data in <see cref="DataDirectory"/>.
/// </summary>
internal sealed class AppHostRun : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private AppHostRun(Process process, string dataDirectory, StackPorts ports)
    {
        _process = process;
        DataDirectory = dataDirectory;
        Ports = ports;
    }

    public string DataDirectory { get; }

    public StackPorts Ports { get; }

    /// <summary>The <c>dotnet run</c> process.</summary>
    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public Uri OrchestratorUri => new($"http://127.0.0.1:{Ports.Orchestrator}");

    public Uri FrontendUri => new($"http://127.0.0.1:{Ports.Frontend}");

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

    public static AppHostRun Start(string dataDirectory, StackPorts ports, IReadOnlyDictionary<string, string> environment, params string[] extraArgs)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in (string[])
        [
            "run", "--no-build", "--no-launch-profile", "--project", Path.Combine(Repository.Root, "Cartrita.AppHost"), "--",
            "--Cartrita:Infrastructure=processes",
            $"--Cartrita:DataDirectory={dataDirectory}",
            $"--Cartrita:Ports:Postgres={ports.Postgres}",
            $"--Cartrita:Ports:Redis={ports.Redis}",
            $"--Cartrita:Ports:Orchestrator={ports.Orchestrator}",
            $"--Cartrita:Ports:Frontend={ports.Frontend}",
            "--Cartrita:Orchestrator:Reload=false",
            "--Cartrita:Testing=true",
            $"--Cartrita:Backups:Directory={Path.Combine(dataDirectory, "backups")}",
            .. extraArgs,
        ])
        {
            start.ArgumentList.Add(arg);
        }
        // What the launch profile sets, on ports of our own.
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        start.Environment["DOTNET_ENVIRONMENT"] = "Development";
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{ports.Dashboard}";
        start.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{ports.Otlp}";
        start.Environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://127.0.0.1:{ports.ResourceService}";
        start.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["NEXT_TELEMETRY_DISABLED"] = "1";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start dotnet run");
        var run = new AppHostRun(process, dataDirectory, ports);
        process.OutputDataReceived += (_, e) => run.Append(e.Data);
        process.ErrorDataReceived += (_, e) => run.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return run;
    }

    /// <summary>Waits until the orchestrator and the frontend answer their health endpoints with 200.</summary>
    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new Xunit.Sdk.XunitException($"the AppHost exited ({_process.ExitCode}) before the stack was healthy:\n{Tail()}");
            }
            if (await OkAsync(client, new Uri(OrchestratorUri, "/health")) && await OkAsync(client, new Uri(FrontendUri, "/api/health")))
            {
                return;
            }
            await Task.Delay(500);
        }
        throw new Xunit.Sdk.XunitException($"the stack was not healthy within {timeout.TotalSeconds:0}s:\n{Tail()}");
    }

    /// <summary>Waits for the <c>dotnet run</c> process to exit (an AppHost that refuses to start).</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
            _process.WaitForExit(); // drain the redirected output
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The AppHost's own process id, from the stack state it writes (<c>run/stack.json</c>).</summary>
    public int AppHostProcessId() => State().AppHostProcessId;

    /// <summary>The database connection string the AppHost published for terminal commands.</summary>
    public string DatabaseConnectionString() =>
        State().Database ?? throw new Xunit.Sdk.XunitException($"the AppHost has not published its database in {StackState.PathIn(DataDirectory)} yet");

    // Through the one C# reader of the file, as the terminal commands read it.
    private StackState State() =>
        StackState.Read(DataDirectory) ?? throw new Xunit.Sdk.XunitException($"no live AppHost in {StackState.PathIn(DataDirectory)}");

    /// <summary>Sends SIGTERM to the AppHost (as Ctrl+C does) and waits for <c>dotnet run</c> to end.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            Signal(AppHostProcessId(), SigTerm);
        }
        if (!await WaitForExitAsync(timeout))
        {
            throw new Xunit.Sdk.XunitException($"the AppHost did not stop within {timeout.TotalSeconds:0}s of SIGTERM");
        }
    }

    public string Tail(int lines = 60) => string.Join('\n', Output.Split('\n').TakeLast(lines));

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static async Task<bool> OkAsync(HttpClient client, Uri uri)
    {
        try
        {
            using var response = await client.GetAsync(uri);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await StopAsync(TimeSpan.FromSeconds(60));
            }
            catch (Exception ex) when (ex is Xunit.Sdk.XunitException or IOException or OperationFailedException or InvalidOperationException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
    }

    public const int SigTerm = 15;
    public const int SigKill = 9;
    public const int SigStop = 19;

    public static void Signal(int pid, int signal) => _ = kill(pid, signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}

/// <summary>Processes as Linux's /proc shows them.</summary>
public static class ProcessTable
{
    /// <summary>A process; <paramref name="StartTicks"/> (clock ticks after boot) tells it apart from a later one with the same PID.</summary>
    public sealed record Entry(int Pid, int ParentPid, string Name, string CommandLine, long StartTicks)
    {
        public bool IsAlive => ResourceProcesses.StartTicks(Pid) == StartTicks;
    }

    public static IReadOnlyList<Entry> Snapshot()
    {
        var entries = new List<Entry>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var name = stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')];
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
                var startTicks = long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture);
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ').Trim();
                entries.Add(new Entry(pid, parent, name, commandLine, startTicks));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
            }
        }
        return entries;
    }

    public static IReadOnlyList<Entry> Descendants(int pid)
    {
        var all = Snapshot();
        var found = new List<Entry>();
        var frontier = new Queue<int>([pid]);
        while (frontier.TryDequeue(out var parent))
        {
            foreach (var child in all.Where(e => e.ParentPid == parent))
            {
                found.Add(child);
                frontier.Enqueue(child.Pid);
            }
        }
        return found;
    }

    /// <summary>Processes whose command line mentions <paramref name="text"/> (for example a data folder).</summary>
    public static IReadOnlyList<Entry> Mentioning(string text) =>
        Snapshot().Where(e => e.CommandLine.Contains(text, StringComparison.Ordinal) && e.Pid != System.Environment.ProcessId).ToList();

    public static string? EnvironmentVariable(int pid, string name)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/environ").Split('\0')
                .FirstOrDefault(v => v.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..];
        }
        catch (IOException)
        {
            return null;
        }
    }
}
