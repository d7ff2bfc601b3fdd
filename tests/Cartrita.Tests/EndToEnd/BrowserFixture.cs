using Microsoft.Playwright;

namespace Cartrita.Tests.EndToEnd;

/// <summary>
/// One headless Chromium for the browser end-to-end tests, driven by Playwright. It is Debian's /usr/bin/chromium
/// (installed by <c>./cartrita test</c> through eng/install.sh): Playwright's own browser builds are never downloaded.
/// The Playwright driver itself (node + its JS package) ships inside the Microsoft.Playwright NuGet package and is
/// copied next to the test assembly at build time, so nothing is fetched at test time either.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Where Debian puts Chromium; <c>CARTRITA_CHROMIUM</c> overrides it.</summary>
    public const string DefaultChromiumPath = "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs =
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ];

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public static string ChromiumPath =>
        Environment.GetEnvironmentVariable("CARTRITA_CHROMIUM") is { Length: > 0 } path ? path : DefaultChromiumPath;

    public async Task InitializeAsync()
    {
        var chromium = ChromiumPath;
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException(
                $"Chromium is not installed at {chromium}; the browser end-to-end tests drive Debian's chromium and never " +
                "download a browser. `./cartrita test` installs it (eng/install.sh, apt: chromium), or run " +
                "`apt-get install -y chromium` (or point CARTRITA_CHROMIUM at a Chromium binary).");
        }

        // Belt and braces: nothing in the driver may try to fetch a browser build.
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        Assertions.SetDefaultExpectTimeout(15_000);

        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ChromiumArgs,
            Timeout = 60_000,
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }
        Playwright?.Dispose();
    }

    /// <summary>TestResults/screenshots at the repository root (the folder holding Cartrita.sln); git-ignored.</summary>
    public static string ScreenshotDirectory { get; } = CreateScreenshotDirectory();

    private static string CreateScreenshotDirectory()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Cartrita.sln")))
        {
            directory = directory.Parent;
        }
        var root = directory?.FullName
            ?? throw new InvalidOperationException($"Cartrita.sln not found above {AppContext.BaseDirectory}");
        var path = Path.Combine(root, "TestResults", "screenshots");
        Directory.CreateDirectory(path);
        return path;
    }
}
