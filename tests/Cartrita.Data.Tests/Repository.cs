namespace Cartrita.Data.Tests;

/// <summary>The checkout the tests run from.</summary>
internal static class Repository
{
    /// <summary>The folder holding Cartrita.sln, found above the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Cartrita.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Cartrita.sln not found above " + AppContext.BaseDirectory);
    }
}
