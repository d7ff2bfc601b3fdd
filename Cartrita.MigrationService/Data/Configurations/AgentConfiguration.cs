using Cartrita.MigrationService.Data.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Cartrita.MigrationService.Data.Configurations;

internal sealed class AgentConfiguration : IEntityTypeConfiguration<Agent>
{
    public void Configure(EntityTypeBuilder<Agent> builder)
    {
        builder.ToTable("agents");
        builder.HasKey(a => a.Name).HasName("pk_agents");

        builder.Property(a => a.Name).HasColumnName("name");
        builder.Property(a => a.Description).HasColumnName("description").HasDefaultValue("").ValueGeneratedNever();
        builder.Property(a => a.Enabled).HasColumnName("enabled").HasDefaultValue(true).ValueGeneratedNever();

        // Seed rows; changing them needs a new migration.
        builder.HasData(
            new Agent { Name = "general", Description = "General conversation and task routing.", Enabled = true },
            new Agent { Name = "research", Description = "Finds, reads and summarises sources.", Enabled = true },
            new Agent { Name = "code", Description = "Writes, explains and reviews code.", Enabled = true });
    }
}
