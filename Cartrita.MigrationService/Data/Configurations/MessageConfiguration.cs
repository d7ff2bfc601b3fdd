using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Cartrita.MigrationService.Data.Configurations;

internal sealed class MessageConfiguration : IEntityTypeConfiguration<Message>
{
    public void Configure(EntityTypeBuilder<Message> builder)
    {
        builder.ToTable("messages", table => table.HasCheckConstraint(
            "ck_messages_role",
            $"role IN ({string.Join(", ", Message.Roles.Select(role => $"'{role}'"))})"));
        builder.HasKey(m => m.Id).HasName("pk_messages");

        builder.Property(m => m.Id).HasColumnName("id").HasDefaultValueSql(Sql.NewUuid);
        builder.Property(m => m.ConversationId).HasColumnName("conversation_id");
        builder.Property(m => m.Role).HasColumnName("role");
        builder.Property(m => m.Content).HasColumnName("content");
        builder.Property(m => m.TokenCount).HasColumnName("token_count").HasDefaultValue(0).ValueGeneratedNever();
        builder.Property(m => m.Agent).HasColumnName("agent");
        builder.Property(m => m.Provider).HasColumnName("provider");
        builder.Property(m => m.CreatedAt).HasColumnName("created_at").HasDefaultValueSql(Sql.Now);

        builder.HasOne(m => m.Conversation)
            .WithMany(c => c.Messages)
            .HasForeignKey(m => m.ConversationId)
            .OnDelete(DeleteBehavior.Cascade)
            .HasConstraintName("fk_messages_conversations_conversation_id");

        // A conversation's history in order; also serves the foreign key.
        builder.HasIndex(m => new { m.ConversationId, m.CreatedAt }).HasDatabaseName("ix_messages_conversation_id_created_at");
    }
}
