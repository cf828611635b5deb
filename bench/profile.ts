/**
 * Summarises a V8 CPU profile (`node --cpu-prof` output): self time by function and by
 * package, so the hot path of a benchmark target can be read without a browser.
 * Usage: node dist/bench/profile.js FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Names the package or project folder that a script URL belongs to. */
function packageOf(url: string): string {
  if (url === '') return '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node';
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1).split('/').slice(0, 2).join('/') : url;
}

function table(title: string, totals: Map<string, number>, all: number, top: number): string {
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = rows.map(([name, us]) => `${((100 * us) / all).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  return [`${title}:`, ...lines].join('\n');
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    console.error('missing profile file: pass a .cpuprofile written by node --cpu-prof');
    process.exit(2);
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex >= 0 ? Number(process.argv[topIndex + 1]) : 30;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));

  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const nameOf = (frame: ProfileNode['callFrame']): string => {
    const where = frame.url ? `${frame.url.replace(/^file:\/\/.*?(node_modules\/|dist\/)/, '$1')}:${frame.lineNumber + 1}` : '';
    return `${frame.functionName || '(anonymous)'} ${where}`;
  };

  const byFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)' || frame.functionName === '(program)') return;
    all += delta;
    const name = nameOf(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    // Inclusive time counts each function once per sample, however deep it recurses.
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parents.get(node)) {
      const caller = nameOf(byId.get(node)!.callFrame);
      if (seen.has(caller)) continue;
      seen.add(caller);
      inclusive.set(caller, (inclusive.get(caller) ?? 0) + delta);
    }
    byPackage.set(packageOf(frame.url), (byPackage.get(packageOf(frame.url)) ?? 0) + delta);
  });
  console.log(`busy time: ${(all / 1000).toFixed(0)} ms (idle and (program) left out)\n`);
  console.log(table('self time by package', byPackage, all, top));
  console.log();
  console.log(table('self time by function', byFunction, all, top));
  console.log();
  console.log(table('total time by function, callees included', inclusive, all, top));
}

main();
