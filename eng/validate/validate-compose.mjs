// Validates Compose files against the compose-spec JSON schema with ajv.
//   node eng/validate/validate-compose.mjs SCHEMA.json docker-compose.prod.yml [more.yml ...]
// The schema's "format"s (ports, expose, duration) are left to `docker-compose config`: the interpolated
// values (${FRONTEND_PORT:-3000}:3000) are only checkable after interpolation.
import { readFileSync } from 'node:fs';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const [schemaFile, ...files] = process.argv.slice(2);
if (!schemaFile || files.length === 0) {
  console.error('usage: validate-compose.mjs SCHEMA.json FILE.yml [FILE.yml ...]');
  process.exit(2);
}

const schema = JSON.parse(readFileSync(schemaFile, 'utf8'));
// The schema is written for draft 2019-09 but still carries draft-04 "id" labels (never used by a $ref):
// drop them so ajv's 2019-09 validator accepts it.
const dropIds = (node) => {
  if (Array.isArray(node)) node.forEach(dropIds);
  else if (node && typeof node === 'object') {
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(dropIds);
  }
};
dropIds(schema);
delete schema.$schema;
const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
const validate = ajv.compile(schema);

let failed = 0;
for (const file of files) {
  // YAML 1.1, as docker-compose reads it (an unquoted `no` would be a boolean).
  const document = parse(readFileSync(file, 'utf8'), { version: '1.1' });
  if (validate(document)) {
    console.log(`✓ ${file} matches the compose-spec schema`);
  } else {
    failed++;
    for (const error of validate.errors) {
      console.error(`✗ ${file}: ${error.instancePath || '/'} ${error.message}${error.params?.additionalProperty ? ` (${error.params.additionalProperty})` : ''}`);
    }
  }
}
process.exit(failed === 0 ? 0 : 1);
