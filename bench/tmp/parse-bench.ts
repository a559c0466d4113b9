import { moodleEvent, zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { recordOf } from '../../src/ingest/raw-event.js';
import { planS3 } from '../ingest.js';
const plan = planS3('5', 3000, 1);
const events = plan.events.flatMap((e: any) => {
  const body = JSON.parse(e.body);
  return e.path.includes('zoho') ? zohoWebhookEvents(body) : [moodleEvent(body)];
});
for (let round = 0; round < 3; round++) {
  const t0 = process.cpuUsage();
  let n = 0;
  for (let k = 0; k < 5; k++) for (const e of events) { if (e.raw.kind !== 'zoho-fetch') { try { recordOf(e.raw as any); } catch {} n++; } }
  const u = process.cpuUsage(t0);
  console.log(`recordOf: ${((u.user + u.system) / n / 1000).toFixed(4)} ms/event (${n})`);
}
