using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Cartrita.MigrationService.Data.Configurations;

internal sealed class UserConfiguration : IEntityTypeConfiguration<User>
{
    public void Configure(EntityTypeBuilder<User> builder)
    {
        builder.ToTable("users", table => table.HasCheckConstraint("ck_users_username", $"username ~ '{User.UsernamePattern}'"));
        builder.HasKey(u => u.Id).HasName("pk_users");

        builder.Property(u => u.Id).HasColumnName("id").HasDefaultValueSql(Sql.NewUuid);
        builder.Property(u => u.Username).HasColumnName("username");
        builder.Property(u => u.PasswordHash).HasColumnName("password_hash");
        builder.Property(u => u.CreatedAt).HasColumnName("created_at").HasDefaultValueSql(Sql.Now);
        builder.Property(u => u.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql(Sql.Now);

        builder.HasIndex(u => u.Username).IsUnique().HasDatabaseName("ux_users_username");
    }
}
