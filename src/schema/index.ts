import { builder } from '../builder.js';
import './scalars.js';
import './finance.js';
import './academics.js';
import './classes.js';
import './requests.js';
import './grades.js';
import './student.js';
import './sync.js';
import './subscriptions.js';

/** Also an Apollo Federation v2 subgraph: `_service { sdl }` and `_entities` (Student by id or moodleUserId). */
export const schema = builder.toSubGraphSchema({
  linkUrl: 'https://specs.apollo.dev/federation/v2.6',
  federationDirectives: ['@key'],
  sortSchema: false,
});
