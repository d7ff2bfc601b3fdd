namespace Cartrita.AppHost.Hosting.Postgres;

/// <summary>Where the PostgreSQL server programs and the pgvector extension live on this machine.</summary>
/// <param name="BinDirectory">The folder holding <c>postgres</c>, <c>initdb</c> and <c>pg_config</c>.</param>
internal sealed record PostgresBinaries(string BinDirectory)
{
    /// <summary>Debian's layout for the PostgreSQL major version Cartrita pins (it matches the container image).</summary>
    public const string DefaultBinDirectory = "/usr/lib/postgresql/15/bin";

    public string Postgres => Path.Combine(BinDirectory, "postgres");

    public string InitDb => Path.Combine(BinDirectory, "initdb");

    /// <summary><c>vector.control</c> under the server's share folder (the Debian layout mirrors lib → share).</summary>
    public string VectorControlFile => Path.Combine(ShareDirectory, "extension", "vector.control");

    private string ShareDirectory =>
        BinDirectory.StartsWith("/usr/lib/postgresql/", StringComparison.Ordinal)
            ? Path.Combine("/usr/share/postgresql", Path.GetFileName(Path.GetDirectoryName(BinDirectory.TrimEnd('/')))!)
            : Path.Combine(Path.GetDirectoryName(BinDirectory.TrimEnd('/'))!, "share");
}
