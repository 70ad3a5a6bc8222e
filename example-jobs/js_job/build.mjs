// Builds the component: node build.mjs <app.js> <wit dir> <out.wasm>
// (componentize-js's own CLI does not work here; its API does).
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';

const [sourcePath, witPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node build.mjs <app.js> <wit dir> <out.wasm>');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath,
  witPath,
  worldName: 'job',
  // `fetch` imports wasi:http/outgoing-handler (the host grants it per job, see
  // `allowed_hosts`); no `fetch-event`, which would export wasi:http/incoming-handler.
  disableFeatures: ['fetch-event'],
});
await writeFile(outPath, component);
