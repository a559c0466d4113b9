/** Tenants of the test template database: two, so every test can check isolation. */
export const TEST_TENANTS = [
  { id: 'default', webhookSecret: 'test-webhook-secret-default', students: 220, seed: 1 },
  { id: 'northfield', webhookSecret: 'test-webhook-secret-northfield', students: 30, seed: 2 },
] as const;

export const TEST_SEED = 1;
export const JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789';
export const DEMO_MOODLE_USER_ID = '00042';
