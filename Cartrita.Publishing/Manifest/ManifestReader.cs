using System.Text;
using System.Text.Json;

namespace Cartrita.Publishing.Manifest;

/// <summary>
/// Reads an Aspire manifest into <see cref="AspireManifest"/>. Malformed JSON is reported with its line and column;
/// a resource of a type no publisher here can deploy, or one missing a required property, is reported with the resource's
/// name, its type and the position of the offending property.
/// </summary>
public static class ManifestReader
{
    /// <summary>The resource types the publishers understand.</summary>
    public static readonly IReadOnlyList<string> SupportedTypes =
    [
        "container.v0", "container.v1", "dockerfile.v0", "project.v0", "project.v1", "parameter.v0", "value.v0", "annotated.string",
    ];

    /// <summary>Reads the manifest file <paramref name="path"/>.</summary>
    /// <exception cref="PublishingException">The file is missing, malformed, or describes something not deployable.</exception>
    public static AspireManifest Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new PublishingException($"Manifest not found: {path}. Produce it with `./cartrita publish manifest`.");
        }
        return Parse(File.ReadAllBytes(fullPath), fullPath);
    }

    /// <summary>Parses manifest JSON; <paramref name="sourcePath"/> names it in messages and anchors its relative paths.</summary>
    /// <exception cref="PublishingException">The JSON is malformed or describes something not deployable.</exception>
    public static AspireManifest Parse(ReadOnlyMemory<byte> json, string sourcePath)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        var positions = new JsonPositions(json, sourcePath);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            // LineNumber and BytePositionInLine are zero-based.
            var line = (e.LineNumber ?? 0) + 1;
            var column = (e.BytePositionInLine ?? 0) + 1;
            throw new PublishingException($"{sourcePath}:{line}:{column}: malformed JSON: {FirstSentence(e.Message)}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object ||
                !root.TryGetProperty("resources", out var resources) || resources.ValueKind != JsonValueKind.Object)
            {
                throw new PublishingException($"{positions.At("")}: not an Aspire manifest: the top level must be an object with a 'resources' object.");
            }

            var list = new List<ManifestResource>();
            foreach (var property in resources.EnumerateObject())
            {
                var reader = new ResourceReader(property.Name, property.Value, positions);
                list.Add(reader.Read());
            }
            return new AspireManifest(sourcePath, Path.GetDirectoryName(sourcePath) ?? ".", list);
        }
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(" Path:", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message;
    }

    /// <summary>Reads one resource, with messages naming it.</summary>
    private sealed class ResourceReader(string name, JsonElement element, JsonPositions positions)
    {
        private string _type = "?";
        private string Prefix => $"resources.{name}";

        public ManifestResource Read()
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                throw Error("", "must be a JSON object");
            }
            _type = RequiredString("type");
            return _type switch
            {
                "parameter.v0" => ReadParameter(),
                "value.v0" => new ValueResource(name, _type, RequiredString("connectionString")),
                "annotated.string" => new AnnotatedStringResource(name, _type, RequiredString("value"), OptionalString("filter")),
                "container.v0" or "container.v1" => ReadContainer(),
                "dockerfile.v0" => new DockerfileResource(name, _type, RequiredString("path"), RequiredString("context"),
                    StringMap("buildArgs"), Environment(), Bindings()),
                "project.v0" or "project.v1" => new ProjectResource(name, _type, RequiredString("path"), StringList("args"), Environment(), Bindings()),
                _ => throw new PublishingException(
                    $"{positions.At(Prefix + ".type")}: resource '{name}' has type '{_type}', which these publishers cannot deploy. " +
                    $"Supported types: {string.Join(", ", SupportedTypes)}."),
            };
        }

        private ParameterResource ReadParameter()
        {
            var inputs = new Dictionary<string, ParameterInput>(StringComparer.Ordinal);
            if (element.TryGetProperty("inputs", out var inputsElement))
            {
                Expect(inputsElement, JsonValueKind.Object, "inputs");
                foreach (var input in inputsElement.EnumerateObject())
                {
                    var path = $"inputs.{input.Name}";
                    Expect(input.Value, JsonValueKind.Object, path);
                    var type = input.Value.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "string";
                    var secret = input.Value.TryGetProperty("secret", out var s) && Bool(s, path + ".secret");
                    GenerateOptions? generate = null;
                    if (input.Value.TryGetProperty("default", out var d) && d.TryGetProperty("generate", out var g))
                    {
                        generate = new GenerateOptions(
                            MinLength: Int(g, "minLength", path + ".default.generate") ?? throw Error(path + ".default.generate", "needs 'minLength'"),
                            Lower: OptionalBool(g, "lower") ?? true,
                            Upper: OptionalBool(g, "upper") ?? true,
                            Numeric: OptionalBool(g, "numeric") ?? true,
                            Special: OptionalBool(g, "special") ?? true,
                            MinLower: Int(g, "minLower", path) ?? 0,
                            MinUpper: Int(g, "minUpper", path) ?? 0,
                            MinNumeric: Int(g, "minNumeric", path) ?? 0,
                            MinSpecial: Int(g, "minSpecial", path) ?? 0);
                    }
                    inputs[input.Name] = new ParameterInput(type, secret, generate);
                }
            }
            return new ParameterResource(name, _type, RequiredString("value"), OptionalString("connectionString"), inputs);
        }

        private ContainerResource ReadContainer()
        {
            var image = OptionalString("image");
            BuildSpec? build = null;
            if (element.TryGetProperty("build", out var b))
            {
                if (_type == "container.v0")
                {
                    throw Error("build", "is not allowed in container.v0 (use container.v1)");
                }
                Expect(b, JsonValueKind.Object, "build");
                build = new BuildSpec(
                    Str(b, "context", "build") ?? throw Error("build", "needs 'context'"),
                    Str(b, "dockerfile", "build") ?? throw Error("build", "needs 'dockerfile'"),
                    b.TryGetProperty("args", out var args) ? Map(args, "build.args") : new Dictionary<string, string>());
            }
            if (image is null && build is null)
            {
                throw Error("", $"a {_type} needs 'image'" + (_type == "container.v1" ? " or 'build'" : ""));
            }

            var volumes = new List<Volume>();
            if (element.TryGetProperty("volumes", out var v))
            {
                Expect(v, JsonValueKind.Array, "volumes");
                var i = 0;
                foreach (var item in v.EnumerateArray())
                {
                    var path = $"volumes[{i++}]";
                    volumes.Add(new Volume(
                        Str(item, "name", path) ?? $"{name}-data-{i}",
                        Str(item, "target", path) ?? throw Error(path, "needs 'target'"),
                        OptionalBool(item, "readOnly") ?? false));
                }
            }
            var bindMounts = new List<BindMount>();
            if (element.TryGetProperty("bindMounts", out var m))
            {
                Expect(m, JsonValueKind.Array, "bindMounts");
                var i = 0;
                foreach (var item in m.EnumerateArray())
                {
                    var path = $"bindMounts[{i++}]";
                    bindMounts.Add(new BindMount(
                        Str(item, "source", path) ?? throw Error(path, "needs 'source'"),
                        Str(item, "target", path) ?? throw Error(path, "needs 'target'"),
                        OptionalBool(item, "readOnly") ?? false));
                }
            }
            return new ContainerResource(name, _type, image, build, OptionalString("entrypoint"), StringList("args"),
                Environment(), Bindings(), volumes, bindMounts, OptionalString("connectionString"));
        }

        private IReadOnlyList<KeyValuePair<string, string>> Environment() =>
            element.TryGetProperty("env", out var env) ? [.. Map(env, "env")] : [];

        private IReadOnlyDictionary<string, string> StringMap(string property) =>
            element.TryGetProperty(property, out var e) ? Map(e, property) : new Dictionary<string, string>();

        private List<Binding> Bindings()
        {
            var bindings = new List<Binding>();
            if (!element.TryGetProperty("bindings", out var b))
            {
                return bindings;
            }
            Expect(b, JsonValueKind.Object, "bindings");
            foreach (var binding in b.EnumerateObject())
            {
                var path = $"bindings.{binding.Name}";
                Expect(binding.Value, JsonValueKind.Object, path);
                var scheme = Str(binding.Value, "scheme", path) ?? throw Error(path, "needs 'scheme'");
                bindings.Add(new Binding(
                    binding.Name,
                    scheme,
                    Str(binding.Value, "protocol", path) ?? "tcp",
                    Str(binding.Value, "transport", path) ?? scheme,
                    Int(binding.Value, "targetPort", path),
                    Int(binding.Value, "port", path),
                    OptionalBool(binding.Value, "external") ?? false));
            }
            return bindings;
        }

        private List<string>? StringList(string property)
        {
            if (!element.TryGetProperty(property, out var list))
            {
                return null;
            }
            Expect(list, JsonValueKind.Array, property);
            var i = 0;
            return [.. list.EnumerateArray().Select(item =>
            {
                Expect(item, JsonValueKind.String, $"{property}[{i++}]");
                return item.GetString()!;
            })];
        }

        private Dictionary<string, string> Map(JsonElement map, string path)
        {
            Expect(map, JsonValueKind.Object, path);
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                // Aspire writes a build argument without a value as null.
                result[entry.Name] = entry.Value.ValueKind switch
                {
                    JsonValueKind.String => entry.Value.GetString()!,
                    JsonValueKind.Null => "",
                    _ => throw Error($"{path}.{entry.Name}", "must be a string"),
                };
            }
            return result;
        }

        private string RequiredString(string property) =>
            OptionalString(property) ?? throw Error("", $"a {_type} needs '{property}'");

        private string? OptionalString(string property) => Str(element, property, "");

        private string? Str(JsonElement parent, string property, string path)
        {
            if (!parent.TryGetProperty(property, out var value))
            {
                return null;
            }
            Expect(value, JsonValueKind.String, Join(path, property));
            return value.GetString();
        }

        private int? Int(JsonElement parent, string property, string path)
        {
            if (!parent.TryGetProperty(property, out var value))
            {
                return null;
            }
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var number))
            {
                throw Error(Join(path, property), "must be an integer");
            }
            return number;
        }

        private bool Bool(JsonElement value, string path) => value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(path, "must be true or false"),
        };

        private static bool? OptionalBool(JsonElement parent, string property) =>
            parent.TryGetProperty(property, out var value) ? value.ValueKind == JsonValueKind.True : null;

        private void Expect(JsonElement value, JsonValueKind kind, string path)
        {
            if (value.ValueKind != kind)
            {
                throw Error(path, $"must be {Article(kind)}, not {Article(value.ValueKind)}");
            }
        }

        private PublishingException Error(string path, string problem)
        {
            var full = Join(Prefix, path);
            var what = path.Length == 0 ? "" : $"'{path}' ";
            return new PublishingException($"{positions.At(full)}: resource '{name}' ({_type}): {what}{problem}.");
        }

        private static string Join(string path, string property) =>
            path.Length == 0 ? property : property.Length == 0 ? path : $"{path}.{property}";

        private static string Article(JsonValueKind kind) => kind switch
        {
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Null => "null",
            _ => kind.ToString(),
        };
    }

    /// <summary>Maps dotted property paths (<c>resources.redis.bindings.tcp</c>) to <c>file:line:column</c>.</summary>
    private sealed class JsonPositions
    {
        private readonly ReadOnlyMemory<byte> _json;
        private readonly string _source;
        private Dictionary<string, long>? _offsets;

        public JsonPositions(ReadOnlyMemory<byte> json, string source)
        {
            _json = json;
            _source = source;
        }

        public string At(string path)
        {
            _offsets ??= Index();
            if (path.Length == 0 || !_offsets.TryGetValue(path, out var offset))
            {
                // Fall back to the nearest enclosing property that is known.
                while (path.Contains('.') && !_offsets.ContainsKey(path))
                {
                    path = path[..path.LastIndexOf('.')];
                }
                if (!_offsets.TryGetValue(path, out offset))
                {
                    return $"{_source}:1:1";
                }
            }
            var span = _json.Span[..(int)offset];
            var line = 1;
            var lineStart = 0;
            for (var i = 0; i < span.Length; i++)
            {
                if (span[i] == (byte)'\n')
                {
                    line++;
                    lineStart = i + 1;
                }
            }
            var column = Encoding.UTF8.GetCharCount(span[lineStart..]) + 1;
            return $"{_source}:{line}:{column}";
        }

        private Dictionary<string, long> Index()
        {
            var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
            var reader = new Utf8JsonReader(_json.Span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            var path = new List<string>();
            var arrayIndex = new Stack<int>();
            string? pendingName = null;
            try
            {
                while (reader.Read())
                {
                    switch (reader.TokenType)
                    {
                        case JsonTokenType.PropertyName:
                            pendingName = reader.GetString();
                            offsets.TryAdd(JoinPath(path.Append(pendingName!)), reader.TokenStartIndex);
                            break;
                        case JsonTokenType.StartObject:
                        case JsonTokenType.StartArray:
                            path.Add(NextSegment(ref pendingName, path, arrayIndex));
                            if (reader.TokenType == JsonTokenType.StartArray)
                            {
                                arrayIndex.Push(0);
                            }
                            break;
                        case JsonTokenType.EndObject:
                        case JsonTokenType.EndArray:
                            if (reader.TokenType == JsonTokenType.EndArray)
                            {
                                arrayIndex.Pop();
                            }
                            path.RemoveAt(path.Count - 1);
                            break;
                        default:
                            NextSegment(ref pendingName, path, arrayIndex);
                            break;
                    }
                }
            }
            catch (JsonException)
            {
                // Malformed JSON is reported by the parser with its own position.
            }
            return offsets;
        }

        private static string JoinPath(IEnumerable<string> segments)
        {
            var builder = new StringBuilder();
            foreach (var segment in segments)
            {
                if (segment.Length == 0)
                {
                    continue; // the root object
                }
                if (builder.Length > 0 && !segment.StartsWith('['))
                {
                    builder.Append('.');
                }
                builder.Append(segment);
            }
            return builder.ToString();
        }

        private static string NextSegment(ref string? pendingName, List<string> path, Stack<int> arrayIndex)
        {
            if (pendingName is not null)
            {
                var name = pendingName;
                pendingName = null;
                return name;
            }
            if (arrayIndex.Count > 0 && path.Count > 0)
            {
                // An array item: name it parent[i] by replacing the segment.
                var index = arrayIndex.Pop();
                arrayIndex.Push(index + 1);
                return $"[{index}]";
            }
            return "";
        }
    }
}
