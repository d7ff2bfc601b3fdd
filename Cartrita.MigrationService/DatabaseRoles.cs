namespace Cartrita.MigrationService;

/// <summary>
/// The database roles every deployment uses (README, "Database roles"): the server's superuser only bootstraps;
/// <see cref="Owner"/> owns the database and every schema object (migrations, backups and restores run as it);
/// <see cref="App"/> reads and writes rows and nothing else (the orchestrator's <c>DATABASE_URL</c>).
/// </summary>
public static class DatabaseRoles
{
    /// <summary>Owns the database, its schema objects and the restore template; may create databases (restores).</summary>
    public const string Owner = "cartrita_owner";

    /// <summary>SELECT/INSERT/UPDATE/DELETE on the tables, USAGE/SELECT on the sequences; no DDL.</summary>
    public const string App = "cartrita_app";

    /// <summary>The superuser connection string's name (<c>ConnectionStrings__postgres-admin</c>); unset: no bootstrap.</summary>
    public const string AdminConnectionName = "postgres-admin";

    /// <summary>The owner's password; unset keeps the password of an existing role.</summary>
    public const string OwnerPasswordVariable = "CARTRITA_DB_OWNER_PASSWORD";

    /// <summary>The app role's password; unset keeps the password of an existing role.</summary>
    public const string AppPasswordVariable = "CARTRITA_DB_APP_PASSWORD";

    /// <summary>
    /// The database a restore clones its scratch database from (<c>&lt;database&gt;_template</c>): it carries the extensions,
    /// which only a superuser may create (pgvector is not a trusted extension), and the app role's default privileges, so
    /// that <see cref="Owner"/> can restore without the superuser.
    /// </summary>
    public static string TemplateDatabase(string database) => $"{database}_template";
}
