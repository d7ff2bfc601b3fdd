namespace Cartrita.AppHost.Hosting.LocalProcesses;

/// <summary>
/// The OS account a local server runs under. PostgreSQL refuses to run as root, so when the AppHost itself is root the
/// server drops to a system account with <c>setpriv</c>, which then <c>exec</c>s the server: DCP's stop signal reaches
/// the server directly and nothing outlives the AppHost. An ordinary user runs the server as themself.
/// </summary>
internal sealed record ServiceAccount(string? UserName)
{
    public static bool IsRoot => Environment.UserName == "root" || GetEffectiveUserId() == 0;

    /// <summary>The account for a server that must not run as root: <paramref name="systemUser"/> when we are root, else ourselves.</summary>
    public static ServiceAccount NonRoot(string systemUser) => new(IsRoot ? systemUser : null);

    public bool SwitchesUser => UserName is not null;

    /// <summary>The program to start: <c>setpriv</c> when switching user, else the server itself.</summary>
    public string Command(string program) => SwitchesUser ? "setpriv" : program;

    /// <summary>Arguments that make <see cref="Command"/> run <paramref name="program"/> as this account.</summary>
    public IEnumerable<string> Arguments(string program, IEnumerable<string> arguments) =>
        SwitchesUser
            ? [$"--reuid={UserName}", $"--regid={UserName}", "--init-groups", "--", program, .. arguments]
            : arguments;

    /// <summary>Hands a folder to this account (no-op when running as ourselves).</summary>
    public async Task TakeOwnershipAsync(string directory, CancellationToken cancellationToken)
    {
        if (!SwitchesUser)
        {
            return;
        }
        var result = await CommandLine.RunAsync("chown", ["-R", $"{UserName}:{UserName}", directory], cancellationToken: cancellationToken);
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"Could not hand '{directory}' to the '{UserName}' account: {result.Output.Trim()}");
        }
    }

    /// <summary>
    /// Whether this account can write into <paramref name="directory"/>: every parent folder must be traversable by it.
    /// </summary>
    public async Task<bool> CanReachAsync(string directory, CancellationToken cancellationToken)
    {
        if (!SwitchesUser)
        {
            return true;
        }
        var result = await CommandLine.RunAsync(Command("test"), Arguments("/usr/bin/test", ["-w", directory]), cancellationToken: cancellationToken);
        return result.Succeeded;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();
}
