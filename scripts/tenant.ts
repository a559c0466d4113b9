// Tenants beyond the default one (which is configured by the environment):
//   npm run tenant -- add <id> [--name "North College"] [--webhook-secret S] [--zoho-token T]
//   npm run tenant -- list
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { withCliDatabase } from './lib/cli-database.js';

const USAGE = 'usage: npm run tenant -- add <id> [--name N] [--webhook-secret S] [--zoho-token T] | list';
const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function fail(message: string): never {
  process.stderr.write(`tenant: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    'webhook-secret': { type: 'string' },
    'zoho-token': { type: 'string' },
  },
});
const [command, id] = positionals;

if (command === 'list') {
  await withCliDatabase(async (db) => {
    const tenants = await db.tenant.findMany({ orderBy: { id: 'asc' }, include: { _count: { select: { students: true } } } });
    for (const t of tenants) console.log(`${t.id}\t${t.name}\t${t._count.students} students\tzoho channel token: ${t.zohoChannelToken ? 'set' : 'none'}`);
  });
} else if (command === 'add') {
  if (!id || !TENANT_ID.test(id)) fail('the tenant id must be lower-case letters, digits, "-" or "_" (max 63)');
  const given = values['webhook-secret'];
  if (given !== undefined && given.length < 16) fail('--webhook-secret must be at least 16 characters');
  const webhookSecret = given ?? randomBytes(32).toString('hex');
  await withCliDatabase(async (db) => {
    const existing = await db.tenant.findUnique({ where: { id } });
    if (existing) fail(`tenant "${id}" already exists`);
    await db.tenant.create({
      data: { id, name: values.name ?? id, webhookSecret, zohoChannelToken: values['zoho-token'] ?? null },
    });
  });
  console.log(`tenant "${id}" added. Senders use header X-Tenant-Id: ${id}`);
  if (!given) console.log(`webhook secret (shown once, keep it): ${webhookSecret}`);
} else {
  fail(command ? `unknown command "${command}"` : 'a command is required');
}
