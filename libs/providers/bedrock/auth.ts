// How a Bedrock call proves who it is: a Bedrock API key as a bearer token when routing chose one,
// otherwise a SigV4 signature over the exact bytes sent, with the configured AWS keys or the
// standard AWS credential chain (environment, profile, SSO, web identity, instance role).
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { UpstreamError, type CallOptions } from '../provider.ts';
import type { BedrockConfig } from './config.ts';

interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** SigV4 signing name of the Bedrock runtime (the host is bedrock-runtime, the service is bedrock). */
const SIGNING_SERVICE = 'bedrock';

export class BedrockAuth {
  private readonly name: string;
  private readonly config: BedrockConfig;
  private signer: SignatureV4 | undefined;

  constructor(name: string, config: BedrockConfig) {
    this.name = name;
    this.config = config;
  }

  /** The request headers, authorisation included, for POSTing `body` to `url` (no Accept: the AWS SDK sends none either). */
  async headers(url: URL, body: string, key: CallOptions['key']): Promise<Record<string, string>> {
    const headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
    if (key) return { ...headers, authorization: `Bearer ${key.secret}` };
    try {
      const signed = await this.sigv4().sign({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname,
        query: {},
        headers,
        body,
      });
      return signed.headers;
    } catch (err) {
      // The credential chain's own words name the sources it tried; they never hold a secret.
      const reason = err instanceof Error ? err.message : String(err);
      const message = `${this.name} has no usable AWS credentials for SigV4: ${reason}`;
      throw new UpstreamError(message, { status: 401, phase: 'connect', body: { error: { message, type: 'authentication_error', param: null, code: 'aws_credentials_unavailable' } } });
    }
  }

  private sigv4(): SignatureV4 {
    this.signer ??= new SignatureV4({ service: SIGNING_SERVICE, region: this.config.region, credentials: this.credentials(), sha256: Sha256 });
    return this.signer;
  }

  private credentials(): AwsCredentials | (() => Promise<AwsCredentials>) {
    const { accessKeyId, secretAccessKey, sessionToken } = this.config;
    if (accessKeyId !== undefined && secretAccessKey !== undefined) return { accessKeyId, secretAccessKey, sessionToken };
    // The chain is loaded on first use only, so gateways without Bedrock never load the AWS SDK;
    // defaultProvider memoises the credentials and refreshes them before they expire.
    let chain: Promise<() => Promise<AwsCredentials>> | undefined;
    return async () => {
      chain ??= import('@aws-sdk/credential-provider-node').then((m) => m.defaultProvider());
      const provider = await chain;
      return provider();
    };
  }
}
