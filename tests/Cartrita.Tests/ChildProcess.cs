using System.Diagnostics;

namespace Cartrita.Tests;

/// <summary>
/// Runs a program to its end for a test: stdout and stderr read together (both pipes drained, so a chatty program cannot
/// block on a full one), and a bounded wait: a hang kills the whole process tree and throws, never stalls the run.
/// </summary>
internal static class ChildProcess
{
    /// <summary>Runs <paramref name="program"/>; returns its exit code and stdout + stderr.</summary>
    /// <exception cref="TimeoutException">It did not finish within <paramref name="timeout"/> (it was killed).</exception>
    /// <exception cref="System.ComponentModel.Win32Exception">The program cannot be started (not installed).</exception>
    public static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout,
        IEnumerable<KeyValuePair<string, string>>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? [])
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish within {timeout.TotalSeconds:0} s");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
