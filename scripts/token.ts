// Prints a signed JWT for local use:
//   npm run token -- --role admin|staff|integration [--tenant default] [--sub me] [--expires 12h]
//   npm run token -- --role student --moodle-user-id 00042
import { parseArgs } from 'node:util';
import { ROLES, signToken, type Role } from '../src/auth/jwt.js';
import { loadConfig } from '../src/config.js';
import { persistedSecret } from '../src/dev-secrets.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'admin' },
    tenant: { type: 'string' },
    sub: { type: 'string' },
    'moodle-user-id': { type: 'string' },
    expires: { type: 'string', default: '12h' },
  },
});

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(2);
}

const role = values.role as Role;
if (!(ROLES as readonly string[]).includes(role)) fail(`--role must be one of ${ROLES.join(', ')}`);
const moodleUserId = values['moodle-user-id'];
if (role === 'student' && !moodleUserId) fail('a student token needs --moodle-user-id (e.g. 00042)');

const config = loadConfig();
// Same secret the server uses: JWT_SECRET, or the development secret kept under .data.
const secret = config.auth.jwtSecret ?? (await persistedSecret(config.dataDir, 'jwt-secret'));
const token = await signToken(
  {
    sub: values.sub ?? (role === 'student' ? `student-${moodleUserId}` : `local-${role}`),
    role,
    tenant: values.tenant ?? config.tenancy.defaultTenant,
    ...(moodleUserId ? { moodleUserId } : {}),
  },
  secret,
  values.expires,
);
process.stdout.write(`${token}\n`);
