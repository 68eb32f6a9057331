import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { logLevel } from 'kafkajs';
import { kafkaEntryLevel } from './kafka-log-level.ts';

const entry = (namespace: string, level: logLevel, error?: string) => ({ namespace, level, log: { timestamp: '', logger: 'kafkajs', message: 'Response ListOffsets(key: 2, version: 3)', ...(error ? { error } : {}) } });

describe('kafkaEntryLevel', () => {
  it('startup_not_leader_errors (fixed): a broker answer kafkajs retries by itself is debug, not an error', () => {
    assert.equal(kafkaEntryLevel(entry('Connection', logLevel.ERROR, 'This server is not the leader for that topic-partition')), 'debug');
    assert.equal(kafkaEntryLevel(entry('Connection', logLevel.ERROR, 'This server does not host this topic-partition')), 'debug');
  });

  it('keeps other errors as errors, and warnings as warnings', () => {
    assert.equal(kafkaEntryLevel(entry('Connection', logLevel.ERROR, 'Not authorized to access topics: [Topic authorization failed]')), 'error');
    assert.equal(kafkaEntryLevel(entry('Consumer', logLevel.ERROR, 'This server is not the leader for that topic-partition')), 'error', 'only the per-response line of the connection, which kafkajs retries');
    assert.equal(kafkaEntryLevel(entry('Producer', logLevel.WARN)), 'warn');
    assert.equal(kafkaEntryLevel(entry('Producer', logLevel.INFO)), 'debug');
  });
});
