using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Cartrita.MigrationService.Migrations
{
    /// <summary>
    /// Lets PostgreSQL build the memories' HNSW index with parallel workers. The vectors are stored out of line (TOAST),
    /// so the heap looks small and the planner would otherwise give an index build no worker (the build times are in
    /// BENCHMARKS.md). Storage parameter only; the model does not change.
    /// </summary>
    public partial class MemoriesParallelIndexBuilds : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("ALTER TABLE memories SET (parallel_workers = 2);");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("ALTER TABLE memories RESET (parallel_workers);");
        }
    }
}
