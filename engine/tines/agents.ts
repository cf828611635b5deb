/**
 * Converts one Tines agent (action) into a story action. Each converter consumes the options
 * it understands and reports the rest, so nothing in the export disappears unannounced.
 */
import type { RootResolver } from './print';
import type { TinesAgent } from './import';
import { AgentConversion, type ConvertedAction } from './conversion';
import { convertTrigger } from './rules';
import { convertTransformMode } from './transform-modes';

/** Converts one agent; `after` names the story actions that feed it. */
export function convertAgent(
  agent: TinesAgent,
  name: string,
  after: string[],
  resolve: RootResolver,
): ConvertedAction {
  const conversion = new AgentConversion(agent, name, resolve);
  const action: Record<string, unknown> = { name };
  const converter = CONVERTERS[agent.type];
  const fields = converter === undefined ? unsupported(conversion) : converter(conversion);

  const { type, ...options } = fields;
  action.type = type;
  if (typeof agent.description === 'string' && agent.description.trim() !== '') {
    action.description = agent.description.trim();
  }
  if (after.length > 0) action.after = after.length === 1 ? after[0] : after;
  Object.assign(action, options);

  if (agent.disabled === true) {
    conversion.problem('disabled', 'the action is disabled in Tines but runs in this story');
  }
  if (converter !== undefined) conversion.reportRemaining();
  if (after.length === 0 && type !== 'webhook') {
    conversion.problem('links', 'nothing runs this action: only webhooks start a run here');
  }
  return { action, problems: conversion.problems, credentials: conversion.credentials };
}

type Converter = (conversion: AgentConversion) => Record<string, unknown>;

const CONVERTERS: Record<string, Converter> = {
  'Agents::WebhookAgent': convertWebhook,
  'Agents::TriggerAgent': convertTrigger,
  'Agents::HTTPRequestAgent': convertHttpRequest,
  'Agents::EventTransformationAgent': convertTransform,
};

/** Keeps an agent type with no equivalent in the graph as a transform that marks the gap. */
function unsupported(conversion: AgentConversion): Record<string, unknown> {
  const { type } = conversion.agent;
  conversion.problem(
    'type',
    `${type} has no equivalent action type; a placeholder transform stands in`,
  );
  return { type: 'transform', payload: { not_converted: type } };
}

const WEBHOOK_PATH = /^[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/;
const WEBHOOK_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const WEBHOOK_STATUSES = [200, 201, 202, 204];

function convertWebhook(conversion: AgentConversion): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: 'webhook' };
  const path = conversion.take('path');
  fields.path = typeof path === 'string' && WEBHOOK_PATH.test(path) ? path : snakePath(conversion);
  if (path !== undefined && fields.path !== path) {
    conversion.problem(
      'options.path',
      `path ${JSON.stringify(path)} is not a valid URL path; using ${fields.path}`,
    );
  }

  const verbs = conversion.take('verbs');
  if (typeof verbs === 'string') {
    const methods = verbs
      .split(',')
      .map((verb) => verb.trim().toUpperCase())
      .filter(Boolean);
    const unknown = methods.filter((method) => !WEBHOOK_METHODS.includes(method));
    if (unknown.length > 0)
      conversion.problem('options.verbs', `methods ${unknown.join(', ')} are not supported`);
    const kept = methods.filter((method) => WEBHOOK_METHODS.includes(method));
    if (kept.length > 0 && !(kept.length === 1 && kept[0] === 'POST')) fields.methods = kept;
  }

  const status = Number(conversion.take('response_code') ?? NaN);
  if (WEBHOOK_STATUSES.includes(status)) fields.response_status = status;
  else if (!Number.isNaN(status)) {
    conversion.problem(
      'options.response_code',
      `status ${status} is not one of ${WEBHOOK_STATUSES.join(', ')}`,
    );
  }

  // Tines puts the secret in the URL's last path segment, as the story's webhook does without
  // `header`. The value stays out of the YAML: the story reads it from a credential.
  const secret = conversion.take('secret');
  if (typeof secret === 'string' && secret !== '') {
    const credential = `${conversion.name}_secret`;
    fields.secret = { credential };
    conversion.credentials.push(credential);
  }

  // The story's webhook event always carries the request headers, so this needs no field.
  conversion.take('include_headers');
  return fields;
}

