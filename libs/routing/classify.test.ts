import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { UpstreamError, type UpstreamPhase } from '#libs/providers/provider.ts';
import { classify, errorText } from './classify.ts';

function status(code: number, body?: unknown): UpstreamError {
  return new UpstreamError(`upstream answered ${code}`, { status: code, phase: 'response', body });
}

function network(code: string, phase: UpstreamPhase = 'connect'): UpstreamError {
  return new UpstreamError(`network failure ${code}`, { code, phase });
}

function openAIBody(message: string, code: string | null = null, type = 'invalid_request_error'): unknown {
  return { error: { message, type, param: null, code } };
}

describe('classify: HTTP status', () => {
  const table: [number, FailureClass][] = [
    [400, 'client'],
    [401, 'auth'],
    [403, 'auth'],
    [404, 'client'],
    [408, 'timeout'],
    [409, 'client'],
    [413, 'client'],
    [415, 'client'],
    [422, 'client'],
    [429, 'rate_limited'],
    [500, 'server'],
    [502, 'server'],
    [503, 'overloaded'],
    [504, 'server'],
    [529, 'overloaded'],
  ];
  for (const [code, expected] of table) {
    it(`${code} is ${expected}`, () => {
      assert.equal(classify(status(code)), expected);
      assert.equal(classify(status(code, openAIBody('something went wrong'))), expected);
    });
  }

  it('an unknown 4xx is client', () => {
    for (const code of [402, 405, 410, 418, 451, 499]) assert.equal(classify(status(code)), 'client', String(code));
  });

  it('an unknown 5xx is server', () => {
    for (const code of [501, 505, 520, 524, 530, 599]) assert.equal(classify(status(code)), 'server', String(code));
  });

  it('a status wins over a network code carried with it', () => {
    const err = new UpstreamError('both', { status: 429, code: 'ECONNRESET', phase: 'response' });
    assert.equal(classify(err), 'rate_limited');
  });
});

describe('classify: context length and content filter on 400', () => {
  const contextLength = [
    openAIBody("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", 'context_length_exceeded'),
    openAIBody('Request too large', 'context_length_exceeded'),
    openAIBody('prompt is too long: 210000 tokens > 200000 maximum'),
    openAIBody('The input exceeds the context window of this model'),
    openAIBody('Too many tokens in the request'),
    'This model has a maximum context length of 4096 tokens',
  ];
  for (const body of contextLength) {
    it(`context_length: ${JSON.stringify(body).slice(0, 80)}`, () => {
      assert.equal(classify(status(400, body)), 'context_length');
    });
  }

  const contentFilter = [
    openAIBody('The response was filtered due to the prompt triggering content management policy.', 'content_filter'),
    openAIBody('Your request was rejected as a result of our safety system.', 'content_policy_violation'),
    openAIBody('This content may violate our content policy.'),
    openAIBody('Blocked by Responsible AI policy'),
  ];
  for (const body of contentFilter) {
    it(`content_filter: ${JSON.stringify(body).slice(0, 80)}`, () => {
      assert.equal(classify(status(400, body)), 'content_filter');
    });
  }

  it('a plain 400 stays client', () => {
    assert.equal(classify(status(400, openAIBody("Invalid value for 'temperature'", 'invalid_value'))), 'client');
    assert.equal(classify(status(400, 'bad request')), 'client');
    assert.equal(classify(status(400, null)), 'client');
  });

  it('context length is also recognised on 413 and 422', () => {
    assert.equal(classify(status(413, openAIBody('maximum context length exceeded'))), 'context_length');
    assert.equal(classify(status(422, openAIBody('context_length_exceeded'))), 'context_length');
  });

  it('the messages do not reclassify an auth, rate-limit or server status', () => {
    assert.equal(classify(status(401, openAIBody('maximum context length'))), 'auth');
    assert.equal(classify(status(429, openAIBody('content_filter'))), 'rate_limited');
    assert.equal(classify(status(500, openAIBody('maximum context length'))), 'server');
  });
});

