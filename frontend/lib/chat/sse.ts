// Incremental parser of a text/event-stream body (the WHATWG "server-sent events"
// format): feed it decoded text in chunks of any size, get back complete events.
// Pure: used by the browser's SSE client and the unit tests alike.

export interface SseEvent {
  /** `event:` field; "message" when the server gave none. */
  event: string;
  /** `data:` lines joined with "\n". */
  data: string;
  /** `id:` field of this event, or null. */
  id: string | null;
}

export class SseParser {
  private buffer = '';
  private eventName = '';
  private dataLines: string[] = [];
  private hasData = false;
  private eventId: string | null = null;
  /** Last `retry:` value in ms (reconnection delay), if the server sent one. */
  retryMs: number | null = null;

  /** Add a chunk; returns the events it completed (possibly none). */
  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) break;
      // A lone "\r" at the very end may be the first half of a "\r\n" split across chunks.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event !== null) events.push(event);
    }
    return events;
  }

  /** The stream ended: a trailing event without its blank line is dropped (as browsers do). */
  end(): SseEvent[] {
    const events = this.buffer === '' ? [] : this.feed('\n');
    this.buffer = '';
    this.reset();
    return events;
  }

  private reset(): void {
    this.eventName = '';
    this.dataLines = [];
    this.hasData = false;
    this.eventId = null;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (!this.hasData) {
        this.reset();
        return null;
      }
      const event: SseEvent = { event: this.eventName || 'message', data: this.dataLines.join('\n'), id: this.eventId };
      this.reset();
      return event;
    }
    if (line.startsWith(':')) return null; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventName = value;
        break;
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.eventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return null;
  }
}
