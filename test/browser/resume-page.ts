// The page the browser test opens: it starts a streamed chat completion with fetch, takes its
// x-request-id and drops that fetch at once, then reads the request's events with a plain
// EventSource, which reconnects by itself (sending Last-Event-ID) when the stream breaks. It
// leaves what it read on `window.resumeResult`, shaped as `resumeResultSchema`.
import { z } from 'zod';

export const resumeResultSchema = z.object({
  /** The concatenated `choices[0].delta.content` of every event up to [DONE]. */
  text: z.string(),
  /** The id of every event received, [DONE]'s included, in order. */
  eventIds: z.array(z.number()),
  /** How many times the EventSource opened (1 + reconnects that succeeded). */
  opens: z.number(),
  /** The id of the last event received before each error: what the reconnect sends as Last-Event-ID. */
  lastEventIdAtErrors: z.array(z.string()),
  /** Why the page stopped short of [DONE]; null when it got there. */
  failure: z.string().nullable(),
});

export type ResumeResult = z.infer<typeof resumeResultSchema>;

/** The HTML, to serve from the origin that proxies /v1/* to the gateway. */
export function resumePage(model: string, prompt: string): string {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: prompt }], stream: true });
  return `<!doctype html>
<html>
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Spillway EventSource resume</title></head>
<body>
<script>
(async () => {
  const result = { text: '', eventIds: [], opens: 0, lastEventIdAtErrors: [], failure: null };
  const finish = (failure) => {
    if (window.resumeResult) return;
    if (failure) result.failure = failure;
    window.resumeResult = result;
  };
  try {
    const submit = new AbortController();
    const res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: ${JSON.stringify(body)},
      signal: submit.signal,
    });
    const id = res.headers.get('x-request-id');
    // The gateway goes on generating for a client that left (no cancel-on-disconnect asked).
    submit.abort();
    if (!res.ok || !id) return finish('POST answered ' + res.status + ' with x-request-id ' + id);

    let lastEventId = '';
    const source = new EventSource('/v1/requests/' + encodeURIComponent(id) + '/stream');
    source.onopen = () => { result.opens++; };
    source.onerror = () => {
      result.lastEventIdAtErrors.push(lastEventId);
      if (source.readyState === EventSource.CLOSED) finish('the EventSource gave up (readyState CLOSED)');
    };
    source.onmessage = (event) => {
      lastEventId = event.lastEventId;
      result.eventIds.push(Number(event.lastEventId));
      if (event.data === '[DONE]') {
        source.close();
        return finish(null);
      }
      const chunk = JSON.parse(event.data);
      if (chunk.error) {
        source.close();
        return finish('in-band error: ' + event.data);
      }
      result.text += chunk.choices?.[0]?.delta?.content ?? '';
    };
  } catch (err) {
    finish('page script threw: ' + String(err));
  }
})();
</script>
</body>
</html>
`;
}
