using Microsoft.EntityFrameworkCore;

namespace Cartrita.MigrationService.Data;

/// <summary>The single owner of Cartrita's PostgreSQL schema (see SCHEMA.md for the contract the Python service reads).</summary>
public sealed class CartritaDbContext(DbContextOptions<CartritaDbContext> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasPostgresExtension("vector");
        modelBuilder.HasPostgresExtension("uuid-ossp");
    }
}
