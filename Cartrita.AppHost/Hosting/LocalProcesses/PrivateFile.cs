namespace Cartrita.AppHost.Hosting.LocalProcesses;

/// <summary>Files that hold secrets (a password file for initdb, redis.conf with requirepass): owner-only from birth.</summary>
internal static class PrivateFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="contents"/>, readable and writable by its owner only.</summary>
    public static async Task WriteAsync(string path, string contents, CancellationToken cancellationToken)
    {
        // A new file takes its mode at creation; an existing one could carry a wider mode, so start afresh.
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        await using var stream = new FileStream(path, options);
        await using var writer = new StreamWriter(stream);
        await writer.WriteAsync(contents.AsMemory(), cancellationToken);
    }
}
