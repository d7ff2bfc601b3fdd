namespace Cartrita.AppHost.Terminal;

/// <summary>
/// A refusal to start (bad configuration, a missing prerequisite, a taken port: Aspire's and ours are all
/// <see cref="DistributedApplicationException"/>; and .NET's own words for a setting it cannot use) ends the AppHost with its message alone and exit code
/// <see cref="ExitCode"/>, not with a stack trace. Any other exception is a defect and keeps its stack trace.
/// </summary>
internal static class Refusals
{
    /// <summary>Exit code of an AppHost that refused to start.</summary>
    public const int ExitCode = 2;

    /// <summary>
    /// Installs the handler; call it first thing. Only in the AppHost's own process: under Aspire.Hosting.Testing the
    /// AppHost's code runs inside the test host, whose exceptions are the tests' business.
    /// </summary>
    public static void PrintWithoutStackTrace()
    {
        if (!AppHostProcess.OwnsTheTerminal)
        {
            return;
        }
        // Refusals while the model is built (before anything runs); those from the run itself are handled by
        // RunAndWaitForCleanup, which stops what started first.
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            if (e.ExceptionObject is Exception exception && TryPrint(exception))
            {
                Environment.Exit(ExitCode);
            }
        };
    }

    /// <summary>Prints <paramref name="exception"/>'s messages when it is a refusal; <see langword="false"/> when it is not one.</summary>
    public static bool TryPrint(Exception exception)
    {
        if (Messages(exception) is not { Count: > 0 } messages)
        {
            return false;
        }
        foreach (var message in messages)
        {
            Console.Error.WriteLine($"cartrita: {message}");
        }
        Console.Error.Flush();
        return true;
    }

    private static List<string> Messages(Exception exception) => exception switch
    {
        DistributedApplicationException refusal => [refusal.Message],
        // Configuration that cannot work, as .NET words it: the message names the setting.
        InvalidOperationException { Message: var message } when message.StartsWith("Unable to configure HTTPS endpoint", StringComparison.Ordinal) =>
            ["Cannot start: the dashboard has no HTTP address and no HTTPS certificate. Start the AppHost with its http launch profile " +
             "(./cartrita up, or dotnet run --project Cartrita.AppHost), or set ASPNETCORE_URLS=http://localhost:15080 and " +
             "ASPIRE_ALLOW_UNSECURED_TRANSPORT=true."],
        InvalidOperationException { Message: var message } when message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) =>
            [$"Cannot start: {message.Split('\n')[0].TrimEnd('.')}: fix that setting (appsettings.json, the command line or the environment)."],
        AggregateException aggregate when aggregate.InnerExceptions.Select(Messages).ToList() is var inner && inner.All(m => m.Count > 0)
            => [.. inner.SelectMany(m => m).Distinct()],
        _ => [],
    };
}

/// <summary>Whether this process is the AppHost itself (rather than a test host running the AppHost's code).</summary>
internal static class AppHostProcess
{
    public static bool OwnsTheTerminal { get; } = System.Reflection.Assembly.GetEntryAssembly() == typeof(AppHostProcess).Assembly;
}
