using System.Diagnostics;

namespace Aspire.Hosting;

/// <summary>How the AppHost ends: only once what it started has stopped.</summary>
public static class CleanExitExtensions
{
    private static readonly TimeSpan CleanupLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs the application until it stops, then waits (up to 30 s) for DCP to finish stopping what it started. DCP
    /// cleans up after the AppHost's process has gone, by itself, in the background: without this wait the AppHost's
    /// exit came a few seconds before its servers' and containers', so an immediate <c>./cartrita up</c> found its own
    /// Redis still on the port, and a script that waited for the AppHost could not trust the ports were free.
    /// </summary>
    /// <param name="app">The built application.</param>
    public static void RunAndWaitForCleanup(this DistributedApplication app)
    {
        app.Run();
        // What DCP runs for us, found before it stops: `dcp start-apiserver --monitor <AppHost pid>`, the DCP processes
        // that monitor that one in turn, and every process below them (the servers, the containers' CLIs).
        var started = DcpProcessTree(Environment.ProcessId);
        // A start cancelled by a failure returns from Run without stopping the host: stop it, which tells DCP to stop
        // everything (after a normal run this is a no-op).
        app.StopAsync().GetAwaiter().GetResult();
        var clock = Stopwatch.StartNew();
        while (started.Any(IsRunning) && clock.Elapsed < CleanupLimit)
        {
            Thread.Sleep(100);
        }
        if (started.Any(IsRunning))
        {
            Console.Error.WriteLine($"cartrita: DCP is still stopping resources after {CleanupLimit.TotalSeconds:0} s (PIDs {string.Join(", ", started.Where(IsRunning).Select(p => p.Id))}); it finishes by itself.");
        }
    }

    private static bool IsRunning(Process process)
    {
        try
        {
            return !process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static List<Process> DcpProcessTree(int appHost)
    {
        if (!OperatingSystem.IsLinux())
        {
            return [];
        }
        var table = ProcessTable();
        var found = new HashSet<int>();
        var frontier = new Queue<int>([appHost]);
        while (frontier.TryDequeue(out var pid))
        {
            var monitor = $"--monitor {pid} ";
            foreach (var entry in table.Where(e => !found.Contains(e.Pid) && e.Pid != appHost
                && ((e.CommandLine + " ").Contains(monitor, StringComparison.Ordinal) || (pid != appHost && e.ParentPid == pid))))
            {
                found.Add(entry.Pid);
                frontier.Enqueue(entry.Pid);
            }
        }
        var processes = new List<Process>();
        foreach (var pid in found)
        {
            try
            {
                processes.Add(Process.GetProcessById(pid));
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
        return processes;
    }

    private static List<(int Pid, int ParentPid, string CommandLine)> ProcessTable()
    {
        var table = new List<(int, int, string)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                table.Add((pid, parent, File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ').Trim()));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                // Exited meanwhile, or not ours to read.
            }
        }
        return table;
    }
}
