using Cartrita.MigrationService.Data;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Cartrita.Data.Tests;

/// <summary>Small helpers for checking a database with plain SQL (as the Python service sees it) and through EF.</summary>
public static class Db
{
    /// <summary>The model's migration ids, in order (from the assembly under test).</summary>
    public static IReadOnlyList<string> Migrations { get; } = CreateContext("Host=localhost").Database.GetMigrations().ToList();

    public static CartritaDbContext CreateContext(string connectionString) => new(
        new DbContextOptionsBuilder<CartritaDbContext>()
            .UseNpgsql(connectionString, npgsql => npgsql.UseVector())
            .Options);

    public static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return connection;
    }

    public static async Task<List<T>> ListAsync<T>(this NpgsqlConnection connection, string sql, params object[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<T>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetFieldValue<T>(0));
        }

        return values;
    }

    public static async Task<T> ScalarAsync<T>(this NpgsqlConnection connection, string sql, params object[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? default! : (T)value;
    }

    public static async Task<int> ExecuteAsync(this NpgsqlConnection connection, string sql, params object[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>Applied migration id → number of history rows for it.</summary>
    public static async Task<Dictionary<string, long>> HistoryAsync(string connectionString)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = Command(connection,
            "SELECT \"MigrationId\", count(*) FROM \"__EFMigrationsHistory\" GROUP BY \"MigrationId\"", []);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new Dictionary<string, long>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = reader.GetInt64(1);
        }

        return rows;
    }

    /// <summary>Asserts that every migration of the model is recorded exactly once, and nothing else.</summary>
    public static async Task AssertEachMigrationRecordedOnceAsync(string connectionString)
    {
        var history = await HistoryAsync(connectionString);
        Assert.Equal(Migrations.Order(), history.Keys.Order());
        Assert.All(history, row => Assert.Equal(1, row.Value));
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, object[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return command;
    }
}
