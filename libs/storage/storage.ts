// Where uploaded files live: the interface every backend implements (a directory today; object
// storage later), and the metadata kept beside each file's bytes.
import type { Readable } from 'node:stream';
import { z } from 'zod';

export const storedFileSchema = z.object({
  id: z.string(),
  filename: z.string(),
  purpose: z.string(),
  bytes: z.number().int().nonnegative(),
  /** Unix seconds, as OpenAI's file object has it. */
  created_at: z.number().int(),
  /** The exact creation time; lists are ordered by it (then by id). */
  created_at_ms: z.number().int(),
  status: z.enum(['uploaded', 'processed', 'error']),
  /** The client key id the file belongs to (absent in files stored before owners were). */
  owner: z.string().optional(),
});
export type StoredFile = z.infer<typeof storedFileSchema>;

export interface NewFile {
  filename: string;
  purpose: string;
  owner?: string | undefined;
}

/** Bytes written to storage but not yet visible: commit gives them an id, discard drops them. */
export interface StagedFile {
  bytes: number;
  commit(file: NewFile): Promise<StoredFile>;
  discard(): Promise<void>;
}

export interface ListQuery {
  purpose?: string | undefined;
  /** Only this client key id's files (every file when absent); `after` must be one of them. */
  owner?: string | undefined;
  /** Return the files that come after this id in the chosen order. */
  after?: string | undefined;
  limit: number;
  order: 'asc' | 'desc';
}

export type ListPage = { files: StoredFile[]; hasMore: boolean } | { unknownCursor: true };

export interface FileStorage {
  /**
   * Writes content fully (a failing source leaves nothing behind), then makes it visible under
   * a new id. An error thrown by the source is rethrown as it is.
   */
  put(file: NewFile, content: AsyncIterable<Uint8Array>): Promise<StoredFile>;
  /** put in two steps, for callers that learn the file's name or purpose only after its bytes. */
  stage(content: AsyncIterable<Uint8Array>): Promise<StagedFile>;
  stat(id: string): Promise<StoredFile | undefined>;
  /**
   * The file and its bytes (from byte `start`, 0 by default); the stream stays readable even if
   * the file is deleted meanwhile.
   */
  get(id: string, start?: number): Promise<{ file: StoredFile; content: Readable } | undefined>;
  /** False when there was no such file. */
  delete(id: string): Promise<boolean>;
  list(query: ListQuery): Promise<ListPage>;
}
