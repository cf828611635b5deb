import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { importTinesStory, snakeCase, TinesExportError } from '../engine/tines/import';

const fixture = join(__dirname, '..', '..', 'test', 'fixtures', 'tines', 'fleet-os-update.json');

type Action = Record<string, unknown>;

function agent(type: string, name: string, options: Record<string, unknown> = {}) {
  return { type, name, options };
}

function chain(...agents: ReturnType<typeof agent>[]) {
  const links = agents.slice(1).map((_, index) => ({ source: index, receiver: index + 1 }));
  return { name: 'Test', agents, links };
}

const hook = agent('Agents::WebhookAgent', 'Hook', { path: 'in', verbs: 'post' });

function actionNamed(story: Record<string, unknown>, name: string): Action {
  const found = (story.actions as Action[]).find((action) => action.name === name);
  if (found === undefined) throw new Error(`no action ${name}`);
  return found;
}

describe('tines import of the Fleet story', () => {
  const result = importTinesStory(JSON.parse(readFileSync(fixture, 'utf8')));
  const story = result.story;

  it('writes YAML that parses back to the story', () => {
    expect(parse(result.yaml)).to.deep.equal(story);
  });

  it('names actions in snake_case in flow order', () => {
    const names = (story.actions as Action[]).map((action) => action.name);
    expect(names).to.deep.equal([
      'calendar_webhook',
      'webhook_error',
      'os_policy_failing',
      'get_host',
      'build_plist',
      'base64_encode_command',
      'run_mdm_command',
    ]);
  });

  it('converts the webhook', () => {
    const webhook = actionNamed(story, 'calendar_webhook');
    expect(webhook.type).to.equal('webhook');
    expect(webhook.path).to.equal('4d1f7c2a9e3b8d6c5a0f1e2d3c4b5a69');
    expect(webhook.methods).to.equal(undefined);
  });

  it('reads the webhook secret from a credential', () => {
    const webhook = actionNamed(story, 'calendar_webhook');
    expect(webhook.secret).to.deep.equal({ credential: 'calendar_webhook_secret' });
  });

  it('converts the error trigger to rules', () => {
    const trigger = actionNamed(story, 'webhook_error');
    expect(trigger.after).to.equal('calendar_webhook');
    expect(trigger.rules).to.deep.equal([
      { type: 'regex', path: 'calendar_webhook.body.error', value: '\\S' },
    ]);
  });

  it('converts the policy formula to a when expression', () => {
    const trigger = actionNamed(story, 'os_policy_failing');
    expect(trigger.when).to.equal(
      '$filter(calendar_webhook.body.failing_policies, function($item) { $item.name = "macOS - OS version up to date" })[0].id > 0 ? true',
    );
    expect(trigger.rules).to.equal(undefined);
  });

  it('converts the host request', () => {
    const request = actionNamed(story, 'get_host');
    expect(request.method).to.equal('GET');
    expect(request.url).to.equal(
      '{{resources.fleet_url}}/api/v1/fleet/hosts/{{calendar_webhook.body.host_id}}',
    );
    expect(request.headers).to.deep.equal({
      Authorization: 'Bearer {{credentials.fleet_api_token}}',
    });
  });

  it('converts the plist with UUID and version', () => {
    const plist = (actionNamed(story, 'build_plist').payload as Action).plist as string;
    expect(plist).to.contain('<string>{{uuid}}</string>');
    expect(plist).to.contain('<string>{{resources.macos_version}}</string>');
  });

  it('converts the encoder to JSONata', () => {
    const payload = actionNamed(story, 'base64_encode_command').payload;
    expect(payload).to.deep.equal({ command: '=$base64encode(build_plist.plist)' });
  });

  it('sends the command body with typed values', () => {
    const request = actionNamed(story, 'run_mdm_command');
    expect(request.method).to.equal('POST');
    expect(request.body).to.deep.equal({
      command: '=base64_encode_command.command',
      host_uuids: ['=get_host.body.host.uuid'],
    });
  });

  it('declares credentials and resources from the environment', () => {
    expect(story.credentials).to.deep.equal({
      fleet_api_token: { env: 'FLEET_API_TOKEN' },
      calendar_webhook_secret: { env: 'CALENDAR_WEBHOOK_SECRET' },
    });
    expect(story.resources).to.deep.equal({
      fleet_url: { env: 'FLEET_URL' },
      macos_version: { env: 'MACOS_VERSION' },
    });
    expect(result.environment).to.deep.equal([
      'FLEET_API_TOKEN',
      'CALENDAR_WEBHOOK_SECRET',
      'FLEET_URL',
      'MACOS_VERSION',
    ]);
  });

  it('converts every action and option', () => {
    expect(result.problems).to.deep.equal([]);
    expect(result.yaml).to.contain('# Every action and option was converted.');
  });

  it('never writes the secret value', () => {
    expect(result.yaml).not.to.contain('8b2e4f6a1c3d5e7f9a0b2c4d6e8f0a1b');
  });
});

