import vm from 'node:vm';
import * as jinja from '@huggingface/jinja';

// The package's typings re-export its runtime from an extensionless path that NodeNext cannot
// follow, so its classes arrive untyped: the part used here, typed.
interface RuntimeValue {
  value: unknown;
}
interface Environment {
  set(name: string, value: unknown): RuntimeValue;
}
interface Interpreter {
  run(program: unknown): RuntimeValue;
  evaluate(statement: unknown, environment: Environment): RuntimeValue;
}
const Environment = jinja.Environment as new () => Environment;
const Interpreter = jinja.Interpreter as new (environment: Environment) => Interpreter;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

/**
 * The built-in models' chat format. Each turn ends with a newline so that byte-level models
 * learn turn boundaries from plain text.
 */
export const DEFAULT_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/** What a tenant's template may cost the process that renders it (the worker serves every tenant). */
export interface ChatTemplateLimits {
  /** Wall time of one render, and of parsing the source, in milliseconds. */
  timeMs: number;
  /** Characters of the output, and of every string, list or mapping the template builds on the way. */
  maxOutputChars: number;
  /** Characters of the template's source. */
  maxSourceChars: number;
}

// 200 ms: far above a real template's cost (about 0.2 ms for eight turns), so a garbage-collection
// pause on a loaded machine never fails a legitimate render (in training that fails the job).
export const DEFAULT_CHAT_TEMPLATE_LIMITS: ChatTemplateLimits = {
  timeMs: 200,
  maxOutputChars: 1 << 20,
  maxSourceChars: 64 * 1024,
};

export type ChatTemplateFailure = 'source-size' | 'syntax' | 'time' | 'output-size' | 'render';

/** A chat template that cannot be used: the caller's input (a 4xx, a failed job), never the process's fault. */
export class ChatTemplateError extends Error {
  constructor(
    readonly failure: ChatTemplateFailure,
    message: string,
  ) {
    super(`chat_template: ${message}`);
    this.name = 'ChatTemplateError';
  }
}

/**
 * A Hugging Face chat template (Jinja), rendered by @huggingface/jinja as transformers does,
 * under limits: a template is tenant code, and a render runs on the thread that serves everyone.
 */
export class ChatTemplate {
  private readonly template: jinja.Template;
  private readonly limits: ChatTemplateLimits;

  constructor(
    readonly source: string = DEFAULT_CHAT_TEMPLATE,
    private readonly specialTokens: { bos_token?: string; eos_token?: string } = {},
    limits: Partial<ChatTemplateLimits> = {},
  ) {
    this.limits = { ...DEFAULT_CHAT_TEMPLATE_LIMITS, ...limits };
    if (source.length > this.limits.maxSourceChars)
      throw new ChatTemplateError(
        'source-size',
        `the template is ${source.length} characters, over the limit of ${this.limits.maxSourceChars}`,
      );
    this.template = this.within('parsing', () => new jinja.Template(source));
  }

  /** `tools`: the request's tool declarations, for templates that write them into the prompt (HF's `tools`). */
  render(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean; tools?: unknown[] } = {}): string {
    const variables = {
      ...TEMPLATE_GLOBALS,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      ...(options.tools ? { tools: options.tools } : {}),
      ...this.specialTokens,
    };
    return this.within('rendering', () => {
      const environment = new Environment();
      for (const [name, value] of Object.entries(variables)) environment.set(name, value);
      const output = new SizeLimitedInterpreter(environment, this.limits.maxOutputChars).run(this.template.parsed);
      return String(output.value);
    });
  }

  /** Runs `work` under the time limit; any failure becomes a ChatTemplateError naming what went wrong. */
  private within<T>(stage: 'parsing' | 'rendering', work: () => T): T {
    try {
      return runWithTimeout(work, this.limits.timeMs);
    } catch (error) {
      if (error instanceof ChatTemplateError) throw error;
      if (isTimeout(error))
        throw new ChatTemplateError('time', `${stage} took longer than the limit of ${this.limits.timeMs} ms`);
      const message = (error as Error).message;
      throw stage === 'parsing'
        ? new ChatTemplateError('syntax', `the template does not parse: ${message}`)
        : new ChatTemplateError('render', `rendering failed: ${message}`);
    }
  }
}

