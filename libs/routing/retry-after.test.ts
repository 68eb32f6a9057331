import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { explicitRetryAfter, parseDuration, rateLimitReset, retryDelayFromBody, waitHint } from './retry-after.ts';

const now = Date.parse('2025-06-01T12:00:00.000Z');

describe('retry-after and retry-after-ms', () => {
  const table: [string, Record<string, string>, number | undefined][] = [
    ['seconds', { 'retry-after': '5' }, 5_000],
    ['zero seconds', { 'retry-after': '0' }, 0],
    ['fractional seconds, rounded up to whole ms', { 'retry-after': '1.5' }, 1_500],
    ['padded seconds', { 'retry-after': ' 7 ' }, 7_000],
    ['an HTTP-date 30 s ahead', { 'retry-after': 'Sun, 01 Jun 2025 12:00:30 GMT' }, 30_000],
    ['an HTTP-date in the past means now', { 'retry-after': 'Sun, 01 Jun 2025 11:59:00 GMT' }, 0],
    ['milliseconds', { 'retry-after-ms': '250' }, 250],
    ['fractional milliseconds round up', { 'retry-after-ms': '12.2' }, 13],
    ['retry-after-ms wins over retry-after', { 'retry-after-ms': '250', 'retry-after': '5' }, 250],
    ['a malformed retry-after-ms falls back to retry-after', { 'retry-after-ms': 'soon', 'retry-after': '2' }, 2_000],
    ['header names in any case', { 'Retry-After': '3' }, 3_000],
    ['garbage is no hint', { 'retry-after': 'later please' }, undefined],
    ['a negative number is no hint', { 'retry-after': '-5' }, undefined],
    ['no header is no hint', {}, undefined],
  ];
  for (const [name, headers, expected] of table) {
    it(name, () => assert.equal(explicitRetryAfter(headers, now), expected));
  }

  it('reads the first value of a repeated header', () => {
    assert.equal(explicitRetryAfter({ 'retry-after': ['4', '9'] }, now), 4_000);
  });
});

describe('reset durations (OpenAI style)', () => {
  const table: [string, number | undefined][] = [
    ['1s', 1_000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3.5s', 3_723_500],
    ['0.5s', 500],
    ['250us', 1],
    ['500ns', 1],
    ['0s', 0],
    ['2', 2_000],
    ['', undefined],
    ['1d', undefined],
    ['soon', undefined],
    ['1s garbage', undefined],
  ];
  for (const [text, expected] of table) {
    it(`"${text}" is ${String(expected)} ms`, () => assert.equal(parseDuration(text), expected));
  }
});

describe('provider rate-limit reset headers', () => {
  it('OpenAI: with no remaining headers, the larger of the request and token resets', () => {
    assert.equal(rateLimitReset({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }, now), 360_000);
  });

  it('OpenAI: only the exhausted limit counts when remaining says which', () => {
    const headers = {
      'x-ratelimit-reset-requests': '20ms',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-tokens': '6m0s',
      'x-ratelimit-remaining-tokens': '15000',
    };
    assert.equal(rateLimitReset(headers, now), 20);
  });

  it('Anthropic: RFC 3339 timestamps, the exhausted one chosen', () => {
    const headers = {
      'anthropic-ratelimit-requests-reset': '2025-06-01T12:00:02Z',
      'anthropic-ratelimit-requests-remaining': '10',
      'anthropic-ratelimit-input-tokens-reset': '2025-06-01T12:00:12.500Z',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': '2025-06-01T12:00:05Z',
      'anthropic-ratelimit-output-tokens-remaining': '0',
    };
    assert.equal(rateLimitReset(headers, now), 12_500);
  });

  it('Anthropic: tokens reset with an offset timestamp', () => {
    assert.equal(rateLimitReset({ 'anthropic-ratelimit-tokens-reset': '2025-06-01T14:00:09+02:00' }, now), 9_000);
  });

  it('a reset in the past means now; unparseable resets are ignored', () => {
    assert.equal(rateLimitReset({ 'anthropic-ratelimit-requests-reset': '2025-06-01T11:00:00Z' }, now), 0);
    assert.equal(rateLimitReset({ 'x-ratelimit-reset-requests': 'whenever' }, now), undefined);
    assert.equal(rateLimitReset({}, now), undefined);
  });
});

describe('Gemini RetryInfo in the error body', () => {
  const retryInfo = (retryDelay: string): unknown => ({
    error: {
      code: 429,
      status: 'RESOURCE_EXHAUSTED',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
      ],
    },
  });

  it('reads retryDelay "12s"', () => assert.equal(retryDelayFromBody(retryInfo('12s')), 12_000));
  it('reads fractional "0.25s"', () => assert.equal(retryDelayFromBody(retryInfo('0.25s')), 250));
  it('reads a body wrapped in an array', () => assert.equal(retryDelayFromBody([retryInfo('3s')]), 3_000));
  it('ignores bodies without RetryInfo', () => {
    assert.equal(retryDelayFromBody({ error: { message: 'nope' } }), undefined);
    assert.equal(retryDelayFromBody('text'), undefined);
    assert.equal(retryDelayFromBody(null), undefined);
    assert.equal(retryDelayFromBody(retryInfo('bad')), undefined);
  });
});

describe('waitHint precedence', () => {
  it('an explicit retry-after wins over reset headers and the body', () => {
    const headers = { 'retry-after': '2', 'x-ratelimit-reset-tokens': '6m0s' };
    const body = { error: { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '30s' }] } };
    assert.equal(waitHint(headers, body, now), 2_000);
  });

  it('the body RetryInfo wins over reset headers', () => {
    const body = { error: { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '30s' }] } };
    assert.equal(waitHint({ 'x-ratelimit-reset-tokens': '1s' }, body, now), 30_000);
  });

  it('falls back to the reset headers, then to nothing', () => {
    assert.equal(waitHint({ 'x-ratelimit-reset-requests': '1s' }, undefined, now), 1_000);
    assert.equal(waitHint({}, undefined, now), undefined);
  });
});
