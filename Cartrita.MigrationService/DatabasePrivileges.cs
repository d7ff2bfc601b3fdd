namespace Cartrita.MigrationService;

/// <summary>
/// The privileges of <see cref="DatabaseRoles.App"/>, in one place: rows of every table and the sequences behind them,
/// nothing that changes the schema (no CREATE on the schema or the database, no TRUNCATE, REFERENCES or TRIGGER), no
/// temporary tables, and only reads of the migrations' history. See SCHEMA.md, "Roles".
/// </summary>
internal static class DatabasePrivileges
{
    private static readonly string Owner = DatabaseBootstrap.Quote(DatabaseRoles.Owner);
    private static readonly string App = DatabaseBootstrap.Quote(DatabaseRoles.App);

    /// <summary>
    /// Database level, as the superuser or the owner: PostgreSQL lets PUBLIC (every role) CONNECT and create TEMP tables by
    /// default; TEMP is taken back, CONNECT stays (and is granted to the app role by name, which says what it needs).
    /// </summary>
    public static string Database(string database) =>
        $"REVOKE TEMPORARY ON DATABASE {DatabaseBootstrap.Quote(database)} FROM PUBLIC; GRANT CONNECT ON DATABASE {DatabaseBootstrap.Quote(database)} TO {App}";

    /// <summary>
    /// Schema <c>public</c>, as the superuser (in the database and in the restore template): no CREATE for PUBLIC
    /// (PostgreSQL 15's default, stated for clusters created by older versions), USAGE for the app role, and default
    /// privileges, so that every table and sequence the owner creates (a migration, a restore) is the app's to use at once.
    /// </summary>
    public static string SchemaAndDefaults =>
        $"""
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT USAGE ON SCHEMA public TO {App};
        ALTER DEFAULT PRIVILEGES FOR ROLE {Owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {App};
        ALTER DEFAULT PRIVILEGES FOR ROLE {Owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {App};
        """;

    /// <summary>
    /// After the migrations, as the owner: the same rights on what exists (tables made before the default privileges,
    /// objects adopted from the superuser). The history is the worker's: the app may read it, never rewrite it (a deleted
    /// row would make the next worker apply a migration again).
    /// </summary>
    public static string Tables(string historyTable) =>
        $"""
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {App};
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {App};
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {historyTable} FROM {App};
        """;
}
