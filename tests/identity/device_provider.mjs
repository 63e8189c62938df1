// A real OpenID provider with the device authorization flow (RFC 8628), for the tests:
// the certified `oidc-provider` from npm (installed by tests/identity/install_node_provider.sh
// into var/oidc-node), on 127.0.0.1:$PORT. Started by tests/identity/test_device_flow_node.py.
//
// Environment:
//   OIDC_NODE_PREFIX  the folder npm installed oidc-provider into
//   PORT              the loopback port to listen on
//   CLIENT_ID         the public client (no secret) the remote CLI uses
//   API_AUDIENCE      the `aud` of the access tokens (JWTs, signed RS256): gpuhours' API
//   USERS             JSON: {sub: {name, email, ...}} the accounts its login form knows
//
// Sign-in is the provider's own development login (any password) and consent pages.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
};

const prefix = env('OIDC_NODE_PREFIX');
const entry = createRequire(join(prefix, 'package.json')).resolve('oidc-provider');
const { default: Provider } = await import(pathToFileURL(entry).href);

const port = Number(env('PORT'));
const issuer = `http://127.0.0.1:${port}`;
const audience = env('API_AUDIENCE');
const users = JSON.parse(env('USERS'));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'device-test-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env('CLIENT_ID'),
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  jwks: { keys: [signing] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== audience) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'openid profile email',
          audience,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  async findAccount(ctx, sub) {
    const claims = users[sub];
    if (!claims) {
      return undefined;
    }
    return { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on ${issuer}\n`);
});
