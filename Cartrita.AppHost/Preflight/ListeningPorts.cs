using System.Globalization;

namespace Cartrita.AppHost.Preflight;

/// <summary>A process that holds a listening TCP port.</summary>
/// <param name="ProcessId">Its PID, or <see langword="null"/> when we may not see it.</param>
/// <param name="CommandLine">Its command line, when visible.</param>
internal sealed record PortOwner(int? ProcessId, string? CommandLine)
{
    public override string ToString() => ProcessId is null
        ? "a process this user cannot see (`sudo ss -ltnp` names it)"
        : $"PID {ProcessId} ({CommandLine})";
}

/// <summary>Finds which TCP ports are being listened on, and by whom, from Linux's /proc tables.</summary>
internal static class ListeningPorts
{
    private const string ListenState = "0A";

    /// <summary>The owner of a listening socket on <paramref name="port"/>, or <see langword="null"/> when the port is free.</summary>
    public static PortOwner? FindOwner(int port)
    {
        var inode = FindListeningInode(port);
        if (inode is null)
        {
            return null;
        }
        return FindProcessBySocket(inode) ?? new PortOwner(null, null);
    }

    private static string? FindListeningInode(int port)
    {
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10 || fields[3] != ListenState)
                {
                    continue;
                }
                var localPort = int.Parse(fields[1][(fields[1].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (localPort == port)
                {
                    return fields[9];
                }
            }
        }
        return null;
    }

    private static PortOwner? FindProcessBySocket(string inode)
    {
        var target = $"socket:[{inode}]";
        foreach (var processDirectory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(processDirectory), out var pid))
            {
                continue;
            }
            try
            {
                foreach (var descriptor in Directory.EnumerateFileSystemEntries(Path.Combine(processDirectory, "fd")))
                {
                    if (new FileInfo(descriptor).LinkTarget == target)
                    {
                        var commandLine = File.ReadAllText(Path.Combine(processDirectory, "cmdline")).Replace('\0', ' ').Trim();
                        return new PortOwner(pid, commandLine.Length > 120 ? commandLine[..120] + "…" : commandLine);
                    }
                }
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                // Another user's process, or one that just exited.
            }
        }
        return null;
    }
}
