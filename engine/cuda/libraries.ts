/**
 * Where the CUDA libraries are: the driver (libcuda, installed with the NVIDIA driver) and the two toolkit
 * libraries this backend uses, cuBLASLt and NVRTC, from a CUDA toolkit, pip `nvidia-*` wheels, or a folder
 * named by VIT_CUDA_LIBS. Pure path logic here; loading is engine/cuda/driver.ts's job.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export type ToolkitLibrary = 'cublasLt' | 'nvrtc';

/** Sonames tried for each library, newest CUDA major first. */
export const SONAMES: Record<ToolkitLibrary, string[]> = {
  cublasLt: ['libcublasLt.so.13', 'libcublasLt.so.12'],
  nvrtc: ['libnvrtc.so.13', 'libnvrtc.so.12'],
};

/** Subfolders of a pip site-packages/nvidia folder that hold these libraries (CUDA 13 and CUDA 12 wheel layouts). */
const WHEEL_DIRS = ['cu13/lib', 'cublas/lib', 'cuda_nvrtc/lib'];

export const INSTALL_HINT =
  'install a CUDA 12/13 toolkit (cuBLAS + NVRTC), or `pip install nvidia-cublas nvidia-cuda-nvrtc`, or point VIT_CUDA_LIBS at the folder holding libcublasLt.so and libnvrtc.so';

function listDirs(parent: string, pattern: RegExp): string[] {
  try {
    return readdirSync(parent)
      .filter((n) => pattern.test(n))
      .sort()
      .reverse()
      .map((n) => join(parent, n));
  } catch {
    return [];
  }
}

/** site-packages folders that may hold pip `nvidia-*` wheels. */
function sitePackages(env: NodeJS.ProcessEnv): string[] {
  const roots: string[] = [];
  for (const prefix of [env.VIRTUAL_ENV, env.CONDA_PREFIX, '/usr/local', '/usr', env.HOME && join(env.HOME, '.local')]) {
    if (!prefix) continue;
    for (const py of listDirs(join(prefix, 'lib'), /^python3/)) roots.push(join(py, 'site-packages'), join(py, 'dist-packages'));
  }
  // Virtual environments under /opt (e.g. /opt/<app>/.venv, /opt/conda).
  for (const app of listDirs('/opt', /./)) {
    for (const venv of [app, join(app, '.venv'), join(app, 'venv')]) {
      for (const py of listDirs(join(venv, 'lib'), /^python3/)) roots.push(join(py, 'site-packages'));
    }
  }
  return roots;
}

/** Folders searched, in order. VIT_CUDA_LIBS (colon-separated) comes first and, when set, alone decides. */
export function candidateDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.VIT_CUDA_LIBS) return env.VIT_CUDA_LIBS.split(':').filter(Boolean);
  const dirs: string[] = [];
  for (const root of [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda']) {
    if (root) dirs.push(join(root, 'lib64'), join(root, 'lib'), join(root, 'targets/x86_64-linux/lib'));
  }
  for (const d of listDirs('/usr/local', /^cuda-\d/)) dirs.push(join(d, 'lib64'), join(d, 'targets/x86_64-linux/lib'));
  for (const sp of sitePackages(env)) for (const w of WHEEL_DIRS) dirs.push(join(sp, 'nvidia', w));
  dirs.push('/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib');
  return [...new Set(dirs)];
}

/** `ldconfig -p` entries by soname ('' when ldconfig is unavailable). */
export function ldconfigPaths(): Map<string, string> {
  const found = new Map<string, string>();
  let out = '';
  try {
    out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 });
  } catch {
    try {
      out = execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 });
    } catch {
      return found;
    }
  }
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+)\s.*=>\s*(\S+)\s*$/.exec(line);
    if (m && !found.has(m[1]!)) found.set(m[1]!, m[2]!);
  }
  return found;
}

export interface Located {
  path: string;
  /** Every path tried, for the error message when nothing loads. */
  tried: string[];
}

/**
 * Paths to try for one library, best first: each candidate folder x soname that exists, then ldconfig's,
 * then the bare soname (the dynamic loader's own search, LD_LIBRARY_PATH included).
 */
export function libraryCandidates(lib: ToolkitLibrary, dirs: string[], ldconfig: Map<string, string>, exists: (p: string) => boolean = existsSync): string[] {
  const out: string[] = [];
  for (const soname of SONAMES[lib]) {
    for (const d of dirs) {
      const p = join(d, soname);
      if (exists(p)) out.push(p);
    }
  }
  for (const soname of SONAMES[lib]) {
    const p = ldconfig.get(soname);
    if (p) out.push(p);
  }
  out.push(...SONAMES[lib]);
  return [...new Set(out)];
}
