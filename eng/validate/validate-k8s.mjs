// Validates Kubernetes documents against the API schemas (kubernetes-models): every document must have a known
// apiVersion/kind and pass its model's validate(). Reads multi-document YAML from the files given, or from stdin.
//   kubectl kustomize deploy/k8s | node eng/validate/validate-k8s.mjs
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const inputs = process.argv.length > 2
  ? process.argv.slice(2).map((file) => ({ name: file, text: readFileSync(file, 'utf8') }))
  : [{ name: 'stdin', text: readFileSync(0, 'utf8') }];

let count = 0;
const problems = [];
for (const { name, text } of inputs) {
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      problems.push(`${name}: YAML: ${document.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const object = document.toJS();
    if (object === null || object === undefined) continue;
    count++;
    const { apiVersion, kind } = object;
    const id = `${name}: ${kind ?? '?'} ${object.metadata?.name ?? '?'}`;
    if (!apiVersion || !kind) {
      problems.push(`${id}: apiVersion and kind are required`);
      continue;
    }
    let models;
    try {
      models = await import(`kubernetes-models/${apiVersion}`);
    } catch {
      problems.push(`${id}: unknown apiVersion ${apiVersion}`);
      continue;
    }
    const Model = models[kind];
    if (typeof Model !== 'function') {
      problems.push(`${id}: unknown kind ${kind} in ${apiVersion}`);
      continue;
    }
    if (kind === 'Secret' && object.data) {
      // kustomize wraps long base64 values over several lines; Kubernetes' decoder skips the line breaks.
      for (const key of Object.keys(object.data)) object.data[key] = String(object.data[key]).replace(/\s+/g, '');
    }
    try {
      new Model(object).validate();
    } catch (error) {
      const details = (error.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
      problems.push(`${id}: ${details || error.message}`);
    }
  }
}

for (const problem of problems) console.error(`✗ ${problem}`);
if (count === 0) {
  console.error('✗ no Kubernetes documents found');
  process.exit(1);
}
console.log(`${count - problems.length} of ${count} Kubernetes documents valid`);
process.exit(problems.length === 0 ? 0 : 1);