/**
 * A script run with a timeout arms V8's watchdog, which ends whatever JavaScript runs under
 * it, the library's functions (of this realm) included. One context serves every call:
 * making a context costs ~1 ms, running in one ~0.1 ms.
 */
const timedCall = new vm.Script('work()');
const timedContext = vm.createContext({ work: (): unknown => undefined });

/**
 * The watchdog counts wall time, which cannot tell a slow template from a thread the machine
 * left waiting (a loaded CI host, a GC pause, the library's code compiling on first use): work
 * fails on time only when it overruns twice in a row, so a runaway costs twice the limit and a
 * cheap one never fails.
 */
function runWithTimeout<T>(work: () => T, timeMs: number): T {
  const once = (): T => {
    timedContext.work = work;
    return timedCall.runInContext(timedContext, { timeout: timeMs }) as T;
  };
  try {
    return once();
  } catch (error) {
    if (!isTimeout(error)) throw error;
    return once();
  }
}

function isTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/**
 * Holds every value a template makes to the output limit as it is made. The time limit alone
 * is not enough: doubling a string reaches V8's maximum in microseconds, and one builtin
 * (upper, split, replace) on such a string runs for seconds outside any interrupt, or aborts
 * the process outright.
 */
class SizeLimitedInterpreter extends Interpreter {
  constructor(
    environment: Environment,
    private readonly maxChars: number,
  ) {
    super(environment);
  }

  override evaluate(statement: unknown, environment: Environment): RuntimeValue {
    const value = super.evaluate(statement, environment);
    if (sizeUpTo(value, this.maxChars) > this.maxChars)
      throw new ChatTemplateError('output-size', `a value grew past the limit of ${this.maxChars} characters`);
    return value;
  }
}

/**
 * Characters and items in a value, nested ones included (a list of one long string, repeated,
 * is as big as its join), counted only until they pass `limit`.
 */
function sizeUpTo(value: RuntimeValue, limit: number): number {
  let size = 0;
  const pending: unknown[] = [value.value];
  while (pending.length > 0 && size <= limit) {
    const item = pending.pop();
    if (typeof item === 'string') size += item.length;
    else if (Array.isArray(item)) {
      size += item.length;
      if (size <= limit) for (const element of item as (RuntimeValue | undefined)[]) pending.push(element?.value);
    } else if (item instanceof Map) {
      size += item.size;
      if (size <= limit)
        for (const [key, element] of item as Map<string, RuntimeValue>) pending.push(key, element.value);
    }
  }
  return size;
}

/**
 * The globals Template.render defines, which @huggingface/jinja does not export: a render
 * that holds values to a size builds its own environment.
 */
const TEMPLATE_GLOBALS = {
  true: true,
  false: false,
  none: null,
  True: true,
  False: false,
  None: null,
  raise_exception: (message: string) => {
    throw new Error(message);
  },
  range,
  strftime_now: strftimeNow,
};

/** Jinja's sandbox, which transformers renders in, refuses longer ranges. */
const MAX_RANGE = 100_000;

/** Python's range(stop) and range(start, stop[, step]). */
function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (length > MAX_RANGE) throw new Error(`range() of ${length} items: the limit is ${MAX_RANGE}`);
  return Array.from({ length }, (_, i) => start + i * step);
}

/** strftime of the current local time, for the directives chat templates use (as @huggingface/jinja has it). */
function strftimeNow(format: string): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => now.toLocaleString('en-US', { month: style });
  const directives: Record<string, () => string> = {
    '%Y': () => String(now.getFullYear()),
    '%m': () => pad(now.getMonth() + 1),
    '%d': () => pad(now.getDate()),
    '%b': () => month('short'),
    '%B': () => month('long'),
    '%H': () => pad(now.getHours()),
    '%M': () => pad(now.getMinutes()),
    '%%': () => '%',
  };
  return format.replace(/%[YmdbBHM%]/g, (directive) => directives[directive]!());
}
