import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { periodEnd, periodKey, periods, type Period } from './periods.ts';

const at = (iso: string): number => Date.parse(iso);

function expect(period: Period, instant: string, key: string, end: string | undefined): void {
  assert.equal(periodKey(period, at(instant)), key, `${period} key of ${instant}`);
  assert.equal(periodEnd(period, at(instant)), end === undefined ? undefined : at(end), `${period} end of ${instant}`);
}

describe('periods', () => {
  it('lists every period once', () => {
    assert.deepEqual([...periods], ['day', 'week', 'month', 'total']);
  });

  it('names the day and ends it at the next UTC midnight', () => {
    expect('day', '2026-11-26T13:45:00.000Z', '2026-11-26', '2026-11-27T00:00:00.000Z');
    expect('day', '2026-11-26T23:59:59.999Z', '2026-11-26', '2026-11-27T00:00:00.000Z');
  });

  it('puts exactly midnight in the day it begins', () => {
    expect('day', '2026-11-27T00:00:00.000Z', '2026-11-27', '2026-11-28T00:00:00.000Z');
    expect('week', '2026-11-23T00:00:00.000Z', 'w2026-11-23', '2026-11-30T00:00:00.000Z');
    expect('month', '2026-12-01T00:00:00.000Z', '2026-12', '2027-01-01T00:00:00.000Z');
  });

  it('rolls days over month ends, Dec→Jan and leap Februaries', () => {
    expect('day', '2026-11-30T23:59:59.999Z', '2026-11-30', '2026-12-01T00:00:00.000Z');
    expect('day', '2026-12-31T12:00:00.000Z', '2026-12-31', '2027-01-01T00:00:00.000Z');
    expect('day', '2028-02-28T12:00:00.000Z', '2028-02-28', '2028-02-29T00:00:00.000Z');
    expect('day', '2028-02-29T12:00:00.000Z', '2028-02-29', '2028-03-01T00:00:00.000Z');
    expect('day', '2027-02-28T12:00:00.000Z', '2027-02-28', '2027-03-01T00:00:00.000Z');
  });

  it('names a week by its Monday, Monday through Sunday', () => {
    // 2026-11-23 is a Monday.
    for (const day of ['23', '24', '25', '26', '27', '28', '29']) expect('week', `2026-11-${day}T12:00:00.000Z`, 'w2026-11-23', '2026-11-30T00:00:00.000Z');
  });

  it('starts a new week on Monday at midnight, not on Sunday', () => {
    expect('week', '2026-11-29T23:59:59.999Z', 'w2026-11-23', '2026-11-30T00:00:00.000Z');
    expect('week', '2026-11-30T00:00:00.000Z', 'w2026-11-30', '2026-12-07T00:00:00.000Z');
  });

  it('names a week spanning months and years by its Monday', () => {
    // 2026-12-28 is a Monday; its week runs into 2027.
    expect('week', '2027-01-02T08:00:00.000Z', 'w2026-12-28', '2027-01-04T00:00:00.000Z');
    // 2028-02-28 is a Monday; its week holds the leap day.
    expect('week', '2028-03-01T08:00:00.000Z', 'w2028-02-28', '2028-03-06T00:00:00.000Z');
  });

  it('ends months on their last day, whatever their length', () => {
    expect('month', '2026-11-30T23:59:59.999Z', '2026-11', '2026-12-01T00:00:00.000Z');
    expect('month', '2026-12-31T23:59:59.999Z', '2026-12', '2027-01-01T00:00:00.000Z');
    expect('month', '2027-01-01T00:00:00.000Z', '2027-01', '2027-02-01T00:00:00.000Z');
    expect('month', '2028-02-29T23:59:59.999Z', '2028-02', '2028-03-01T00:00:00.000Z');
    expect('month', '2027-02-15T00:00:00.000Z', '2027-02', '2027-03-01T00:00:00.000Z');
  });

  it('has one total that never ends', () => {
    expect('total', '1970-01-01T00:00:00.000Z', 'total', undefined);
    expect('total', '2026-11-26T13:45:00.000Z', 'total', undefined);
  });

  it('ends every period after the instant it contains, and the end begins the next period', () => {
    for (const instant of ['2026-11-26T13:45:00.000Z', '2026-11-29T23:59:59.999Z', '2028-02-29T00:00:00.000Z', '2026-12-31T23:59:59.999Z']) {
      for (const period of ['day', 'week', 'month'] as const) {
        const end = periodEnd(period, at(instant));
        assert.ok(end !== undefined && end > at(instant));
        assert.notEqual(periodKey(period, end), periodKey(period, at(instant)));
        assert.equal(periodKey(period, end - 1), periodKey(period, at(instant)));
      }
    }
  });
});
