/** `vit inspect`: what a checkpoint is, without running it. */
import { inspectCheckpoint } from '../loaders/checkpoint.js';
import { resolveModel, type ResolveOptions } from '../loaders/hub.js';
import { isRandomSpec, randomConfig } from '../loaders/random.js';
import { openRemoteCheckpoint, REMOTE_NOTE } from '../loaders/remote.js';
import { weightSlots } from '../model/weights.js';

const RANDOM_NOTE = 'random weights made in memory, nothing read';

/** What inspectCheckpoint gives, for a random:<arch> spec: its configuration and the tensors it would make (float32). */
function inspectRandom(spec: string): Awaited<ReturnType<typeof inspectCheckpoint>> {
  const { labels, ...config } = randomConfig(spec);
  const slots = weightSlots({ ...config, labels });
  const parameters = slots.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  return {
    path: spec,
    files: [],
    linkedOutside: [],
    format: config.format,
    config: { ...config, labels: labels ? `${labels.length} names (${labels.slice(0, 3).join(', ')}, ...)` : undefined },
    tensors: slots.length,
    parameters,
    bytes: parameters * 4,
    dtypes: { F32: slots.length },
    ignoredTensors: [],
  };
}

export async function runInspect(spec: string, json: boolean, log: (s: string) => void = console.log, hub: ResolveOptions = {}): Promise<void> {
  if (isRandomSpec(spec)) {
    const info = inspectRandom(spec);
    if (json) log(JSON.stringify({ ...info, random: RANDOM_NOTE }, null, 2));
    else print(info, `(${RANDOM_NOTE})`, log);
    return;
  }
  // A hub model not (completely) in the cache is inspected from its safetensors headers; anything else as always.
  const remote = await openRemoteCheckpoint(spec, hub);
  const info = await inspectCheckpoint(remote ?? await resolveModel(spec, hub));
  if (json) {
    log(JSON.stringify(remote ? { ...info, remote: REMOTE_NOTE } : info, null, 2));
    return;
  }
  print(info, remote ? `(${REMOTE_NOTE})` : '', log);
}

function print(info: Awaited<ReturnType<typeof inspectCheckpoint>>, note: string, log: (s: string) => void): void {
  const c = info.config;
  log(`path        ${info.path}${note ? ` ${note}` : ''}`);
  if (info.files.length) log(`files       ${info.files.join(', ')}`);
  for (const l of info.linkedOutside) log(`link        ${l.file} -> ${l.target} (a symlink out of the model directory: loaded as is)`);
  log(`format      ${info.format === 'hf' ? 'Hugging Face transformers' : 'timm'} (${c.architecture})`);
  log(`layout      ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads, MLP ${c.mlpDim}, patch ${c.patchSize}, ${c.numChannels} channels`);
  log(`input       ${c.imageSize.join('x')} (position embedding resampled ${c.posEmbedResample}-style for other sizes)`);
  log(`head        ${c.numClasses ? `${c.numClasses} classes${c.labels ? `: ${c.labels}` : ''}` : 'none (features)'}`);
  log(`numerics    LayerNorm eps ${c.layerNormEps}, ${c.hiddenAct === 'gelu' ? 'exact erf GELU' : 'tanh GELU'}, qkv bias ${c.qkvBias ? 'yes' : 'no'}`);
  const p = c.preprocess;
  log(`preprocess  ${p.mode === 'resize' ? `resize to ${p.size.join('x')}` : `resize shortest edge to size/${p.cropPct}, center crop ${p.size.join('x')}`} ${p.interpolation}, mean ${p.mean.join(',')}, std ${p.std.join(',')}`);
  log(`tensors     ${info.tensors} (${Object.entries(info.dtypes).map(([d, n]) => `${n} ${d}`).join(', ')})${info.ignoredTensors.length ? `, ${info.ignoredTensors.length} unused: ${info.ignoredTensors.join(', ')}` : ''}`);
  log(`parameters  ${info.parameters.toLocaleString('en-US')} (${(info.bytes / 1e6).toFixed(1)} MB stored)`);
}
