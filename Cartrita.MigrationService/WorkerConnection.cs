using Npgsql;

namespace Cartrita.MigrationService;

/// <summary>The worker's connection settings, derived from the <c>cartrita</c> connection string it is given.</summary>
internal static class WorkerConnection
{
    /// <summary>
    /// The connection string the worker uses: a 5 s connect timeout unless one is set (few, short retries bound the
    /// worst case to about 4 × 5 s + 5 s of back-off instead of Npgsql's 15 s × EF's 6 retries), and GSS encryption off
    /// unless set. Npgsql's default (Prefer) loads libgssapi_krb5 to offer it and logs "Cannot load library
    /// libgssapi_krb5.so.2" in images without Kerberos; our servers authenticate with scram-sha-256 over plain TCP, so
    /// the probe can never succeed and installing krb5 into the image only to skip it would be weight for nothing.
    /// </summary>
    public static NpgsqlConnectionStringBuilder Create(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var defaults = new NpgsqlConnectionStringBuilder();
        if (builder.Timeout == defaults.Timeout)
        {
            builder.Timeout = 5;
        }
        if (!Mentions(connectionString, "GSS Encryption Mode", "GssEncryptionMode", "gssencmode"))
        {
            builder.GssEncryptionMode = GssEncryptionMode.Disable;
        }
        return builder;
    }

    private static bool Mentions(string connectionString, params string[] keys)
    {
        // The base builder keeps exactly the keys given (Npgsql's lists every key it knows).
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return given.Keys.Cast<string>().Any(k => keys.Any(key => string.Equals(k.Replace(" ", ""), key.Replace(" ", ""), StringComparison.OrdinalIgnoreCase)));
    }
}
