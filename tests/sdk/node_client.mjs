// Evaluates cases with the official OpenFeature server SDK for JavaScript and its OFREP
// provider. Reads {"baseUrl", "token", "cases": [{"flag", "type", "default", "context"}]} on
// stdin and prints one JSON line per case: {"value", "variant", "reason", "errorCode"}.
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const request = JSON.parse(input);
const headers = request.token ? [['Authorization', `Bearer ${request.token}`]] : [];
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: request.baseUrl, headers }));
const client = OpenFeature.getClient();
const evaluate = {
  boolean: (k, d, c) => client.getBooleanDetails(k, d, c),
  string: (k, d, c) => client.getStringDetails(k, d, c),
  number: (k, d, c) => client.getNumberDetails(k, d, c),
  object: (k, d, c) => client.getObjectDetails(k, d, c),
};
for (const c of request.cases) {
  const { targeting_key: targetingKey, ...attributes } = c.context;
  const context = targetingKey === undefined ? attributes : { targetingKey, ...attributes };
  const d = await evaluate[c.type](c.flag, c.default, context);
  process.stdout.write(JSON.stringify({
    value: d.value, variant: d.variant ?? null, reason: d.reason ?? null, errorCode: d.errorCode ?? null,
  }) + '\n');
}
await OpenFeature.close();
