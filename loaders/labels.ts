/** Class names that ship with the project. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let imagenet: string[] | undefined;

/**
 * The 1000 ImageNet-1k class names in index order, from data/imagenet-1k-synsets.txt
 * (`nXXXXXXXX name, synonyms`): the first name of each line, as timm's ImageNetInfo gives it.
 */
export function imagenet1kLabels(): string[] {
  if (!imagenet) {
    // dist/loaders/labels.js and loaders/labels.ts both sit two levels under the package root's data/.
    const candidates = ['../../data/imagenet-1k-synsets.txt', '../data/imagenet-1k-synsets.txt'];
    let text: string | undefined;
    for (const rel of candidates) {
      try {
        text = readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
        break;
      } catch {
        /* try the next location */
      }
    }
    if (text === undefined) throw new Error('data/imagenet-1k-synsets.txt is missing from the package');
    imagenet = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.replace(/^n\d+\s+/, '').split(',')[0]!.trim());
    if (imagenet.length !== 1000) throw new Error(`imagenet-1k-synsets.txt has ${imagenet.length} lines, expected 1000`);
  }
  return imagenet;
}
