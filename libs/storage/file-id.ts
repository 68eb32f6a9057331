// File ids: `file-` and 24 random base62 characters. Only a string of exactly this alphabet is
// ever turned into a path, so no id a client sends can leave the storage directory.
import { randomInt } from 'node:crypto';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const idPattern = /^file-[A-Za-z0-9]{1,64}$/;

export function newFileId(): string {
  let id = 'file-';
  for (let i = 0; i < 24; i++) id += alphabet[randomInt(alphabet.length)];
  return id;
}

export function isFileId(value: string): boolean {
  return idPattern.test(value);
}
