namespace Cartrita.Publishing.Deployment;

/// <summary>
/// Makes a <c>sh -c "…"</c> command exec its server. Without <c>exec</c> the shell stays PID 1; PID 1 has no default
/// signal actions, so sh ignores the stop signal: the runtime waits out its grace period, then SIGKILLs the server,
/// which never saves (Redis loses the writes since its last save).
/// </summary>
public static class ShellExec
{
    private static readonly string[] Shells = ["/bin/sh", "sh", "/bin/bash", "bash", "/bin/ash", "ash", "/bin/dash", "dash"];

    /// <summary>Whether <paramref name="program"/> is a POSIX shell.</summary>
    public static bool IsShell(string? program) => program is not null && Shells.Contains(program);

    /// <summary>
    /// <paramref name="script"/> ending in an exec: as is when its last command already is one, with <c>exec </c> in front
    /// when it is one simple command.
    /// </summary>
    /// <exception cref="PublishingException">A compound script whose last command is not an exec.</exception>
    public static string Ensure(string script, string where)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(where);
        var trimmed = script.Trim();
        var last = trimmed.Split([";", "&&", "||", "\n"], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
        if (last.StartsWith("exec ", StringComparison.Ordinal))
        {
            return script;
        }
        if (trimmed.IndexOfAny([';', '&', '|', '\n', '`', '(', ')', '<', '>']) < 0 && trimmed.Length > 0)
        {
            return "exec " + trimmed;
        }
        throw new PublishingException(
            $"{where}: its shell command \"{script}\" would leave sh as PID 1, which ignores the stop signal (the server is " +
            "SIGKILLed after the grace period and loses unsaved data). End the script with `exec <server> …`.");
    }
}
