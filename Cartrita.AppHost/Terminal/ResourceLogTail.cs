using System.Text.RegularExpressions;

namespace Cartrita.AppHost.Terminal;

/// <summary>The last lines of one resource's console (what the dashboard shows), kept while the AppHost runs.</summary>
internal sealed partial class ResourceLogTail(int capacity)
{
    private readonly Queue<LogLine> _lines = new();
    private long _lastLineTicks = Environment.TickCount64;

    public void Add(IReadOnlyList<LogLine> batch)
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

    // Stack frames, blank lines, and Aspire's line about certificate authorities that every resource gets.
    [GeneratedRegex(@"^(\s+at |--- End of |\s*$|No custom certificate authorities to configure)")]
    private static partial Regex StackFrame();

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")]
    private static partial Regex Timestamp();

    /// <summary>Waits until no line has arrived for <paramref name="quiet"/>, at most <paramref name="limit"/>.</summary>
    public async Task QuietAsync(TimeSpan quiet, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)limit.TotalMilliseconds;
        // A stream that started only now replays its backlog first.
        try
        {
            await Task.Delay(quiet, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
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
