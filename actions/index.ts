/** The closed list of action types. Adding a type means one module and one line here. */
import type { ActionType } from '../engine/types';
import { httpRequest } from './http_request';
import { transform } from './transform';
import { trigger } from './trigger';
import { webhook } from './webhook';

export const ACTION_TYPES: readonly ActionType[] = [webhook, trigger, httpRequest, transform];

const byType = new Map(ACTION_TYPES.map((action) => [action.type, action]));

export function actionType(type: string): ActionType | undefined {
  return byType.get(type);
}
