// The plugin `wasmcron.examples.javascript`: job classes written in JavaScript.
//
// componentize-js turns this module into a component of the world `job` (wit/job.wit):
// its exported functions `describe` and `run` are the world's exports, and the world's
// import `wasmcron:job/host` is an ES module. Records are objects with camelCase
// fields, enums are strings, and a thrown string is the `err` case of a `result`.
// `run` may return a promise (HttpCheck awaits `fetch`): componentize-js runs the event
// loop until it settles. `fetch` goes out through `wasi:http/outgoing-handler`, which the
// host grants per job (`allowed_hosts`).

import { log } from 'wasmcron:job/host@0.3.0';

// A run that cannot go on with its arguments: the run fails with this message.
class BadArgs extends Error {}

// A check that did not pass (HttpCheck): the run fails with this message.
class CheckFailed extends Error {}

function parseArgs(args) {
  let value;
  try {
    value = JSON.parse(args);
  } catch (e) {
    throw new BadArgs(`args are not valid JSON: ${e.message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadArgs('args must be a JSON object');
  }
  return value;
}

// Groups `records` by the value of `key`, counting them and summing the field `sum`.
function groupBy(args) {
  const { records, key, sum } = args;
  if (!Array.isArray(records)) throw new BadArgs('records must be an array of objects');
  if (typeof key !== 'string' || key === '') throw new BadArgs('key must be a non-empty string');
  if (sum !== undefined && typeof sum !== 'string') throw new BadArgs('sum must be a string');
  const groups = new Map();
  records.forEach((record, i) => {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new BadArgs(`records[${i}] is not an object`);
    }
    if (!(key in record)) throw new BadArgs(`records[${i}] has no field "${key}"`);
    const value = record[key];
    if (value !== null && typeof value === 'object') {
      throw new BadArgs(`records[${i}].${key} is not a string, number, boolean or null`);
    }
    // Group on the JSON text, so 1 and "1" stay apart.
    const id = JSON.stringify(value);
    let group = groups.get(id);
    if (!group) {
      group = { [key]: value, count: 0 };
      if (sum !== undefined) group.sum = 0;
      groups.set(id, group);
    }
    group.count += 1;
    if (sum !== undefined) {
      const n = record[sum] ?? 0;
      if (typeof n !== 'number') throw new BadArgs(`records[${i}].${sum} is not a number`);
      group.sum += n;
    }
  });
  log('info', `grouped ${records.length} records into ${groups.size} groups by "${key}"`);
  // Groups in the order of their first record.
  return { groups: [...groups.values()] };
}

// Fills the `{{name}}` placeholders of `template` from `values`.
function template(args) {
  const { template, values = {} } = args;
  if (typeof template !== 'string') throw new BadArgs('template must be a string');
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new BadArgs('values must be an object');
  }
  const missing = new Set();
  let placeholders = 0;
  const text = template.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_, name) => {
    placeholders += 1;
    if (!(name in values)) {
      missing.add(name);
      return '';
    }
    const value = values[name];
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
  if (missing.size > 0) throw new BadArgs(`no value for ${[...missing].join(', ')}`);
  log('info', `filled ${placeholders} placeholders`);
  return { text, length: text.length };
}

// GETs `url` and checks the response's status and, optionally, its body.
async function httpCheck(args) {
  const { url, expect_status: expectStatus = 200, expect_body_contains: expectBody } = args;
  if (typeof url !== 'string' || url === '') throw new BadArgs('url must be a non-empty string');
  if (!/^https?:\/\/[^/?#@]+/i.test(url)) {
    throw new BadArgs(`url must be an http or https URL with a host: ${JSON.stringify(url)}`);
  }
  if (!Number.isInteger(expectStatus) || expectStatus < 100 || expectStatus > 599) {
    throw new BadArgs('expect_status must be an integer from 100 to 599');
  }
  if (expectBody !== undefined && typeof expectBody !== 'string') {
    throw new BadArgs('expect_body_contains must be a string');
  }
  const start = performance.now();
  let status;
  let body;
  try {
    const response = await fetch(url);
    status = response.status;
    body = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    // StarlingMonkey's fetch keeps no wasi:http error code: a refused connection and a
    // request the job is not granted both read "NetworkError when attempting to fetch
    // resource" (the execution's log says when the host denied a request, and why).
    const text = e instanceof Error ? e.message : String(e);
    throw new CheckFailed(`GET ${url} failed: ${text.trim()}`);
  }
  const latencyMs = Math.round(performance.now() - start);
  log('info', `GET ${url}: ${status}, ${body.length} bytes in ${latencyMs} ms`);
  if (status !== expectStatus) {
    throw new CheckFailed(`expected status ${expectStatus}, got ${status} from ${url}`);
  }
  if (expectBody !== undefined && !new TextDecoder().decode(body).includes(expectBody)) {
    throw new CheckFailed(`the body of ${url} does not contain ${JSON.stringify(expectBody)}`);
  }
  return { url, status, latency_ms: latencyMs, bytes: body.length };
}

const CLASSES = {
  GroupBy: {
    run: groupBy,
    notes:
      'Groups a list of records by the value of one field, counting the records of each ' +
      'group and summing an optional numeric field; groups come in the order of their ' +
      'first record.',
    arguments: [
      { name: 'records', type: 'array of objects', description: 'The records to group.' },
      { name: 'key', type: 'string', description: 'The field to group by (every record must have it).' },
      { name: 'sum', type: 'string', description: 'Optional numeric field to add up per group (missing counts as 0).' },
    ],
    example: {
      records: [
        { city: 'Lyon', amount: 12.5 },
        { city: 'Oslo', amount: 3 },
        { city: 'Lyon', amount: 7.5 },
      ],
      key: 'city',
      sum: 'amount',
    },
    // The JSON Schema the server checks a job's pub_args against when the job is saved
    // (the other classes give none: no check).
    schema: {
      type: 'object',
      properties: {
        records: { type: 'array', items: { type: 'object' } },
        key: { type: 'string' },
        sum: { type: 'string' },
      },
      required: ['records', 'key'],
      additionalProperties: false,
    },
  },
  Template: {
    run: template,
    notes:
      'Fills the {{name}} placeholders of a text template from an object of values ' +
      '(strings as they are, anything else as JSON); fails when a value is missing.',
    arguments: [
      { name: 'template', type: 'string', description: 'The text, with {{name}} placeholders.' },
      { name: 'values', type: 'object', description: 'The value of each placeholder, by name.' },
    ],
    example: {
      template: 'Hello {{name}}, you have {{count}} new messages.',
      values: { name: 'Ada', count: 3 },
    },
  },
  HttpCheck: {
    run: httpCheck,
    notes:
      'GETs a URL and fails unless the response has the expected status (and, optionally, ' +
      'contains a text); the result has the status, the latency and the body size. The job ' +
      "must be granted the URL's origin in its allowed_hosts option.",
    arguments: [
      { name: 'url', type: 'string', description: 'The URL to GET (http or https).' },
      { name: 'expect_status', type: 'integer', description: 'Optional status the response must have (default 200).' },
      { name: 'expect_body_contains', type: 'string', description: 'Optional text the response body must contain.' },
    ],
    example: { url: 'http://127.0.0.1:8080/health', expect_status: 200, expect_body_contains: 'ok' },
  },
};

export function describe() {
  return Object.entries(CLASSES).map(([name, c]) => ({
    name,
    notes: c.notes,
    arguments: c.arguments,
    exampleArguments: JSON.stringify(c.example),
    argumentsSchema: c.schema === undefined ? undefined : JSON.stringify(c.schema),
  }));
}

export async function run(ctx, className, args) {
  const c = Object.hasOwn(CLASSES, className) ? CLASSES[className] : undefined;
  if (!c) {
    throw `unknown class "${className}"; this plugin has ${Object.keys(CLASSES).join(', ')}`;
  }
  try {
    return JSON.stringify(await c.run(parseArgs(args)));
  } catch (e) {
    // A thrown string is the run's `err`; anything unexpected fails the run too.
    throw e instanceof BadArgs || e instanceof CheckFailed ? e.message : `${className} failed: ${e}`;
  }
}
