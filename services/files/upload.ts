// POST /v1/files: reads the multipart form as it streams in, checks the file while it is being
// written to storage (size always; JSONL lines for purpose `batch`), and commits it only when
// the whole form was good. A failed upload leaves nothing behind.
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { FileStorage, StagedFile, StoredFile } from '#libs/storage/storage.ts';
import { JsonlCheck } from './jsonl-check.ts';
import { MultipartError, multipartBoundary, readMultipart, type MultipartPart } from './multipart.ts';

export const acceptedPurposes = ['batch', 'user_data'] as const;
/** OpenAI's limit on the requests in one batch input file. */
export const maxBatchLines = 50_000;
/** Text fields (purpose, expires_after[…]) are short; anything longer is not one of ours. */
const maxFieldBytes = 1024;

export interface UploadLimits {
  maxBytes: number;
}

/** `owner`: the client key id the file will belong to. */
export async function receiveUpload(contentType: string | undefined, body: AsyncIterable<Uint8Array>, storage: FileStorage, limits: UploadLimits, owner?: string): Promise<StoredFile> {
  if (!(contentType ?? '').toLowerCase().startsWith('multipart/form-data')) {
    throw new GatewayError(415, 'Unsupported Content-Type: send the upload as multipart/form-data, with the fields "file" and "purpose".', { code: 'unsupported_media_type' });
  }
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined) {
    throw new GatewayError(400, 'The multipart/form-data Content-Type has no valid boundary parameter.', { code: 'invalid_multipart' });
  }
  let purpose: string | undefined;
  let filename: string | undefined;
  let staged: StagedFile | undefined;
  let check: JsonlCheck | undefined;
  try {
    for await (const part of readMultipart(body, boundary)) {
      if (part.name === 'purpose') {
        purpose = await fieldText(part);
        if (!(acceptedPurposes as readonly string[]).includes(purpose)) throw badPurpose(purpose);
      } else if (part.name === 'file') {
        if (staged) throw new GatewayError(400, 'Send one file per upload: the field "file" appears more than once.', { code: 'invalid_value', param: 'file' });
        if (part.filename === undefined || part.filename === '') throw new GatewayError(400, 'The field "file" must be a file, with a filename.', { code: 'invalid_value', param: 'file' });
        filename = part.filename;
        // With the purpose still unknown (the form sent the file first), the lines are checked
        // anyway and judged once the purpose arrives.
        check = purpose === undefined || purpose === 'batch' ? new JsonlCheck({ maxLines: maxBatchLines }) : undefined;
        staged = await storage.stage(checked(part.body, limits.maxBytes, check, () => purpose === 'batch'));
        check?.end();
      } else {
        // expires_after[anchor], expires_after[seconds] and the like: read and ignored (files here do not expire).
        await fieldText(part);
      }
    }
    if (purpose === undefined) throw new GatewayError(400, "Missing required parameter: 'purpose'.", { code: 'missing_required_parameter', param: 'purpose' });
    if (!staged || filename === undefined) throw new GatewayError(400, "Missing required parameter: 'file'.", { code: 'missing_required_parameter', param: 'file' });
    if (purpose === 'batch' && check) {
      if (check.problem) throw badLine(check.problem.line, check.problem.reason);
      if (check.requests === 0) throw new GatewayError(400, 'The batch input file has no requests: it needs one JSON object per line.', { code: 'invalid_file', param: 'file' });
    }
    return await staged.commit({ filename, purpose, owner });
  } catch (err) {
    await staged?.discard();
    if (err instanceof MultipartError) throw new GatewayError(400, `Malformed multipart/form-data body: ${err.message}`, { code: 'invalid_multipart' });
    throw err;
  }
}

/** The file's bytes on their way to storage: counted against the limit, and fed to the line check. */
async function* checked(body: AsyncIterable<Buffer>, maxBytes: number, check: JsonlCheck | undefined, isBatch: () => boolean): AsyncGenerator<Buffer> {
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      throw new GatewayError(413, `The file is larger than the limit of ${maxBytes} bytes.`, { code: 'file_too_large', param: 'file' });
    }
    check?.push(chunk);
    if (check?.problem && isBatch()) throw badLine(check.problem.line, check.problem.reason);
    yield chunk;
  }
}

async function fieldText(part: MultipartPart): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of part.body) {
    bytes += chunk.length;
    if (bytes > maxFieldBytes) throw new GatewayError(400, `The form field "${part.name}" is longer than ${maxFieldBytes} bytes.`, { code: 'invalid_value', param: part.name });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function badPurpose(purpose: string): GatewayError {
  const accepted = acceptedPurposes.map((p) => `'${p}'`).join(', ');
  return new GatewayError(400, `Invalid value for 'purpose': '${purpose}' is not supported. Accepted purposes: ${accepted}.`, { code: 'invalid_value', param: 'purpose' });
}

function badLine(line: number, reason: string): GatewayError {
  return new GatewayError(400, `Invalid batch input file: line ${line} ${reason}. Each line must be one JSON object (a request).`, { code: 'invalid_file', param: 'file' });
}