describe('tines import of triggers', () => {
  function triggerOf(options: Record<string, unknown>) {
    const result = importTinesStory(chain(hook, agent('Agents::TriggerAgent', 'Check', options)));
    return { action: actionNamed(result.story, 'check'), problems: result.problems };
  }

  it('maps must_match 1 to match any', () => {
    const { action } = triggerOf({
      must_match: 1,
      rules: [
        { type: 'field==value', path: '<<hook.body.a>>', value: '1' },
        { type: 'not in', path: '<<hook.body.b>>', value: ['x', 'y'] },
      ],
    });
    expect(action.match).to.equal('any');
    expect(action.rules).to.deep.equal([
      { type: 'field==value', path: 'hook.body.a', value: '1' },
      { type: '!in', path: 'hook.body.b', value: ['x', 'y'] },
    ]);
  });

  it('reads plain and Liquid rule paths', () => {
    const { action } = triggerOf({
      rules: [
        { type: 'field>value', path: 'hook.body.count', value: '0' },
        { type: 'is present', path: '{{ .hook.body.id }}' },
      ],
    });
    expect(action.rules).to.deep.equal([
      { type: 'field>value', path: 'hook.body.count', value: '0' },
      { type: 'is present', path: 'hook.body.id' },
    ]);
  });

  it('blocks a trigger whose must_match has no equivalent', () => {
    const rule = { type: 'field==value', path: '<<hook.body.a>>', value: '1' };
    const { action, problems } = triggerOf({ must_match: 2, rules: [rule, rule, rule] });
    expect(action.when).to.equal('false');
    expect(problems[0].field).to.equal('options.must_match');
    expect(problems[0].message).to.contain('must_match 2 of 3 rules has no equivalent');
  });

  it('blocks a trigger with an unknown rule type', () => {
    const { action, problems } = triggerOf({
      rules: [{ type: 'is weekday', path: '<<hook.body.a>>' }],
    });
    expect(action.when).to.equal('false');
    expect(problems.map((problem) => problem.field)).to.deep.equal([
      'options.rules[0].type',
      'options.rules',
    ]);
  });

  it('reports emit_no_match', () => {
    const { problems } = triggerOf({
      emit_no_match: 'true',
      rules: [{ type: 'regex', path: '<<hook.body.a>>', value: 'x' }],
    });
    expect(problems).to.deep.equal([
      {
        action: 'check',
        field: 'options.emit_no_match',
        message: 'option has no equivalent here and was left out',
      },
    ]);
  });
});

