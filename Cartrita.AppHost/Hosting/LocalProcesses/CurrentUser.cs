namespace Cartrita.AppHost.Hosting.LocalProcesses;

/// <summary>The OS account the AppHost runs as: install hints say <c>sudo</c> only when it is not root.</summary>
internal static class CurrentUser
{
    public static bool IsRoot => Environment.UserName == "root" || GetEffectiveUserId() == 0;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();
}
