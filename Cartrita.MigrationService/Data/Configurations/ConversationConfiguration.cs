using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Cartrita.MigrationService.Data.Configurations;

internal sealed class ConversationConfiguration : IEntityTypeConfiguration<Conversation>
{
    public void Configure(EntityTypeBuilder<Conversation> builder)
    {
        builder.ToTable("conversations");
        builder.HasKey(c => c.Id).HasName("pk_conversations");

        builder.Property(c => c.Id).HasColumnName("id").HasDefaultValueSql(Sql.NewUuid);
        builder.Property(c => c.OwnerId).HasColumnName("owner_id");
        builder.Property(c => c.Title).HasColumnName("title").HasDefaultValue("").ValueGeneratedNever();
        builder.Property(c => c.Agent).HasColumnName("agent").HasDefaultValue("general").ValueGeneratedNever();
        builder.Property(c => c.CreatedAt).HasColumnName("created_at").HasDefaultValueSql(Sql.Now);
        builder.Property(c => c.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql(Sql.Now);

        builder.HasOne<User>()
            .WithMany()
            .HasForeignKey(c => c.OwnerId)
            .OnDelete(DeleteBehavior.Cascade)
            .HasConstraintName("fk_conversations_users_owner_id");

        // A user's conversations, most recently active first; also serves the foreign key.
        builder.HasIndex(c => new { c.OwnerId, c.UpdatedAt }).HasDatabaseName("ix_conversations_owner_id_updated_at");
    }
}