describe('classify: quota and rate-limit messages on statuses other than 429', () => {
  const quota: [number, unknown][] = [
    [403, openAIBody('Quota exceeded for quota metric \'Generate Content API requests per minute\'.', null, 'permission_denied')],
    [403, openAIBody('Out of call volume quota. Quota will be replenished in 10 seconds.', '403')],
    [400, openAIBody('You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota')],
    [400, openAIBody('Rate limit reached for requests', 'rate_limit_exceeded')],
    [400, 'Too Many Requests'],
    [402, openAIBody('Your credit balance is too low: quota exhausted.')],
    [422, openAIBody('ThrottlingException: Rate exceeded', null, 'ThrottlingException')],
  ];
  for (const [code, body] of quota) {
    it(`quota_message_on_${code}_not_rate_limited: ${JSON.stringify(body).slice(0, 70)}`, () => {
      assert.equal(classify(status(code, body)), 'rate_limited');
    });
  }

  it("OpenAI's insufficient_quota 429 (billing) stays rate_limited: the key cools down and another key or target answers", () => {
    assert.equal(classify(status(429, openAIBody('You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota'))), 'rate_limited');
  });

  it('a context-length or content-filter message still wins on 400', () => {
    assert.equal(classify(status(400, openAIBody("This model's maximum context length is 8192 tokens", 'context_length_exceeded'))), 'context_length');
    assert.equal(classify(status(400, openAIBody('Blocked by Responsible AI policy'))), 'content_filter');
  });

  it('401 stays auth and 5xx keep their class, whatever the message says', () => {
    assert.equal(classify(status(401, openAIBody('quota exceeded'))), 'auth');
    assert.equal(classify(status(503, openAIBody('rate limit exceeded'))), 'overloaded');
    assert.equal(classify(status(500, openAIBody('quota exceeded'))), 'server');
  });

  it('a 4xx that mentions neither stays what its status says', () => {
    assert.equal(classify(status(403, openAIBody('The API key does not have access to this model.'))), 'auth');
    assert.equal(classify(status(400, openAIBody("Invalid value for 'temperature'"))), 'client');
  });
});

describe('classify: network and timeout codes', () => {
  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']) {
    it(`${code} is network`, () => {
      assert.equal(classify(network(code)), 'network');
      assert.equal(classify(network(code, 'stream')), 'network');
    });
  }

  for (const code of ['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
    it(`TLS ${code} is network`, () => {
      assert.equal(classify(network(code)), 'network');
    });
  }

  for (const code of ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']) {
    it(`${code} is timeout`, () => {
      assert.equal(classify(network(code)), 'timeout');
      assert.equal(classify(network(code, 'first_byte')), 'timeout');
    });
  }

  it('ABORT_ERR is cancelled, whatever else the error carries', () => {
    assert.equal(classify(network('ABORT_ERR', 'stream')), 'cancelled');
    assert.equal(classify(new UpstreamError('aborted', { code: 'ABORT_ERR', status: 500, phase: 'response' })), 'cancelled');
  });

  it('an error with neither status nor code is network', () => {
    assert.equal(classify(new UpstreamError('gone', { phase: 'connect' })), 'network');
    assert.equal(classify(new UpstreamError('gone', { phase: 'stream' })), 'network');
  });
});

describe('errorText', () => {
  it('joins code, type and message of an OpenAI error body', () => {
    assert.equal(errorText({ error: { code: 'c', type: 't', message: 'm' } }), 'c t m');
  });

  it('returns a string body as it is', () => {
    assert.equal(errorText('plain text'), 'plain text');
  });

  it('returns an error that is itself a string', () => {
    assert.equal(errorText({ error: 'oops' }), 'oops');
  });

  it('returns nothing for bodies without an error', () => {
    assert.equal(errorText(undefined), '');
    assert.equal(errorText(null), '');
    assert.equal(errorText({ message: 'not under error' }), '');
    assert.equal(errorText(42), '');
  });
});
