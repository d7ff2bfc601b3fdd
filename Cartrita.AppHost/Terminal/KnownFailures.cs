using System.Text.RegularExpressions;

namespace Cartrita.AppHost.Terminal;

/// <summary>
/// Causes we know, read from a failed resource's health reports and console: the reason in words and the fix. Anything
/// else is reported with the resource's own last error line and where its full log is.
/// </summary>
internal static partial class KnownFailures
{
    /// <summary>
    /// A health report whose cause will not go away by waiting (a password the server rejects), so the resource is reported
    /// at once instead of after the timeout; <see langword="null"/> when there is none.
    /// </summary>
    public static string? FatalHealthReport(IEnumerable<HealthReportSnapshot> reports) =>
        reports
            .Select(HealthText)
            .FirstOrDefault(text => PasswordRejected().IsMatch(text));

    /// <summary>What a health report says: its exception's message, else its description; empty when neither.</summary>
    public static string HealthText(HealthReportSnapshot report) =>
        FirstLine(new[] { report.ExceptionText, report.Description }.FirstOrDefault(text => !string.IsNullOrWhiteSpace(text)));

    /// <summary>The first line of <paramref name="text"/>, without an exception's type name.</summary>
    public static string FirstLine(string? text)
    {
        var line = (text ?? "").Split('\n', 2)[0].Trim();
        return ExceptionTypePrefix().Replace(line, "");
    }

