using System.Diagnostics;
using System.Globalization;

namespace Cartrita.AppHost.Terminal;

/// <summary>
/// What the AppHost prints for its user: one line per resource state change (seconds since the AppHost started), a ready
/// summary, a failure report. Secret parameter values are masked in anything printed from a resource's console.
/// </summary>
internal sealed class StartupTerminal(TextWriter output, string? dashboardLoginUrl)
{
    private const int NameWidth = 16;
    private readonly DateTime _started = Process.GetCurrentProcess().StartTime.ToUniversalTime();
    private readonly Lock _gate = new();

    public string? DashboardLoginUrl { get; } = dashboardLoginUrl;

    public void Header(string mode)
    {
        Write($"cartrita: starting the stack ({mode}); Ctrl+C stops it{(DashboardLoginUrl is null ? "" : $"\n  dashboard       {DashboardLoginUrl}")}");
    }

    public void State(string resource, string state) =>
        Write($"  {Elapsed(),6}  {resource.PadRight(NameWidth)} {state}");

    public void Ready(IEnumerable<(string Resource, string Url)> urls)
    {
        var lines = new List<string> { $"cartrita: ready in {Elapsed()}" };
        lines.AddRange(urls.Select(url => $"  {url.Resource.PadRight(NameWidth)}{url.Url}"));
        if (DashboardLoginUrl is not null)
        {
            lines.Add($"  {"dashboard".PadRight(NameWidth)}{DashboardLoginUrl}");
        }
        Write(string.Join('\n', lines));
    }

    public void Failure(string resource, string reason, Diagnosis diagnosis, IReadOnlyList<LogLine> tail, IReadOnlyCollection<string> secrets, bool stopping)
    {
        string Mask(string text) =>
            secrets.Aggregate(text, (masked, secret) => masked.Replace(secret, "***", StringComparison.Ordinal));

        var lines = new List<string> { $"cartrita: {resource} failed: {reason}" };
        if (diagnosis.Why is { } why)
        {
            lines.Add($"  why: {Mask(why)}");
        }
        if (tail.Count > 0)
        {
            lines.Add($"  last lines of {resource}:");
            lines.AddRange(tail.Select(line => $"    | {Mask(line.Content)}"));
        }
        else
        {
            lines.Add($"  {resource} wrote nothing to its console.");
        }
        if (diagnosis.Fix is { } fix)
        {
            lines.Add($"  fix: {fix}");
        }
        lines.Add(stopping
            ? "cartrita: stopping the stack (exit code 1); to keep the dashboard open after a failure: --Cartrita:Startup:KeepOpenOnFailure=true"
            : $"cartrita: the dashboard stays open (Cartrita:Startup:KeepOpenOnFailure){(DashboardLoginUrl is null ? "" : $": {DashboardLoginUrl}")}; Ctrl+C stops");
        Write(string.Join('\n', lines));
    }

    private string Elapsed() =>
        (DateTime.UtcNow - _started).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + "s";

    private void Write(string text)
    {
        lock (_gate)
        {
            output.WriteLine(text);
            output.Flush();
        }
    }
}

/// <summary>Why a resource failed, in words, and what to do about it; either may be unknown.</summary>
internal sealed record Diagnosis(string? Why, string? Fix);
