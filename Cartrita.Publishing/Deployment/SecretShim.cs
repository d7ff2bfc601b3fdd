using System.Text;
using Cartrita.Publishing.Manifest;

namespace Cartrita.Publishing.Deployment;

/// <summary>
/// The entrypoint wrapper for images that read their secrets from plain environment variables: one line of POSIX sh
/// that reads each secret parameter from its file under <see cref="Directory"/> (a Docker secret, a mounted Kubernetes
/// Secret), builds every variable from them (connection strings and URLs too, percent-encoding where the manifest says
/// <c>uri</c>), then <c>exec</c>s the image's own command, so that command is PID 1 and receives the stop signal. So the
/// secret files are exactly the secret parameters, and no value is in a Compose or Kubernetes file or in
/// <c>docker inspect</c>.
/// </summary>
public static partial class SecretShim
{
    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial System.Text.RegularExpressions.Regex ShellName();

    /// <summary>Where the secret files are mounted.</summary>
    public const string Directory = "/run/secrets";

    // Uri.EscapeDataString in POSIX sh: unreserved characters as they are, every other byte as %XX. LC_ALL=C makes a
    // multibyte-aware sh (bash) step through bytes as dash does; it runs in a $(…) subshell, so nothing leaks.
    private const string UriEncoder =
        "u() { LC_ALL=C; s=$1; while [ -n \"$s\" ]; do t=${s#?}; c=${s%\"$t\"}; s=$t; " +
        "case $c in [A-Za-z0-9._~-]) printf %s \"$c\";; *) printf %%%02X \"'$c\";; esac; done; }";

    /// <summary>The script and the secret files (parameter file names) it reads.</summary>
    /// <param name="variables">The variables to set; each must be secret (non-secret ones go in the plain environment).</param>
    /// <param name="value">The value of a non-secret parameter, inlined.</param>
    public static (string Script, IReadOnlyList<string> Files) Create(IReadOnlyList<WorkloadVariable> variables, Func<string, string> value)
    {
        ArgumentNullException.ThrowIfNull(variables);
        ArgumentNullException.ThrowIfNull(value);
        var files = new List<string>();
        var encoderUsed = false;
        string Reference(ParameterPart part)
        {
            var file = ParameterValues.SecretFileName(part.Parameter);
            var index = files.IndexOf(file);
            if (index < 0)
            {
                files.Add(file);
                index = files.Count - 1;
            }
            var reference = $"$p{index}";
            foreach (var filter in part.Filters)
            {
                if (filter != "uri")
                {
                    ResolvedValue.ApplyFilter("", filter); // throws: unknown filter
                }
                encoderUsed = true;
                reference = $"$(u \"{reference}\")";
            }
            return reference;
        }

        var assignments = new List<(string Name, string Assignment)>();
        foreach (var variable in variables)
        {
            var text = new StringBuilder();
            foreach (var part in variable.Value.Parts)
            {
                text.Append(part switch
                {
                    LiteralPart literal => Quote(literal.Text),
                    ParameterPart { Secret: true } secret => Reference(secret),
                    ParameterPart plain => Quote(plain.Filters.Aggregate(value(plain.Parameter), ResolvedValue.ApplyFilter)),
                    // As a secret value always was: the setting's default, fixed when publishing.
                    SettingPart setting => Quote(setting.Default),
                    _ => throw new InvalidOperationException(part.GetType().Name),
                });
            }
            assignments.Add((variable.Name, $"\"{variable.Name}={text}\""));
        }

        var reads = files.Select((file, i) => $"p{i}=$(cat {Directory}/{file})");
        // `export`, then exec: the values stay in the environment. `exec env NAME=value …` would hold every one of them
        // in env's arguments (ps, /proc/*/cmdline) until it execs: env only for the names sh cannot export (a hyphen,
        // as in ConnectionStrings__postgres-admin), the others exported first.
        var exported = assignments.Where(a => ShellName().IsMatch(a.Name)).Select(a => a.Assignment).ToList();
        var viaEnv = assignments.Where(a => !ShellName().IsMatch(a.Name)).Select(a => a.Assignment).ToList();
        var set = (exported.Count > 0 ? $"export {string.Join(' ', exported)}; " : "") +
            (viaEnv.Count > 0 ? $"exec env {string.Join(' ', viaEnv)} \"$@\"" : "exec \"$@\"");
        var script = $"set -e; {string.Join("; ", reads)}; {(encoderUsed ? UriEncoder + "; " : "")}{set}";
        return (script, files);
    }

    /// <summary>
    /// Text for inside double quotes in sh. A <c>$</c> closes the quotes around a single-quoted <c>'$'</c>, so the script
    /// never holds <c>$(NAME)</c> or <c>$$</c> of its own, which the kubelet would expand or reduce in a command.
    /// </summary>
    private static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            quoted.Append(c switch
            {
                '$' => "\"'$'\"",
                '\\' or '"' or '`' => $"\\{c}",
                _ => c.ToString(),
            });
        }
        return quoted.ToString();
    }
}
