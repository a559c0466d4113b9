import type { App } from '../../src/app.js';
import { signBody } from '../../src/auth/signature.js';
import { TEST_TENANTS } from './fixtures.js';

export interface WebhookReply {
  status: number;
  body: { results?: { status: string; entityType: string | null; entityId: string | null; message: string | null; eventId: string | null }[]; error?: string };
}

/** POSTs a body to /webhooks/{zoho,moodle}, signed with the tenant's test secret. */
export async function postWebhook(app: App, sender: 'zoho' | 'moodle', body: unknown, tenant = 'default'): Promise<WebhookReply> {
  const secret = TEST_TENANTS.find((t) => t.id === tenant)?.webhookSecret;
  if (!secret) throw new Error(`no test tenant ${tenant}`);
  const text = JSON.stringify(body);
  const response = await app.fetch(`http://test/webhooks/${sender}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature-256': signBody(text, secret), ...(tenant === 'default' ? {} : { 'x-tenant-id': tenant }) },
    body: text,
  });
  return { status: response.status, body: (await response.json()) as WebhookReply['body'] };
}

let sequence = 0;

/** A Zoho BTEC_Payments record event for a student (by Zoho id); a new notification id each call. */
export function paymentEvent(studentZohoId: string, paymentZohoId: string, amount: string, modified: string, status = 'Pending') {
  sequence += 1;
  return {
    notification_id: `test-${Date.now()}-${sequence}`,
    module: 'BTEC_Payments',
    operation: 'update',
    record_id: paymentZohoId,
    data: {
      id: paymentZohoId,
      Name: `PAY-${paymentZohoId.slice(-4)}`,
      Student: { name: 'student', id: studentZohoId },
      Amount: amount,
      Currency: 'GBP',
      Due_Date: '2031-01-15',
      Status: status,
      Modified_Time: modified,
    },
  };
}

/**
 * A Zoho BTEC_Students record event for a student (by Zoho id); a new notification id each call
 * unless `notificationId` is given (the same one twice is a DUPLICATE).
 */
export function studentEvent(
  zohoId: string,
  { fullName = 'Test Student', modified = '2026-02-13T10:05:00+03:00', notificationId, operation = 'insert' }: { fullName?: string; modified?: string; notificationId?: string; operation?: 'insert' | 'update' } = {},
) {
  sequence += 1;
  return {
    notification_id: notificationId ?? `test-student-${Date.now()}-${sequence}`,
    module: 'BTEC_Students',
    operation,
    record_id: zohoId,
    data: { id: zohoId, Name: `STU-${zohoId.slice(-4)}`, Full_Name: fullName, Status: 'Active', Modified_Time: modified },
  };
}
