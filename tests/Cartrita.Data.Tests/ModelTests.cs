using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;

namespace Cartrita.Data.Tests;

/// <summary>The EF model itself, no database needed.</summary>
public sealed partial class ModelTests
{
    [Fact]
    public void Every_model_change_is_in_a_migration()
    {
        using var context = Db.CreateContext("Host=localhost");

        Assert.False(context.Database.HasPendingModelChanges(),
            "the model differs from the last migration: run `dotnet ef migrations add <Name> --project Cartrita.MigrationService`");
        Assert.Contains(Db.Migrations, id => id.EndsWith("_InitialSchema", StringComparison.Ordinal));
    }

    [Fact]
    public void Tables_columns_keys_and_indexes_are_snake_case()
    {
        using var context = Db.CreateContext("Host=localhost");
        var names = new List<string>();
        foreach (var table in context.GetService<IDesignTimeModel>().Model.GetRelationalModel().Tables)
        {
            names.Add(table.Name);
            names.AddRange(table.Columns.Select(c => c.Name));
            names.AddRange(table.Indexes.Select(i => i.Name));
            names.AddRange(table.UniqueConstraints.Select(u => u.Name));
            names.AddRange(table.ForeignKeyConstraints.Select(f => f.Name));
            names.AddRange(table.CheckConstraints.Select(c => c.Name!));
        }

        Assert.Equal(6, context.Model.GetEntityTypes().Count());
        Assert.All(names, name => Assert.Matches(SnakeCase(), name));
    }

    [GeneratedRegex("^[a-z][a-z0-9]*(_[a-z0-9]+)*$")]
    private static partial Regex SnakeCase();
}
