using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Cartrita.MigrationService.Data;

/// <summary>
/// Lets <c>dotnet ef migrations add</c> build the model without starting the host or reaching a database.
/// The connection string is only used by commands that connect (<c>dotnet ef database update</c>, which the worker
/// replaces); pass <c>--connection</c> to point those somewhere real.
/// </summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<CartritaDbContext>
{
    public CartritaDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<CartritaDbContext>()
            .UseNpgsql("Host=localhost;Database=cartrita", npgsql => npgsql.UseVector())
            .Options;
        return new CartritaDbContext(options);
    }
}
