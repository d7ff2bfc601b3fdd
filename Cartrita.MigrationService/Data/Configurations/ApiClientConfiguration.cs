using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Cartrita.MigrationService.Data.Configurations;

internal sealed class ApiClientConfiguration : IEntityTypeConfiguration<ApiClient>
{
    public void Configure(EntityTypeBuilder<ApiClient> builder)
    {
        builder.ToTable("api_clients");
        builder.HasKey(c => c.Id).HasName("pk_api_clients");

        builder.Property(c => c.Id).HasColumnName("id").HasDefaultValueSql(Sql.NewUuid);
        builder.Property(c => c.Name).HasColumnName("name");
        builder.Property(c => c.KeyHash).HasColumnName("key_hash");
        builder.Property(c => c.CreatedAt).HasColumnName("created_at").HasDefaultValueSql(Sql.Now);
        builder.Property(c => c.LastUsedAt).HasColumnName("last_used_at");
        builder.Property(c => c.Revoked).HasColumnName("revoked").HasDefaultValue(false).ValueGeneratedNever();

        builder.HasIndex(c => c.Name).IsUnique().HasDatabaseName("ux_api_clients_name");
    }
}
