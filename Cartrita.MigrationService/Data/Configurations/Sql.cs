namespace Cartrita.MigrationService.Data.Configurations;

/// <summary>SQL default expressions shared by the configurations.</summary>
internal static class Sql
{
    /// <summary>From the <c>uuid-ossp</c> extension.</summary>
    public const string NewUuid = "uuid_generate_v4()";

    public const string Now = "now()";
}
