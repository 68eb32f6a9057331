// JSON from outside (a Kafka message, a Redis value) read for a schema to check: text that is not
// JSON at all is undefined, which the schema then refuses like any other wrong value.
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