    /// <summary>Names the cause of <paramref name="resource"/>'s failure and its fix, where we know them.</summary>
    /// <param name="resource">The failed resource (a database's server, which has the console and the container).</param>
    /// <param name="state">The last state of what failed (the database itself, for a database).</param>
    /// <param name="health">Its last health reports.</param>
    /// <param name="tail">Its last console lines.</param>
    /// <param name="context">What the failure report may point at (runtime, data folders).</param>
    /// <param name="timedOut">It did not become ready in time (rather than failing outright).</param>
    public static Diagnosis Diagnose(IResource resource, string? state, IEnumerable<HealthReportSnapshot> health, IReadOnlyList<LogLine> tail, FailureContext context, bool timedOut)
    {
        var healthTexts = health
            .Where(report => report.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
            .Select(HealthText)
            .Where(text => text.Length > 0)
            .ToList() ?? [];
        var texts = healthTexts.Concat(tail.Select(line => line.Content)).ToList();
        string? Find(Regex pattern) => texts.LastOrDefault(pattern.IsMatch);

        var fullLog = $"the full log is in the dashboard, and in {Path.Combine(context.LogDirectory, resource.Name + ".log")}";

        if (Find(PasswordRejected()) is { } rejected)
        {
            return PasswordMismatch(resource, rejected, context);
        }
        if (state == KnownResourceStates.RuntimeUnhealthy)
        {
            return new($"the container runtime ({context.ContainerRuntime ?? "docker/podman"}) does not answer",
                "start it (eng/containers/engine.sh start docker, then eval its exports), or run without containers: ./cartrita up --Cartrita:Infrastructure=processes");
        }
        if (resource.TryGetContainerImageName(out var image) && Find(ImageUnavailable()) is { } pull)
        {
            return new($"the image {image} could not be pulled, and the engine does not have it ({pull.Trim()})",
                $"build or load it into {context.ContainerRuntime ?? "the engine"} (without a registry, eng/containers/base-images.sh {context.ContainerRuntime ?? "docker"} builds local stand-ins; `{context.ContainerRuntime ?? "docker"} load -i FILE` loads a saved one; Cartrita:Containers:Registry names a mirror), or run without containers: ./cartrita up --Cartrita:Infrastructure=processes");
        }
        if (Find(AddressInUse()) is { } inUse)
        {
            return new(inUse.Trim(), "another process took the port after the AppHost checked it: stop it (`ss -ltnp` names it), or move Cartrita off the port (for example --Cartrita:Ports:Postgres=5433)");
        }
        if (Find(ExtensionMissing()) is { } extension)
        {
            return new(extension.Trim(), $"{context.Sudo}eng/install.sh pgvector   (builds pgvector 0.8.0 for PostgreSQL 15)");
        }
        if (Find(PythonModuleMissing()) is { } module)
        {
            return new(module.Trim(), $"{context.Sudo}eng/install.sh apt   (the orchestrator's Python packages, for /usr/bin/python3)");
        }
        if (resource is ContainerResource && state == KnownResourceStates.FailedToStart && tail.Count == 0)
        {
            return new($"{context.ContainerRuntime ?? "the engine"} could not create the container (DCP keeps its reason in its own log)",
                $"see it with `./cartrita up --Logging:LogLevel:Aspire.Hosting.Dcp=Debug`, or run without containers: ./cartrita up --Cartrita:Infrastructure=processes");
        }
        // Our own launchers name the fix in their message ("… Fix: …").
        if (texts.LastOrDefault(text => OwnFix().IsMatch(text)) is { } withFix)
        {
            var parts = OwnFix().Split(withFix, 2);
            return new(FirstLine(parts[0]), parts[1].Trim());
        }
        // The last line that says it is an error; else the last one on stderr (where many servers write everything).
        var lastError = tail.LastOrDefault(line => ErrorWords().IsMatch(line.Content)).Content
            ?? healthTexts.FirstOrDefault()
            ?? tail.LastOrDefault(line => line.IsErrorMessage).Content;
        return new(string.IsNullOrWhiteSpace(lastError) ? null : FirstLine(lastError),
            timedOut
                ? $"{fullLog}; if it is only slow, allow it more time: --Cartrita:Startup:TimeoutSeconds=600"
                : fullLog);
    }

    private static Diagnosis PasswordMismatch(IResource resource, string rejected, FailureContext context)
    {
        var server = resource is IResourceWithParent { Parent: var parent } ? parent : resource;
        var volume = server.Annotations.OfType<ContainerMountAnnotation>()
            .FirstOrDefault(mount => mount.Type == ContainerMountType.Volume && mount.Source is not null)?.Source;
        var keep = "keep the password it was created with: set Parameters:postgres-password to it " +
            "(dotnet user-secrets set Parameters:postgres-password '<that password>' --project Cartrita.AppHost)";
        return volume is not null
            ? new($"the data volume '{volume}' was initialized with another password than the one configured now",
                $"{keep}; or start with an empty database: {context.ContainerRuntime ?? "docker"} volume rm {volume}   (deletes that volume and everything in it)")
            : new("PostgreSQL rejects the configured password",
                $"{keep}");
    }

    [GeneratedRegex(@"28P01|password authentication failed", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordRejected();

    [GeneratedRegex(@"pull access denied|manifest unknown|failed to pull|unable to pull|error pulling|image .* not found|no such image|repository does not exist|failed to resolve reference|image not known|Error response from daemon: .*(pull|manifest|registry)", RegexOptions.IgnoreCase)]
    private static partial Regex ImageUnavailable();

    [GeneratedRegex(@"address already in use|could not bind|bind: address", RegexOptions.IgnoreCase)]
    private static partial Regex AddressInUse();

    [GeneratedRegex(@"extension control file|extension ""vector"" is not available", RegexOptions.IgnoreCase)]
    private static partial Regex ExtensionMissing();

    [GeneratedRegex(@"ModuleNotFoundError|No module named")]
    private static partial Regex PythonModuleMissing();

    [GeneratedRegex(@"\s(?:Fix|fix):\s")]
    private static partial Regex OwnFix();

    [GeneratedRegex(@"\b(FATAL|ERROR|Error|error:|Exception|Traceback|failed)\b")]
    private static partial Regex ErrorWords();

    [GeneratedRegex(@"^[\w.]+(Exception|Error)( \(0x[0-9A-Fa-f]+\))?: ")]
    private static partial Regex ExceptionTypePrefix();
}

/// <summary>What a failure report may point the user at.</summary>
/// <param name="ContainerRuntime">docker or podman in containers mode, else <see langword="null"/>.</param>
/// <param name="LogDirectory">Where the AppHost copies each resource's console.</param>
/// <param name="Sudo"><c>"sudo "</c> when installs need it, else empty.</param>
internal sealed record FailureContext(string? ContainerRuntime, string LogDirectory, string Sudo);
