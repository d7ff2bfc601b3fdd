namespace Cartrita.Operations.Cli;

/// <summary>
/// The tiny command line of the operations tool: a command, positional values, <c>--name value</c> options and the
/// <see cref="Flags"/>, which take no value.
/// </summary>
internal sealed record CommandLineArguments(string? Command, IReadOnlyList<string> Positional, IReadOnlyDictionary<string, string> Options)
{
    /// <summary>Options without a value (else <c>restore --no-verify FILE</c> would read FILE as the option's value).</summary>
    private static readonly string[] Flags = ["--no-verify"];

    public string? Option(string name) => Options.TryGetValue(name, out var value) ? value : null;

    public bool Flag(string name) => Options.ContainsKey(name);

    public static CommandLineArguments Parse(string[] args)
    {
        var positional = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (Flags.Contains(args[i]))
            {
                options[args[i]] = "";
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                options[args[i]] = args[++i];
            }
            else
            {
                positional.Add(args[i]);
            }
        }
        return new CommandLineArguments(positional.FirstOrDefault(), positional.Skip(1).ToList(), options);
    }
}