describe('tines import of requests and transforms', () => {
  it('sends a GET payload as query', () => {
    const result = importTinesStory(
      chain(
        hook,
        agent('Agents::HTTPRequestAgent', 'Search', {
          url: 'http://127.0.0.1/s',
          method: 'get',
          payload: { q: '<<hook.body.q>>' },
        }),
      ),
    );
    const action = actionNamed(result.story, 'search');
    expect(action.query).to.deep.equal({ q: '=hook.body.q' });
    expect(action.body).to.equal(undefined);
  });

  it('sends XML as text with its header', () => {
    const result = importTinesStory(
      chain(
        hook,
        agent('Agents::HTTPRequestAgent', 'Put xml', {
          url: 'http://127.0.0.1/x',
          method: 'put',
          content_type: 'xml',
          payload: '<a>1</a>',
        }),
      ),
    );
    const action = actionNamed(result.story, 'put_xml');
    expect(action.content_type).to.equal('text');
    expect(action.headers).to.deep.equal({ 'Content-Type': 'text/xml; charset=utf-8' });
    expect(action.body).to.equal('<a>1</a>');
  });

  it('defaults the method to POST', () => {
    const result = importTinesStory(
      chain(hook, agent('Agents::HTTPRequestAgent', 'Post', { url: 'http://127.0.0.1/x' })),
    );
    expect(actionNamed(result.story, 'post').method).to.equal('POST');
  });

  it('reports multipart bodies', () => {
    const result = importTinesStory(
      chain(
        hook,
        agent('Agents::HTTPRequestAgent', 'Upload', {
          url: 'http://127.0.0.1/x',
          content_type: 'data',
        }),
      ),
    );
    expect(result.problems).to.deep.equal([
      {
        action: 'upload',
        field: 'options.content_type',
        message: 'content type "data" is not supported',
      },
    ]);
  });

  it('reports basic_auth without its value', () => {
    const result = importTinesStory(
      chain(
        hook,
        agent('Agents::HTTPRequestAgent', 'Call', {
          url: 'http://127.0.0.1/x',
          method: 'post',
          basic_auth: ['user', 'hunter2'],
        }),
      ),
    );
    expect(result.problems).to.deep.equal([
      {
        action: 'call',
        field: 'options.basic_auth',
        message: 'option has no equivalent here and was left out',
      },
    ]);
    expect(result.yaml).not.to.contain('hunter2');
  });

  it('puts problems in the YAML header and beside the action', () => {
    const result = importTinesStory(
      chain(
        hook,
        agent('Agents::HTTPRequestAgent', 'Call', {
          url: 'http://127.0.0.1/x',
          basic_auth: ['user', 'hunter2'],
        }),
      ),
    );
    expect(result.yaml).to.contain(
      '#   call.options.basic_auth: option has no equivalent here and was left out',
    );
    expect(result.yaml).to.contain(
      '  # TODO: options.basic_auth: option has no equivalent here and was left out\n  - name: call',
    );
  });

  function transformOf(options: Record<string, unknown>) {
    const result = importTinesStory(
      chain(hook, agent('Agents::EventTransformationAgent', 'Step', options)),
    );
    return { action: actionNamed(result.story, 'step'), problems: result.problems };
  }

  it('converts explode', () => {
    const { action, problems } = transformOf({
      mode: 'explode',
      path: '<<hook.body.items>>',
      to: 'item_of_list',
    });
    expect(action).to.deep.include({
      mode: 'explode',
      path: '=hook.body.items',
      to: 'item_of_list',
    });
    expect(problems).to.deep.equal([]);
  });

  it('converts delay, deduplicate and throttle', () => {
    expect(transformOf({ mode: 'delay', seconds: '3600' }).action).to.deep.include({
      mode: 'delay',
      seconds: 3600,
    });
    expect(
      transformOf({ mode: 'deduplicate', path: 'hook.body.id', lookback: 100 }).action,
    ).to.deep.include({ mode: 'deduplicate', key: '=hook.body.id', lookback: 100 });
    expect(transformOf({ mode: 'throttle', limit: 5, period: 60 }).action).to.deep.include({
      mode: 'throttle',
      limit: 5,
      period: 60,
    });
  });

  it('converts a single extract matcher', () => {
    const { action, problems } = transformOf({
      mode: 'extract',
      matchers: [{ path: '{{.hook.body.email}}', regexp: '@(.*)', to: 'domain' }],
    });
    expect(action).to.deep.include({
      mode: 'extract',
      text: '=hook.body.email',
      pattern: '@(.*)',
      all: true,
    });
    expect(problems[0].field).to.equal('options.matchers[0].to');
  });

  it('stands in for an unknown mode', () => {
    const { action, problems } = transformOf({ mode: 'automatic', prompt: 'x' });
    expect(action.payload).to.deep.equal({ not_converted: 'event transform in automatic mode' });
    expect(problems.map((problem) => problem.field)).to.deep.equal(['options.mode']);
  });

  it('reports a number that is not one', () => {
    const { problems } = transformOf({ mode: 'delay', seconds: 'soon' });
    expect(problems).to.deep.equal([
      { action: 'step', field: 'options.seconds', message: '"soon" is not a number' },
    ]);
  });

  it('stands in for unknown agent types', () => {
    const result = importTinesStory(chain(hook, agent('Agents::EmailAgent', 'Mail')));
    expect(actionNamed(result.story, 'mail')).to.deep.equal({
      name: 'mail',
      type: 'transform',
      after: 'hook',
      payload: { not_converted: 'Agents::EmailAgent' },
    });
    expect(result.problems[0].message).to.contain(
      'Agents::EmailAgent has no equivalent action type',
    );
  });
});

describe('tines import of the export shape', () => {
  it('makes names unique and identifier-safe', () => {
    const result = importTinesStory(
      chain(
        hook,
        agent('Agents::TriggerAgent', 'Hook', {
          rules: [{ type: 'regex', path: 'hook.body.a', value: 'x' }],
        }),
        agent('Agents::TriggerAgent', '1st check', {
          rules: [{ type: 'regex', path: 'hook.body.a', value: 'x' }],
        }),
      ),
    );
    const names = (result.story.actions as Action[]).map((action) => action.name);
    expect(names).to.deep.equal(['hook', 'hook_2', 'action_1st_check']);
    expect(result.problems[0].message).to.contain('Tines name "Hook" is used twice');
  });

  it('accepts links by guid', () => {
    const data = {
      name: 'Guids',
      agents: [
        { ...hook, guid: 'g-hook' },
        {
          ...agent('Agents::TriggerAgent', 'T', {
            rules: [{ type: 'regex', path: 'hook.body', value: '.' }],
          }),
          guid: 'g-t',
        },
      ],
      links: [{ source: 'g-hook', receiver: 'g-t' }],
    };
    expect(actionNamed(importTinesStory(data).story, 't').after).to.equal('hook');
  });

  it('rejects an export without agents', () => {
    expect(() => importTinesStory({ name: 'x' })).to.throw(
      TinesExportError,
      'Tines export has no "agents" array',
    );
  });

  it('rejects a link to a missing agent', () => {
    const data = { name: 'x', agents: [hook], links: [{ source: 0, receiver: 3 }] };
    expect(() => importTinesStory(data)).to.throw(
      TinesExportError,
      'links[0].receiver is 3, which names no agent',
    );
  });

  it('rejects an agent without a name', () => {
    expect(() => importTinesStory({ agents: [{ type: 'Agents::WebhookAgent' }] })).to.throw(
      TinesExportError,
      'agents[0].name must be a string.',
    );
  });

  it('snake_cases names like Tines', () => {
    expect(snakeCase('Get Host (Fleet) – v2')).to.equal('get_host_fleet_v2');
  });
});
