import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * The built-in models' chat format. Each turn ends with a newline so that byte-level models
 * learn turn boundaries from plain text.
 */
export const DEFAULT_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";

/** A Hugging Face chat template (Jinja), rendered by @huggingface/jinja as transformers does. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string = DEFAULT_CHAT_TEMPLATE,
    private readonly specialTokens: { bos_token?: string; eos_token?: string } = {},
  ) {
    this.template = new Template(source);
  }

  render(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    return this.template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      ...this.specialTokens,
    });
  }
}
