/**
 * transform: builds a new event from templates and expressions (Tines' Event Transform in
 * message mode).
 */
import type { ActionType, Json } from '../../engine/types';

export const transform: ActionType = {
  type: 'transform',
  schema: {
    description: 'Builds a new event from `payload`.',
    properties: {
      mode: {
        enum: ['message'],
        default: 'message',
        description: '`message`: emit `payload` with its templates and expressions evaluated.',
      },
      payload: {
        description:
          'Event to emit: any value; strings starting with `=` are JSONata, strings with `{{` are templates.',
      },
    },
    required: ['payload'],
  },
  literalFields: ['mode'],

  async run(input) {
    const payload = await input.field<Json>('payload');
    return { emit: [payload === undefined ? null : payload] };
  },
};
