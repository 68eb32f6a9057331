// Gemini models through either of Google's doors: the Gemini API (an API key per call) and Vertex
// AI (a project, a region and an OAuth bearer token). The wire format is the same generateContent;
// only the URL and the credentials differ, so both adapters are one implementation.
import type { GoogleAuth } from 'google-auth-library';
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import { AgentPool, abortable, parseJsonOr, post, readText, sseEvents, toUpstreamError, truncatedStream, type Upstream } from '../http.ts';
import { exactModels, matchesModel } from '../model-pattern.ts';
import { UpstreamError, type CallOptions, type CallResult, type ProviderAdapter, type StreamCall } from '../provider.ts';
import type { GeminiProviderConfig, VertexProviderConfig } from './config.ts';
import { fromGoogleError, googleErrorOf, type GoogleErrorTranslation } from './errors.ts';
import { toGeminiRequest } from './request.ts';
import { fromGeminiResponse } from './response.ts';
import { GeminiStreamTranslator } from './stream-translator.ts';

/** Yields a current OAuth access token; expected to cache and refresh it itself. */
export type AccessTokenSource = () => Promise<string>;

interface Door {
  url(model: string, stream: boolean): string;
  /** The auth headers of one call, and the secrets in them (blanked out of upstream messages). */
  credentials(opts: CallOptions): Promise<{ headers: Record<string, string>; secrets: string[] }>;
}

interface CommonConfig {
  type: string;
  models: string[];
  headers: Record<string, string>;
  connectTimeoutMs?: number;
}

const cloudPlatformScope = 'https://www.googleapis.com/auth/cloud-platform';

class GenerateContentAdapter implements ProviderAdapter {
  readonly name: string;
  readonly type: string;
  private readonly config: CommonConfig;
  private readonly door: Door;
  private readonly pool: AgentPool;

  constructor(name: string, config: CommonConfig, door: Door) {
    this.name = name;
    this.type = config.type;
    this.config = config;
    this.door = door;
    this.pool = new AgentPool(config.connectTimeoutMs);
  }

  serves(model: string): boolean {
    return matchesModel(this.config.models, model);
  }

  listModels(): string[] {
    return exactModels(this.config.models);
  }

