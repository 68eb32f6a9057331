// The level a kafkajs log entry is written at. kafkajs logs every error response from a broker
// as an error, though it retries the retriable ones itself (after refreshing metadata): those are
// debug, so a fresh start on new topics does not print a page of errors that resolve themselves.
import { logLevel as kafkaLogLevel, type LogEntry } from 'kafkajs';

/** Broker answers kafkajs retries on its own while leaders move or topics are being created. */
const retriedByKafkajs = [
  'This server is not the leader for that topic-partition',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
  'This server does not host this topic-partition',
  "The coordinator is loading and hence can't process requests for this group",
  'The group coordinator is not available',
  'This is not the correct coordinator for this group',
];

export function kafkaEntryLevel(entry: Pick<LogEntry, 'namespace' | 'level' | 'log'>): 'error' | 'warn' | 'debug' {
  const error = entry.log.error;
  if (entry.namespace === 'Connection' && typeof error === 'string' && retriedByKafkajs.includes(error)) return 'debug';
  return entry.level <= kafkaLogLevel.ERROR ? 'error' : entry.level === kafkaLogLevel.WARN ? 'warn' : 'debug';
}
