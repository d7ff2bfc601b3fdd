namespace Cartrita.AppHost.Terminal;

/// <summary>
/// A refusal to start (bad configuration, a missing prerequisite, a taken port: Aspire's and ours are all
/// <see cref="DistributedApplicationException"/>) ends the AppHost with its message alone and exit code
/// <see cref="ExitCode"/>, not with a stack trace. Any other exception is a defect and keeps its stack trace.
/// </summary>
public static class Refusals
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
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            if (e.ExceptionObject is Exception exception && Messages(exception) is { Count: > 0 } messages)
            {
                foreach (var message in messages)
                {
                    Console.Error.WriteLine($"cartrita: {message}");
                }
                Console.Error.Flush();
                Environment.Exit(ExitCode);
            }
        };
    }

    private static List<string> Messages(Exception exception) => exception switch
    {
        DistributedApplicationException refusal => [refusal.Message],
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
