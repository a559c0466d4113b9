import { readFile } from 'node:fs/promises';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.js';

describe('schema.graphql', () => {
  it('is the printed schema (run `npm run generate` after changing the API)', async () => {
    const committed = await readFile(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(`${printSchema(lexicographicSortSchema(schema))}\n`);
  });

  it('keeps the public contract names of DESIGN.md', () => {
    const sdl = printSchema(schema);
    for (const name of ['StudentConnection', 'Academics', 'Finance', 'Enrollment', 'StudentRequest', 'LearningOutcome', 'BtecGrade', 'PaymentStatus', 'RequestStatus', 'StudentStatus']) {
      expect(sdl).toContain(`${name} `);
    }
    const studentField = /\n  student\(([^)]*)\): Student\n/.exec(sdl)?.[1] ?? '';
    for (const arg of ['id: ID', 'moodleUserId: String', 'zohoId: String', 'studentNumber: String']) expect(studentField).toContain(arg);
  });
});