function snakePath(conversion: AgentConversion): string {
  return (
    conversion.agent.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'hook'
  );
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/**
 * Maps a Tines content type (shorthands json, xml, form and data, or a MIME type) to the
 * story's content_type and, for XML and other MIME types, a Content-Type header.
 */
function contentType(written: string): { type: string; header?: string } | undefined {
  const lower = written.toLowerCase();
  if (lower === 'json' || lower === 'application/json') return { type: 'json' };
  if (lower === 'form' || lower === 'application/x-www-form-urlencoded') return { type: 'form' };
  if (lower === 'text' || lower === 'text/plain') return { type: 'text' };
  if (lower === 'xml') return { type: 'text', header: 'text/xml; charset=utf-8' };
  if (lower === 'data' || lower.startsWith('multipart/')) return undefined;
  if (/^[a-z]+\/[a-z0-9.+-]+$/.test(lower)) return { type: 'text', header: lower };
  return undefined;
}

function convertHttpRequest(conversion: AgentConversion): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: 'http_request' };

  // Tines' HTTP Request documentation gives POST as the default method.
  const method = String(conversion.take('method') ?? 'post').toUpperCase();
  if (HTTP_METHODS.includes(method)) fields.method = method;
  else {
    conversion.problem(
      'options.method',
      `method ${JSON.stringify(method)} is not supported; the story uses GET`,
    );
  }
  fields.url = conversion.value(conversion.take('url') ?? '', 'options.url');

  const headers = conversion.take('headers');
  const converted =
    headers && typeof headers === 'object'
      ? (conversion.value(headers, 'options.headers') as Record<string, unknown>)
      : {};

  const written = conversion.take('content_type');
  if (typeof written === 'string' && written !== '') {
    const type = contentType(written);
    if (type === undefined)
      conversion.problem(
        'options.content_type',
        `content type ${JSON.stringify(written)} is not supported`,
      );
    else {
      fields.content_type = type.type;
      const present = Object.keys(converted).some((key) => key.toLowerCase() === 'content-type');
      if (type.header !== undefined && !present) converted['Content-Type'] = type.header;
    }
  }
  if (Object.keys(converted).length > 0) fields.headers = converted;

  const payload = conversion.take('payload');
  const empty =
    payload === undefined ||
    payload === '' ||
    (typeof payload === 'object' && payload !== null && Object.keys(payload).length === 0);
  if (!empty) {
    // NOTE: a GET or DELETE payload becomes query parameters, as HTTP clients usually send
    // it; Tines' documentation does not say how it sends one.
    const target = method === 'GET' || method === 'DELETE' ? 'query' : 'body';
    fields[target] = conversion.value(payload, 'options.payload');
  }

  const timeout = conversion.take('timeout');
  if (timeout !== undefined) fields.timeout = Number(timeout);

  // NOTE: an export without fail_on_status keeps the engine's default, which fails the event
  // on a status outside 200-299; Tines' own default for that case is not checked here.
  const failOnStatus = conversion.take('fail_on_status');
  if (failOnStatus === false || failOnStatus === 'false') fields.fail_on_status = false;
  const logged = conversion.take('log_error_on_status');
  if (Array.isArray(logged) && logged.length > 0) {
    conversion.problem(
      'options.log_error_on_status',
      `statuses ${logged.join(', ')} are not logged as errors here`,
    );
  }
  return fields;
}

function convertTransform(conversion: AgentConversion): Record<string, unknown> {
  const mode = String(conversion.take('mode') ?? 'message_only');
  if (mode !== 'message_only' && mode !== 'message') return convertTransformMode(conversion, mode);
  const loop = conversion.take('loop');
  if (loop !== undefined && loop !== false && loop !== 'false') {
    conversion.problem('options.loop', `looping over ${JSON.stringify(loop)} is not converted`);
  }
  return {
    type: 'transform',
    payload: conversion.value(conversion.take('payload') ?? {}, 'options.payload'),
  };
}
