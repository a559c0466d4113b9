import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, createTokenVerifier, signToken } from '../../src/auth/jwt.js';

const SECRET = 'unit-test-secret-that-is-long-enough-000';
const claims = { role: 'staff', tenant: 'default' };

async function rs256(privateKey: CryptoKey, extra: Record<string, unknown> = {}, kid = 'k1') {
  return new SignJWT({ ...claims, ...extra }).setProtectedHeader({ alg: 'RS256', kid }).setSubject('idp-user').setExpirationTime('1h').sign(privateKey);
}

describe('token verification', () => {
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let jwksUrl: string;
  let server: ReturnType<typeof createServer>;

  beforeAll(async () => {
    keys = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('accepts HS256 tokens signed with JWT_SECRET and returns the viewer', async () => {
    const token = await signToken({ sub: 's1', role: 'student', tenant: 't1', moodleUserId: '00042' }, SECRET);
    await expect(createTokenVerifier({ secret: SECRET })(token)).resolves.toEqual({ sub: 's1', role: 'student', tenant: 't1', moodleUserId: '00042' });
  });

  it('rejects expired, malformed, wrongly signed and unsigned tokens with a clear reason', async () => {
    const verify = createTokenVerifier({ secret: SECRET });
    const expired = await signToken({ sub: 's', role: 'admin', tenant: 't' }, SECRET, Math.floor(Date.now() / 1000) - 10);
    await expect(verify(expired)).rejects.toThrow('token expired');
    await expect(verify('not.a.jwt')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(verify(await signToken({ sub: 's', role: 'admin', tenant: 't' }, 'another-secret-that-is-long-enough-00'))).rejects.toThrow(/invalid token/);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"s","role":"admin","tenant":"t"}').toString('base64url')}.`;
    await expect(verify(none)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('remembers a verified token only until it expires, and never a rejected one', async () => {
    const verify = createTokenVerifier({ secret: SECRET });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const shortLived = await signToken({ sub: 's', role: 'admin', tenant: 't' }, SECRET, exp);
    await expect(verify(shortLived)).resolves.toMatchObject({ sub: 's' });
    await expect(verify(shortLived)).resolves.toMatchObject({ sub: 's' });
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    await expect(verify(shortLived)).rejects.toThrow('token expired');
    const forged = `${shortLived.slice(0, shortLived.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    await expect(verify(forged)).rejects.toThrow(/invalid token/);
    await expect(verify(forged)).rejects.toThrow(/invalid token/);
  });

  it('checks the claims: role, tenant, and moodleUserId for students', async () => {
    const verify = createTokenVerifier({ secret: SECRET });
    const sign = (payload: Record<string, unknown>) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setSubject('s').sign(new TextEncoder().encode(SECRET));
    await expect(verify(await sign({ role: 'root', tenant: 't' }))).rejects.toThrow(/claim "role"/);
    await expect(verify(await sign({ role: 'staff' }))).rejects.toThrow(/claim "tenant"/);
    await expect(verify(await sign({ role: 'student', tenant: 't' }))).rejects.toThrow(/moodleUserId/);
  });

  it('accepts RS256 tokens of an identity provider by public key and by JWKS, and only when configured', async () => {
    const token = await rs256(keys.privateKey);
    await expect(createTokenVerifier({ secret: SECRET })(token)).rejects.toBeInstanceOf(AuthenticationError);
    const pem = await exportSPKI(keys.publicKey);
    await expect(createTokenVerifier({ secret: SECRET, publicKeyPem: pem })(token)).resolves.toMatchObject({ sub: 'idp-user', role: 'staff' });
    await expect(createTokenVerifier({ secret: SECRET, jwksUrl })(token)).resolves.toMatchObject({ sub: 'idp-user', tenant: 'default' });
    const stranger = await generateKeyPair('RS256');
    await expect(createTokenVerifier({ secret: SECRET, jwksUrl })(await rs256(stranger.privateKey))).rejects.toBeInstanceOf(AuthenticationError);
  });
});
