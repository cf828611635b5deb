/** Resolves a story's credentials and resources from the environment at start-up. */
import type { Json, LoadedStory } from './types';

export interface StoryValues {
  credentials: Record<string, string>;
  resources: Record<string, Json>;
}

/** Raised when the environment lacks what a story needs; lists every missing variable. */
export class StoryConfigError extends Error {
  constructor(readonly missing: string[]) {
    super(missing.join('\n'));
    this.name = 'StoryConfigError';
  }
}

export function resolveStoryValues(
  story: LoadedStory,
  env: NodeJS.ProcessEnv,
  missing: string[],
): StoryValues {
  const credentials: Record<string, string> = {};
  for (const [name, spec] of Object.entries(story.credentials)) {
    const value = env[spec.env];
    if (value === undefined || value === '') {
      missing.push(
        `${story.file}: credential "${name}" reads environment variable ${spec.env}, which is not set; ` +
          `export ${spec.env}=... before starting the engine`,
      );
      continue;
    }
    credentials[name] = value;
  }
  const resources: Record<string, Json> = {};
  for (const [name, spec] of Object.entries(story.resources)) {
    if (spec.env === undefined) {
      resources[name] = spec.value ?? null;
      continue;
    }
    const value = env[spec.env];
    if (value !== undefined && value !== '') resources[name] = value;
    else if (spec.default !== undefined) resources[name] = spec.default;
    else {
      missing.push(
        `${story.file}: resource "${name}" reads environment variable ${spec.env}, which is not set ` +
          'and has no default; set the variable or add "default:"',
      );
    }
  }
  return { credentials, resources };
}
