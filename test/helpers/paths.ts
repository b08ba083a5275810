/** Paths the tests read, resolved from the repository root whatever the working directory. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = join(REPO, 'test', 'fixtures');
export const MODELS = join(FIXTURES, 'models');
export const PHOTOS = join(REPO, 'test', 'photos');

/** A committed fixture file: a clear failure when it is missing. */
export function fixture(name: string): string {
  const p = join(FIXTURES, name);
  if (!existsSync(p)) throw new Error(`committed fixture ${p} is missing`);
  return p;
}

/**
 * A model in the workplace's shared folder (`../shared` next to the repository), or undefined with a
 * message saying what is skipped.
 */
export function sharedModel(name: string, skipping: string): string | undefined {
  const p = join(REPO, '..', 'shared', 'models', name);
  if (existsSync(p)) return p;
  console.warn(`skipping ${skipping}: ${p} is absent (it lives in the workplace's shared/ folder)`);
  return undefined;
}

export const DEIT_TINY = 'deit-tiny-patch16-224';
