using System.Text.RegularExpressions;

namespace Cartrita.AppHost.Terminal;

/// <summary>The last lines of one resource's console (what the dashboard shows), kept while the AppHost runs.</summary>
internal sealed partial class ResourceLogTail(ResourceLoggerService logs, int capacity)
{
    private readonly Queue<LogLine> _lines = new();
    private readonly HashSet<string> _followed = [];
    private long _lastLineTicks = Environment.TickCount64;

    /// <summary>
    /// Follows the log stream <paramref name="logName"/>, once: the resource's name (what the AppHost itself logs for
    /// it) and each of its instances' ids (the process's or container's own console, as DCP streams it).
    /// </summary>
    public void Follow(string logName, CancellationToken stopping)
    {
        lock (_followed)
        {
            if (!_followed.Add(logName))
            {
                return;
            }
        }
        lock (_lines)
        {
            // A new stream replays its backlog first: a reader waiting for quiet must wait for that too.
            _lastLineTicks = Environment.TickCount64;
        }
        _ = FollowAsync(logName, stopping);
    }

    private async Task FollowAsync(string logName, CancellationToken stopping)
    {
        try
        {
            await foreach (var batch in logs.WatchAsync(logName).WithCancellation(stopping).ConfigureAwait(false))
            {
                lock (_lines)
                {
                    foreach (var line in batch)
                    {
                        _lines.Enqueue(line);
                        if (_lines.Count > capacity)
                        {
                            _lines.Dequeue();
                        }
                    }
                    _lastLineTicks = Environment.TickCount64;
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// The last lines, oldest first, without the timestamp DCP puts before each line of a console (by which they are
    /// ordered: a process's standard output and error arrive as two streams).
    /// </summary>
    public IReadOnlyList<LogLine> Lines()
    {
        LogLine[] lines;
        lock (_lines)
        {
            lines = [.. _lines];
        }
        // A line without a timestamp (the AppHost's own words about the resource) keeps its place after the line before it.
        var ordered = new List<(string Stamp, int Index, LogLine Line)>();
        var previous = "";
        for (var index = 0; index < lines.Length; index++)
        {
            var stamp = Timestamp().Match(lines[index].Content);
            previous = stamp.Success ? stamp.Value : previous;
            ordered.Add((previous, index, stamp.Success ? lines[index] with { Content = lines[index].Content[stamp.Length..] } : lines[index]));
        }
        // An exception logged for the resource is one entry of many lines: its message is what the user needs, not its
        // stack frames.
        return ordered.OrderBy(entry => entry.Stamp, StringComparer.Ordinal).ThenBy(entry => entry.Index)
            .SelectMany(entry => entry.Line.Content.Split('\n').Select(content => entry.Line with { Content = content.TrimEnd('\r') }))
            .Where(line => !StackFrame().IsMatch(line.Content))
            .TakeLast(capacity)
            .ToList();
    }

    [GeneratedRegex(@"^(\s+at |--- End of |\s*$)")]
    private static partial Regex StackFrame();

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")]
    private static partial Regex Timestamp();

    /// <summary>Waits until no line has arrived for <paramref name="quiet"/>, at most <paramref name="limit"/>.</summary>
    public async Task QuietAsync(TimeSpan quiet, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)limit.TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            long last;
            lock (_lines)
            {
                last = _lastLineTicks;
            }
            var silentFor = Environment.TickCount64 - last;
            if (silentFor >= quiet.TotalMilliseconds)
            {
                return;
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(quiet.TotalMilliseconds - silentFor), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
