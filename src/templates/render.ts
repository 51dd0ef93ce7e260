// What the send path, the preview and the test send share to render one message: the confirmed
// template compiled from its pinned bytes, and the data a render gets (the recipient's row plus
// what the engine supplies). Kept in one place so a preview renders exactly as a send does.
import { compileTemplate, MAX_SOURCE_BYTES, TemplateRenderError, unusableTemplate, type CompiledTemplate } from '../domain/template';
import type { ObjectStore } from '../adapters/s3';
import type { TemplateVersionRecord } from '../adapters/dynamo/types';

/** What compiling a confirmed version reads of it (a template record, its version 1, has all of these). */
export type ConfirmedParts = Pick<TemplateVersionRecord, 's3_key' | 'pinned_key' | 'pinned_bytes' | 'subject' | 'text'>;

/**
 * The template as confirmed: its pinned copy (the upload itself for templates confirmed before
 * pinning), read no further than the size recorded at confirm and never past MAX_SOURCE_BYTES.
 * A copy that is gone, not the size confirmed, or no longer compiles gives a template whose
 * every render fails with TEMPLATE_INVALID (the send path fails each message, rather than the
 * attempt failing and retrying for ever).
 */
export async function compileConfirmed(objects: Pick<ObjectStore, 'readUpTo'>, template: ConfirmedParts): Promise<CompiledTemplate> {
  const unusable = (message: string) => unusableTemplate(new TemplateRenderError('TEMPLATE_INVALID', message));
  const key = template.pinned_key ?? template.s3_key;
  const limit = Math.min(template.pinned_bytes ?? MAX_SOURCE_BYTES, MAX_SOURCE_BYTES);
  const source = await objects.readUpTo(key, limit);
  if (!source) return unusable('The content of the confirmed template is missing.');
  if (source.size > limit || (template.pinned_bytes !== undefined && source.size !== template.pinned_bytes)) {
    return unusable(
      `The template's content is ${source.size} bytes; ${template.pinned_bytes ?? `at most ${MAX_SOURCE_BYTES}`} were expected.`,
    );
  }
  try {
    return compileTemplate({ html: source.body.toString('utf8'), subject: template.subject, text: template.text });
  } catch (error) {
    if (error instanceof TemplateRenderError) return unusableTemplate(error);
    throw error;
  }
}

/** Values the engine supplies to every render; a recipient's row cannot override them. */
export interface EngineValues {
  email: string;
  message_id: string;
  transaction_id: string;
  unsubscribe_url: string;
}

/** The data one message renders with. */
export const renderDataOf = (row: Record<string, string>, engine: EngineValues): Record<string, string> => ({ ...row, ...engine });

/** What a preview or a test send shows where a campaign's message would have its own values. */
export const PREVIEW_VALUES: Omit<EngineValues, 'email'> = {
  message_id: '{{message_id}}',
  transaction_id: '{{transaction_id}}',
  unsubscribe_url: '{{unsubscribe_url}}',
};
