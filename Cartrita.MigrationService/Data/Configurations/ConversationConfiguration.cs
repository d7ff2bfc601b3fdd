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
        builder.Property(c => c.Title).HasColumnName("title").HasDefaultValue("").ValueGeneratedNever();
        builder.Property(c => c.Agent).HasColumnName("agent").HasDefaultValue("general").ValueGeneratedNever();
        builder.Property(c => c.CreatedAt).HasColumnName("created_at").HasDefaultValueSql(Sql.Now);
        builder.Property(c => c.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql(Sql.Now);
    }
}
