using System.Diagnostics;
using System.Globalization;
using Cartrita.AppHost.Parameters;

namespace Cartrita.AppHost.Terminal;

/// <summary>
/// What the AppHost prints for its user: one line per resource state change (seconds since the AppHost started), a ready
/// summary, a failure report (secret parameter values masked).
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

    public void State(string resource, string state) => Write(StateLine(resource, state));

    private string StateLine(string resource, string state) => $"  {Elapsed(),6}  {resource.PadRight(NameWidth)} {state}";

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

    /// <summary>The failure report; every line of it masked, for the reason and the fix can quote a resource too.</summary>
    public void Failure(string resource, string reason, Diagnosis diagnosis, IReadOnlyList<LogLine> tail, SecretMask mask, bool stopping)
    {
        var lines = new List<string> { StateLine(resource, "Failed"), $"cartrita: {resource} failed: {reason}" };
        if (diagnosis.Why is { } why)
        {
            lines.Add($"  why: {why}");
        }
        if (tail.Count > 0)
        {
            lines.Add($"  last lines of {resource}:");
            lines.AddRange(tail.Select(line => $"    | {line.Content}"));
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
            ? "cartrita: stopping the stack (exit code 1); to keep the dashboard open after a failure: ./cartrita up --keep-open (Cartrita:Startup:KeepOpenOnFailure=true)"
            : $"cartrita: the dashboard stays open to look at it{(DashboardLoginUrl is null ? "" : $": {DashboardLoginUrl}")}; Ctrl+C stops (exit code 1)");
        Write(mask.Apply(string.Join('\n', lines)));
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
