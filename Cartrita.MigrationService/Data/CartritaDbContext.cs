using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace Cartrita.MigrationService.Data;

/// <summary>
/// The single owner of Cartrita's PostgreSQL schema. Table and column names are snake_case and spelled out in the
/// configurations (Data/Configurations) because the Python orchestrator uses them in raw SQL: SCHEMA.md is that contract.
/// The provider must be configured with <c>UseNpgsql(..., o =&gt; o.UseVector())</c>.
/// </summary>
public sealed class CartritaDbContext(DbContextOptions<CartritaDbContext> options) : DbContext(options)
{
    public DbSet<Conversation> Conversations => Set<Conversation>();

    public DbSet<Message> Messages => Set<Message>();

    public DbSet<Memory> Memories => Set<Memory>();

    public DbSet<ApiClient> ApiClients => Set<ApiClient>();

    public DbSet<Agent> Agents => Set<Agent>();

    public DbSet<User> Users => Set<User>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.HasPostgresExtension("vector");
        modelBuilder.HasPostgresExtension("uuid-ossp");
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(CartritaDbContext).Assembly);
    }
}
