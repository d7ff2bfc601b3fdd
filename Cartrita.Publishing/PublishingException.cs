namespace Cartrita.Publishing;

/// <summary>
/// Bad input to a publisher: a missing or malformed manifest, an unsupported resource type, an expression that names
/// nothing, a parameter without a value. The message says what and where; the command line prints it and exits non-zero.
/// </summary>
public class PublishingException(string message) : Exception(message);
