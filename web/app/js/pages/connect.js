// Connect an SDK: what a developer pastes to evaluate flags of the selected environment — the Rust SDK with a
// server key, an OpenFeature OFREP provider with a client key, and a curl line to try it — each with a Copy
// button. Keys themselves are made (and shown once) on the environment's page.

import { h, replace } from '../dom.js';
import { environments } from '../environments.js';
import { session } from '../session.js';

/** @param {string} origin @param {string} env */
function snippets(origin, env) {
  return [
    {
      id: 'rust',
      title: 'Rust SDK (server key)',
      hint: 'Evaluates locally and stays current over a stream; the SDK lives in the Pennon repository (sdk/).',
      code: `# Cargo.toml
[dependencies]
pennon-sdk = { git = "https://example.invalid/pennon" }   # or { path = "../pennon/sdk" }
tokio = { version = "1", features = ["full"] }

// src/main.rs
use pennon_sdk::{Client, Context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A server key of the ${env} environment, e.g. from PENNON_SERVER_KEY.
    let client = Client::builder("${origin}", std::env::var("PENNON_SERVER_KEY")?).build().await?;
    let ctx = Context::new("user-42").with("plan", "pro");
    if client.bool_value("new-checkout", &ctx, false) {
        println!("new checkout");
    }
    client.close().await;
    Ok(())
}`,
    },
    {
      id: 'ofrep-web',
      title: 'OpenFeature in the browser (OFREP, client key)',
      hint: 'Any OpenFeature OFREP provider works; client keys only ever see evaluated values.',
      code: `// npm install @openfeature/web-sdk @openfeature/ofrep-web-provider
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

await OpenFeature.setContext({ targetingKey: 'user-42', plan: 'pro' });
await OpenFeature.setProviderAndWait(new OFREPWebProvider({
  baseUrl: '${origin}',
  headers: [['Authorization', 'Bearer pnn_cli_...']], // a client key of ${env}
}));
const on = OpenFeature.getClient().getBooleanValue('new-checkout', false);`,
    },
    {
      id: 'curl',
      title: 'Try it with curl (OFREP)',
      hint: 'One flag for one context; a server or client key of the environment.',
      code: `curl -s ${origin}/ofrep/v1/evaluate/flags/new-checkout \\
  -H 'Authorization: Bearer pnn_cli_...' \\
  -H 'Content-Type: application/json' \\
  -d '{"context": {"targetingKey": "user-42", "plan": "pro"}}'`,
    },
  ];
}

/** Copies text, saying so next to the button. @param {string} text @param {HTMLElement} said */
async function copy(text, said) {
  try {
    await navigator.clipboard.writeText(text);
    said.textContent = 'Copied.';
  } catch {
    said.textContent = 'Copying is blocked here: select the text and copy it.';
  }
}

/** @type {import('../router.js').Page} */
export async function connectPage(view) {
  const body = h('div');
  const draw = () => {
    const env = environments.currentEnv;
    const origin = location.origin;
    replace(body,
      h('p', null, 'Environment: ', h('strong', null, env?.name ?? 'none yet'), ' (the top bar chooses it). ',
        'Server keys (', h('code', null, 'pnn_srv_…'), ') read the whole configuration and stream changes; client keys (',
        h('code', null, 'pnn_cli_…'), ') only get evaluated values, for browsers and apps.'),
      env ? h('p', null, session.can('admin')
        ? h('a', { class: 'button', href: `#/environments/${encodeURIComponent(env.key)}` }, `Create a key for ${env.name}`)
        : h('span', { class: 'hint' }, `An admin creates keys on the ${env.name} environment's page.`)) : null,
      snippets(origin, env?.key ?? 'your').map((s) => {
        const said = h('span', { class: 'hint', role: 'status' });
        return h('section', { class: 'card snippet', dataset: { snippet: s.id }, 'aria-labelledby': `snippet-${s.id}` },
          h('div', { class: 'section-head' },
            h('h2', { id: `snippet-${s.id}` }, s.title),
            h('div', { class: 'actions' }, said,
              h('button', { type: 'button', class: 'button small', 'aria-label': `Copy ${s.title}`, onclick: () => copy(s.code, said) }, 'Copy'))),
          h('p', { class: 'hint' }, s.hint),
          h('pre', { class: 'code', tabindex: 0 }, h('code', null, s.code)));
      }));
  };
  replace(view, h('h1', null, 'Connect an SDK'), body);
  draw();
  return environments.onChange(draw);
}
