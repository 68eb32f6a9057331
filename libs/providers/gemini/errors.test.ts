// Google's error bodies as routing must read them, from bodies Google sends (google.rpc.Status
// with ErrorInfo, RetryInfo and QuotaFailure details).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromGoogleError } from './errors.ts';

void describe('fromGoogleError', () => {
  void it("puts Google's status in type and its lower case in code", () => {
    assert.deepEqual(fromGoogleError({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } }), {
      body: { error: { message: 'Request contains an invalid argument.', type: 'INVALID_ARGUMENT', param: null, code: 'invalid_argument' } },
    });
  });

  void it('reads RetryInfo as whole seconds rounded up', () => {
    const rateLimit = (retryDelay: string): unknown => ({
      error: {
        code: 429,
        message: 'You exceeded your current quota.',
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
        ],
      },
    });
    assert.deepEqual(fromGoogleError(rateLimit('12s')), {
      body: { error: { message: 'You exceeded your current quota.', type: 'RESOURCE_EXHAUSTED', param: null, code: 'resource_exhausted' } },
      retryAfterSeconds: 12,
    });
    assert.equal(fromGoogleError(rateLimit('45.837906927s')).retryAfterSeconds, 46);
    assert.equal(fromGoogleError({ error: { code: 429, message: 'x', status: 'RESOURCE_EXHAUSTED' } }).retryAfterSeconds, undefined);
  });

  void it('makes an invalid API key (a 400 at Google) an auth failure', () => {
    const translated = fromGoogleError({
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }],
      },
    });
    assert.equal(translated.status, 401);
    assert.equal(translated.body.error.code, 'invalid_api_key');
  });

  void it('marks an over-long prompt as context_length_exceeded', () => {
    const translated = fromGoogleError([{ error: { code: 400, message: 'The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).', status: 'INVALID_ARGUMENT' } }]);
    assert.equal(translated.body.error.code, 'context_length_exceeded');
    assert.equal(translated.status, undefined);
  });

  void it('keeps a non-Google body as a short message and blanks secrets out of messages', () => {
    assert.deepEqual(fromGoogleError('<html>502 Bad Gateway</html>').body.error, { message: '<html>502 Bad Gateway</html>', type: 'upstream_error', param: null, code: null });
    const echoed = fromGoogleError({ error: { code: 400, message: 'Invalid API key: AIzaSECRETKEY', status: 'INVALID_ARGUMENT' } }, ['AIzaSECRETKEY']);
    assert.equal(echoed.body.error.message, 'Invalid API key: [redacted]');
  });
});
