// Writes the printed schema to schema.graphql (committed; test/schema.test.ts keeps it current).
import { writeFile } from 'node:fs/promises';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from '../src/schema/index.js';

const target = new URL('../schema.graphql', import.meta.url);
await writeFile(target, `${printSchema(lexicographicSortSchema(schema))}\n`);
console.log(`wrote ${target.pathname}`);
