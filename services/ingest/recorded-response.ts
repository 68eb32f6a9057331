// For tests of what ingest writes to a client: just enough of a ServerResponse to record it.
import type { ServerResponse } from 'node:http';

export function recordedResponse(): { res: ServerResponse; body: () => string; ended: () => boolean; headers: () => Record<string, string> } {
  let text = '';
  let ended = false;
  let headers: Record<string, string> = {};
  const res = {
    headersSent: false,
    writeHead(_status: number, sent: Record<string, string>) {
      headers = sent;
      res.headersSent = true;
      return res;
    },
    write(chunk: string) {
      text += chunk;
      return true;
    },
    end(chunk?: string) {
      text += chunk ?? '';
      ended = true;
      return res;
    },
  };
  return { res: res as unknown as ServerResponse, body: () => text, ended: () => ended, headers: () => headers };
}
