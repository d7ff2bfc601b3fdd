namespace Cartrita.AppHost.Hosting.LocalProcesses;

/// <summary>
/// The repository's launchers for local servers (<c>eng/local-servers</c>, contract in its README.md): the scripts the
/// tests and the benchmarks run too, so a local server is prepared and started one way only.
/// </summary>
internal static class LocalServerLaunchers
{
    /// <summary>The launcher <paramref name="name"/> (<c>postgres-server</c>, <c>redis-server</c>) of this checkout.</summary>
    public static string Path(IDistributedApplicationBuilder builder, string name) =>
        System.IO.Path.GetFullPath(System.IO.Path.Combine(builder.AppHostDirectory, "..", "eng", "local-servers", name));
}
