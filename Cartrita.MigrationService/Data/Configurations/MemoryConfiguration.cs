using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Cartrita.MigrationService.Data.Configurations;

internal sealed class MemoryConfiguration : IEntityTypeConfiguration<Memory>
{
    public void Configure(EntityTypeBuilder<Memory> builder)
    {
        builder.ToTable("memories");
        builder.HasKey(m => m.Id).HasName("pk_memories");

        builder.Property(m => m.Id).HasColumnName("id").HasDefaultValueSql(Sql.NewUuid);
        builder.Property(m => m.OwnerId).HasColumnName("owner_id");
        builder.Property(m => m.Content).HasColumnName("content");
        builder.Property(m => m.Metadata).HasColumnName("metadata").HasColumnType("jsonb")
            .HasDefaultValueSql("'{}'::jsonb").ValueGeneratedNever();
        builder.Property(m => m.Embedding).HasColumnName("embedding").HasColumnType($"vector({Memory.EmbeddingDimensions})");
        builder.Property(m => m.CreatedAt).HasColumnName("created_at").HasDefaultValueSql(Sql.Now);
        builder.Property(m => m.UpdatedAt).HasColumnName("updated_at").HasDefaultValueSql(Sql.Now);

        // Approximate nearest-neighbour search by cosine distance (the <=> operator, CosineDistance in LINQ).
        // m and ef_construction are pgvector's defaults, written out so a change of default cannot change the index.
        builder.HasIndex(m => m.Embedding)
            .HasDatabaseName("ix_memories_embedding")
            .HasMethod("hnsw")
            .HasOperators("vector_cosine_ops")
            .HasStorageParameter("m", 16)
            .HasStorageParameter("ef_construction", 64);

        builder.HasOne<User>()
            .WithMany()
            .HasForeignKey(m => m.OwnerId)
            .OnDelete(DeleteBehavior.Cascade)
            .HasConstraintName("fk_memories_users_owner_id");

        // Deleting a user finds their memories through it. Searches filter on owner_id inside the HNSW scan instead
        // (hnsw.iterative_scan), so a top-k query never turns into "all of a user's rows, then sort".
        builder.HasIndex(m => m.OwnerId).HasDatabaseName("ix_memories_owner_id");
    }
}
