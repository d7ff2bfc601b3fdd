namespace Cartrita.Operations;

/// <summary>
/// Files and folders only their owner may read: what Cartrita keeps on disk holds connection strings, logs and whole
/// databases (backups), so it is created 0600 in 0700 folders.
/// </summary>
public static class PrivateFiles
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates <paramref name="path"/> owner-only, or narrows it when it exists wider (made by an earlier version).</summary>
    /// <param name="path">The folder.</param>
    /// <returns>The folder.</returns>
    public static DirectoryInfo CreateDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsWindows())
        {
            return Directory.CreateDirectory(path);
        }
        var directory = Directory.CreateDirectory(path, OwnerOnlyFolder);
        if ((directory.UnixFileMode & ~OwnerOnlyFolder) != 0)
        {
            directory.UnixFileMode = OwnerOnlyFolder;
        }
        return directory;
    }

    /// <summary>A new file, owner-only from its creation (not narrowed after: there is no moment others could open it).</summary>
    /// <param name="path">The file; it must not exist yet.</param>
    /// <returns>The file, open for writing.</returns>
    public static FileStream CreateFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile;
        }
        return new FileStream(path, options);
    }
}
