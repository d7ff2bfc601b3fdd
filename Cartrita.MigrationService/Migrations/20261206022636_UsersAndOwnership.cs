using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Cartrita.MigrationService.Migrations
{
    /// <summary>
    /// Local user accounts (<c>users</c>) and an owner on conversations and memories. Rows that exist already keep
    /// <c>owner_id</c> NULL: the service principal's space (API-key callers), which no signed-in user sees. Adding a
    /// nullable column without a default rewrites no table.
    /// </summary>
    public partial class UsersAndOwnership : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<Guid>(
                name: "owner_id",
                table: "memories",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "owner_id",
                table: "conversations",
                type: "uuid",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "users",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false, defaultValueSql: "uuid_generate_v4()"),
                    username = table.Column<string>(type: "text", nullable: false),
                    password_hash = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_users", x => x.id);
                    table.CheckConstraint("ck_users_username", "username ~ '^[a-z0-9][a-z0-9._-]{1,62}$'");
                });

            migrationBuilder.CreateIndex(
                name: "ix_memories_owner_id",
                table: "memories",
                column: "owner_id");

            migrationBuilder.CreateIndex(
                name: "ix_conversations_owner_id_updated_at",
                table: "conversations",
                columns: new[] { "owner_id", "updated_at" });

            migrationBuilder.CreateIndex(
                name: "ux_users_username",
                table: "users",
                column: "username",
                unique: true);

            migrationBuilder.AddForeignKey(
                name: "fk_conversations_users_owner_id",
                table: "conversations",
                column: "owner_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_memories_users_owner_id",
                table: "memories",
                column: "owner_id",
                principalTable: "users",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_conversations_users_owner_id",
                table: "conversations");

            migrationBuilder.DropForeignKey(
                name: "fk_memories_users_owner_id",
                table: "memories");

            migrationBuilder.DropTable(
                name: "users");

            migrationBuilder.DropIndex(
                name: "ix_memories_owner_id",
                table: "memories");

            migrationBuilder.DropIndex(
                name: "ix_conversations_owner_id_updated_at",
                table: "conversations");

            migrationBuilder.DropColumn(
                name: "owner_id",
                table: "memories");

            migrationBuilder.DropColumn(
                name: "owner_id",
                table: "conversations");
        }
    }
}
