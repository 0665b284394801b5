import fs from 'node:fs';
const file = process.argv[2];
const p = JSON.parse(fs.readFileSync(file));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = p.timeDeltas; let total = 0;
for (let i = 0; i < p.samples.length; i++) { const n = byId.get(p.samples[i]); const d = dt[i] ?? 0; total += d;
  const cf = n.callFrame; const key = `${cf.functionName || '(anon)'} ${cf.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/(dist|src)\//, '$1/')}:${cf.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + d); }
const byPkg = new Map();
for (const [k, v] of self) { const m = k.match(/ nm\/((@[^/]+\/)?[^/]+)/) || k.match(/ (dist\/[^/]+)/) ; const pkg = m ? m[1] : k.split(' ')[0].startsWith('(') ? k.split(' ')[0] : (k.includes('node:') ? 'node:' + k.split('node:')[1].split(':')[0] : 'other'); byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + v); }
console.log('total ms', (total / 1000).toFixed(0));
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 30))) console.log((v / total * 100).toFixed(1).padStart(5), k);
console.log('--- by package');
for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log((v / total * 100).toFixed(1).padStart(5), k);
