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

export const schema = builder.toSchema({ sortSchema: false });