  async complete(request: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>> {
    const { upstream } = await this.send(request, false, opts);
    const text = await readText(upstream);
    const completion = fromGeminiResponse(parseJsonOr(text), opts.model);
    if (!completion) {
      throw new UpstreamError(`${this.name} returned a body that is not a generateContent response`, { status: 502, phase: 'response', body: text.slice(0, 500), headers: upstream.headers, keyId: upstream.keyId });
    }
    return { value: completion, keyId: upstream.keyId };
  }

  async stream(request: ChatRequest, opts: CallOptions): Promise<StreamCall> {
    const { upstream, secrets } = await this.send(request, true, opts);
    const name = this.name;
    const translator = new GeminiStreamTranslator(opts.model);
    async function* chunks(): AsyncGenerator<ChatChunk> {
      for await (const event of sseEvents(upstream)) {
        const data = parseJsonOr(event.data);
        const error = googleErrorOf(data);
        if (error) {
          const translated = fromGoogleError(data, secrets);
          throw new UpstreamError(`${name} sent an error event mid-stream: ${translated.body.error.message}`, {
            status: translated.status ?? (typeof error.code === 'number' ? error.code : 500),
            phase: 'stream',
            body: translated.body,
            headers: upstream.headers,
            keyId: upstream.keyId,
          });
        }
        yield* translator.push(data);
      }
      // Gemini's stream has no end marker: it ended early unless every choice got its finishReason.
      if (!translator.complete) throw truncatedStream(name, 'a finishReason', upstream);
      yield translator.usageChunk();
    }
    return { keyId: upstream.keyId, chunks: chunks() };
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async send(request: ChatRequest, stream: boolean, opts: CallOptions): Promise<{ upstream: Upstream; secrets: string[] }> {
    const { headers: auth, secrets } = await this.credentials(opts);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream' : 'application/json', ...this.config.headers, ...auth };
    const seen: { error?: GoogleErrorTranslation } = {};
    try {
      const upstream = await post(this.door.url(opts.model, stream), {
        name: this.name,
        pool: this.pool,
        headers,
        body: JSON.stringify(toGeminiRequest(request)),
        opts,
        errorBody: (raw) => {
          seen.error = fromGoogleError(raw, secrets);
          return seen.error.body;
        },
      });
      return { upstream, secrets };
    } catch (err) {
      if (err instanceof UpstreamError && seen.error) throw withGoogleError(err, seen.error);
      throw err;
    }
  }

  private async credentials(opts: CallOptions): Promise<{ headers: Record<string, string>; secrets: string[] }> {
    try {
      return await abortable(this.door.credentials(opts), opts.signal);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // Aborts and network faults on the way to the token endpoint keep their class; anything else is a credentials problem.
      if (opts.signal.aborted || (typeof code === 'string' && /^E[A-Z]/.test(code))) throw toUpstreamError(err, 'connect', opts.key?.id);
      const reason = err instanceof Error ? err.message : String(err);
      throw new UpstreamError(`${this.name} could not obtain Google credentials: ${reason}`, { status: 401, phase: 'connect', keyId: opts.key?.id });
    }
  }
}

/** Status and headers as the gateway should read them: a bad key is an auth failure, RetryInfo a retry-after. */
function withGoogleError(err: UpstreamError, translated: GoogleErrorTranslation): UpstreamError {
  const headers = { ...err.headers };
  if (translated.retryAfterSeconds !== undefined && headers['retry-after'] === undefined) headers['retry-after'] = String(translated.retryAfterSeconds);
  return new UpstreamError(err.message, { status: translated.status ?? err.status, code: err.code, phase: err.phase, body: err.body, headers, keyId: err.keyId });
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

function action(stream: boolean): string {
  return stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
}

/** The model as a single path segment (a client-chosen name must not reach another path or query). */
function modelSegment(model: string): string {
  return encodeURIComponent(model.replace(/^models\//, ''));
}

export class GeminiAdapter extends GenerateContentAdapter {
  constructor(name: string, config: GeminiProviderConfig) {
    const base = trimSlashes(config.baseUrl);
    super(name, config, {
      url: (model, stream) => `${base}/v1beta/models/${modelSegment(model)}:${action(stream)}`,
      credentials: (opts) => {
        const headers: Record<string, string> = {};
        if (opts.key) headers['x-goog-api-key'] = opts.key.secret;
        return Promise.resolve({ headers, secrets: opts.key ? [opts.key.secret] : [] });
      },
    });
  }
}

export class VertexAdapter extends GenerateContentAdapter {
  /** `tokenSource` replaces Google credentials (tests); the config's `accessToken` does the same from configuration. */
  constructor(name: string, config: VertexProviderConfig, opts: { tokenSource?: AccessTokenSource } = {}) {
    const host = config.location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${config.location}-aiplatform.googleapis.com`;
    const base = `${trimSlashes(config.baseUrl ?? host)}/v1/projects/${encodeURIComponent(config.project)}/locations/${config.location}/publishers/google/models`;
    const staticToken = config.accessToken;
    const token = opts.tokenSource ?? (staticToken === undefined ? googleTokenSource(config.credentialsFile) : () => Promise.resolve(staticToken));
    super(name, config, {
      url: (model, stream) => `${base}/${modelSegment(model)}:${action(stream)}`,
      credentials: async () => {
        const bearer = await token();
        return { headers: { authorization: `Bearer ${bearer}` }, secrets: [bearer] };
      },
    });
  }
}

/** Application Default Credentials, or a service-account file; google-auth-library caches and refreshes the token. */
function googleTokenSource(credentialsFile: string | undefined): AccessTokenSource {
  let auth: Promise<GoogleAuth> | undefined;
  return async () => {
    // Loaded on first use, so deployments without Vertex never load it.
    auth ??= import('google-auth-library').then(({ GoogleAuth }) => new GoogleAuth({ keyFilename: credentialsFile, scopes: [cloudPlatformScope] }));
    const token = await (await auth).getAccessToken();
    if (!token) throw new Error('Google returned no access token');
    return token;
  };
}
